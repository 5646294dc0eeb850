//! A damaged write-ahead log is refused at start, naming the file and the
//! byte, rather than opened without the acknowledged writes after the
//! damage; `--accept-log-damage` opens it anyway, without them.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{Engine, finish, statewell};
use serde_json::json;

const KEYS: usize = 200;

/// Stores `KEYS` keys through a real engine (each acknowledged before the
/// next is sent), then SIGKILLs it: the writes are in its log only.
async fn store_and_kill(data: &Path) {
    let mut engine = Engine::start_on(data, &[]);
    let client = engine.client().await;
    for i in 0..KEYS {
        client
            .set("g", &format!("k{i:03}"), json!({"i": i}))
            .await
            .expect("set");
    }
    drop(client);
    engine.signal_and_wait("KILL");
}

fn damage_log(data: &Path, change: impl FnOnce(&mut Vec<u8>)) {
    let log = data.join("wal.log");
    let mut bytes = std::fs::read(&log).expect("read the log");
    change(&mut bytes);
    std::fs::write(&log, &bytes).expect("write the log");
}

/// Starting on `data` fails; returns what it printed on stderr.
fn refused_start(data: &Path) -> String {
    let mut command = statewell();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data);
    let done = finish(command, Duration::from_secs(60));
    assert!(!done.status.success(), "started on a damaged log");
    assert!(!done.stdout.contains("listening on"), "{}", done.stdout);
    done.stderr
}

/// The byte the refusal names in `wal.log`.
fn damaged_at(stderr: &str) -> usize {
    let (_, rest) = stderr
        .split_once("wal.log is damaged at byte ")
        .unwrap_or_else(|| panic!("no file and byte named: {stderr}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().expect("a byte offset")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_flipped_bit_is_refused_and_accept_log_damage_serves_what_precedes_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    store_and_kill(&data).await;
    damage_log(&data, |bytes| bytes[100] ^= 0x01);

    let stderr = refused_start(&data);
    assert!(stderr.contains("error: data directory"), "{stderr}");
    assert!(stderr.contains("--accept-log-damage"), "{stderr}");
    let at = damaged_at(&stderr);
    assert!(at <= 100, "the record holding byte 100 starts at {at}");

    // Started anyway: what precedes the damage is served, the rest is gone,
    // and the ERROR log line says what was dropped.
    let log_path = dir.path().join("engine.log");
    let log_file = std::fs::File::create(&log_path).expect("log file");
    let mut command = statewell();
    command
        .env("RUST_LOG", "error")
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--accept-log-damage",
            "--data",
        ])
        .arg(&data)
        .stderr(Stdio::from(log_file));
    let engine = Engine::from_command(command, &data);
    let client = engine.client().await;
    let mut kept = 0;
    while kept < KEYS
        && client
            .get("g", &format!("k{kept:03}"))
            .await
            .expect("get")
            .is_some()
    {
        kept += 1;
    }
    assert!(kept < 3, "kept {kept}: the damage is in the first records");
    for i in kept..KEYS {
        assert_eq!(
            client.get("g", &format!("k{i:03}")).await.expect("get"),
            None,
            "k{i:03} follows the damage"
        );
    }
    drop(client);
    drop(engine);
    let log = std::fs::read_to_string(&log_path).expect("read the log");
    assert!(log.contains("ERROR"), "{log}");
    assert!(log.contains("dropped"), "{log}");
    assert!(data.join("wal.log.damaged").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_length_of_the_first_record_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    store_and_kill(&data).await;
    // The payload length is the record's first 8 bytes.
    damage_log(&data, |bytes| bytes[2] ^= 0x01);
    let stderr = refused_start(&data);
    assert_eq!(damaged_at(&stderr), 0, "{stderr}");
    assert!(
        stderr.contains(&format!("{} later records", KEYS - 1)),
        "{stderr}"
    );
}
