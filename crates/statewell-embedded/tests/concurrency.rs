//! 64 tasks × 1,000 increments of one key end at exactly 64,000: no update
//! is lost, whatever the batching (embedded) or locking (memory).

mod common;

use std::sync::Arc;

use serde_json::json;
use statewell_core::store::MemoryStore;
use statewell_core::{Mutation, Path, Store, UpdateOp};

const TASKS: usize = 64;
const INCREMENTS: usize = 1_000;

async fn hammer(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..INCREMENTS {
                let outcome = store
                    .write(Mutation::Update {
                        group: "counters".into(),
                        key: "hits".into(),
                        ops: vec![UpdateOp::Increment {
                            path: Path::Field("n".into()),
                            by: 1.into(),
                        }],
                    })
                    .await
                    .expect("increment");
                assert!(outcome.op_errors.is_empty(), "{:?}", outcome.op_errors);
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let total = (TASKS * INCREMENTS) as u64;
    assert_eq!(
        common::value(&*store, "counters", "hits").await,
        Some(json!({"n": total}))
    );
    assert_eq!(store.stats().revision, total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn increments_are_never_lost_on_the_embedded_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(common::open(dir.path()));
    hammer(store.clone()).await;
    let stats = store.embedded_stats();
    // Group commit happened: fewer commits than writes.
    assert!(
        stats.store.commits < (TASKS * INCREMENTS) as u64,
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn increments_are_never_lost_on_the_memory_store() {
    hammer(Arc::new(MemoryStore::default())).await;
}
