//! Prometheus text at `/metrics`, and `/healthz`.
//!
//! PLACEHOLDER: counters are being written (HTTP/metrics work item).

use std::time::Duration;

use axum::Router;

use crate::AppState;

#[derive(Debug, Default)]
pub struct Metrics {}

impl Metrics {
    /// Records one state operation: `kind` is the operation (`set`, `get`, ...),
    /// `outcome` is `ok` or an error code.
    pub fn record_op(&self, kind: &'static str, outcome: &str, elapsed: Duration) {
        let _ = (kind, outcome, elapsed);
    }

    pub fn worker_connected(&self) {}

    pub fn worker_disconnected(&self) {}
}

pub fn routes() -> Router<AppState> {
    Router::new()
}
