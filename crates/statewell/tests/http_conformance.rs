//! The language-neutral conformance vectors (`conformance/*.json`) run
//! against the real engine over the HTTP API, on both stores.
//!
//! Each step is translated to its route (see docs/HTTP.md). A few vector
//! steps pass arguments HTTP cannot express (a key that is a number, a
//! missing scope, a `limit` given as a JSON string): those steps all expect
//! an error and change nothing, so the runner skips them and counts them;
//! every other step must give exactly the expected outcome.

mod common;
mod http_support;

use std::path::PathBuf;

use common::Engine;
use http_support::{Http, enc, item_path};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

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

#[derive(Debug)]
enum Outcome {
    Result(Value),
    Error(String),
}

/// One vector step as an HTTP request, or why HTTP cannot express it.
enum Translated {
    Request {
        method: Method,
        path: String,
        body: Option<Value>,
    },
    Inexpressible(&'static str),
}

fn string_arg<'a>(args: &'a Value, name: &str) -> Result<&'a str, &'static str> {
    match args.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err("a name that is not a string"),
        None => Err("a missing name"),
    }
}

fn translate(call: &str, args: &Value) -> Translated {
    use Translated::*;
    let scope = string_arg(args, "scope");
    let key = string_arg(args, "key");
    let item = || -> Result<String, &'static str> { Ok(item_path(scope?, key?)) };
    let group = |suffix: &str| -> Result<String, &'static str> {
        Ok(format!("/v1/groups/{}{suffix}", enc(scope?)))
    };
    let request = |method, path: Result<String, &'static str>, body| match path {
        Ok(path) => Request { method, path, body },
        Err(why) => Inexpressible(why),
    };
    match call {
        "set" => match args.get("value").or_else(|| args.get("data")) {
            Some(value) => request(Method::PUT, item(), Some(value.clone())),
            None => Inexpressible("a set without a value"),
        },
        "get" => request(Method::GET, item(), None),
        "delete" => request(Method::DELETE, item(), None),
        "update" => {
            // The body carries `ops` as given (wrong types included).
            let mut body = Map::new();
            if let Some(ops) = args.get("ops") {
                body.insert("ops".into(), ops.clone());
            }
            request(Method::PATCH, item(), Some(Value::Object(body)))
        }
        "list" => request(Method::GET, group("/values"), None),
        "clear" => request(Method::DELETE, group(""), None),
        "list_groups" => request(Method::GET, Ok("/v1/groups".into()), None),
        "list_items" => {
            let mut query = Vec::new();
            for name in ["prefix", "after"] {
                match args.get(name) {
                    None | Some(Value::Null) => {}
                    Some(Value::String(s)) => query.push(format!("{name}={}", enc(s))),
                    Some(_) => return Inexpressible("a query parameter of another JSON type"),
                }
            }
            match args.get("limit") {
                None | Some(Value::Null) => {}
                Some(Value::Number(n)) => query.push(format!("limit={n}")),
                Some(_) => return Inexpressible("a query parameter of another JSON type"),
            }
            let suffix = if query.is_empty() {
                "/items".to_owned()
            } else {
                format!("/items?{}", query.join("&"))
            };
            request(Method::GET, group(&suffix), None)
        }
        other => panic!("unknown call {other} in the vectors"),
    }
}

async fn run_step(
    http: &Http,
    call: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Outcome {
    let reply = http
        .call(method, path, body.map(|b| b.to_string().into_bytes()))
        .await;
    if reply.status.is_success() {
        return Outcome::Result(normalise(call, reply.body));
    }
    // A missing item is a 404 over HTTP and null in the normalised results.
    if reply.status == StatusCode::NOT_FOUND
        && reply.error_code() == "not_found"
        && matches!(call, "get" | "delete")
    {
        return Outcome::Result(Value::Null);
    }
    Outcome::Error(reply.error_code().to_owned())
}

/// README "Results": versions dropped; update errors reduced to
/// `{op_index, code}` after checking the message is there.
fn normalise(call: &str, mut result: Value) -> Value {
    match call {
        "update" => {
            if let Some(errors) = result.get_mut("errors").and_then(Value::as_array_mut) {
                for error in errors {
                    assert!(
                        error["message"].as_str().is_some_and(|m| !m.is_empty()),
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
                        assert!(fields.remove("version").is_some_and(|v| v.is_u64()));
                    }
                }
            }
        }
        _ => {}
    }
    result
}

/// README "Comparing": objects as maps, numbers by value, integers exactly.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
        }
        (Value::Number(x), Value::Number(y)) => {
            let int = |n: &serde_json::Number| {
                n.as_i64()
                    .map(i128::from)
                    .or_else(|| n.as_u64().map(i128::from))
            };
            match (int(x), int(y)) {
                (Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        _ => a == b,
    }
}

async fn empty_the_store(http: &Http) {
    let groups = http.get("/v1/groups").await.body["groups"].clone();
    for group in groups.as_array().expect("groups") {
        let group = group.as_str().expect("group name");
        let cleared = http.delete(&format!("/v1/groups/{}", enc(group))).await;
        assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
    }
    assert_eq!(http.get("/v1/groups").await.body, json!({"groups": []}));
}

async fn run_all_vectors(engine: &Engine) {
    let http = Http::new(engine.http_url(), None);
    let (mut failures, mut steps, mut skipped) = (Vec::new(), 0, Vec::new());
    for file in vector_files() {
        let text = std::fs::read_to_string(&file).expect("read vector file");
        let suite: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", file.display()));
        let suite_name = suite["name"].as_str().unwrap_or("?").to_owned();
        for case in suite["cases"].as_array().expect("cases") {
            empty_the_store(&http).await;
            let case_name = case["name"].as_str().unwrap_or("?");
            for (index, step) in case["steps"].as_array().expect("steps").iter().enumerate() {
                let call = step["call"].as_str().expect("call");
                let args = step.get("args").cloned().unwrap_or_else(|| json!({}));
                let expect = &step["expect"];
                let here = format!("{suite_name} / {case_name} / step {index} {call} {args}");
                let (method, path, body) = match translate(call, &args) {
                    Translated::Request { method, path, body } => (method, path, body),
                    Translated::Inexpressible(why) => {
                        // Only error steps may be skipped: they change nothing.
                        assert!(
                            expect.get("error").is_some(),
                            "{here}: cannot skip a step expecting a result ({why})"
                        );
                        skipped.push(format!("{here}: {why}"));
                        continue;
                    }
                };
                steps += 1;
                let got = run_step(&http, call, method, &path, body).await;
                let ok = match (&got, expect.get("result"), expect.get("error")) {
                    (Outcome::Result(got), Some(want), None) => same(got, want),
                    (Outcome::Error(code), None, Some(want)) => want == code,
                    _ => false,
                };
                if !ok {
                    failures.push(format!("{here}: want {expect}, got {got:?}"));
                    break;
                }
            }
        }
    }
    eprintln!(
        "{steps} conformance steps run over HTTP; {} skipped as not expressible over HTTP:\n{}",
        skipped.len(),
        skipped.join("\n")
    );
    assert!(steps > 300, "only {steps} steps ran");
    // The inexpressible steps are a handful of argument-type checks.
    assert!(skipped.len() <= 20, "{} steps skipped", skipped.len());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn vectors_pass_over_http_on_the_memory_store() {
    run_all_vectors(&Engine::start(&["--store", "memory"])).await;
}

#[tokio::test]
async fn vectors_pass_over_http_on_the_embedded_store() {
    run_all_vectors(&Engine::start(&["--store", "embedded"])).await;
}
