//! Slow clients against the real binary: unfinished HTTP requests are cut
//! off by the read timeouts, and open connections stay within
//! `--max-connections` while new clients are still served, as the engine's
//! own figures on `/metrics` show.

mod common;

use std::time::Duration;

use common::Engine;
use common::raw_http::RawHttp;

/// A bound on waiting for something that must happen, not a timing claim.
const PATIENCE: Duration = Duration::from_secs(30);

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `/metrics` over a connection of its own.
async fn metrics(engine: &Engine) -> String {
    let mut client = RawHttp::connect(&engine.addr).await;
    let response = client.get("/metrics").await;
    assert_eq!(response.status, 200);
    String::from_utf8(response.body).expect("UTF-8")
}

fn series(text: &str, name: &str) -> f64 {
    metric(text, name).unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// Eight clients send half a request head to an engine that takes four
/// connections at a time: each is cut off by the header read timeout, the
/// ones waiting beyond the limit get their turn (and are cut off too), and
/// a client with a whole request is served all the while. The engine never
/// had more than four connections open.
#[tokio::test]
async fn unfinished_heads_are_cut_off_and_the_connection_limit_holds() {
    let engine = Engine::start(&["--max-connections", "4", "--header-read-timeout", "200ms"]);
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut client = RawHttp::connect(&engine.addr).await;
        client
            .send(b"GET /healthz HTTP/1.1\r\nHost: engine\r\nX-Slow: 1")
            .await;
        slow.push(client);
    }
    for client in &mut slow {
        client.closed_by_engine().await;
    }
    let mut fresh = RawHttp::connect(&engine.addr).await;
    assert_eq!(fresh.get("/healthz").await.status, 200);

    let text = metrics(&engine).await;
    assert_eq!(series(&text, "statewell_connections_limit"), 4.0);
    let peak = series(&text, "statewell_connections_open_max");
    assert!((1.0..=4.0).contains(&peak), "{peak} open at once");
}

/// WebSocket connections count within the limit: with both slots held by
/// workers, an HTTP request is served once one of them leaves.
#[tokio::test]
async fn websockets_hold_their_slot_until_they_close() {
    let engine = Engine::start(&["--max-connections", "2"]);
    let first = engine.client().await;
    let second = engine.client().await;
    // Both upgrades were served, so both slots are taken.
    first.get("g", "k").await.expect("round trip");
    second.get("g", "k").await.expect("round trip");

    let waiting = tokio::spawn({
        let addr = engine.addr.clone();
        async move {
            let mut client = RawHttp::connect(&addr).await;
            String::from_utf8(client.get("/metrics").await.body).expect("UTF-8")
        }
    });
    drop(first);
    let text = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("the waiting request was never served")
        .expect("join");
    assert_eq!(series(&text, "statewell_connections_open_max"), 2.0);
    second
        .get("g", "k")
        .await
        .expect("the remaining worker is served");
}

/// A body that does not arrive within the body read timeout is answered 408
/// `request_timeout` and the connection is closed; nothing is written.
#[tokio::test]
async fn a_body_that_never_arrives_is_answered_408() {
    let engine = Engine::start(&["--body-read-timeout", "200ms"]);
    let path = "/v1/groups/slow/items/k";
    let requests = [
        format!(
            "PUT {path} HTTP/1.1\r\nHost: engine\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\n\r\n{{\"a\":"
        ),
        format!(
            "PUT {path} HTTP/1.1\r\nHost: engine\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\n\r\n5\r\n{{\"a\":\r\n"
        ),
    ];
    for request in requests {
        let mut client = RawHttp::connect(&engine.addr).await;
        client.send(request.as_bytes()).await;
        let response = client.response().await;
        assert_eq!(response.status, 408, "{response:?}");
        assert_eq!(response.json()["error"]["code"], "request_timeout");
        assert_eq!(response.header("connection"), Some("close"));
        client.closed_by_engine().await;
    }
    let mut client = RawHttp::connect(&engine.addr).await;
    assert_eq!(client.get(path).await.status, 404);
}
