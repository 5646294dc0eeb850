//! An update's work is bounded by its own size: many removes from one large
//! object are applied in one pass, and removes that would each move a large
//! object again are refused as a whole, leaving the item as it was.

mod common;
mod http_support;

use common::Engine;
use http_support::{Http, item_path};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

/// 80,000 fields `f00000`..`f79999` holding 0: under 1 MiB as JSON.
fn wide() -> Value {
    Value::Object(
        (0..80_000)
            .map(|i| (format!("f{i:05}"), json!(0)))
            .collect::<Map<_, _>>(),
    )
}

fn names(value: &Value) -> Vec<String> {
    value
        .as_object()
        .map(|fields| fields.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn forty_thousand_removes_from_one_object_apply_in_order() {
    let engine = Engine::start(&[]);
    let http = Http::new(engine.http_url(), None);
    let reply = http.put("g", "wide", &wide()).await;
    assert!(reply.status.is_success(), "{}", reply.body);
    // Every even-numbered field: a 1.4 MB body of 40,000 ops.
    let ops: Vec<Value> = (0..40_000)
        .map(|i| json!({"type": "remove", "path": format!("f{:05}", 2 * i)}))
        .collect();
    let path = item_path("g", "wide");
    let reply = http
        .send_json(Method::PATCH, &path, &json!({ "ops": ops }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["errors"], json!([]));
    let kept: Vec<String> = (0..40_000).map(|i| format!("f{:05}", 2 * i + 1)).collect();
    assert!(
        names(&reply.body["new_value"]) == kept,
        "the rest, in order"
    );
    let stored = http.get(&path).await;
    assert!(names(&stored.body) == kept, "stored as answered");
}

#[tokio::test]
async fn removes_that_would_move_too_many_fields_are_refused_whole() {
    let engine = Engine::start(&[]);
    let http = Http::new(engine.http_url(), None);
    http.put("g", "wide", &wide()).await;
    // Each remove between two sets moves the 80,000 fields again: 13 of
    // them pass the bound of 1,000,000 fields moved.
    let ops: Vec<Value> = (0..13)
        .flat_map(|i| {
            [
                json!({"type": "remove", "path": format!("f{i:05}")}),
                json!({"type": "set", "path": format!("new{i}"), "value": 1}),
            ]
        })
        .collect();
    let path = item_path("g", "wide");
    let reply = http
        .send_json(Method::PATCH, &path, &json!({ "ops": ops }))
        .await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_argument");
    let stored = http.get(&path).await;
    assert!(names(&stored.body) == names(&wide()), "nothing changed");
    // The same removes next to each other move the fields once.
    let (removes, sets): (Vec<Value>, Vec<Value>) = ops
        .into_iter()
        .partition(|op| op["type"] == json!("remove"));
    let grouped = [removes, sets].concat();
    let reply = http
        .send_json(Method::PATCH, &path, &json!({ "ops": grouped }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(names(&reply.body["new_value"]).len(), 80_000);
}
