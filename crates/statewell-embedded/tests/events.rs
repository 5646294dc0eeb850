//! Change events: commit order, increasing revisions, lagging subscribers.

mod common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use statewell_core::{EventKind, Store};
use tokio::sync::broadcast::error::RecvError;

use common::{delete, open, open_batched, set};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_in_commit_order_with_increasing_revisions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(open(dir.path()));
    let mut events = store.subscribe();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .write(set("g", &format!("k{}", i % 10), json!(i)))
                .await
                .expect("set")
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task"));
    }
    store.write(delete("g", "k0")).await.expect("delete");
    let cleared = store.clear("g").await.expect("clear");
    assert_eq!(cleared, 9);

    let total = 100 + 1 + 9;
    let mut received = Vec::new();
    for _ in 0..total {
        received.push(events.recv().await.expect("event"));
    }
    // Revisions are exactly 1..=total: increasing, no gap, no duplicate.
    let revisions: Vec<u64> = received.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, (1..=total as u64).collect::<Vec<_>>());
    // Each write's event carries what its answer said.
    for outcome in &outcomes {
        let version = outcome.version.expect("committed");
        let event = &received[(version - 1) as usize];
        assert_eq!(event.new_value, outcome.new_value);
        assert_eq!(event.old_value, outcome.old_value);
        let expected = if outcome.old_value.is_some() {
            EventKind::Updated
        } else {
            EventKind::Created
        };
        assert_eq!(event.kind, expected);
    }
    // Per key, each event's old value is the previous event's new value.
    for key in (0..10).map(|i| format!("k{i}")) {
        let mut last = None;
        for event in received.iter().filter(|e| e.key == key) {
            assert_eq!(event.old_value, last);
            last = event.new_value.clone();
        }
        assert_eq!(last, None, "every key ends deleted");
    }
    let clear_events = &received[101..];
    assert!(
        clear_events
            .iter()
            .all(|e| e.kind == EventKind::Deleted && e.new_value.is_none())
    );
    let cleared_keys: Vec<&str> = clear_events.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        cleared_keys,
        ["k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_subscriber_is_told_and_writers_do_not_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Batched: this test is about the event channel, not about syncs.
    let store = Arc::new(open_batched(dir.path(), Duration::from_secs(3600)));
    let mut slow = store.subscribe();
    let writes = statewell_core::store::EVENT_CHANNEL_CAPACITY + 500;
    let mut tasks = Vec::new();
    for t in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in (t..writes).step_by(32) {
                store
                    .write(set("g", &format!("k{i}"), json!(i)))
                    .await
                    .expect("set");
            }
        }));
    }
    // Every writer finishes although nobody reads the events.
    for task in tasks {
        task.await.expect("task");
    }
    match slow.recv().await {
        Err(RecvError::Lagged(missed)) => assert!(missed >= 500, "missed {missed}"),
        other => panic!("expected Lagged, got {other:?}"),
    }
    // After the lag notice, the subscriber resumes with the newest events.
    let next = slow.recv().await.expect("event after lag");
    assert!(next.revision > 500);
}
