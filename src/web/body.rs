//! Request bodies with a size limit per route: over the limit is a 413 that says the limit, malformed
//! JSON a 400 that says where.

use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// A route's body limit: what the layer enforces and what the error says.
pub struct Limit {
    pub bytes: usize,
    pub name: &'static str,
}

/// Flows and the small JSON requests (sign-in, publish, rollback).
pub const JSON: Limit = Limit {
    bytes: 1 << 20,
    name: "1 MiB",
};

/// Uploaded WAV prompts.
pub const PROMPT: Limit = Limit {
    bytes: 20 << 20,
    name: "20 MiB",
};

impl Limit {
    pub fn layer(&self) -> DefaultBodyLimit {
        DefaultBodyLimit::max(self.bytes)
    }

    pub fn bytes(&self, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
        body.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge(self.name)
            } else {
                ApiError::BadRequest(e.body_text())
            }
        })
    }

    pub fn json<T: DeserializeOwned>(&self, body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
        let bytes = self.bytes(body)?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
    }
}
