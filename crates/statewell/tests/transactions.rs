//! Conditional writes, transactions and idempotency keys against the real
//! binary, over real sockets: racing `if_version` writers (exactly one
//! wins), `if_absent`, concurrent transfers, a failing check, SIGKILL
//! during a stream of transactions, retried increments across a restart.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Engine;
use serde_json::{Value, json};
use statewell_client::{Client, ClientError};

const RACERS: usize = 12;

async fn call(client: &Client, function: &str, data: Value) -> Result<Option<Value>, ClientError> {
    client.call(function, data).await
}

fn engine_error(result: Result<Option<Value>, ClientError>) -> (String, String) {
    match result {
        Err(ClientError::Engine { code, message }) => (code, message),
        other => panic!("expected an engine error, got {other:?}"),
    }
}

/// N writers over their own WebSockets, all with the version they read:
/// exactly one wins, every other gets `conflict` naming the new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_if_version_writers_over_websockets_exactly_one_wins() {
    for store in ["embedded", "memory"] {
        race_over_websockets(Engine::start(&["--store", store])).await;
    }
}

async fn race_over_websockets(engine: Engine) {
    let first = engine.client().await;
    first.set("race", "k", json!(0)).await.expect("set");
    let item = call(
        &first,
        "state::get_item",
        json!({"scope": "race", "key": "k"}),
    )
    .await
    .expect("get_item")
    .expect("the item");
    let version = item["version"].as_u64().expect("a version");
    assert_eq!(item["key"], "k");
    let mut clients = Vec::new();
    for _ in 0..RACERS {
        clients.push(engine.client().await);
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, client)| {
            tokio::spawn(async move {
                let data = json!({"scope": "race", "key": "k", "value": i, "if_version": version});
                client.call("state::set", data).await
            })
        })
        .collect();
    let mut wins = 0;
    let mut conflicts = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => wins += 1,
            Err(ClientError::Engine { code, message }) => {
                assert_eq!(code, "conflict", "{message}");
                assert!(message.contains("current version is"), "{message}");
                conflicts += 1;
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!((wins, conflicts), (1, RACERS - 1));
}

/// The same race over HTTP with `If-Match`: one 200, the others 412 with
/// `current_version`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_if_match_writers_over_http_exactly_one_wins() {
    let engine = Engine::start(&[]);
    let http = reqwest::Client::new();
    let url = format!("{}/v1/groups/race/items/k", engine.http_url());
    let created = http.put(&url).body("0").send().await.expect("put");
    let tag = created.headers()["etag"].to_str().expect("etag").to_owned();
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let (http, url, tag) = (http.clone(), url.clone(), tag.clone());
            tokio::spawn(async move {
                let reply = http
                    .put(&url)
                    .header("If-Match", tag)
                    .body(i.to_string())
                    .send()
                    .await
                    .expect("put");
                let status = reply.status().as_u16();
                (status, reply.json::<Value>().await.expect("json"))
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        let (status, body) = task.await.expect("task");
        if status == 412 {
            assert_eq!(body["error"]["code"], "conflict");
            assert!(body["error"]["current_version"].is_u64(), "{body}");
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 412).count(), RACERS - 1);
    // GET with the current tag: 304.
    let current = http.get(&url).send().await.expect("get");
    let tag = current.headers()["etag"].to_str().expect("etag").to_owned();
    let again = http
        .get(&url)
        .header("If-None-Match", tag)
        .send()
        .await
        .expect("get");
    assert_eq!(again.status().as_u16(), 304);
}

#[tokio::test]
async fn if_absent_on_an_existing_key_is_a_conflict_that_changes_nothing() {
    let engine = Engine::start(&[]);
    let client = engine.client().await;
    client.set("g", "k", json!("first")).await.expect("set");
    let data = json!({"scope": "g", "key": "k", "value": "second", "if_absent": true});
    let (code, message) = engine_error(call(&client, "state::set", data).await);
    assert_eq!(code, "conflict", "{message}");
    assert_eq!(
        client.get("g", "k").await.expect("get"),
        Some(json!("first"))
    );
    let http = reqwest::Client::new();
    let reply = http
        .put(format!("{}/v1/groups/g/items/k", engine.http_url()))
        .header("If-None-Match", "*")
        .body("3")
        .send()
        .await
        .expect("put");
    assert_eq!(reply.status().as_u16(), 412);
    let data = json!({"scope": "g", "key": "new", "value": 1, "if_absent": true});
    call(&client, "state::set", data)
        .await
        .expect("absent: applied");
}

fn transfer(from: &str, to: &str, amount: i64) -> Value {
    json!({"ops": [
        {"type": "update", "scope": "bank", "key": from, "ops": [{"type": "decrement", "path": "n", "by": amount}]},
        {"type": "update", "scope": "bank", "key": to, "ops": [{"type": "increment", "path": "n", "by": amount}]},
    ]})
}

/// Concurrent transfers between accounts, over many sockets: a reader of
/// both accounts in one transaction (a `check` of each, read back) always
/// sees the same total.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_transfers_keep_the_total_constant() {
    let engine = Engine::start(&[]);
    let setup = engine.client().await;
    for key in ["a", "b", "c"] {
        setup
            .set("bank", key, json!({"n": 100}))
            .await
            .expect("set");
    }
    let mut tasks = Vec::new();
    for w in 0..6 {
        let client = engine.client().await;
        tasks.push(tokio::spawn(async move {
            let pairs = [("a", "b"), ("b", "c"), ("c", "a")];
            for i in 0..40 {
                let (from, to) = pairs[(w + i) % 3];
                let result = client
                    .call("state::transaction", transfer(from, to, 7))
                    .await;
                let reply = result.expect("transfer").expect("results");
                assert_eq!(reply["results"].as_array().map(Vec::len), Some(2));
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let mut total = 0;
    for key in ["a", "b", "c"] {
        let value = setup.get("bank", key).await.expect("get").expect("item");
        total += value["n"].as_i64().expect("n");
    }
    assert_eq!(total, 300);
}

#[tokio::test]
async fn a_transaction_with_one_failing_check_changes_nothing() {
    let engine = Engine::start(&[]);
    let client = engine.client().await;
    client.set("g", "a", json!(1)).await.expect("set");
    let ops = json!({"ops": [
        {"type": "set", "scope": "g", "key": "a", "value": 2},
        {"type": "delete", "scope": "g", "key": "a"},
        {"type": "set", "scope": "g", "key": "b", "value": 3},
        {"type": "check", "scope": "g", "key": "z", "if_version": 1},
    ]});
    let result = call(&client, "state::transaction", ops).await;
    let (code, message) = engine_error(result);
    assert_eq!(code, "conflict");
    assert!(message.contains("operation 3"), "{message}");
    assert_eq!(client.get("g", "a").await.expect("get"), Some(json!(1)));
    assert_eq!(client.get("g", "b").await.expect("get"), None);
    // Over HTTP: 409 with op_index and current_version null.
    let reply = reqwest::Client::new()
        .post(format!("{}/v1/transaction", engine.http_url()))
        .body(r#"{"ops":[{"type":"check","scope":"g","key":"z","if_version":1}]}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(reply.status().as_u16(), 409);
    let body: Value = reply.json().await.expect("json");
    assert_eq!(body["error"]["op_index"], 0);
    assert_eq!(body["error"]["current_version"], Value::Null);
}

/// Each transaction writes the same counter into two items (and moves a
/// third): after a SIGKILL, every acknowledged one is there whole, and the
/// two items of any transaction are equal (none half-applied).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_transactions_leaves_every_acknowledged_one_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut engine = Engine::start_on(&data, &[]);
    let acked = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..4 {
        let client = engine.client().await;
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let mut last_acked = None;
            for i in 1u64.. {
                let ops = json!({"ops": [
                    {"type": "set", "scope": "pair", "key": format!("{w}-x"), "value": i},
                    {"type": "set", "scope": "pair", "key": format!("{w}-y"), "value": i},
                ]});
                if client.call("state::transaction", ops).await.is_err() {
                    break;
                }
                last_acked = Some(i);
                acked.fetch_add(1, Ordering::SeqCst);
            }
            last_acked
        }));
    }
    while acked.load(Ordering::SeqCst) < 200 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    engine.signal_and_wait("KILL");
    let mut last = Vec::new();
    for task in tasks {
        last.push(task.await.expect("task"));
    }
    let engine = Engine::start_on(&data, &[]);
    let client = engine.client().await;
    for (w, last_acked) in last.into_iter().enumerate() {
        let x = client.get("pair", &format!("{w}-x")).await.expect("get");
        let y = client.get("pair", &format!("{w}-y")).await.expect("get");
        assert_eq!(x, y, "writer {w}: a transaction was half-applied");
        if let Some(last_acked) = last_acked {
            let x = x.and_then(|v| v.as_u64()).expect("acknowledged: present");
            // The one in flight at the kill may be there too.
            assert!(
                x == last_acked || x == last_acked + 1,
                "{x} vs {last_acked}"
            );
        }
    }
}

/// An increment retried ten times with one key counts once, also when the
/// engine restarts between tries; another request with that key is refused.
#[tokio::test]
async fn a_retried_increment_counts_once_across_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let increment = json!({"scope": "c", "key": "n", "idempotency_key": "retry-1",
        "ops": [{"type": "increment", "path": "n", "by": 1}]});
    let mut first_reply = None;
    for round in 0..2 {
        let mut engine = Engine::start_on(&data, &[]);
        let client = engine.client().await;
        for _ in 0..5 {
            let reply = call(&client, "state::update", increment.clone())
                .await
                .expect("update");
            match &first_reply {
                None => first_reply = Some(reply),
                Some(first) => assert_eq!(&reply, first, "round {round}: the first result"),
            }
        }
        let value = client.get("c", "n").await.expect("get");
        assert_eq!(value, Some(json!({"n": 1})), "round {round}");
        let other = json!({"scope": "c", "key": "n", "idempotency_key": "retry-1",
            "ops": [{"type": "increment", "path": "n", "by": 2}]});
        let (code, _) = engine_error(call(&client, "state::update", other).await);
        assert_eq!(code, "idempotency_mismatch");
        if round == 0 {
            engine.signal_and_wait("KILL");
        }
    }
}
