//! Many clients updating one key at once: every increment counts exactly once.

mod common;

use common::Engine;
use serde_json::json;
use statewell_client::UpdateOp;

const CLIENTS: usize = 100;
const INCREMENTS: usize = 100;

async fn hammer_one_key(engine: &Engine) {
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        // One connection per client, as separate workers would have.
        let client = engine.client().await;
        tasks.push(tokio::spawn(async move {
            let op: UpdateOp =
                serde_json::from_value(json!({"type": "increment", "path": "n", "by": 1}))
                    .expect("an increment op");
            for _ in 0..INCREMENTS {
                let result = client
                    .update("counters", "hits", std::slice::from_ref(&op))
                    .await
                    .expect("increment");
                assert!(result.errors.is_empty(), "{:?}", result.errors);
            }
        }));
    }
    for task in tasks {
        task.await.expect("client task");
    }
    let client = engine.client().await;
    let value = client.get("counters", "hits").await.expect("get");
    assert_eq!(value, Some(json!({"n": CLIENTS * INCREMENTS})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_on_the_embedded_store_end_exact() {
    let engine = Engine::start(&["--store", "embedded"]);
    hammer_one_key(&engine).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_on_the_memory_store_end_exact() {
    let engine = Engine::start(&["--store", "memory"]);
    hammer_one_key(&engine).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_connection_carries_many_requests_in_flight() {
    let engine = Engine::start(&["--store", "memory"]);
    let client = engine.client().await;
    let mut tasks = Vec::new();
    for i in 0..500 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client.set("many", &format!("k{i:03}"), json!(i)).await
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("set");
    }
    let values = client.list("many").await.expect("list");
    assert_eq!(values, (0..500).map(|i| json!(i)).collect::<Vec<_>>());
}
