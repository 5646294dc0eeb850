//! The HTTP API through a real socket: an in-process engine on a free
//! loopback port with the memory store, driven by a real HTTP client.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use statewell_conformance::http::{Http, Reply, enc, item_path};
use statewell_core::store::MemoryStore;
use statewell_core::{Limits, State};
use statewell_server::{AppState, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// An in-process engine; derefs to the shared `/v1` test client
/// (`statewell_conformance::http::Http`: `call`, `get`, `put`, `token`...).
struct Server {
    addr: std::net::SocketAddr,
    http: Http,
    _stop: oneshot::Sender<()>,
}

impl std::ops::Deref for Server {
    type Target = Http;

    fn deref(&self) -> &Http {
        &self.http
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Http {
        &mut self.http
    }
}

async fn start(config: ServerConfig) -> Server {
    let limits = Limits::default();
    let state = State::new(Arc::new(MemoryStore::new(limits)), limits);
    let token = config.token.clone();
    let app = AppState::new(state, config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(statewell_server::serve(listener, app, async move {
        let _ = stopped.await;
    }));
    Server {
        addr,
        http: Http::new(format!("http://{addr}"), token.as_deref()),
        _stop: stop,
    }
}

fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    reply.assert_error(status, code);
}

#[tokio::test]
async fn set_get_delete_round_trip_with_versions() {
    let s = start(ServerConfig::default()).await;

    let created = s.put("orders", "o-1", &json!({"total": 5})).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(
        created.body,
        json!({"old_value": null, "new_value": {"total": 5}})
    );
    let v1 = created.etag.clone().expect("PUT returns an ETag");

    let replaced = s.put("orders", "o-1", &json!({"total": 7})).await;
    assert_eq!(replaced.status, StatusCode::OK);
    assert_eq!(
        replaced.body,
        json!({"old_value": {"total": 5}, "new_value": {"total": 7}})
    );
    let v2 = replaced.etag.clone().expect("ETag");
    assert_ne!(v1, v2, "a write changes the version");

    let got = s.get(&item_path("orders", "o-1")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, json!({"total": 7}));
    assert_eq!(got.etag.as_deref(), Some(v2.as_str()));
    assert!(
        v2.starts_with('"') && v2.ends_with('"'),
        "strong ETag: {v2}"
    );

    // A stored null is a value, unlike a missing item.
    s.put("orders", "nothing", &Value::Null).await;
    let null = s.get(&item_path("orders", "nothing")).await;
    assert_eq!(null.status, StatusCode::OK);
    assert_eq!(null.body, Value::Null);

    let deleted = s
        .call(Method::DELETE, &item_path("orders", "o-1"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.body, json!({"total": 7}));

    assert_error(
        &s.get(&item_path("orders", "o-1")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &s.call(Method::DELETE, &item_path("orders", "o-1"), None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn any_group_and_key_round_trip_through_percent_encoding() {
    let s = start(ServerConfig::default()).await;
    let group = "tenant/a:b c?d#e%f+g&h=ü";
    let keys = [
        "a/b/c",
        "x:y",
        "with space",
        "100%",
        "q?uery#frag",
        "plus+sign",
        "émoji 🎉",
        "...",
        "back\\slash",
    ];
    for (i, key) in keys.iter().enumerate() {
        let put = s.put(group, key, &json!(i)).await;
        assert_eq!(put.status, StatusCode::CREATED, "{key}: {}", put.body);
    }
    for (i, key) in keys.iter().enumerate() {
        let got = s.get(&item_path(group, key)).await;
        assert_eq!(got.status, StatusCode::OK, "{key}");
        assert_eq!(got.body, json!(i), "{key}");
    }
    let groups = s.get("/v1/groups").await;
    assert_eq!(groups.body, json!({"groups": [group]}));

    let page = s.get(&format!("/v1/groups/{}/items", enc(group))).await;
    let mut listed: Vec<&str> = page.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["key"].as_str().expect("key"))
        .collect();
    let mut expected = keys.to_vec();
    expected.sort();
    listed.sort();
    assert_eq!(listed, expected);

    // A segment that decodes to invalid UTF-8 is refused, not mangled.
    assert_error(
        &s.get("/v1/groups/bad%FF/items/k").await,
        StatusCode::BAD_REQUEST,
        "invalid_argument",
    );
}

#[tokio::test]
async fn list_values_and_paged_items() {
    let s = start(ServerConfig::default()).await;
    for key in ["b", "a", "c", "d", "pre-1", "pre-2"] {
        s.put("g", key, &json!({"k": key})).await;
    }
    let values = s.get("/v1/groups/g/values").await;
    assert_eq!(values.status, StatusCode::OK);
    assert_eq!(
        values.body,
        json!([{"k":"a"},{"k":"b"},{"k":"c"},{"k":"d"},{"k":"pre-1"},{"k":"pre-2"}])
    );
    assert_eq!(s.get("/v1/groups/unknown/values").await.body, json!([]));

    let first = s.get("/v1/groups/g/items?limit=2").await;
    assert_eq!(first.status, StatusCode::OK);
    let keys = |r: &Reply| -> Vec<String> {
        r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["key"].as_str().expect("key").to_owned())
            .collect()
    };
    assert_eq!(keys(&first), ["a", "b"]);
    assert_eq!(first.body["next"], json!("b"));
    assert!(first.body["items"][0]["version"].is_u64());
    assert_eq!(first.body["items"][0]["value"], json!({"k": "a"}));

    let second = s.get("/v1/groups/g/items?limit=2&after=b").await;
    assert_eq!(keys(&second), ["c", "d"]);

    let all = s.get("/v1/groups/g/items").await;
    assert_eq!(keys(&all).len(), 6);
    assert_eq!(all.body["next"], Value::Null);

    let prefixed = s.get("/v1/groups/g/items?prefix=pre-").await;
    assert_eq!(keys(&prefixed), ["pre-1", "pre-2"]);
    assert_eq!(prefixed.body["next"], Value::Null);

    assert_error(
        &s.get("/v1/groups/g/items?limit=0").await,
        StatusCode::BAD_REQUEST,
        "invalid_argument",
    );
    // Parameters of the wrong type, or unknown ones, fail like a payload
    // that does not deserialize over the worker protocol.
    for bad in ["limit=abc", "limit=-1", "limt=10"] {
        assert_error(
            &s.get(&format!("/v1/groups/g/items?{bad}")).await,
            StatusCode::BAD_REQUEST,
            "deserialization_error",
        );
    }
}

#[tokio::test]
async fn groups_and_clear() {
    let s = start(ServerConfig::default()).await;
    assert_eq!(s.get("/v1/groups").await.body, json!({"groups": []}));
    s.put("beta", "1", &json!(1)).await;
    s.put("alpha", "1", &json!(1)).await;
    s.put("alpha", "2", &json!(2)).await;
    assert_eq!(
        s.get("/v1/groups").await.body,
        json!({"groups": ["alpha", "beta"]})
    );
    assert_eq!(
        s.get("/v1/groups/alpha").await.body,
        json!({"group": "alpha", "items": 2})
    );
    assert_eq!(
        s.get("/v1/groups/nothing").await.body,
        json!({"group": "nothing", "items": 0})
    );

    let cleared = s.call(Method::DELETE, "/v1/groups/alpha", None).await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert_eq!(cleared.body, json!({"deleted": 2}));
    assert_eq!(s.get("/v1/groups").await.body, json!({"groups": ["beta"]}));
    assert_eq!(
        s.call(Method::DELETE, "/v1/groups/alpha", None).await.body,
        json!({"deleted": 0})
    );
}

#[tokio::test]
async fn update_applies_ops_and_reports_skipped_ones() {
    let s = start(ServerConfig::default()).await;
    let path = item_path("counters", "c");

    let first = s
        .send_json(
            Method::PATCH,
            &path,
            &json!({"ops": [{"type": "increment", "path": "n", "by": 2}]}),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(
        first.body,
        json!({"old_value": null, "new_value": {"n": 2}, "errors": []})
    );
    assert!(first.etag.is_some());

    s.send_json(
        Method::PATCH,
        &path,
        &json!({"ops": [{"type": "set", "path": "name", "value": "x"}]}),
    )
    .await;
    let mixed = s
        .send_json(
            Method::PATCH,
            &path,
            &json!({"ops": [
                {"type": "increment", "path": "name", "by": 1},
                {"type": "decrement", "path": "n", "by": 1},
            ]}),
        )
        .await;
    assert_eq!(mixed.status, StatusCode::OK);
    assert_eq!(mixed.body["old_value"], json!({"n": 2, "name": "x"}));
    assert_eq!(mixed.body["new_value"], json!({"n": 1, "name": "x"}));
    assert_eq!(mixed.body["errors"][0]["op_index"], json!(0));
    assert_eq!(
        mixed.body["errors"][0]["code"],
        json!("increment.not_number")
    );

    // An empty op list on a missing key creates nothing.
    let empty = s
        .send_json(
            Method::PATCH,
            &item_path("counters", "none"),
            &json!({"ops": []}),
        )
        .await;
    assert_eq!(
        empty.body,
        json!({"old_value": null, "new_value": null, "errors": []})
    );
    assert!(empty.etag.is_none());
    assert_error(
        &s.get(&item_path("counters", "none")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn malformed_and_invalid_input_gets_400_with_a_code() {
    let s = start(ServerConfig::default()).await;
    let path = item_path("g", "k");
    for body in ["", "{", "{\"a\":}", "nope", "[1,2"] {
        let reply = s
            .call(Method::PUT, &path, Some(body.as_bytes().to_vec()))
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_json");
    }
    for body in [
        json!({}),
        json!({"ops": {"type": "set"}}),
        json!({"ops": [{"type": "bogus", "path": "a"}]}),
        json!({"ops": [{"type": "increment", "path": "a"}]}),
        json!([]),
    ] {
        let reply = s.send_json(Method::PATCH, &path, &body).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "deserialization_error");
    }
    // A refused update changed nothing.
    assert_error(&s.get(&path).await, StatusCode::NOT_FOUND, "not_found");

    // Empty groups and keys are bad arguments, not unknown routes.
    for (method, path) in [
        (Method::PUT, "/v1/groups//items/k"),
        (Method::PUT, "/v1/groups/g/items/"),
        (Method::GET, "/v1/groups//values"),
        (Method::GET, "/v1/groups//items"),
        (Method::DELETE, "/v1/groups/"),
    ] {
        let reply = s.call(method, path, Some(b"1".to_vec())).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_argument");
    }

    let long_key = "k".repeat(1025);
    assert_error(
        &s.put("g", &long_key, &json!(1)).await,
        StatusCode::BAD_REQUEST,
        "invalid_argument",
    );
    assert_error(
        &s.get(&format!("/v1/groups/{}/values", "g".repeat(1025)))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_argument",
    );
}

#[tokio::test]
async fn oversized_values_and_bodies_get_413() {
    let s = start(ServerConfig {
        max_frame_bytes: 2 * 1024 * 1024,
        ..ServerConfig::default()
    })
    .await;
    // Over the 1 MiB value limit but within the body limit.
    let big = json!("x".repeat(1024 * 1024 + 16));
    assert_error(
        &s.put("g", "big", &big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "value_too_large",
    );
    // Over the body limit: refused before it is parsed.
    let huge = json!("x".repeat(3 * 1024 * 1024));
    assert_error(
        &s.put("g", "huge", &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
    );
    // An update whose result would exceed the value limit changes nothing.
    s.put("g", "grow", &json!({"s": "x".repeat(700 * 1024)}))
        .await;
    let grow = s
        .send_json(
            Method::PATCH,
            &item_path("g", "grow"),
            &json!({"ops": [{"type": "set", "path": "t", "value": "y".repeat(700 * 1024)}]}),
        )
        .await;
    assert_error(&grow, StatusCode::PAYLOAD_TOO_LARGE, "value_too_large");
    assert!(s.get(&item_path("g", "grow")).await.body.get("t").is_none());
    assert_error(
        &s.get(&item_path("g", "big")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn a_huge_declared_body_is_refused_before_it_is_sent() {
    let s = start(ServerConfig::default()).await;
    let mut tcp = TcpStream::connect(s.addr).await.expect("connect");
    let request = format!(
        "PUT /v1/groups/g/items/k HTTP/1.1\r\nHost: {}\r\nContent-Length: 1000000000\r\n\r\n",
        s.addr
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    // The engine answers and closes without waiting for the gigabyte.
    tcp.read_to_end(&mut response).await.expect("read");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("\"body_too_large\""), "{response}");
    assert_error(
        &s.get(&item_path("g", "k")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let s = start(ServerConfig::default()).await;
    assert_error(
        &s.get("/v1/nothing-here").await,
        StatusCode::NOT_FOUND,
        "route_not_found",
    );
    assert_error(
        &s.call(Method::POST, &item_path("g", "k"), Some(b"1".to_vec()))
            .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    assert_error(
        &s.call(Method::DELETE, "/v1/groups", None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}

#[tokio::test]
async fn healthz_answers_ok() {
    let s = start(ServerConfig::default()).await;
    let health = s.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body, json!({"status": "ok"}));
}

/// Sends a WebSocket upgrade request by hand and returns the status code.
async fn upgrade_status(addr: std::net::SocketAddr, path: &str, auth: Option<&str>) -> u16 {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{auth}\r\n"
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 1024];
    let mut read = 0;
    while !buf[..read].windows(2).any(|w| w == b"\r\n") {
        let n = tcp.read(&mut buf[read..]).await.expect("read");
        assert!(n > 0, "connection closed before a status line");
        read += n;
    }
    let line = String::from_utf8_lossy(&buf[..read]);
    line.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {line:?}"))
}

#[tokio::test]
async fn token_guards_every_route_but_healthz() {
    let mut s = start(ServerConfig {
        token: Some("s3cret".into()),
        ..ServerConfig::default()
    })
    .await;
    // With the token (the helper sends it) everything works.
    assert_eq!(s.put("g", "k", &json!(1)).await.status, StatusCode::CREATED);
    assert_eq!(s.get("/metrics").await.status, StatusCode::OK);

    for token in [None, Some("wrong".to_owned()), Some(String::new())] {
        s.token = token.clone();
        for (method, path) in [
            (Method::GET, "/v1/groups".to_owned()),
            (Method::GET, item_path("g", "k")),
            (Method::PUT, item_path("g", "k")),
            (Method::DELETE, "/v1/groups/g".to_owned()),
            (Method::GET, "/v1/openapi.json".to_owned()),
            (Method::GET, "/metrics".to_owned()),
            (Method::GET, "/no/such/route".to_owned()),
        ] {
            let reply = s.call(method.clone(), &path, Some(b"2".to_vec())).await;
            assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
            assert_eq!(
                reply.headers.get("www-authenticate").map(|v| v.as_bytes()),
                Some(&b"Bearer"[..]),
                "{method} {path} with {token:?}"
            );
        }
        // Open for probes.
        assert_eq!(s.get("/healthz").await.status, StatusCode::OK);
    }
    // Nothing refused changed anything.
    s.token = Some("s3cret".into());
    assert_eq!(s.get(&item_path("g", "k")).await.body, json!(1));

    // WebSocket upgrades are guarded too.
    for path in ["/", "/otel"] {
        assert_eq!(upgrade_status(s.addr, path, None).await, 401, "{path}");
        assert_eq!(
            upgrade_status(s.addr, path, Some("Bearer nope")).await,
            401,
            "{path}"
        );
        assert_ne!(
            upgrade_status(s.addr, path, Some("Bearer s3cret")).await,
            401,
            "{path}"
        );
    }
}

#[tokio::test]
async fn without_a_token_nothing_is_asked() {
    let s = start(ServerConfig::default()).await;
    assert_eq!(s.get("/v1/groups").await.status, StatusCode::OK);
    assert_eq!(s.get("/metrics").await.status, StatusCode::OK);
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_http_operations_and_store_size() {
    let s = start(ServerConfig::default()).await;
    s.put("m", "a", &json!({"x": 1})).await;
    s.put("m", "b", &json!({"x": 2})).await;
    s.get(&item_path("m", "a")).await;
    s.get(&item_path("m", "missing")).await;
    s.put("m", &"k".repeat(2000), &json!(1)).await; // invalid_argument
    s.send_json(
        Method::PATCH,
        &item_path("m", "a"),
        &json!({"ops": [{"type": "increment", "path": "x", "by": 1}]}),
    )
    .await;

    let reply = s.call(Method::GET, "/metrics", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let content_type = reply.headers["content-type"].to_str().expect("ascii");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = reply.body.as_str().expect("metrics are text, not JSON");

    let expect = [
        (
            "statewell_operations_total{kind=\"set\",outcome=\"ok\"}",
            2.0,
        ),
        (
            "statewell_operations_total{kind=\"set\",outcome=\"invalid_argument\"}",
            1.0,
        ),
        // A missing item is a successful read (the worker protocol agrees).
        (
            "statewell_operations_total{kind=\"get\",outcome=\"ok\"}",
            2.0,
        ),
        (
            "statewell_operations_total{kind=\"update\",outcome=\"ok\"}",
            1.0,
        ),
        (
            "statewell_operation_duration_seconds_count{kind=\"set\"}",
            3.0,
        ),
        (
            "statewell_operation_duration_seconds_bucket{kind=\"get\",le=\"+Inf\"}",
            2.0,
        ),
        ("statewell_store_items", 2.0),
        ("statewell_workers_connected", 0.0),
    ];
    for (series, value) in expect {
        assert_eq!(metric(text, series), Some(value), "{series} in\n{text}");
    }
    for series in [
        "statewell_store_bytes",
        "statewell_commit_batch_size",
        "statewell_commits_total",
    ] {
        assert!(
            metric(text, series).is_some(),
            "{series} missing in\n{text}"
        );
    }
    assert!(text.contains("# TYPE statewell_operation_duration_seconds histogram"));
}
