//! `POST /api/ivr/simulate`: the admin's simulator over HTTP.

use super::auth::Admin;
use super::{ApiError, AppState};
use crate::ivr::Flow;
use crate::ivr::simulate::{SimInput, Simulation, simulate};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct SimulateRequest {
    flow: serde_json::Value,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    inputs: Vec<SimInput>,
}

/// Walks the flow as given (it need not be valid as a whole, only readable) with the inputs.
pub async fn handler(
    _admin: Admin,
    State(_): State<AppState>,
    Json(req): Json<SimulateRequest>,
) -> Result<Json<Simulation>, ApiError> {
    let flow: Flow = serde_json::from_value(req.flow)
        .map_err(|e| ApiError::BadRequest(format!("the flow cannot be read: {e}")))?;
    Ok(Json(
        simulate(Arc::new(flow), req.language.as_deref(), &req.inputs).await,
    ))
}
