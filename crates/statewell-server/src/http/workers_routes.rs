//! `GET /v1/workers`: the connected workers, what each registered (functions
//! and state triggers), and the triggers waiting for their worker to come
//! back. The console's engine view shows it; operators can curl it.

use std::collections::HashMap;
use std::time::UNIX_EPOCH;

use axum::Json;
use axum::extract::State;
use axum::routing::on;
use serde_json::{Value, json};
use uuid::Uuid;

use super::openapi::json_response;
use super::route::{Route, Verb};
use crate::AppState;
use crate::triggers::TriggerSpec;

pub static ROUTES: &[Route] = &[Route {
    verb: Verb::Get,
    path: "/v1/workers",
    operation_id: "listWorkers",
    public: false,
    handler: |m| on(m, workers),
    doc: || {
        json!({
            "summary": "The connected workers, their functions and state triggers",
            "responses": {
                "200": json_response("Workers, oldest connection first", workers_schema()),
            }
        })
    },
}];

fn trigger_schema() -> Value {
    json!({
        "type": "object", "required": ["id", "function_id", "scope", "key", "condition_function_id"],
        "properties": {
            "id": {"type": "string"}, "function_id": {"type": "string"},
            "scope": {"type": ["string", "null"]}, "key": {"type": ["string", "null"]},
            "condition_function_id": {"type": ["string", "null"]},
        },
    })
}

fn workers_schema() -> Value {
    json!({
        "type": "object", "required": ["workers", "waiting_triggers"],
        "properties": {
            "workers": {"type": "array", "items": {
                "type": "object", "required": ["id", "connected_at_ms", "metadata", "functions", "triggers"],
                "properties": {
                    "id": {"type": "string", "description": "The engine-issued worker id"},
                    "connected_at_ms": {"type": "integer", "description": "When the connection opened, in ms since the Unix epoch"},
                    "metadata": {"description": "What the worker sent with `engine::workers::register`, or null"},
                    "functions": {"type": "array", "items": {"type": "string"}},
                    "triggers": {"type": "array", "items": trigger_schema()},
                },
            }},
            "waiting_triggers": {"type": "array", "items": trigger_schema(),
                                 "description": "Triggers whose worker disconnected, kept for its reconnect grace period"},
        },
    })
}

fn trigger_json(id: &str, spec: &TriggerSpec) -> Value {
    json!({
        "id": id,
        "function_id": spec.function_id,
        "scope": spec.scope,
        "key": spec.key,
        "condition_function_id": spec.condition,
    })
}

/// `GET /v1/workers` → `{"workers":[...],"waiting_triggers":[...]}`: each
/// connected worker with what it said about itself
/// (`engine::workers::register`), its functions and its state triggers; and
/// the triggers whose worker went away and that wait out the reconnect
/// grace period.
pub async fn workers(State(app): State<AppState>) -> Json<Value> {
    let mut by_worker: HashMap<Uuid, Vec<Value>> = HashMap::new();
    let mut waiting = Vec::new();
    for (id, spec, worker) in app.triggers.list() {
        match worker {
            Some(worker) => by_worker
                .entry(worker)
                .or_default()
                .push(trigger_json(&id, &spec)),
            None => waiting.push(trigger_json(&id, &spec)),
        }
    }
    let workers: Vec<Value> = app
        .functions
        .workers()
        .into_iter()
        .map(|(link, functions)| {
            let connected_at_ms = link
                .connected_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            json!({
                "id": link.id.as_hyphenated().to_string(),
                "connected_at_ms": connected_at_ms,
                "metadata": link.metadata(),
                "functions": functions,
                "triggers": by_worker.remove(&link.id).unwrap_or_default(),
            })
        })
        .collect();
    // A worker that closed between the two snapshots: its triggers are about
    // to wait for it.
    waiting.extend(by_worker.into_values().flatten());
    Json(json!({ "workers": workers, "waiting_triggers": waiting }))
}
