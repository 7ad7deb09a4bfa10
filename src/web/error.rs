//! The one error type of the HTTP API: each variant knows its status code, and every error body is
//! `{ "error": "..." }` so that clients parse one shape (a refused flow adds `issues`).

use crate::ivr::publish::PublishError;
use crate::ivr::validate::Issue;
use crate::store::StoreError;
use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Names what was missing, e.g. "call abc@host".
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// No valid sign-in: missing, unknown or expired token, or a wrong password.
    #[error("{0}")]
    Unauthorized(String),
    /// Signed in, but the role may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    /// The body is over the route's limit, e.g. "1 MiB".
    #[error("the request body is larger than {0}")]
    TooLarge(&'static str),
    /// A flow refused by validation or prompt rendering, with every issue found.
    #[error("{message}")]
    Invalid { message: String, issues: Vec<Issue> },
    /// A stored recording path that would leave the data directory (`..`, absolute, or a symlink out).
    #[error("recording path {0:?} is outside the data directory")]
    PathOutsideDataDir(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
    /// Anything else that is koe's fault; the details go to the log.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::PathOutsideDataDir(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Store(_) | ApiError::Io(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::Invalid(issues) => ApiError::Invalid {
                message: invalid_message(&issues),
                issues,
            },
            PublishError::NotFound(what) => ApiError::NotFound(what),
            PublishError::Store(e) => ApiError::Store(e),
            e @ PublishError::Render(_) => ApiError::Internal(e.to_string()),
        }
    }
}

fn invalid_message(issues: &[Issue]) -> String {
    match issues {
        [one] => format!("the flow is not valid: {}", one.message),
        _ => format!("the flow is not valid: {} issues", issues.len()),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() {
            // Details (paths, SQL errors) go to the log, not to the client.
            tracing::error!(error = %self, "request failed");
            "internal error".to_string()
        } else {
            self.to_string()
        };
        let body = match self {
            ApiError::Invalid { issues, .. } => serde_json::json!({ "error": message, "issues": issues }),
            _ => serde_json::json!({ "error": message }),
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 9110: a 401 names the scheme that would work.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
