//! The iii worker protocol over WebSocket at `/`.
//!
//! PLACEHOLDER: being written (worker protocol work item).

use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
