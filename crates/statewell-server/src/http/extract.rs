//! Extractors that turn a request into typed arguments, with every failure
//! converted to [`ApiError`] (axum's default rejections are plain text).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::error::ApiError;

/// A JSON request body. The `Content-Type` is not checked: `curl -d` sends
/// `application/x-www-form-urlencoded` by default, and the body is JSON
/// whatever the header says. The size is bounded by the router's body limit.
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(json_error)
    }
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
