//! HTTP JSON under `/v1/`.
//!
//! PLACEHOLDER: routes are being written (HTTP work item).

use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
