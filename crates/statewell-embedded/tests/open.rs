//! Opening a data directory: what is refused, and how.

mod common;

use std::io::Write;
use std::path::Path;

use redb::ReadableDatabase;

use serde_json::json;
use statewell_core::{ErrorCode, StateError, Store};
use statewell_embedded::{EmbeddedOptions, EmbeddedStore};

use common::{child, heard, open, say, set, value};

fn refusal(dir: &Path) -> String {
    match EmbeddedStore::open(dir, EmbeddedOptions::default()) {
        Ok(_) => panic!("opening {} should be refused", dir.display()),
        Err(err) => {
            assert_eq!(err.code(), ErrorCode::DataDirectory, "{err}");
            assert!(matches!(err, StateError::DataDirectory { .. }));
            err.to_string()
        }
    }
}

async fn store_with_data(dir: &Path) {
    let store = open(dir);
    for i in 0..50 {
        store
            .write(set("g", &format!("k{i}"), json!({"i": i})))
            .await
            .expect("set");
    }
    store.close().expect("close");
}

#[tokio::test]
async fn a_missing_directory_is_created_and_reopens_with_its_data() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("a/b/data");
    store_with_data(&dir).await;
    let store = open(&dir);
    assert_eq!(value(&store, "g", "k49").await, Some(json!({"i": 49})));
    assert_eq!(store.stats().items, 50);
    assert_eq!(store.stats().revision, 50);
}

#[test]
fn a_second_open_in_the_same_process_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = open(dir.path());
    let reason = refusal(dir.path());
    assert!(reason.contains("already open"), "{reason}");
}

/// Child half of the next test: opens the directory and holds it until its
/// stdin closes.
#[test]
#[ignore = "a child process of another test, which runs it with --ignored"]
fn holder_child() {
    let Ok(dir) = std::env::var("STATEWELL_HOLD_DIR") else {
        return;
    };
    let _store = open(Path::new(&dir));
    say("opened");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

#[test]
fn a_directory_open_in_another_process_is_refused_until_it_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut holder = child(
        "holder_child",
        &[("STATEWELL_HOLD_DIR", dir.path().display().to_string())],
    )
    .spawn()
    .expect("spawn the holder");
    let stdout = holder.stdout.take().expect("piped stdout");
    let mut said = heard(stdout);
    let opened = said.any(|line| line == "opened");
    assert!(opened, "the holder process did not open the directory");

    let reason = refusal(dir.path());
    assert!(reason.contains("already open by another"), "{reason}");

    // Closing its stdin lets the holder exit; the lock goes with it.
    holder
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(b"\n")
        .expect("write");
    // Read to the end so that the child's last lines never meet a closed pipe.
    said.for_each(drop);
    assert!(holder.wait().expect("wait").success());
    drop(open(dir.path()));
}

#[tokio::test]
async fn a_newer_format_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    store_with_data(dir.path()).await;
    std::fs::write(
        dir.path().join("FORMAT"),
        "statewell-embedded data directory\nformat 99\n",
    )
    .expect("write marker");
    let reason = refusal(dir.path());
    assert!(
        reason.contains("format 99") && reason.contains("newer"),
        "{reason}"
    );
}

#[tokio::test]
async fn an_unreadable_marker_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    store_with_data(dir.path()).await;
    std::fs::write(dir.path().join("FORMAT"), "hello").expect("write marker");
    let reason = refusal(dir.path());
    assert!(reason.contains("FORMAT"), "{reason}");
}

#[tokio::test]
async fn a_data_file_of_garbage_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    store_with_data(dir.path()).await;
    let garbage: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.path().join("data.redb"), garbage).expect("overwrite");
    let reason = refusal(dir.path());
    assert!(reason.contains("data.redb"), "{reason}");
}

#[tokio::test]
async fn a_truncated_data_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    store_with_data(dir.path()).await;
    let path = dir.path().join("data.redb");
    let len = std::fs::metadata(&path).expect("metadata").len();
    for keep in [len / 2, 4096, 100, 0] {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        file.set_len(keep).expect("truncate");
        drop(file);
        let reason = refusal(dir.path());
        assert!(reason.contains("data.redb"), "kept {keep} bytes: {reason}");
    }
}

#[tokio::test]
async fn a_missing_data_file_is_refused_not_started_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    store_with_data(dir.path()).await;
    std::fs::remove_file(dir.path().join("data.redb")).expect("remove");
    let reason = refusal(dir.path());
    assert!(reason.contains("missing"), "{reason}");
}

#[test]
fn a_directory_holding_other_files_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "mine").expect("write");
    let reason = refusal(dir.path());
    assert!(
        reason.contains("not a statewell data directory"),
        "{reason}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).expect("read"),
        "mine"
    );
}

#[test]
fn a_path_that_is_a_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("plain");
    std::fs::write(&file, "x").expect("write");
    refusal(&file);
}

#[tokio::test]
async fn a_revision_counter_at_its_maximum_refuses_writes_and_keeps_the_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    store_with_data(dir.path()).await;
    {
        // An edited file: checksums are valid, the revision is not.
        let db = redb::Database::open(dir.path().join("data.redb")).expect("open redb");
        let txn = db.begin_write().expect("begin");
        {
            let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
            let mut table = txn.open_table(meta).expect("meta table");
            table.insert("revision", u64::MAX).expect("edit revision");
        }
        txn.commit().expect("commit");
    }
    let store = open(dir.path());
    let err = store
        .write(set("g", "k0", json!("new")))
        .await
        .expect_err("no revision left");
    assert_eq!(err.code(), ErrorCode::Storage, "{err}");
    assert_eq!(
        store.clear("g").await.expect_err("no revision left").code(),
        ErrorCode::Storage
    );
    let kept = store.get("g", "k0").await.expect("read").expect("kept");
    assert_eq!(kept.value, json!({"i": 0}));
}

fn read_meta(dir: &Path, name: &str) -> u64 {
    let db = redb::Database::open(dir.join("data.redb")).expect("open redb");
    let txn = db.begin_read().expect("begin");
    let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
    let table = txn.open_table(meta).expect("meta table");
    table
        .get(name)
        .expect("read meta")
        .expect("present")
        .value()
}

fn edit_meta(dir: &Path, name: &str, value: u64) {
    let db = redb::Database::open(dir.join("data.redb")).expect("open redb");
    let txn = db.begin_write().expect("begin");
    {
        let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
        let mut table = txn.open_table(meta).expect("meta table");
        table.insert(name, value).expect("edit meta");
    }
    txn.commit().expect("commit");
}

/// Makes the directory look as an older build left it — in `format`,
/// without the log file `lacked` — then checks that opening keeps its data,
/// recreates the file and marks the directory with the current format.
async fn upgrades_in_place(format: u64, lacked: Option<&str>) {
    let dir = tempfile::tempdir().expect("tempdir");
    store_with_data(dir.path()).await;
    if let Some(lacked) = lacked {
        std::fs::remove_file(dir.path().join(lacked)).expect("remove the log file");
    }
    edit_meta(dir.path(), "format", format);
    std::fs::write(
        dir.path().join("FORMAT"),
        format!("statewell-embedded data directory\nformat {format}\n"),
    )
    .expect("write marker");

    let store = open(dir.path());
    assert_eq!(store.list("g").await.expect("list").len(), 50);
    store.write(set("g", "after", json!(1))).await.expect("set");
    store.close().expect("close");
    for log in ["wal.log", "wal.1.log"] {
        assert!(dir.path().join(log).exists(), "{log}");
    }
    let marker = std::fs::read_to_string(dir.path().join("FORMAT")).expect("marker");
    assert!(marker.contains("format 4"), "{marker}");
    assert_eq!(read_meta(dir.path(), "format"), 4);
    let store = open(dir.path());
    assert_eq!(value(&store, "g", "after").await, Some(json!(1)));
    assert_eq!(store.list("g").await.expect("list").len(), 51);
}

#[tokio::test]
async fn a_format_1_directory_without_a_log_is_upgraded_and_keeps_its_data() {
    // A build from before the write-ahead log: no wal.log.
    upgrades_in_place(1, Some("wal.log")).await;
}

#[tokio::test]
async fn a_format_2_directory_with_one_log_file_is_upgraded_and_keeps_its_data() {
    // A build with a single log file: no wal.1.log.
    upgrades_in_place(2, Some("wal.1.log")).await;
}

#[tokio::test]
async fn a_format_3_directory_is_upgraded_and_keeps_its_data() {
    // Log records without the synced lsn (the log is empty after a clean
    // close, so the layout does not matter to the data).
    upgrades_in_place(3, None).await;
}

#[tokio::test]
async fn a_missing_log_is_refused_rather_than_losing_its_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    store_with_data(dir.path()).await;
    std::fs::remove_file(dir.path().join("wal.log")).expect("remove the log");
    let reason = refusal(dir.path());
    assert!(reason.contains("wal.log is missing"), "{reason}");
}

#[tokio::test]
async fn a_log_that_skips_records_the_data_file_lacks_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A clean close checkpoints: the data file holds every record so far.
    store_with_data(dir.path()).await;
    let checkpointed = read_meta(dir.path(), "log_lsn");
    assert!(checkpointed > 0, "a clean close records the log position");
    // A child leaves later records in the log (killed, so no checkpoint).
    leave_writes_in_the_log(dir.path());
    // Wind the data file back one record: the log now resumes after a hole,
    // which only damage or an edit produces. Replaying past it would lose
    // the record in the hole silently.
    edit_meta(dir.path(), "log_lsn", checkpointed - 1);
    let reason = refusal(dir.path());
    assert!(
        reason.contains(&format!("record {checkpointed} is missing")),
        "{reason}"
    );
    // Put back, the same directory opens with every write.
    edit_meta(dir.path(), "log_lsn", checkpointed);
    let store = open(dir.path());
    assert_eq!(store.list("g").await.expect("list").len(), 53);
}

/// Has a child write three sets (`late0` to `late2`) into `dir` and
/// SIGKILLs it: they are acknowledged, in the log only (not checkpointed).
fn leave_writes_in_the_log(dir: &Path) {
    let mut process = child(
        "log_writer_child",
        &[("STATEWELL_LOG_DIR", dir.display().to_string())],
    )
    .spawn()
    .expect("spawn");
    let said: Vec<String> = heard(process.stdout.take().expect("piped"))
        .take_while(|line| line != "written")
        .collect();
    process.kill().expect("SIGKILL");
    process.wait().expect("reap");
    assert!(said.is_empty(), "{said:?}");
}

/// Child: writes three sets (each its own log record), says so, waits.
#[test]
#[ignore = "a child process of another test, which runs it with --ignored"]
fn log_writer_child() {
    let Ok(dir) = std::env::var("STATEWELL_LOG_DIR") else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = open(Path::new(&dir));
        for i in 0..3 {
            store
                .write(set("g", &format!("late{i}"), json!(i)))
                .await
                .expect("set");
        }
        say("written");
        std::thread::sleep(std::time::Duration::from_secs(600));
    });
}

#[tokio::test]
async fn a_lost_marker_is_refused_not_taken_for_a_new_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    store_with_data(dir.path()).await;
    std::fs::remove_file(dir.path().join("FORMAT")).expect("remove the marker");
    let reason = refusal(dir.path());
    assert!(reason.contains("FORMAT is missing"), "{reason}");
    assert!(!dir.path().join("FORMAT").exists(), "nothing was rewritten");
    // Without the data file either, the log is still not started over.
    std::fs::remove_file(dir.path().join("data.redb")).expect("remove");
    let log_len = std::fs::metadata(dir.path().join("wal.log"))
        .expect("log")
        .len();
    let reason = refusal(dir.path());
    assert!(reason.contains("FORMAT is missing"), "{reason}");
    assert_eq!(
        std::fs::metadata(dir.path().join("wal.log"))
            .expect("log")
            .len(),
        log_len
    );
}

#[tokio::test]
async fn a_lost_marker_with_writes_only_in_the_log_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Writes a child left in the log (killed: nothing checkpointed).
    leave_writes_in_the_log(dir.path());
    assert_eq!(read_meta(dir.path(), "revision"), 0, "nothing checkpointed");
    std::fs::remove_file(dir.path().join("FORMAT")).expect("remove the marker");
    std::fs::remove_file(dir.path().join("wal.1.log")).expect("remove the spare log");
    let reason = refusal(dir.path());
    assert!(reason.contains("FORMAT is missing"), "{reason}");
    assert!(reason.contains("wal.log holds"), "{reason}");
}

#[test]
fn a_creation_cut_short_before_the_marker_opens_as_new() {
    let dir = tempfile::tempdir().expect("tempdir");
    open(dir.path()).close().expect("close");
    // What a crash between creating the data file and writing the marker
    // leaves: an empty log, a data file that holds nothing, no marker.
    std::fs::remove_file(dir.path().join("FORMAT")).expect("remove the marker");
    std::fs::remove_file(dir.path().join("wal.1.log")).expect("remove the spare log");
    let store = open(dir.path());
    assert_eq!(store.stats().items, 0);
    store.close().expect("close");
    assert!(dir.path().join("FORMAT").exists());
}

/// The first byte of the first record's payload in `wal.log` (after its
/// 36-byte header): flipping it fails the record's checksum.
const FIRST_PAYLOAD_BYTE: usize = 36;

#[tokio::test]
async fn a_damaged_log_is_refused_and_opens_with_accept_log_damage_without_what_follows() {
    let dir = tempfile::tempdir().expect("tempdir");
    store_with_data(dir.path()).await;
    // Three acknowledged writes left in the log (killed: not checkpointed).
    leave_writes_in_the_log(dir.path());
    let log = dir.path().join("wal.log");
    let mut bytes = std::fs::read(&log).expect("read the log");
    bytes[FIRST_PAYLOAD_BYTE] ^= 0x01;
    std::fs::write(&log, &bytes).expect("damage the log");

    let reason = refusal(dir.path());
    assert!(reason.contains("wal.log is damaged at byte 0"), "{reason}");
    assert!(reason.contains("2 later records"), "{reason}");
    assert!(reason.contains("--accept-log-damage"), "{reason}");
    // Refusing changed nothing.
    assert_eq!(std::fs::read(&log).expect("read the log"), bytes);

    let options = EmbeddedOptions {
        accept_log_damage: true,
        ..Default::default()
    };
    let store = EmbeddedStore::open(dir.path(), options).expect("opens, as asked");
    assert_eq!(
        store.list("g").await.expect("list").len(),
        50,
        "what precedes"
    );
    for i in 0..3 {
        assert_eq!(value(&store, "g", &format!("late{i}")).await, None);
    }
    store.write(set("g", "after", json!(1))).await.expect("set");
    store.close().expect("close");
    assert_eq!(
        std::fs::read(dir.path().join("wal.log.damaged")).expect("the copy"),
        bytes,
        "the damaged log is kept as it was"
    );
    // From then on the directory opens as usual.
    let store = open(dir.path());
    assert_eq!(store.list("g").await.expect("list").len(), 51);
}
