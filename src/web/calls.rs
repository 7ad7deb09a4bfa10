//! REST endpoints over the call store: the call list, one call, its transcript and its recording.

use super::AppState;
use super::auth::SignedIn;
use super::error::ApiError;
use crate::store::{CallRecord, CallStatus, TranscriptRow};
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use std::path::{Component, Path as FsPath, PathBuf};
use tokio_util::io::ReaderStream;

const DEFAULT_LIMIT: u32 = 50;
/// Bounds one page so that a single request cannot make the server load the whole table.
const MAX_LIMIT: u32 = 500;

#[derive(Debug, Deserialize)]
pub struct ListParams {
    limit: Option<u32>,
    offset: Option<u32>,
    status: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CallPage {
    pub calls: Vec<CallRecord>,
    pub limit: u32,
    pub offset: u32,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Transcript {
    pub call_id: String,
    pub utterances: Vec<TranscriptRow>,
}

pub async fn list(
    _who: SignedIn,
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<CallPage>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let status = match params.status.as_deref() {
        None => None,
        Some(s) => Some(CallStatus::parse(s).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "unknown status {s:?}: expected ringing, answered, ended or abnormal"
            ))
        })?),
    };
    let offset = params.offset.unwrap_or(0);
    let calls = state.store.list_calls(limit, offset, status).await?;
    Ok(Json(CallPage { calls, limit, offset }))
}

pub async fn get(
    _who: SignedIn,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CallRecord>, ApiError> {
    Ok(Json(find_call(&state, &id).await?))
}

pub async fn transcript(
    _who: SignedIn,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Transcript>, ApiError> {
    find_call(&state, &id).await?;
    let utterances = state.store.transcript(&id).await?;
    Ok(Json(Transcript {
        call_id: id,
        utterances,
    }))
}

/// Streams the call's stereo WAV from disk, without loading it into memory.
pub async fn recording(
    _who: SignedIn,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let call = find_call(&state, &id).await?;
    let missing = || ApiError::NotFound(format!("recording of call {id}"));
    let relative = call.recording_path.ok_or_else(missing)?;
    let path = resolve_in(&state.data_dir, &relative)
        .await?
        .ok_or_else(missing)?;
    let file = tokio::fs::File::open(&path).await?;
    let meta = file.metadata().await?;
    if !meta.is_file() {
        return Err(missing());
    }
    let len = meta.len();
    Ok((
        [
            (header::CONTENT_TYPE, "audio/wav".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        Body::from_stream(ReaderStream::new(file)),
    ))
}

async fn find_call(state: &AppState, id: &str) -> Result<CallRecord, ApiError> {
    state
        .store
        .get_call(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("call {id}")))
}

/// The file `relative` names inside `base`, or `None` if it does not exist. Refuses absolute paths,
/// `..` and symlinks that lead out of `base`: the stored path is data, not trusted.
async fn resolve_in(base: &FsPath, relative: &str) -> Result<Option<PathBuf>, ApiError> {
    let outside = || ApiError::PathOutsideDataDir(relative.to_string());
    if !FsPath::new(relative)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(outside());
    }
    let base = tokio::fs::canonicalize(base).await?;
    let full = match tokio::fs::canonicalize(base.join(relative)).await {
        Ok(full) => full,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if full.starts_with(&base) {
        Ok(Some(full))
    } else {
        Err(outside())
    }
}
