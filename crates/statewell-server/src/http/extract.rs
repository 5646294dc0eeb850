//! Extractors that turn a request into typed arguments, with every failure
//! converted to [`ApiError`] (axum's default rejections are plain text).

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::error::ApiError;
use crate::app::AppState;

/// A JSON request body, at most `ServerConfig::max_frame_bytes` long.
///
/// The `Content-Type` is not checked: `curl -d` sends
/// `application/x-www-form-urlencoded` by default, and the body is JSON
/// whatever the header says.
pub struct JsonBody<T>(pub T);

/// How much of an oversized body is read and discarded before answering 413.
/// Many clients (hyper, and so reqwest) report a broken pipe instead of the
/// response when the server answers before they finished sending; draining a
/// bounded amount lets them read the 413. Beyond this the connection is
/// simply closed.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

impl<T> FromRequest<AppState> for JsonBody<T>
where
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, ApiError> {
        let limit = app.config.max_frame_bytes;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > DRAIN_LIMIT) {
            return Err(ApiError::body_too_large(limit));
        }
        // The whole body, not each read: a client sending a byte now and
        // then would otherwise hold the request (and its connection) open
        // for as long as it likes.
        let patience = app.config.body_read_timeout;
        let body = tokio::time::timeout(patience, read_body(req, declared, limit))
            .await
            .map_err(|_| ApiError::body_timeout(patience))??;
        serde_json::from_slice(&body)
            .map(JsonBody)
            .map_err(json_error)
    }
}

/// Reads the body, keeping at most `limit` bytes.
async fn read_body(req: Request, declared: Option<u64>, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut stream = req.into_body().into_data_stream();
    let mut body = Vec::with_capacity(declared.map_or(0, |n| n.min(limit as u64) as usize));
    let mut seen: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("reading the body: {err}"),
            )
        })?;
        seen += chunk.len() as u64;
        if seen > DRAIN_LIMIT {
            break;
        }
        // Past the limit, keep reading (to drain) but stop keeping.
        if seen <= limit as u64 {
            body.extend_from_slice(&chunk);
        }
    }
    if seen > limit as u64 {
        return Err(ApiError::body_too_large(limit));
    }
    Ok(body)
}

/// Syntax errors and shape errors get different codes: `invalid_json` means
/// "not JSON at all", `deserialization_error` (the worker protocol's code)
/// means "JSON, but not the expected fields or types".
fn json_error(err: serde_json::Error) -> ApiError {
    match err.classify() {
        Category::Data => ApiError::new(
            StatusCode::BAD_REQUEST,
            "deserialization_error",
            format!("request body: {err}"),
        ),
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("request body is not valid JSON: {err}"),
        ),
    }
}

/// Path parameters, percent-decoded by axum (`%2F` → `/`).
pub struct PathParams<T>(pub T);

impl<T, S> FromRequestParts<S> for PathParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(params) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(PathParams(params))
    }
}

/// Query string parameters.
pub struct QueryParams<T>(pub T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(params) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(QueryParams(params))
    }
}
