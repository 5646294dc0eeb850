//! `/healthz` and `/metrics`: routes about the engine rather than its state
//! (`/v1/openapi.json` is served by `routes.rs`, from the route tables).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;

/// How long the health probe's read may take before the engine reports
/// itself unavailable.
const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz` → 200 `{"status":"ok"}` when the store answers a read,
/// 503 `{"status":"unavailable","error":{...}}` otherwise. Open without a
/// token, so load balancers and orchestrators can probe it.
pub async fn healthz(State(app): State<AppState>) -> Response {
    // A read of a key that is never written: touches the store without
    // changing it. Not counted in the operation metrics.
    let probe = app.state.get("statewell:healthz", "probe");
    let failure = match tokio::time::timeout(HEALTH_PROBE_TIMEOUT, probe).await {
        Ok(Ok(_)) => return Json(json!({"status": "ok"})).into_response(),
        Ok(Err(err)) => json!({"code": err.code().as_str(), "message": err.to_string()}),
        Err(_) => json!({"code": "unavailable", "message": "the store did not answer in time"}),
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "unavailable", "error": failure})),
    )
        .into_response()
}

/// `GET /metrics` → Prometheus text.
pub async fn metrics(State(app): State<AppState>) -> Response {
    let stats = app.state.store().stats();
    let mut text = app.metrics.render(&stats);
    // Trigger delivery counters live with the triggers (see triggers/mod.rs).
    app.triggers
        .stats()
        .render_prometheus(&mut text, app.triggers.len());
    app.replies.render_prometheus(&mut text);
    app.connections.render_prometheus(&mut text);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
