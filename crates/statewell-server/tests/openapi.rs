//! The served OpenAPI document describes what the engine really answers:
//! every documented operation is called over a real socket, once to succeed
//! and at least once to fail, and each reply's status, content type, headers
//! and body are checked against what the document says for it (bodies with
//! a JSON Schema validator).

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use statewell_core::store::MemoryStore;
use statewell_core::{
    ChangeEvent, Limits, Mutation, MutationOutcome, Page, ResolvedPageRequest, State, StateError,
    Store, StoreStats, TxOutcome, Versioned, WriteRequest,
};
use statewell_server::{AppState, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, oneshot};

const TOKEN: &str = "s3cret";
/// A group and a key that need percent-encoding.
const GROUP: &str = "g%2Fx";
const KEY: &str = "k%3Ay";

/// An engine on a free loopback port, stopped when dropped.
struct Engine {
    base: String,
    _stop: oneshot::Sender<()>,
}

async fn start(store: Arc<dyn Store>, token: Option<&str>) -> Engine {
    let limits = Limits::default();
    let config = ServerConfig {
        token: token.map(str::to_owned),
        ..ServerConfig::default()
    };
    let app = AppState::new(State::new(store, limits), config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(statewell_server::serve(listener, app, async move {
        let _ = stopped.await;
    }));
    Engine {
        base: format!("http://{addr}"),
        _stop: stop,
    }
}

/// A store whose every operation fails, as a broken disk would make it.
struct FailingStore {
    events: broadcast::Sender<Arc<ChangeEvent>>,
}

impl FailingStore {
    fn new() -> Self {
        FailingStore {
            events: broadcast::channel(1).0,
        }
    }
}

fn broken() -> StateError {
    StateError::Storage("the disk is gone".into())
}

#[async_trait]
impl Store for FailingStore {
    async fn get(&self, _: &str, _: &str) -> Result<Option<Versioned>, StateError> {
        Err(broken())
    }

    async fn write(&self, _: Mutation) -> Result<MutationOutcome, StateError> {
        Err(broken())
    }

    async fn transaction(&self, _: WriteRequest) -> Result<TxOutcome, StateError> {
        Err(broken())
    }

    async fn clear(&self, _: &str) -> Result<u64, StateError> {
        Err(broken())
    }

    async fn list(&self, _: &str) -> Result<Vec<Value>, StateError> {
        Err(broken())
    }

    async fn list_items(&self, _: &str, _: ResolvedPageRequest<'_>) -> Result<Page, StateError> {
        Err(broken())
    }

    async fn list_groups(&self) -> Result<Vec<String>, StateError> {
        Err(broken())
    }

    async fn group_size(&self, _: &str) -> Result<u64, StateError> {
        Err(broken())
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeEvent>> {
        self.events.subscribe()
    }

    async fn sync(&self) -> Result<(), StateError> {
        Err(broken())
    }

    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
}

/// One reply as it came off the socket.
struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    /// The body; empty for a feed until [`Reply::first_event`] reads it.
    text: String,
    /// A change feed (`text/event-stream`), which never ends: its body is
    /// read event by event.
    feed: Option<reqwest::Response>,
}

impl Reply {
    /// Reads the feed's first event into `text`.
    async fn first_event(&mut self) {
        let feed = self.feed.as_mut().expect("a feed");
        while !self.text.contains("\n\n") {
            let chunk = feed.chunk().await.expect("read the feed");
            let chunk = chunk.expect("the feed ended before an event");
            self.text
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }
}

async fn call(
    base: &str,
    method: &Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    call_with_headers(base, method, path, token, &[], body).await
}

async fn call_with_headers(
    base: &str,
    method: &Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Reply {
    let client = reqwest::Client::new();
    let mut request = client.request(method.clone(), format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.expect("send request");
    let status = response.status();
    let headers = response.headers().clone();
    if headers
        .get("content-type")
        .is_some_and(|t| t == "text/event-stream")
    {
        return Reply {
            status,
            headers,
            text: String::new(),
            feed: Some(response),
        };
    }
    Reply {
        status,
        headers,
        text: response.text().await.expect("read body"),
        feed: None,
    }
}

/// A documented operation: its path template and method as the document
/// spells them.
#[derive(Clone, Debug)]
struct Operation {
    path: String,
    method: String,
}

impl Operation {
    fn http_method(&self) -> Method {
        Method::from_bytes(self.method.to_uppercase().as_bytes()).expect("a method")
    }

    fn has_group(&self) -> bool {
        self.path.contains("{group}")
    }

    fn is_public(&self, doc: &Value) -> bool {
        self.document(doc)["security"] == json!([])
    }

    fn document<'d>(&self, doc: &'d Value) -> &'d Value {
        &doc["paths"][&self.path][&self.method]
    }

    /// The path with `group` and `key` filled in.
    fn concrete(&self, group: &str) -> String {
        self.path.replace("{group}", group).replace("{key}", KEY)
    }

    /// A body this operation accepts.
    fn success_body(&self) -> Option<Value> {
        match self.method.as_str() {
            "put" => Some(json!({"n": 1, "tags": ["a"]})),
            // The second op fails (`s` holds a string), so `errors` is not empty.
            "patch" => Some(json!({"ops": [
                {"type": "increment", "path": "n", "by": 2},
                {"type": "increment", "path": "s", "by": 1},
            ]})),
            // The transaction's ops name the item every operation finds
            // stored (`GROUP` and `KEY` decoded).
            "post" => Some(json!({"ops": [
                {"type": "update", "scope": "g/x", "key": "k:y",
                 "ops": [{"type": "increment", "path": "n", "by": 1}]},
                {"type": "set", "group": "g/x", "key": "other", "value": [1]},
                {"type": "delete", "scope": "g/x", "key": "none"},
            ]})),
            _ => None,
        }
    }
}

fn operations(doc: &Value) -> Vec<Operation> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .map(|method| Operation {
                    path: path.clone(),
                    method: method.clone(),
                })
        })
        .collect()
}

/// A JSON pointer segment (`/` and `~` escaped), as it goes in a URI
/// fragment (what a fragment may not hold percent-encoded: `{group}`).
fn pointer_segment(segment: &str) -> String {
    let escaped = segment.replace('~', "~0").replace('/', "~1");
    escaped
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Checks `reply` against what `doc` says `operation` answers with its
/// status: the status is documented, the content type is the documented
/// one, documented headers are present, and the body is valid against the
/// documented schema. Returns the status for the caller's tally.
fn check(doc: &Value, operation: &Operation, reply: &Reply) -> StatusCode {
    let what = format!(
        "{} {} answered {}: {}",
        operation.method, operation.path, reply.status, reply.text
    );
    let status = reply.status.as_str();
    let response = &operation.document(doc)["responses"][status];
    assert!(response.is_object(), "undocumented status: {what}");

    for header in response["headers"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, _)| name)
    {
        assert!(
            reply.headers.contains_key(header.as_str()),
            "no {header} header: {what}"
        );
    }

    let Some(content) = response["content"].as_object() else {
        // A response documented without content (a 304) has no body.
        assert!(
            reply.text.is_empty(),
            "a body where none is documented: {what}"
        );
        return reply.status;
    };
    let [(media_type, media)] = content.iter().collect::<Vec<_>>()[..] else {
        panic!("one media type per response: {what}");
    };
    let sent = reply
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default();
    assert_eq!(sent, media_type, "content type: {what}");
    let body = match media_type.as_str() {
        "application/json" => {
            serde_json::from_str(&reply.text).unwrap_or_else(|e| panic!("not JSON ({e}): {what}"))
        }
        _ => Value::String(reply.text.clone()),
    };

    // The schema is validated in place, inside the whole document, so that
    // its references to `#/components/...` resolve as a client's would.
    assert!(media["schema"].is_object(), "no schema: {what}");
    let mut root = doc.clone();
    let pointer = [
        "paths",
        &operation.path,
        &operation.method,
        "responses",
        status,
        "content",
        media_type,
        "schema",
    ]
    .map(pointer_segment)
    .join("/");
    root["$ref"] = json!(format!("#/{pointer}"));
    let validator = jsonschema::draft202012::new(&root)
        .unwrap_or_else(|e| panic!("the schema of {what} does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}: {what}");
    reply.status
}

/// The calls made of one operation, each reply checked against the
/// document as it comes, with the statuses they got.
struct Attempts<'a> {
    doc: &'a Value,
    operation: &'a Operation,
    body: Option<Value>,
    statuses: Vec<StatusCode>,
}

impl Attempts<'_> {
    /// Calls the operation at `path` on the engine at `base` (with the body
    /// it accepts, if it takes one).
    async fn call(&self, base: &str, path: &str, token: Option<&str>) -> Reply {
        let method = self.operation.http_method();
        call(base, &method, path, token, self.body.as_ref()).await
    }

    /// Checks `reply` against the document and keeps its status.
    fn keep(&mut self, reply: &Reply) -> StatusCode {
        let status = check(self.doc, self.operation, reply);
        self.statuses.push(status);
        status
    }
}

#[tokio::test]
async fn every_documented_operation_answers_as_documented() {
    let engine = start(Arc::new(MemoryStore::new(Limits::default())), Some(TOKEN)).await;
    let failing = start(Arc::new(FailingStore::new()), None).await;
    let item = format!("/v1/groups/{GROUP}/items/{KEY}");
    // What every operation finds stored; a patch's second op fails on `s`.
    let stored = json!({"n": 1, "s": "text"});
    let store = || {
        call(
            &engine.base,
            &Method::PUT,
            &item,
            Some(TOKEN),
            Some(&stored),
        )
    };

    let document = "/v1/openapi.json";
    let served = call(&engine.base, &Method::GET, document, Some(TOKEN), None).await;
    assert_eq!(served.status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&served.text).expect("the document is JSON");
    assert_eq!(doc["openapi"], json!("3.1.0"));
    let operations = operations(&doc);
    assert_eq!(operations.len(), 16, "{operations:?}");

    for operation in &operations {
        let mut attempts = Attempts {
            doc: &doc,
            operation,
            body: operation.success_body(),
            statuses: Vec::new(),
        };
        let path = operation.concrete(GROUP);
        let what = format!("{} {}", operation.method, operation.path);

        // Success, on an item that exists (each write replaces it).
        let put = store().await;
        assert!(put.status.is_success(), "{}", put.text);
        let mut reply = attempts.call(&engine.base, &path, Some(TOKEN)).await;
        if reply.feed.is_some() {
            // A change made now is the feed's first event.
            store().await;
            reply.first_event().await;
        }
        assert!(attempts.keep(&reply).is_success(), "{what}: {}", reply.text);

        // Without the token: refused unless the route is public.
        let reply = attempts.call(&engine.base, &path, None).await;
        let public = operation.is_public(&doc);
        assert_eq!(attempts.keep(&reply).is_success(), public, "{what}");

        // A group name past the limit.
        if operation.has_group() {
            let long = operation.concrete(&"g".repeat(1025));
            let reply = attempts.call(&engine.base, &long, Some(TOKEN)).await;
            let status = attempts.keep(&reply);
            assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {}", reply.text);
        }

        // An item that does not exist, for the reads and deletes of one.
        if operation.path.contains("{key}") && attempts.body.is_none() {
            let missing = format!("/v1/groups/{GROUP}/items/none");
            let reply = attempts.call(&engine.base, &missing, Some(TOKEN)).await;
            let status = attempts.keep(&reply);
            assert_eq!(status, StatusCode::NOT_FOUND, "{what}: {}", reply.text);
        }

        // A store that fails.
        let reply = attempts.call(&failing.base, &path, None).await;
        attempts.keep(&reply);

        let statuses = &attempts.statuses;
        assert!(
            statuses.iter().any(StatusCode::is_success),
            "{what}: {statuses:?}"
        );
        assert!(
            statuses
                .iter()
                .any(|s| s.is_client_error() || s.is_server_error()),
            "{what}: no error answered: {statuses:?}"
        );
    }
}

/// The answers of conditional and idempotent requests and of transactions
/// that fail are the documented ones, with the fields their schema gives
/// (`current_version`, `op_index`).
#[tokio::test]
async fn conditions_keys_and_transactions_answer_as_documented() {
    let engine = start(Arc::new(MemoryStore::new(Limits::default())), None).await;
    let served = call(&engine.base, &Method::GET, "/v1/openapi.json", None, None).await;
    let doc: Value = serde_json::from_str(&served.text).expect("the document is JSON");
    let ops = operations(&doc);
    let find = |method: &str, path: &str| {
        ops.iter()
            .find(|o| o.method == method && o.path == path)
            .unwrap_or_else(|| panic!("{method} {path} is documented"))
            .clone()
    };
    let item_path = "/v1/groups/{group}/items/{key}";
    let (get, put, patch, delete) = (
        find("get", item_path),
        find("put", item_path),
        find("patch", item_path),
        find("delete", item_path),
    );
    let post = find("post", "/v1/transaction");
    let item = put.concrete(GROUP);
    let base = engine.base.as_str();
    let send = |operation: &Operation,
                headers: &'static [(&'static str, &'static str)],
                body: Option<Value>| {
        let method = operation.http_method();
        let path = if operation.path.contains("{group}") {
            item.clone()
        } else {
            operation.path.clone()
        };
        async move { call_with_headers(base, &method, &path, None, headers, body.as_ref()).await }
    };
    let error = |reply: &Reply| -> Value {
        serde_json::from_str::<Value>(&reply.text).expect("JSON")["error"].clone()
    };

    // Created only if absent; then refused (412) with the version it has.
    let value = Some(json!({"n": 1}));
    let absent: &[(&str, &str)] = &[("if-none-match", "*")];
    let created = send(&put, absent, value.clone()).await;
    assert_eq!(
        check(&doc, &put, &created),
        StatusCode::CREATED,
        "{}",
        created.text
    );
    let version: u64 = created.headers["etag"]
        .to_str()
        .expect("text")
        .trim_matches('"')
        .parse()
        .expect("a version");
    let refused = send(&put, absent, value.clone()).await;
    assert_eq!(check(&doc, &put, &refused), StatusCode::PRECONDITION_FAILED);
    assert_eq!(error(&refused)["code"], "conflict");
    assert_eq!(error(&refused)["current_version"], json!(version));

    // A stale If-Match on each write; a malformed one.
    let stale: &[(&str, &str)] = &[("if-match", "\"999999\"")];
    for (operation, body) in [
        (&put, value.clone()),
        (
            &patch,
            Some(json!({"ops": [{"type": "increment", "path": "n", "by": 1}]})),
        ),
        (&delete, None),
    ] {
        let reply = send(operation, stale, body).await;
        let status = check(&doc, operation, &reply);
        assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{}", reply.text);
    }
    let malformed = send(&put, &[("if-match", "7")], value.clone()).await;
    assert_eq!(check(&doc, &put, &malformed), StatusCode::BAD_REQUEST);

    // Unchanged (`*` names any version): 304 with no body.
    let unchanged = send(&get, &[("if-none-match", "*")], None).await;
    assert_eq!(check(&doc, &get, &unchanged), StatusCode::NOT_MODIFIED);

    // One idempotency key, two different requests.
    let key: &[(&str, &str)] = &[("idempotency-key", "put-1")];
    let first = send(&put, key, Some(json!({"n": 5}))).await;
    assert_eq!(check(&doc, &put, &first), StatusCode::OK, "{}", first.text);
    let repeat = send(&put, key, Some(json!({"n": 5}))).await;
    assert_eq!(check(&doc, &put, &repeat), StatusCode::OK);
    assert_eq!(repeat.headers["idempotent-replayed"], "true");
    let other = send(&put, key, Some(json!({"n": 6}))).await;
    assert_eq!(check(&doc, &put, &other), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error(&other)["code"], "idempotency_mismatch");

    // Transactions: a failed check, a failed update op, malformed ops, a
    // reused key.
    let failed_check = json!({"ops": [
        {"type": "set", "scope": "g/x", "key": "a", "value": 1},
        {"type": "check", "scope": "g/x", "key": "k:y", "if_version": 999_999},
    ]});
    let reply = send(&post, &[], Some(failed_check)).await;
    assert_eq!(check(&doc, &post, &reply), StatusCode::CONFLICT);
    assert_eq!(error(&reply)["code"], "conflict");
    assert_eq!(error(&reply)["op_index"], 1);
    let failed_update = json!({"ops": [
        {"type": "set", "scope": "g/x", "key": "s", "value": {"s": "text"}},
        {"type": "update", "scope": "g/x", "key": "s",
         "ops": [{"type": "increment", "path": "s", "by": 1}]},
    ]});
    let reply = send(&post, &[], Some(failed_update)).await;
    assert_eq!(check(&doc, &post, &reply), StatusCode::CONFLICT);
    assert_eq!(error(&reply)["code"], "update_failed");
    let reply = send(&post, &[], Some(json!({"ops": [{"type": "nope"}]}))).await;
    assert_eq!(check(&doc, &post, &reply), StatusCode::BAD_REQUEST);
    let key: &[(&str, &str)] = &[("idempotency-key", "tx-1")];
    let one = json!({"ops": [{"type": "set", "scope": "g/x", "key": "a", "value": 1}]});
    let two = json!({"ops": [{"type": "set", "scope": "g/x", "key": "a", "value": 2}]});
    let reply = send(&post, key, Some(one)).await;
    assert_eq!(check(&doc, &post, &reply), StatusCode::OK, "{}", reply.text);
    let reply = send(&post, key, Some(two)).await;
    assert_eq!(check(&doc, &post, &reply), StatusCode::UNPROCESSABLE_ENTITY);
}
