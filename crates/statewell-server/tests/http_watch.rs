//! The change feed as server-sent events (`/v1/watch`,
//! `/v1/groups/{group}/watch`) through a real socket: what an event holds,
//! the group, key and prefix filters, the token, a subscriber too slow for
//! the event channel, and shutdown ending the streams.

mod ws_support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use statewell_server::ServerConfig;
use ws_support::TestServer;

/// How long to wait for the next event before calling the feed stuck. A
/// bound on waiting, not a performance assertion.
const PATIENCE: Duration = Duration::from_secs(20);

/// One server-sent event.
#[derive(Debug)]
struct Sse {
    event: String,
    id: Option<String>,
    data: String,
}

impl Sse {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).expect("event data is JSON")
    }
}

/// An open feed, read event by event.
struct Feed {
    response: reqwest::Response,
    buffer: String,
}

impl Feed {
    async fn open(addr: &str, path: &str, token: Option<&str>) -> Feed {
        let response = request(addr, path, token).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "GET {path}"
        );
        Feed {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped), or None when the stream ended.
    async fn next(&mut self) -> Option<Sse> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&block) {
                    return Some(event);
                }
            }
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .expect("the feed went quiet")
                .expect("the feed broke")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("the feed is UTF-8"));
        }
    }

    async fn next_change(&mut self) -> Value {
        let event = self.next().await.expect("the feed ended");
        assert_eq!(event.event, "change", "{event:?}");
        let data = event.json();
        assert_eq!(
            event.id.as_deref(),
            Some(data["revision"].to_string().as_str()),
            "the event id is the revision"
        );
        data
    }
}

async fn request(addr: &str, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("http://{addr}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

/// An event block without its comment lines; None for a comment only.
fn parse(block: &str) -> Option<Sse> {
    let mut event = Sse {
        event: "message".to_owned(),
        id: None,
        data: String::new(),
    };
    let mut any = false;
    for line in block
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(':'))
    {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
        any = true;
        match name {
            "event" => event.event = value,
            "id" => event.id = Some(value),
            "data" => event.data = value,
            _ => {}
        }
    }
    any.then_some(event)
}

#[tokio::test]
async fn a_group_feed_carries_its_changes_with_their_revisions() {
    let s = TestServer::start().await;
    let mut feed = Feed::open(&s.addr, "/v1/groups/orders%2Feu/watch", None).await;
    let state = &s.app.state;
    state.set("other", "x", json!(0)).await.expect("set");
    let created = state
        .set("orders/eu", "o 1", json!({"total": 5}))
        .await
        .expect("set");
    state
        .set("orders/eu", "o 1", json!({"total": 7}))
        .await
        .expect("set");
    state.delete("orders/eu", "o 1").await.expect("delete");

    let first = feed.next_change().await;
    assert_eq!(
        first,
        json!({"type": "state", "event_type": "state:created", "scope": "orders/eu",
               "key": "o 1", "old_value": null, "new_value": {"total": 5},
               "revision": created.version})
    );
    let second = feed.next_change().await;
    assert_eq!(second["event_type"], "state:updated");
    assert_eq!(second["old_value"], json!({"total": 5}));
    assert_eq!(second["new_value"], json!({"total": 7}));
    let third = feed.next_change().await;
    assert_eq!(third["event_type"], "state:deleted");
    assert_eq!(third["new_value"], Value::Null);
    let revisions = [&first, &second, &third].map(|e| e["revision"].as_u64().expect("u64"));
    assert!(revisions.is_sorted() && revisions[0] < revisions[2]);
}

#[tokio::test]
async fn key_and_prefix_filters_and_the_feed_of_every_group() {
    let s = TestServer::start().await;
    let mut by_key = Feed::open(&s.addr, "/v1/groups/g/watch?key=a%2F1", None).await;
    let mut by_prefix = Feed::open(&s.addr, "/v1/groups/g/watch?prefix=b", None).await;
    let mut all = Feed::open(&s.addr, "/v1/watch", None).await;
    let state = &s.app.state;
    for (group, key) in [
        ("g", "a/10"),
        ("g", "b1"),
        ("h", "a/1"),
        ("g", "a/1"),
        ("g", "b2"),
    ] {
        state.set(group, key, json!(key)).await.expect("set");
    }
    assert_eq!(by_key.next_change().await["key"], "a/1");
    assert_eq!(by_prefix.next_change().await["key"], "b1");
    assert_eq!(by_prefix.next_change().await["key"], "b2");
    let mut seen = Vec::new();
    for _ in 0..5 {
        let change = all.next_change().await;
        seen.push(format!(
            "{}/{}",
            change["scope"].as_str().expect("scope"),
            change["key"].as_str().expect("key")
        ));
    }
    assert_eq!(seen, ["g/a/10", "g/b1", "h/a/1", "g/a/1", "g/b2"]);
}

#[tokio::test]
async fn bad_queries_are_refused_with_a_code() {
    let s = TestServer::start().await;
    for (path, code) in [
        ("/v1/groups/g/watch?bogus=1", "deserialization_error"),
        ("/v1/watch?from=minus", "deserialization_error"),
        ("/v1/groups/g/watch?key=", "invalid_argument"),
    ] {
        let reply = request(&s.addr, path, None).await;
        assert_eq!(reply.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: Value = reply.json().await.expect("error body");
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
    }
}

#[tokio::test]
async fn the_feed_needs_the_token() {
    let s = TestServer::start_with(ServerConfig {
        token: Some("s3cret".into()),
        ..ServerConfig::default()
    })
    .await;
    for path in ["/v1/watch", "/v1/groups/g/watch"] {
        let refused = request(&s.addr, path, None).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{path}");
        let refused = request(&s.addr, path, Some("wrong")).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let mut feed = Feed::open(&s.addr, "/v1/groups/g/watch", Some("s3cret")).await;
    s.app.state.set("g", "k", json!(1)).await.expect("set");
    assert_eq!(feed.next_change().await["key"], "k");
}

/// A subscriber that reads nothing while the writes overflow the store's
/// event channel (and the socket buffers before it) has lost events: its
/// stream says `resync_required` and ends, instead of skipping silently.
#[tokio::test]
async fn a_subscriber_left_behind_is_told_to_resync() {
    let s = TestServer::start().await;
    let mut feed = Feed::open(&s.addr, "/v1/watch", None).await;
    let filler = "x".repeat(2048);
    // 40,000 events of 2 KiB: far beyond the 16,384-event channel plus what
    // the loopback socket buffers can hold.
    for i in 0..40_000 {
        let key = format!("k{}", i % 64);
        s.app
            .state
            .set("g", &key, json!({"i": i, "filler": filler}))
            .await
            .expect("set");
    }
    let mut changes = 0;
    let last = loop {
        let event = feed.next().await.expect("the feed ended without a word");
        if event.event != "change" {
            break event;
        }
        changes += 1;
    };
    assert_eq!(last.event, "resync_required");
    assert_eq!(last.json(), json!({"reason": "lagged"}));
    assert!(changes < 40_000, "{changes}");
    assert!(
        feed.next().await.is_none(),
        "the stream ends after resync_required"
    );
}

#[tokio::test]
async fn shutdown_ends_every_feed() {
    let mut s = TestServer::start().await;
    let mut feed = Feed::open(&s.addr, "/v1/watch", None).await;
    s.app.state.set("g", "k", json!(1)).await.expect("set");
    assert_eq!(feed.next_change().await["key"], "k");
    s.shut_down();
    assert!(feed.next().await.is_none());
    let served = s.served.take().expect("serving");
    tokio::time::timeout(PATIENCE, served)
        .await
        .expect("the engine stopped with a feed open")
        .expect("join")
        .expect("served");
}
