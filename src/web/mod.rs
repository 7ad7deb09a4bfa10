//! The HTTP side: REST API over the call store, the live event stream, health and metrics, sign-in and
//! the IVR's flows and prompts.
//!
//! Handlers are thin: they validate input with extractors, ask the [`Store`] or the [`EventBus`], and
//! turn failures into [`ApiError`], whose JSON body is always `{ "error": "..." }`. Nothing here touches
//! the media plane. The endpoints are described in docs/API.md and docs/EVENTS.md.

mod admin;
pub mod agents;
mod assets;
pub mod auth;
mod body;
mod calls;
mod console;
mod error;
mod events_ws;
mod ivr;
mod ops;
mod simulate;
#[cfg(test)]
mod tests;

pub use calls::{CallPage, Transcript};
pub use error::ApiError;
pub use events_ws::{Break, CLOSE_AHEAD, CLOSE_GAP, CLOSE_GOING_AWAY, Cursor};

use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::store::Store;
use axum::routing::get;
use axum::{Extension, Router};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio_util::sync::CancellationToken;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub events: Arc<EventBus>,
    pub metrics: Arc<Metrics>,
    /// Recordings' paths in the store are relative to this directory.
    pub data_dir: PathBuf,
    /// Set when koe stops taking calls; `/healthz` then answers 503.
    pub draining: Arc<AtomicBool>,
    /// The published IVR flow (publish and rollback swap it).
    pub ivr: Arc<crate::ivr::registry::Registry>,
    /// Validates, renders, stores and publishes flow versions into `ivr`; holds the prompt library.
    pub publisher: Arc<crate::ivr::publish::Publisher>,
    pub routing: crate::routing::Routing,
    /// What screens show about calls in progress.
    pub live: Arc<crate::live::LiveCalls>,
    /// Live calls, to send them an agent's or supervisor's requests (transfer, recording pause).
    pub directory: Arc<crate::call::Directory>,
    /// The SIP endpoint, for the agents' phone accounts.
    pub sip: crate::sip::endpoint::SipHandle,
    /// How long a sign-in lasts (`admin.session_hours`).
    pub session_ttl: std::time::Duration,
}

/// Every route. `shutdown` also ends the event streams, which would otherwise keep the server alive.
pub fn router(state: AppState, shutdown: CancellationToken) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/api/calls", get(calls::list))
        .route("/api/calls/{id}", get(calls::get))
        .route("/api/calls/{id}/transcript", get(calls::transcript))
        .route("/api/calls/{id}/recording", get(calls::recording))
        .route("/api/events", get(events_ws::handler))
        .merge(auth::routes())
        .merge(ivr::routes())
        .merge(admin::routes())
        .merge(agents::routes())
        .merge(console::routes())
        .fallback(|| async { ApiError::NotFound("route".to_string()) })
        .layer(Extension(shutdown))
        .with_state(state)
}

/// Serves until `shutdown` is cancelled, then stops accepting, closes event streams with "going away"
/// and waits for requests in flight to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = router(state, shutdown.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
