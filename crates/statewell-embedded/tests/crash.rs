//! Crash recovery: a child process acknowledges writes (printing each one)
//! and is SIGKILLed mid-stream; after reopening, every acknowledged write is
//! present and the store is consistent (nothing half-applied).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use statewell_core::{Mutation, Path as OpPath, ResolvedPageRequest, Store, UpdateOp};

use statewell_embedded::{EmbeddedOptions, EmbeddedStore};

use common::{child, heard, open, say, set};

const WRITERS: usize = 16;
/// One page holding every item of a group.
const EVERY_ITEM: ResolvedPageRequest<'static> = ResolvedPageRequest {
    prefix: None,
    after: None,
    limit: usize::MAX,
};

/// Child: 16 concurrent writers, each setting its own keys `w{w}/{i}` to
/// `{"w", "i"}` and incrementing a shared counter; prints `ack` lines for
/// what was acknowledged, and `checkpointed` once the store has checkpointed
/// its log. Runs until killed.
#[test]
#[ignore = "a child process of another test, which runs it with --ignored"]
fn crash_child() {
    let Ok(dir) = std::env::var("STATEWELL_CRASH_DIR") else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        // A tiny checkpoint size makes checkpoints (and the log starting
        // over) happen every few writes, so kills land around them too.
        let checkpoint_bytes = std::env::var("STATEWELL_CRASH_CHECKPOINT_BYTES")
            .map(|v| v.parse().expect("a size"))
            .unwrap_or(statewell_embedded::DEFAULT_CHECKPOINT_BYTES);
        let options = EmbeddedOptions {
            checkpoint_bytes,
            ..Default::default()
        };
        let store = Arc::new(EmbeddedStore::open(Path::new(&dir), options).expect("open"));
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0u64.. {
                    let key = format!("w{w}/{i:06}");
                    store
                        .write(set("items", &key, json!({"w": w, "i": i})))
                        .await
                        .expect("set");
                    say(&format!("ack set {key}"));
                    let counted = store
                        .write(Mutation::Update {
                            group: "counters".into(),
                            key: "n".into(),
                            ops: vec![UpdateOp::Increment {
                                path: OpPath::Field("n".into()),
                                by: 1.into(),
                            }],
                        })
                        .await
                        .expect("increment");
                    let n = counted
                        .new_value
                        .and_then(|v| v["n"].as_u64())
                        .expect("a count");
                    say(&format!("ack count {n}"));
                    if store.embedded_stats().checkpoints > 0 {
                        say("checkpointed");
                    }
                }
            }));
        }
        for task in tasks {
            task.await.expect("writer");
        }
    });
}

struct Acks {
    keys: Vec<String>,
    max_count: u64,
    checkpointed: bool,
}

/// Runs a child until it has acknowledged `sets` sets, then SIGKILLs it.
/// `checkpoint_bytes` overrides the child's checkpoint size; with it, the
/// child also runs until it has checkpointed at least once, however long
/// the checkpoint thread takes on a loaded machine.
fn run_and_kill(dir: &Path, sets: usize, checkpoint_bytes: Option<u64>) -> Acks {
    let mut env = vec![("STATEWELL_CRASH_DIR", dir.display().to_string())];
    if let Some(bytes) = checkpoint_bytes {
        env.push(("STATEWELL_CRASH_CHECKPOINT_BYTES", bytes.to_string()));
    }
    let mut process = child("crash_child", &env).spawn().expect("spawn");
    let stdout = process.stdout.take().expect("piped");
    let mut acks = Acks {
        keys: Vec::new(),
        max_count: 0,
        checkpointed: false,
    };
    for line in heard(stdout) {
        if let Some(key) = line.strip_prefix("ack set ") {
            acks.keys.push(key.to_owned());
            if acks.keys.len() >= sets && (acks.checkpointed || checkpoint_bytes.is_none()) {
                break;
            }
        } else if let Some(n) = line.strip_prefix("ack count ") {
            acks.max_count = acks.max_count.max(n.parse().expect("a number"));
        } else if line == "checkpointed" {
            acks.checkpointed = true;
        }
    }
    // Killed while its writers are still writing: mid-stream.
    process.kill().expect("SIGKILL");
    process.wait().expect("reap");
    assert!(acks.keys.len() >= sets, "the child stopped early");
    acks
}

async fn check(dir: &Path, acks: &Acks, earlier: &mut BTreeMap<String, Value>) {
    let store = open(dir);
    let page = store.list_items("items", EVERY_ITEM).await.expect("list");
    let stored: BTreeMap<String, Value> =
        page.items.into_iter().map(|i| (i.key, i.value)).collect();
    for key in &acks.keys {
        assert!(
            stored.contains_key(key),
            "acknowledged {key} is missing after the crash"
        );
    }
    // Every stored item is whole and sits under its own key.
    for (key, value) in &stored {
        let (w, i) = (
            value["w"].as_u64().expect("w"),
            value["i"].as_u64().expect("i"),
        );
        assert_eq!(key, &format!("w{w}/{i:06}"));
    }
    // What an earlier round left is still there (recovery loses nothing old).
    for (key, value) in earlier.iter() {
        assert_eq!(stored.get(key), Some(value), "{key} from an earlier round");
    }
    let counters = store.get("counters", "n").await.expect("get");
    let count = counters
        .map(|v| v.value["n"].as_u64().expect("n"))
        .unwrap_or(0);
    assert!(
        count >= acks.max_count,
        "counter {count} < acknowledged {}",
        acks.max_count
    );
    // The per-group counts and the revision were committed with the items.
    let stats = store.stats();
    let counter_items = u64::from(count > 0);
    assert_eq!(stats.items, stored.len() as u64 + counter_items);
    let mut groups = store.list_groups().await.expect("groups");
    groups.sort();
    let expected: Vec<&str> = if count > 0 {
        vec!["counters", "items"]
    } else {
        vec!["items"]
    };
    assert_eq!(groups, expected);
    let max_version = store
        .list_items("items", EVERY_ITEM)
        .await
        .expect("list")
        .items
        .iter()
        .map(|i| i.version)
        .max()
        .unwrap_or(0);
    assert!(stats.revision >= max_version);
    store.close().expect("close");
    *earlier = stored;
}

#[tokio::test]
async fn every_acknowledged_write_survives_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut earlier = BTreeMap::new();
    // Different points in the stream, on the same directory, so that later
    // rounds also recover a file an earlier crash left.
    for sets in [1, 37, 400, 1500] {
        let acks = run_and_kill(dir.path(), sets, None);
        check(dir.path(), &acks, &mut earlier).await;
    }
}

#[tokio::test]
async fn every_acknowledged_write_survives_sigkill_around_checkpoints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut earlier = BTreeMap::new();
    // 4 KiB of log holds a few dozen records: the child checkpoints and
    // starts its log over many times a round, and is killed at some point
    // between (or inside) those steps.
    for sets in [300, 700, 1100] {
        let acks = run_and_kill(dir.path(), sets, Some(4096));
        assert!(acks.checkpointed, "the child never checkpointed");
        check(dir.path(), &acks, &mut earlier).await;
    }
}
