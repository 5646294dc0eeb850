//! Slow and greedy clients against the real binary: unfinished HTTP requests
//! are cut off by the read timeouts, open connections stay within
//! `--max-connections` while new clients are still served, and clients that
//! never read their replies are held to `--max-reply-bytes-in-flight`, all
//! seen through the engine's own figures on `/metrics`.

mod common;

use std::time::Duration;

use common::Engine;
use common::raw_http::RawHttp;
use futures::SinkExt;
use serde_json::json;
use statewell_conformance::ws::Raw;
use tokio_tungstenite::tungstenite::Message;

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

/// Polls `/metrics` until `done` holds; the last text.
async fn metrics_until(engine: &Engine, what: &str, done: impl Fn(&str) -> bool) -> String {
    let started = std::time::Instant::now();
    loop {
        let text = metrics(engine).await;
        if done(&text) {
            return text;
        }
        assert!(started.elapsed() < PATIENCE, "never {what}:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

/// A value of `VALUE_BYTES` read over and over by clients that never read
/// their replies.
const VALUE_BYTES: usize = 256 * 1024;
const BUDGET: usize = 1024 * 1024;
const GREEDY: usize = 8;
const GETS_EACH: usize = 200;

/// An engine on the memory store with a reply budget of `BUDGET` and the
/// given write timeout; it stores the big value, then `GREEDY` worker
/// connections each send `GETS_EACH` gets of it and read nothing. Each
/// connection lives in a task (the engine may stop reading before every
/// frame is through, and sending must not hold up the test); aborting the
/// task closes it.
async fn flooded(write_timeout: &str) -> (Engine, Vec<tokio::task::JoinHandle<()>>) {
    let budget = BUDGET.to_string();
    let engine = Engine::start(&[
        "--store",
        "memory",
        "--max-reply-bytes-in-flight",
        &budget,
        "--write-timeout",
        write_timeout,
    ]);
    let setter = engine.client().await;
    setter
        .set("greedy", "big", json!("v".repeat(VALUE_BYTES)))
        .await
        .expect("set");
    let mut greedy = Vec::new();
    for n in 0..GREEDY {
        let mut raw = Raw::connect(&engine.ws_url()).await;
        greedy.push(tokio::spawn(async move {
            for i in 0..GETS_EACH {
                let frame = json!({"type": "invokefunction", "invocation_id": format!("{n}-{i}"),
                    "function_id": "state::get", "data": {"scope": "greedy", "key": "big"}});
                if raw
                    .socket
                    .feed(Message::text(frame.to_string()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            let _ = raw.socket.flush().await;
            std::future::pending::<()>().await;
        }));
    }
    (engine, greedy)
}

/// Clients asking for far more than the budget and reading none of it: the
/// engine stops reading once the budget is spent, so the replies it holds
/// stay within the budget plus one reply per connection, not the hundreds
/// of megabytes asked for; the gets held back are not served. When the
/// clients go, every byte is released and a new client is served.
#[tokio::test]
async fn replies_clients_do_not_read_are_held_to_the_budget() {
    let (engine, greedy) = flooded("3600s").await;
    let text = metrics_until(&engine, "spent the budget", |text| {
        metric(text, "statewell_reply_bytes_in_flight").is_some_and(|n| n >= BUDGET as f64)
    })
    .await;
    let peak = series(&text, "statewell_reply_bytes_in_flight_max");
    let reply_bytes = (VALUE_BYTES + 200) as f64;
    let asked = (GREEDY * GETS_EACH) as f64 * reply_bytes;
    eprintln!("reply bytes in flight at most {peak} (budget {BUDGET}, asked for {asked})");
    assert!(
        peak <= BUDGET as f64 + GREEDY as f64 * reply_bytes,
        "{peak} reply bytes in flight"
    );
    let served = metric(
        &text,
        "statewell_operations_total{kind=\"get\",outcome=\"ok\"}",
    );
    assert!(
        served.is_some_and(|n| n < (GREEDY * GETS_EACH) as f64),
        "{served:?} gets served"
    );

    for client in &greedy {
        client.abort();
    }
    metrics_until(&engine, "released every reply byte", |text| {
        metric(text, "statewell_reply_bytes_in_flight") == Some(0.0)
    })
    .await;
    let client = engine.client().await;
    let value = client.get("greedy", "big").await.expect("get");
    assert_eq!(value, Some(json!("v".repeat(VALUE_BYTES))));
}

/// The same clients, still connected but reading nothing: the write
/// timeout cuts them off, which releases their replies, and the engine
/// serves others again.
#[tokio::test]
async fn clients_that_read_nothing_are_cut_off_by_the_write_timeout() {
    let (engine, greedy) = flooded("300ms").await;
    // Only the connection asking is left open.
    metrics_until(&engine, "cut off the clients that read nothing", |text| {
        metric(text, "statewell_reply_bytes_in_flight_max").is_some_and(|n| n >= BUDGET as f64)
            && metric(text, "statewell_reply_bytes_in_flight") == Some(0.0)
            && metric(text, "statewell_connections_open") == Some(1.0)
    })
    .await;
    let client = engine.client().await;
    let value = client.get("greedy", "big").await.expect("get");
    assert_eq!(value, Some(json!("v".repeat(VALUE_BYTES))));
    for client in &greedy {
        client.abort();
    }
}
