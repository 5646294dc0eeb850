//! The language-neutral conformance vectors (`conformance/*.json`) run
//! against the real engine over the worker WebSocket, through
//! `statewell-client`, on every store.
//!
//! Each case must start from an empty store. Instead of prefixing scopes
//! (which would shift length limits and empty-scope cases), the runner clears
//! every group between cases and checks the store is empty.

mod common;

use std::path::PathBuf;

use common::Engine;
use serde_json::{Value, json};
use statewell_client::{Client, ClientError};

fn vector_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../conformance");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no conformance vectors in {}",
        dir.display()
    );
    files
}

/// One step's outcome, normalised as the conformance README says.
#[derive(Debug)]
enum Outcome {
    Result(Value),
    Error(String),
}

impl PartialEq for Outcome {
    fn eq(&self, other: &Outcome) -> bool {
        match (self, other) {
            (Outcome::Result(a), Outcome::Result(b)) => same(a, b),
            (Outcome::Error(a), Outcome::Error(b)) => a == b,
            _ => false,
        }
    }
}

/// Equality as conformance/README.md defines it: objects regardless of key
/// order, numbers by value, integers exactly.
fn same(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => {
            let int = |n: &serde_json::Number| {
                n.as_i64()
                    .map(i128::from)
                    .or_else(|| n.as_u64().map(i128::from))
            };
            match (int(a), int(b)) {
                (Some(x), Some(y)) => x == y,
                _ => a.as_f64() == b.as_f64(),
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, x)| b.get(k).is_some_and(|y| same(x, y)))
        }
        _ => actual == expected,
    }
}

async fn call_ws(client: &Client, call: &str, args: &Value) -> Outcome {
    let reply = client.call(&format!("state::{call}"), args.clone()).await;
    match reply {
        Err(ClientError::Engine { code, .. }) => Outcome::Error(code),
        Err(other) => panic!("{call} {args}: transport failure: {other}"),
        Ok(result) => Outcome::Result(normalise(call, result)),
    }
}

/// SDK normalisation: a missing item is null, update results always carry
/// `errors` (each reduced to `op_index` and `code` once its message is
/// checked), and item versions are not compared.
fn normalise(call: &str, result: Option<Value>) -> Value {
    let mut result = result.unwrap_or(Value::Null);
    match call {
        "update" => {
            if let Value::Object(fields) = &mut result {
                let errors = fields.entry("errors").or_insert_with(|| json!([]));
                for error in errors.as_array_mut().into_iter().flatten() {
                    let message = error.get("message").and_then(Value::as_str);
                    assert!(
                        message.is_some_and(|m| !m.is_empty()),
                        "op error without a message: {error}"
                    );
                    *error = json!({"op_index": error["op_index"], "code": error["code"]});
                }
            }
        }
        "list_items" => {
            if let Some(items) = result.get_mut("items").and_then(Value::as_array_mut) {
                for item in items {
                    if let Value::Object(fields) = item {
                        fields.remove("version");
                    }
                }
            }
        }
        _ => {}
    }
    result
}

fn expected(step: &Value) -> Outcome {
    let expect = &step["expect"];
    if let Some(code) = expect.get("error") {
        return Outcome::Error(code.as_str().expect("error code is a string").to_owned());
    }
    Outcome::Result(
        expect
            .get("result")
            .cloned()
            .expect("expect.result or expect.error"),
    )
}

async fn empty_the_store(client: &Client) {
    for group in client.list_groups().await.expect("list_groups") {
        client.clear(&group).await.expect("clear");
    }
    assert_eq!(
        client.list_groups().await.expect("list_groups"),
        Vec::<String>::new()
    );
}

async fn run_all_vectors(engine: &Engine) {
    let client = engine.client().await;
    let mut failures = Vec::new();
    let mut steps = 0;
    for file in vector_files() {
        let text = std::fs::read_to_string(&file).expect("read vector file");
        let suite: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", file.display()));
        let suite_name = suite["name"].as_str().unwrap_or("?").to_owned();
        for case in suite["cases"].as_array().expect("cases is an array") {
            empty_the_store(&client).await;
            let case_name = case["name"].as_str().unwrap_or("?");
            for (index, step) in case["steps"].as_array().expect("steps").iter().enumerate() {
                let call = step["call"].as_str().expect("call is a string");
                let args = step.get("args").cloned().unwrap_or_else(|| json!({}));
                let got = call_ws(&client, call, &args).await;
                let want = expected(step);
                steps += 1;
                if got != want {
                    failures.push(format!(
                        "{suite_name} / {case_name} / step {index} {call} {args}: want {want:?}, got {got:?}"
                    ));
                    break;
                }
            }
        }
    }
    eprintln!("{steps} conformance steps run");
    assert!(
        failures.is_empty(),
        "{} conformance failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn vectors_pass_over_the_websocket_on_the_memory_store() {
    run_all_vectors(&Engine::start(&["--store", "memory"])).await;
}

#[tokio::test]
async fn vectors_pass_over_the_websocket_on_the_embedded_store() {
    run_all_vectors(&Engine::start(&["--store", "embedded"])).await;
}

#[test]
fn same_compares_numbers_by_value_and_objects_by_keys() {
    assert!(same(
        &json!({"a": 3, "b": [1.0]}),
        &json!({"b": [1], "a": 3.0})
    ));
    assert!(!same(
        &json!(9223372036854775807_i64),
        &json!(9223372036854775808_u64)
    ));
    assert!(!same(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
}
