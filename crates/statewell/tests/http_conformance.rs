//! The language-neutral conformance vectors (`conformance/*.json`) run
//! against the real engine over the HTTP API, on both stores. Loading,
//! normalising and comparing are `statewell-conformance`'s, shared by every
//! runner.
//!
//! Each step is translated to its route (see docs/HTTP.md). A few vector
//! steps pass arguments HTTP cannot express (a key that is a number, a
//! missing scope, a `limit` given as a JSON string): those steps all expect
//! an error and change nothing, so the driver skips them and counts them;
//! every other step must give exactly the expected outcome.

mod common;
mod http_support;

use common::Engine;
use http_support::{Http, enc, item_path};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use statewell_conformance::normalise::normalise;
use statewell_conformance::{Target, run_all};

/// One vector step as an HTTP request.
struct Request {
    method: Method,
    path: String,
    body: Option<Value>,
    /// Conditions and the idempotency key (see docs/HTTP.md).
    headers: Vec<(&'static str, String)>,
}

/// A write's `if_version`, `if_absent` and `idempotency_key` as headers.
fn write_headers(args: &Value) -> Result<Vec<(&'static str, String)>, &'static str> {
    let mut headers = Vec::new();
    match args.get("if_version") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.is_u64() => headers.push(("If-Match", format!("\"{n}\""))),
        Some(_) => return Err("an if_version that is not a non-negative integer"),
    }
    match args.get("if_absent") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) => headers.push(("If-None-Match", "*".to_owned())),
        Some(_) => return Err("an if_absent that is not a boolean"),
    }
    match args.get("idempotency_key") {
        None | Some(Value::Null) => {}
        Some(Value::String(key)) if !key.is_empty() => {
            headers.push(("Idempotency-Key", key.clone()))
        }
        Some(_) => return Err("an idempotency key that is empty or not a string"),
    }
    Ok(headers)
}

fn string_arg<'a>(args: &'a Value, name: &str) -> Result<&'a str, &'static str> {
    match args.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err("a name that is not a string"),
        None => Err("a missing name"),
    }
}

/// The request for a step, or why HTTP cannot express it.
fn translate(call: &str, args: &Value) -> Result<Request, &'static str> {
    let scope = string_arg(args, "scope");
    let key = string_arg(args, "key");
    let item = || -> Result<String, &'static str> { Ok(item_path(scope?, key?)) };
    let group = |suffix: &str| -> Result<String, &'static str> {
        Ok(format!("/v1/groups/{}{suffix}", enc(scope?)))
    };
    let headers = write_headers(args)?;
    let request = |method, path: Result<String, &'static str>, body| {
        path.map(|path| Request {
            method,
            path,
            body,
            headers: headers.clone(),
        })
    };
    match call {
        "set" => match args.get("value").or_else(|| args.get("data")) {
            Some(value) => request(Method::PUT, item(), Some(value.clone())),
            None => Err("a set without a value"),
        },
        "get" | "get_item" => request(Method::GET, item(), None),
        "transaction" => match args.get("ops") {
            Some(ops) => request(
                Method::POST,
                Ok("/v1/transaction".into()),
                Some(json!({ "ops": ops })),
            ),
            None => Err("a transaction without ops"),
        },
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
                    Some(_) => return Err("a query parameter of another JSON type"),
                }
            }
            match args.get("limit") {
                None | Some(Value::Null) => {}
                Some(Value::Number(n)) => query.push(format!("limit={n}")),
                Some(_) => return Err("a query parameter of another JSON type"),
            }
            let suffix = if query.is_empty() {
                "/items".to_owned()
            } else {
                format!("/items?{}", query.join("&"))
            };
            request(Method::GET, group(&suffix), None)
        }
        _ => Err("an unknown call"),
    }
}

struct HttpApi {
    store: &'static str,
    http: Http,
}

impl Target for HttpApi {
    fn name(&self) -> String {
        format!("the engine over HTTP ({} store)", self.store)
    }

    async fn reset(&mut self) -> Result<(), String> {
        let groups = self.http.get("/v1/groups").await.body["groups"].clone();
        let Some(groups) = groups.as_array() else {
            return Err(format!("GET /v1/groups gave no groups: {groups}"));
        };
        for group in groups {
            let group = group.as_str().ok_or("a group name that is not a string")?;
            let cleared = self
                .http
                .delete(&format!("/v1/groups/{}", enc(group)))
                .await;
            if cleared.status != StatusCode::OK {
                return Err(format!(
                    "clearing {group}: {} {}",
                    cleared.status, cleared.body
                ));
            }
        }
        match self.http.get("/v1/groups").await.body {
            left if left == json!({"groups": []}) => Ok(()),
            left => Err(format!("groups left after clearing: {left}")),
        }
    }

    async fn call(&mut self, call: &str, args: &Value) -> Result<Value, String> {
        let Request {
            method,
            path,
            body,
            headers,
        } = translate(call, args)?;
        let reply = self
            .http
            .call_with(
                method,
                &path,
                &headers,
                body.map(|b| b.to_string().into_bytes()),
            )
            .await;
        if reply.status.is_success() && call == "get_item" {
            // The value is the body; its version the ETag.
            let version = reply
                .etag
                .as_deref()
                .and_then(|tag| tag.trim_matches('"').parse::<u64>().ok());
            return Ok(json!({"key": args["key"], "value": reply.body, "version": version}));
        }
        if reply.status.is_success() {
            return Ok(reply.body);
        }
        // A missing item is a 404 over HTTP and null in the normalised results.
        if reply.status == StatusCode::NOT_FOUND
            && reply.error_code() == "not_found"
            && matches!(call, "get" | "delete" | "get_item")
        {
            return Ok(Value::Null);
        }
        Err(reply.error_code().to_owned())
    }

    fn inexpressible(&self, call: &str, args: &Value) -> Option<String> {
        translate(call, args).err().map(str::to_owned)
    }

    /// docs/HTTP.md: a successful PATCH always carries `errors`, so unlike
    /// the WebSocket its absence is a fault here.
    fn normalise(&self, call: &str, result: Value) -> Result<Value, String> {
        if call == "update" && result.get("errors").is_none() {
            return Err(format!("a PATCH reply without `errors`: {result}"));
        }
        normalise(call, result)
    }
}

async fn run_all_vectors(store: &'static str) {
    let engine = Engine::start(&["--store", store]);
    let mut target = HttpApi {
        store,
        http: Http::new(engine.http_url(), None),
    };
    let report = run_all(&mut target).await;
    report.assert_clean();
    assert!(report.steps > 300, "only {} steps ran", report.steps);
    // The inexpressible steps are a handful of argument-type checks.
    assert!(report.skipped.len() <= 20, "{report}");
}

#[tokio::test]
async fn vectors_pass_over_http_on_the_memory_store() {
    run_all_vectors("memory").await;
}

#[tokio::test]
async fn vectors_pass_over_http_on_the_embedded_store() {
    run_all_vectors("embedded").await;
}
