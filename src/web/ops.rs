//! Endpoints for operators and their tools: the health check a load balancer polls and Prometheus'
//! scrape target.

use super::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use std::sync::atomic::Ordering;

/// The Prometheus text exposition format, version 0.0.4.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4";

/// 200 while koe takes new calls; 503 once it drains, so a balancer stops sending calls here while the
/// calls in progress finish.
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    if state.draining.load(Ordering::Acquire) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else {
        (StatusCode::OK, "ok")
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], state.metrics.render())
}
