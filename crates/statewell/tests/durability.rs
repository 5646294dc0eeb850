//! No acknowledged write is lost: not on SIGTERM, not on SIGKILL. Writers run
//! flat out while the engine is stopped; after a restart on the same data
//! directory, every write that got a reply must be there.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Engine;
use serde_json::json;
use statewell_client::UpdateOp;

const WRITERS: usize = 16;
/// Acknowledged writes to wait for before the signal, so it lands mid-stream.
const ACKED_BEFORE_SIGNAL: usize = 300;

/// What one writer sent and which of it was acknowledged.
#[derive(Default)]
struct WriterTally {
    /// Keys whose `set` got a reply.
    acked_keys: Vec<String>,
    /// Increments of the shared counter that got a reply.
    acked_increments: u64,
    /// Increments sent, replied or not.
    attempted_increments: u64,
}

async fn write_until_stopped(engine: &Engine, acked: Arc<AtomicUsize>, id: usize) -> WriterTally {
    let client = engine.client().await;
    let increment: UpdateOp =
        serde_json::from_value(json!({"type": "increment", "path": "n", "by": 1}))
            .expect("an increment op");
    let mut tally = WriterTally::default();
    for i in 0.. {
        let key = format!("w{id}-{i}");
        if client
            .set("durable", &key, json!({"writer": id, "i": i}))
            .await
            .is_err()
        {
            break;
        }
        tally.acked_keys.push(key);
        acked.fetch_add(1, Ordering::SeqCst);

        tally.attempted_increments += 1;
        if client
            .update("durable-counter", "total", std::slice::from_ref(&increment))
            .await
            .is_err()
        {
            break;
        }
        tally.acked_increments += 1;
        acked.fetch_add(1, Ordering::SeqCst);
    }
    tally
}

/// Starts writers, sends `signal` mid-stream, restarts, and checks every
/// acknowledged write survived. Returns the exit status of the stopped engine.
async fn stop_mid_stream(
    data: &Path,
    flags: &[&str],
    signal: &'static str,
) -> std::process::ExitStatus {
    stop_after(data, flags, signal, ACKED_BEFORE_SIGNAL).await
}

/// `stop_mid_stream`, once `acked_before` writes were acknowledged.
async fn stop_after(
    data: &Path,
    flags: &[&str],
    signal: &'static str,
    acked_before: usize,
) -> std::process::ExitStatus {
    let engine = Arc::new(Engine::start_on(data, flags));
    let acked = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for id in 0..WRITERS {
        let engine = Arc::clone(&engine);
        let acked = Arc::clone(&acked);
        writers.push(tokio::spawn(async move {
            write_until_stopped(&engine, acked, id).await
        }));
    }
    while acked.load(Ordering::SeqCst) < acked_before {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // The writers hold clones of the Arc; signal through the pid.
    let pid = engine.pid();
    let status = tokio::task::spawn_blocking(move || {
        let sent = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} failed");
    });
    status.await.expect("signal");

    let mut tallies = Vec::new();
    for writer in writers {
        tallies.push(writer.await.expect("writer task"));
    }
    let mut engine = Arc::try_unwrap(engine).unwrap_or_else(|_| panic!("writers finished"));
    let status = tokio::task::spawn_blocking(move || {
        let status = engine.child.wait().expect("wait for the engine");
        (engine, status)
    });
    let (engine, status) = status.await.expect("wait");
    drop(engine);

    let restarted = Engine::start_on(data, flags);
    let client = restarted.client().await;
    let mut keys = 0;
    for (id, writer) in tallies.iter().enumerate() {
        for key in &writer.acked_keys {
            let value = client.get("durable", key).await.expect("get");
            let i: usize = key
                .rsplit('-')
                .next()
                .and_then(|i| i.parse().ok())
                .expect("index");
            assert_eq!(
                value,
                Some(json!({"writer": id, "i": i})),
                "acknowledged {key} lost"
            );
            keys += 1;
        }
    }
    assert!(keys > 0);
    let acked_increments: u64 = tallies.iter().map(|w| w.acked_increments).sum();
    let attempted: u64 = tallies.iter().map(|w| w.attempted_increments).sum();
    let total = client
        .get("durable-counter", "total")
        .await
        .expect("get")
        .and_then(|v| v["n"].as_u64())
        .unwrap_or(0);
    assert!(
        (acked_increments..=attempted).contains(&total),
        "counter {total}, acknowledged {acked_increments}, attempted {attempted}"
    );
    eprintln!(
        "SIG{signal}: {keys} acknowledged sets and {acked_increments} increments all survived"
    );
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_loses_nothing_acknowledged_and_exits_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    let status = stop_mid_stream(&dir.path().join("data"), &[], "TERM").await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_in_batched_mode_syncs_before_exit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let flags = ["--durability", "batched", "--sync-interval", "10s"];
    let status = stop_mid_stream(&dir.path().join("data"), &flags, "TERM").await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let status = stop_mid_stream(&dir.path().join("data"), &[], "KILL").await;
    assert!(!status.success(), "SIGKILL cannot exit cleanly: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_around_checkpoints_loses_nothing_acknowledged() {
    // 64 KiB of log: every log record holds at least a stored key and
    // value (> 40 bytes), so 3,000 acknowledged writes (> 120 KB) have made
    // the engine checkpoint and start its log over at least once before the
    // kill, which lands between (or inside) checkpoints.
    let dir = tempfile::tempdir().expect("temp dir");
    let flags = ["--checkpoint-bytes", "65536", "--worker-threads", "1"];
    let status = stop_after(&dir.path().join("data"), &flags, "KILL", 3000).await;
    assert!(!status.success(), "SIGKILL cannot exit cleanly: {status:?}");
}

/// A disk that fills up under the engine: it runs with a limit on the size
/// of the files it writes (`ulimit -f`, SIGXFSZ ignored, so a write past
/// it fails with EFBIG as on a full disk), about 3 MiB: its write-ahead log
/// cannot grow past that. Writes are refused with `storage_error` saying
/// they were not applied — and after a restart without the limit, every
/// acknowledged write is there and none of the refused ones is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_refused_on_a_full_disk_is_not_there_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    // 6144 blocks of 512 bytes (dash) or of 1024 (bash): the test only
    // needs the log to stop growing somewhere below the checkpoint size.
    let mut limited = common::statewell_command_via_shell(
        "trap '' XFSZ; ulimit -f 6144; exec \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_statewell"),
    );
    limited
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .stderr(std::process::Stdio::inherit());
    let engine = Engine::from_command(limited, &data);
    let client = engine.client().await;
    let pad = "x".repeat(100_000);
    let (mut acked, mut refused) = (Vec::new(), Vec::new());
    // 7 MiB at most, under the 8 MiB checkpoint size: only the log grows.
    for i in 0..70 {
        let key = format!("k{i:02}");
        match client.set("full", &key, json!({"i": i, "pad": pad})).await {
            Ok(_) => acked.push(key),
            Err(statewell_client::ClientError::Engine { code, message }) => {
                assert_eq!(code, "storage_error", "{message}");
                assert!(message.contains("not applied"), "{message}");
                refused.push(key);
                if refused.len() == 3 {
                    break;
                }
            }
            Err(other) => panic!("{key}: {other}"),
        }
    }
    assert!(
        !acked.is_empty() && refused.len() == 3,
        "{acked:?} {refused:?}"
    );
    drop(client);
    drop(engine); // SIGKILL

    let restarted = Engine::start_on(&data, &[]);
    let client = restarted.client().await;
    for key in &acked {
        let found = client.get("full", key).await.expect("get");
        assert!(found.is_some(), "acknowledged {key} lost");
    }
    for key in &refused {
        let found = client.get("full", key).await.expect("get");
        assert_eq!(found, None, "refused {key} is there");
    }
}
