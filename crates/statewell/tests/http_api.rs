//! The HTTP API of the real `statewell` binary: every route, auth on HTTP
//! and on the WebSocket upgrade, size and syntax errors, metrics, and values
//! surviving a restart. In-process route-by-route tests live in
//! `crates/statewell-server/tests/http_api.rs`.

mod common;
mod http_support;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::Engine;
use http_support::{Http, enc, item_path};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Opens a WebSocket by hand (so the test controls the headers) and returns
/// the status code with the still-open socket.
fn upgrade(addr: &str, path: &str, auth: Option<&str>) -> (u16, TcpStream) {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{auth}\r\n"
    )
    .expect("write upgrade request");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tcp.read(&mut byte).expect("read response head");
        assert_eq!(n, 1, "connection closed in the response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, tcp)
}

#[tokio::test]
async fn every_route_through_the_binary() {
    let engine = Engine::start(&[]);
    let http = Http::new(engine.http_url(), None);
    let group = "orders/eu:1";

    let put = http
        .send_json(Method::PUT, &item_path(group, "o/1"), &json!({"total": 5}))
        .await;
    assert_eq!(put.status, StatusCode::CREATED);
    assert_eq!(
        put.body,
        json!({"old_value": null, "new_value": {"total": 5}})
    );
    http.send_json(Method::PUT, &item_path(group, "o/2"), &json!({"total": 8}))
        .await;

    let got = http.get(&item_path(group, "o/1")).await;
    assert_eq!(got.body, json!({"total": 5}));
    assert!(got.etag().is_some());

    let updated = http
        .send_json(
            Method::PATCH,
            &item_path(group, "o/1"),
            &json!({"ops": [{"type": "increment", "path": "total", "by": 10}]}),
        )
        .await;
    assert_eq!(
        updated.body,
        json!({"old_value": {"total": 5}, "new_value": {"total": 15}, "errors": []})
    );
    assert_ne!(updated.etag(), got.etag());

    assert_eq!(
        http.get(&format!("/v1/groups/{}/values", enc(group)))
            .await
            .body,
        json!([{"total": 15}, {"total": 8}])
    );
    let page = http
        .get(&format!("/v1/groups/{}/items?limit=1", enc(group)))
        .await;
    assert_eq!(page.body["items"][0]["key"], json!("o/1"));
    assert_eq!(page.body["next"], json!("o/1"));
    assert_eq!(
        http.get("/v1/groups").await.body,
        json!({"groups": [group]})
    );

    let deleted = http.delete(&item_path(group, "o/2")).await;
    assert_eq!(deleted.body, json!({"total": 8}));
    http.get(&item_path(group, "o/2"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    let cleared = http.delete(&format!("/v1/groups/{}", enc(group))).await;
    assert_eq!(cleared.body, json!({"deleted": 1}));
    assert_eq!(http.get("/v1/groups").await.body, json!({"groups": []}));

    assert_eq!(http.get("/healthz").await.body, json!({"status": "ok"}));
    let doc = http.get("/v1/openapi.json").await;
    assert_eq!(doc.body["openapi"], json!("3.1.0"));
    assert!(doc.body["paths"]["/v1/groups/{group}/items/{key}"]["patch"].is_object());
}

#[tokio::test]
async fn bad_input_is_refused_with_codes_and_the_engine_stays_up() {
    let engine = Engine::start(&[]);
    let http = Http::new(engine.http_url(), None);
    let path = item_path("g", "k");
    http.call(Method::PUT, &path, Some(b"{not json".to_vec()))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_json");
    http.send_json(Method::PATCH, &path, &json!({"ops": [{"type": "bogus"}]}))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "deserialization_error");
    http.send_json(Method::PUT, &path, &json!("x".repeat(1024 * 1024 + 1)))
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "value_too_large");
    http.send_json(Method::PUT, &path, &json!("x".repeat(4 * 1024 * 1024)))
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    http.get(&format!("/v1/groups/{}/values", "g".repeat(1025)))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_argument");
    http.get("/v1/nope")
        .await
        .assert_error(StatusCode::NOT_FOUND, "route_not_found");
    // Nothing was written, and the engine still answers.
    http.get(&path)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(http.get("/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn token_is_required_on_http_and_websocket_but_not_healthz() {
    let engine = Engine::start(&["--token", "tok-123"]);
    let anonymous = Http::new(engine.http_url(), None);
    let wrong = Http::new(engine.http_url(), Some("tok-124"));
    let right = Http::new(engine.http_url(), Some("tok-123"));

    for http in [&anonymous, &wrong] {
        for path in [
            "/v1/groups",
            "/metrics",
            "/v1/openapi.json",
            &item_path("g", "k"),
        ] {
            http.get(path)
                .await
                .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        }
        http.send_json(Method::PUT, &item_path("g", "k"), &json!(1))
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(http.get("/healthz").await.status, StatusCode::OK);
    }
    assert_eq!(right.get("/v1/groups").await.body, json!({"groups": []}));
    assert_eq!(
        right
            .send_json(Method::PUT, &item_path("g", "k"), &json!(1))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(right.get("/metrics").await.status, StatusCode::OK);

    for path in ["/", "/otel"] {
        assert_eq!(upgrade(&engine.addr, path, None).0, 401, "{path}");
        assert_eq!(
            upgrade(&engine.addr, path, Some("Bearer tok-124")).0,
            401,
            "{path}"
        );
        assert_eq!(
            upgrade(&engine.addr, path, Some("Bearer tok-123")).0,
            101,
            "{path}"
        );
    }
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_show_operations_workers_and_store_size() {
    let engine = Engine::start(&[]);
    let http = Http::new(engine.http_url(), None);
    for i in 0..5 {
        http.send_json(Method::PUT, &item_path("m", &format!("k{i}")), &json!(i))
            .await;
    }
    http.get(&item_path("m", "k1")).await;
    http.send_json(
        Method::PATCH,
        &item_path("m", "k1"),
        &json!({"ops": "nope"}),
    )
    .await;

    let (status, worker) = upgrade(&engine.addr, "/", None);
    assert_eq!(status, 101);
    // The gauge moves once the connection's task runs; poll the endpoint
    // (a bounded number of times, not a timed assertion).
    let mut text = String::new();
    for _ in 0..100 {
        text = http
            .get("/metrics")
            .await
            .body
            .as_str()
            .expect("text")
            .to_owned();
        if metric(&text, "statewell_workers_connected") == Some(1.0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        metric(&text, "statewell_workers_connected"),
        Some(1.0),
        "{text}"
    );
    drop(worker);

    for (series, value) in [
        (
            "statewell_operations_total{kind=\"set\",outcome=\"ok\"}",
            5.0,
        ),
        (
            "statewell_operations_total{kind=\"get\",outcome=\"ok\"}",
            1.0,
        ),
        (
            "statewell_operation_duration_seconds_count{kind=\"set\"}",
            5.0,
        ),
        ("statewell_store_items", 5.0),
    ] {
        assert_eq!(metric(&text, series), Some(value), "{series} in\n{text}");
    }
    // Five acknowledged writes took at least one commit.
    assert!(
        metric(&text, "statewell_commits_total").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        metric(&text, "statewell_commit_batch_size").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    // In `always` mode every acknowledged write was synced first.
    assert!(
        metric(&text, "statewell_syncs_total").is_some_and(|n| n >= 1.0),
        "{text}"
    );
}

#[tokio::test]
async fn values_written_over_http_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut engine = Engine::start_on(&data, &[]);
    let http = Http::new(engine.http_url(), None);
    let value = json!({"nested": {"list": [1, 2, 3]}, "big": 18446744073709551615u64});
    assert_eq!(
        http.send_json(Method::PUT, &item_path("keep", "a/b"), &value)
            .await
            .status,
        StatusCode::CREATED
    );
    assert!(engine.signal_and_wait("TERM").success());

    let engine = Engine::start_on(&data, &[]);
    let http = Http::new(engine.http_url(), None);
    let got = http.get(&item_path("keep", "a/b")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, value);
    let _: Value = got.body;
}
