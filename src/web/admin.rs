//! The admin's IVR editor at `/admin/ivr`: a page and its assets, embedded in the binary.

use super::AppState;
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new()
}
