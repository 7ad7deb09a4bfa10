//! The IVR's JSON API: flows and their versions, validate, publish, rollback, diff, and the uploaded
//! WAV prompts. Every route needs an admin (docs/API.md). Publishing goes through
//! [`Publisher`](crate::ivr::publish::Publisher), which swaps the version new calls get.

use super::AppState;
use super::auth::Admin;
use super::body;
use super::error::ApiError;
use crate::ivr::diff::{Change, diff as diff_flows};
use crate::ivr::validate::Issue;
use crate::store::{FlowVersion, VersionInfo};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub fn routes() -> Router<AppState> {
    let flows = Router::new()
        .route("/api/ivr/flows", get(list))
        .route("/api/ivr/flows/{id}", get(active))
        .route("/api/ivr/flows/{id}/versions", get(versions))
        .route("/api/ivr/flows/{id}/versions/{version}", get(version))
        .route("/api/ivr/flows/{id}/publish", post(publish))
        .route("/api/ivr/flows/{id}/rollback", post(rollback))
        .route("/api/ivr/flows/{id}/diff", get(diff))
        .route("/api/ivr/validate", post(validate))
        .route("/api/ivr/simulate", post(super::simulate::handler))
        .layer(body::JSON.layer());
    let prompts = Router::new()
        .route("/api/prompts", get(prompt_names))
        .route("/api/prompts/{name}", get(prompt).put(save_prompt))
        .layer(body::PROMPT.layer());
    flows.merge(prompts)
}

/// Path parameters, with a malformed one (e.g. a version that is not a number) as a JSON 400.
fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(t)| t)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

#[derive(Serialize)]
struct FlowSummary {
    id: String,
    name: String,
    active_version: i64,
    versions: i64,
    updated_at_ms: i64,
}

async fn list(State(state): State<AppState>, _: Admin) -> Result<Json<Vec<FlowSummary>>, ApiError> {
    let flows = state.store.flows().await?;
    flows
        .into_iter()
        .map(|f| {
            let body = parse(&f.active)?;
            Ok(FlowSummary {
                name: body
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                id: f.active.flow_id,
                active_version: f.active.version,
                versions: f.versions,
                updated_at_ms: f.updated_at_ms,
            })
        })
        .collect::<Result<_, ApiError>>()
        .map(Json)
}

#[derive(Serialize)]
struct ActiveFlow {
    id: String,
    active_version: i64,
    flow: Value,
}

async fn active(
    State(state): State<AppState>,
    _: Admin,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<ActiveFlow>, ApiError> {
    let id = path(id)?;
    let active = state
        .store
        .active_flow(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("flow {id}")))?;
    Ok(Json(ActiveFlow {
        flow: parse(&active)?,
        id: active.flow_id,
        active_version: active.version,
    }))
}

async fn versions(
    State(state): State<AppState>,
    _: Admin,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<VersionInfo>>, ApiError> {
    let id = path(id)?;
    let history = state.store.flow_history(&id).await?;
    if history.is_empty() {
        return Err(ApiError::NotFound(format!("flow {id}")));
    }
    Ok(Json(history))
}

#[derive(Serialize)]
struct Version {
    version: i64,
    author: String,
    comment: String,
    created_at_ms: i64,
    flow: Value,
}

async fn version(
    State(state): State<AppState>,
    _: Admin,
    p: Result<Path<(String, i64)>, PathRejection>,
) -> Result<Json<Version>, ApiError> {
    let (id, v) = path(p)?;
    let found = find_version(&state, &id, v).await?;
    Ok(Json(Version {
        flow: parse(&found)?,
        version: found.version,
        author: found.author,
        comment: found.comment,
        created_at_ms: found.created_at_ms,
    }))
}

#[derive(Serialize)]
struct Validation {
    valid: bool,
    issues: Vec<Issue>,
}

async fn validate(
    State(state): State<AppState>,
    _: Admin,
    flow: Result<Bytes, BytesRejection>,
) -> Result<Json<Validation>, ApiError> {
    let flow: Value = body::JSON.json(flow)?;
    let issues = state.publisher.validate(&flow).err().unwrap_or_default();
    Ok(Json(Validation {
        valid: issues.is_empty(),
        issues,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Publish {
    flow: Value,
    #[serde(default)]
    comment: String,
}

#[derive(Serialize)]
struct Published {
    version: i64,
}

async fn publish(
    State(state): State<AppState>,
    Admin(who): Admin,
    id: Result<Path<String>, PathRejection>,
    req: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path(id)?;
    let Publish { flow, comment } = body::JSON.json(req)?;
    let version = state
        .publisher
        .publish(Some(&id), &flow, &who.user, &comment)
        .await?;
    tracing::info!(flow = %id, version, by = %who.user, "flow published");
    Ok((StatusCode::CREATED, Json(Published { version })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rollback {
    version: i64,
    #[serde(default)]
    comment: String,
}

async fn rollback(
    State(state): State<AppState>,
    Admin(who): Admin,
    id: Result<Path<String>, PathRejection>,
    req: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let id = path(id)?;
    let Rollback { version: to, comment } = body::JSON.json(req)?;
    let version = state.publisher.rollback(&id, to, &who.user, &comment).await?;
    tracing::info!(flow = %id, version, to, by = %who.user, "flow rolled back");
    Ok((StatusCode::CREATED, Json(Published { version })))
}

#[derive(Deserialize)]
struct DiffParams {
    from: i64,
    to: i64,
}

#[derive(Serialize)]
struct Diff {
    from: i64,
    to: i64,
    changes: Vec<Change>,
}

async fn diff(
    State(state): State<AppState>,
    _: Admin,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<DiffParams>, QueryRejection>,
) -> Result<Json<Diff>, ApiError> {
    let id = path(id)?;
    let Query(DiffParams { from, to }) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let a = parse(&find_version(&state, &id, from).await?)?;
    let b = parse(&find_version(&state, &id, to).await?)?;
    Ok(Json(Diff {
        from,
        to,
        changes: diff_flows(&a, &b),
    }))
}

async fn find_version(state: &AppState, id: &str, version: i64) -> Result<FlowVersion, ApiError> {
    state
        .store
        .flow_version(id, version)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("version {version} of flow {id}")))
}

/// A stored body; only valid JSON is ever stored, so anything else is a damaged database.
fn parse(v: &FlowVersion) -> Result<Value, ApiError> {
    serde_json::from_str(&v.body).map_err(|e| {
        ApiError::Internal(format!(
            "stored version {} of flow {} is not JSON: {e}",
            v.version, v.flow_id
        ))
    })
}

async fn prompt_names(State(state): State<AppState>, _: Admin) -> Json<Vec<String>> {
    Json(state.publisher.library().names().into_iter().collect())
}

#[derive(Serialize)]
struct SavedPrompt {
    name: String,
}

/// Stores the body (a WAV of any rate and format) as prompt `name`; flows that use it get the new audio
/// at their next publish.
async fn save_prompt(
    State(state): State<AppState>,
    Admin(who): Admin,
    name: Result<Path<String>, PathRejection>,
    wav: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let name = path(name)?;
    let wav = body::PROMPT.bytes(wav)?;
    let library = state.publisher.library().clone();
    let n = name.clone();
    tokio::task::spawn_blocking(move || library.save(&n, &wav))
        .await
        .map_err(|e| ApiError::Internal(format!("prompt conversion failed: {e}")))?
        .map_err(|e| ApiError::BadRequest(format!("{e:#}")))?;
    tracing::info!(prompt = %name, by = %who.user, "prompt uploaded");
    Ok((StatusCode::CREATED, Json(SavedPrompt { name })))
}

/// The stored prompt: the 8 kHz mono 16-bit WAV that calls play.
async fn prompt(
    State(state): State<AppState>,
    _: Admin,
    name: Result<Path<String>, PathRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let name = path(name)?;
    let library = state.publisher.library();
    // Only listed names reach the file system, so a name cannot point outside the directory.
    if !library.names().contains(&name) {
        return Err(ApiError::NotFound(format!("prompt {name}")));
    }
    let wav = tokio::fs::read(library.dir.join(format!("{name}.wav"))).await?;
    Ok(([(header::CONTENT_TYPE, "audio/wav")], wav))
}
