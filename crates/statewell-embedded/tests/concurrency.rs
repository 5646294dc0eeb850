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

/// Appends sent in order (each sent to the commit loop before the next) are
/// applied in that order, however the loop cuts them into batches: what
/// queued while one batch committed opens the next, ahead of anything
/// queued after it. Each append re-encodes the whole growing list, so the
/// later ones queue behind long commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_sent_in_order_apply_in_order_across_batches() {
    const APPENDS: usize = 3_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = common::open(dir.path());
    let append = |i: usize| {
        store.write(Mutation::Update {
            group: "log".into(),
            key: "entries".into(),
            ops: vec![UpdateOp::Append {
                path: Some(Path::Field("list".into())),
                value: json!(i),
            }],
        })
    };
    // join_all polls the writes in order once before any completes: each
    // is queued to the commit loop in index order.
    let outcomes = futures::future::join_all((0..APPENDS).map(append)).await;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let outcome = outcome.expect("append");
        let list = outcome
            .new_value
            .as_ref()
            .and_then(|v| v["list"].as_array());
        let list = list.unwrap_or_else(|| panic!("append {i}: {:?}", outcome.new_value));
        assert_eq!(list.len(), i + 1, "append {i} saw {} entries", list.len());
        assert_eq!(
            list.last(),
            Some(&json!(i)),
            "append {i} landed out of order"
        );
    }
    let expected: Vec<_> = (0..APPENDS).map(|i| json!(i)).collect();
    assert_eq!(
        common::value(&store, "log", "entries").await,
        Some(json!({ "list": expected }))
    );
}
