//! The one error shape of the HTTP API: `{"error":{"code","message"}}` with a
//! status that says whose fault it is. Every rejection (path, query, body,
//! auth, unknown route) is converted to it, so clients parse one shape.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use statewell_core::{ErrorCode, StateError};

/// An HTTP error response. `code` is a stable machine code; never rename one.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Fields of the error object beyond code and message (see
    /// `StateError::details`).
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn not_found(group: &str, key: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no item {key:?} in group {group:?}"),
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// A body over the engine's limit. Sent with `Connection: close`.
    pub fn body_too_large(limit: usize) -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body is larger than the engine's limit of {limit} bytes"),
        )
    }

    /// The body did not arrive within the body read timeout. Sent with
    /// `Connection: close`.
    pub fn body_timeout(patience: std::time::Duration) -> Self {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {} ms",
                patience.as_millis()
            ),
        )
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
    }
}

/// The HTTP status for each engine error: the client's fault (4xx) or ours (5xx).
impl From<StateError> for ApiError {
    fn from(err: StateError) -> Self {
        let code = err.code();
        let status = match code {
            ErrorCode::InvalidArgument => StatusCode::BAD_REQUEST,
            ErrorCode::ValueTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Storage | ErrorCode::DataDirectory => StatusCode::INTERNAL_SERVER_ERROR,
            // A conditional request on an item answers 412 instead (see
            // `conditions`); a transaction's conflict is this.
            ErrorCode::Conflict | ErrorCode::UpdateFailed => StatusCode::CONFLICT,
            ErrorCode::IdempotencyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError {
            details: err.details(),
            ..ApiError::new(status, code.as_str(), err.to_string())
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        // E.g. a percent-encoded segment that does not decode to UTF-8.
        ApiError::invalid_argument(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        // Same code as a payload field of the wrong type over the worker
        // protocol (`limit: -1`), so both transports fail the same way.
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "deserialization_error",
            rejection.body_text(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = serde_json::Map::new();
        error.insert("code".into(), self.code.into());
        error.insert("message".into(), self.message.into());
        error.extend(self.details.unwrap_or_default());
        let body = Json(json!({ "error": error }));
        let mut response = (self.status, body).into_response();
        if self.code == "body_too_large" || self.code == "request_timeout" {
            // The rest of the body was never read, so the connection cannot
            // carry another request: say so, or a pooling client may reuse it.
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
        }
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750: tell the client which scheme to use.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
