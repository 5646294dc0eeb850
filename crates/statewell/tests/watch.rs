//! `statewell watch GROUP [KEY]` as a child process against the real engine:
//! the events it prints (order, types, values), the key filter, the engine
//! counting each printed event delivered, exit 0 on SIGTERM/SIGINT, and a
//! one-line error when the engine is unreachable or goes away.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Engine, finish, free_port, statewell};
use serde_json::{Value, json};
use statewell_client::UpdateOp;

/// How long to wait for a line before calling the watch stuck. A bound on
/// waiting, not a performance assertion.
const PATIENCE: Duration = Duration::from_secs(20);

/// A running `statewell watch`, killed when dropped.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Watch {
    /// Starts `statewell watch <args>` and waits until it says it watches
    /// (the trigger is registered: later commits reach it).
    fn start(engine: &Engine, args: &[&str]) -> Watch {
        let mut child = statewell()
            .arg("watch")
            .args(args)
            .args(["--url", &engine.ws_url()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn statewell watch");
        let lines = pump(child.stdout.take().expect("stdout"));
        let stderr = pump(child.stderr.take().expect("stderr"));
        let watch = Watch {
            child,
            lines,
            stderr,
        };
        let ready = watch
            .stderr
            .recv_timeout(PATIENCE)
            .expect("watch never said it was ready");
        assert!(ready.starts_with("watching "), "unexpected: {ready}");
        watch
    }

    /// The next event line, parsed.
    fn next_event(&self) -> Value {
        let line = self.lines.recv_timeout(PATIENCE).expect("no event printed");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not one JSON line ({e}): {line}"))
    }

    fn signal_and_wait(&mut self, signal: &str) -> std::process::ExitStatus {
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
        self.wait()
    }

    /// Waits for the exit, failing (not hanging) when it does not come.
    fn wait(&mut self) -> std::process::ExitStatus {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("poll watch") {
                return status;
            }
            assert!(started.elapsed() < PATIENCE, "watch did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines of a child's pipe, read on a thread.
fn pump(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn event(kind: &str, key: &str, old: Value, new: Value) -> Value {
    json!({"event_type": kind, "scope": "g", "key": key, "old_value": old, "new_value": new})
}

fn increment(by: i64) -> Vec<UpdateOp> {
    serde_json::from_value(json!([{"type": "increment", "path": "n", "by": by}]))
        .expect("valid ops")
}

#[tokio::test]
async fn prints_each_change_of_the_group_in_commit_order() {
    let engine = Engine::start(&["--store", "memory"]);
    let watch = Watch::start(&engine, &["g"]);
    let client = engine.client().await;

    client.set("g", "a", json!({"n": 1})).await.expect("set");
    client
        .update("g", "a", &increment(2))
        .await
        .expect("update");
    client
        .set("other", "a", json!("elsewhere"))
        .await
        .expect("set");
    client.delete("g", "a").await.expect("delete");
    client.delete("g", "missing").await.expect("delete");
    client
        .set("g", "b", json!([1, "two", null]))
        .await
        .expect("set");

    let expected = [
        event("state:created", "a", Value::Null, json!({"n": 1})),
        event("state:updated", "a", json!({"n": 1}), json!({"n": 3})),
        event("state:deleted", "a", json!({"n": 3}), Value::Null),
        // Another group and a delete of a missing key raise nothing here.
        event("state:created", "b", Value::Null, json!([1, "two", null])),
    ];
    for want in expected {
        let got = watch.next_event();
        assert_eq!(got, want);
        // Exactly these fields, in this order.
        let fields: Vec<&str> = got
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            fields,
            ["event_type", "scope", "key", "old_value", "new_value"]
        );
    }

    // Each printed event was answered: the engine counts it delivered.
    let delivered = "statewell_trigger_events_total{outcome=\"delivered\"} 4";
    let mut text = String::new();
    let started = std::time::Instant::now();
    while started.elapsed() < PATIENCE {
        text = metrics(&engine).await;
        if text.lines().any(|line| line == delivered) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        text.lines().any(|line| line == delivered),
        "{delivered} not in:\n{text}"
    );
    assert!(
        text.lines()
            .any(|line| line == "statewell_trigger_events_total{outcome=\"failed\"} 0"),
        "{text}"
    );
}

#[tokio::test]
async fn a_key_narrows_the_watch_and_clear_reports_each_item() {
    let engine = Engine::start(&["--store", "memory"]);
    let watch_key = Watch::start(&engine, &["g", "b"]);
    let watch_group = Watch::start(&engine, &["g"]);
    let client = engine.client().await;

    client.set("g", "a", json!(1)).await.expect("set");
    client.set("g", "b", json!(2)).await.expect("set");
    client
        .update("g", "a", &increment(1))
        .await
        .expect("update");
    assert_eq!(client.clear("g").await.expect("clear"), 2);

    assert_eq!(
        watch_key.next_event(),
        event("state:created", "b", Value::Null, json!(2))
    );
    assert_eq!(
        watch_key.next_event(),
        event("state:deleted", "b", json!(2), Value::Null)
    );

    let mut all: Vec<Value> = (0..4).map(|_| watch_group.next_event()).collect();
    // An update of a non-object value fails its op and changes nothing.
    assert_eq!(all[0], event("state:created", "a", Value::Null, json!(1)));
    assert_eq!(all[1], event("state:created", "b", Value::Null, json!(2)));
    // `clear` raises one `state:deleted` per item (their order is the store's).
    let cleared: Vec<Value> = all.drain(2..).collect();
    let mut keys: Vec<&str> = cleared
        .iter()
        .filter(|e| e["event_type"] == "state:deleted")
        .filter_map(|e| e["key"].as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["a", "b"], "{cleared:?}");

    // Nothing else is printed for the key watch: a set of `b` afterwards is
    // its very next line.
    client.set("g", "b", json!(3)).await.expect("set");
    assert_eq!(
        watch_key.next_event(),
        event("state:created", "b", Value::Null, json!(3))
    );
}

/// `/metrics` as text.
async fn metrics(engine: &Engine) -> String {
    reqwest::get(format!("{}/metrics", engine.http_url()))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body")
}

#[tokio::test]
async fn sigterm_and_sigint_end_the_watch_with_status_zero_and_remove_its_trigger() {
    // A long grace: a trigger merely disconnected would stay registered, so
    // only an explicit unregistration brings the count back to zero.
    let engine = Engine::start(&["--store", "memory", "--reconnect-grace", "3600s"]);
    for signal in ["TERM", "INT"] {
        let mut watch = Watch::start(&engine, &["g"]);
        assert!(
            metrics(&engine)
                .await
                .lines()
                .any(|l| l == "statewell_triggers 1"),
            "the watch registered no trigger"
        );
        let status = tokio::task::spawn_blocking(move || watch.signal_and_wait(signal))
            .await
            .expect("join");
        assert!(status.success(), "SIG{signal}: {status:?}");

        let started = std::time::Instant::now();
        let mut text = metrics(&engine).await;
        while !text.lines().any(|l| l == "statewell_triggers 0") {
            assert!(
                started.elapsed() < PATIENCE,
                "SIG{signal}: the trigger is still registered:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
            text = metrics(&engine).await;
        }
    }
}

#[test]
fn an_unreachable_engine_is_a_one_line_error() {
    let port = free_port();
    let mut command = statewell();
    command.args(["watch", "g", "--url", &format!("ws://127.0.0.1:{port}")]);
    let done = finish(command, PATIENCE);
    done.assert_failed(3, "error: connect_failed: ");
    assert!(done.stdout.is_empty(), "{}", done.stdout);
}

#[test]
fn a_refused_trigger_is_a_one_line_error() {
    let engine = Engine::start(&["--store", "memory"]);
    let done = engine.cli(&["watch", ""]);
    done.assert_failed(4, "error: invalid_argument: ");
    assert_eq!(done.stderr.lines().count(), 1, "{}", done.stderr);
}

#[tokio::test]
async fn the_watch_fails_when_the_engine_goes_away() {
    let mut engine = Engine::start(&["--store", "memory"]);
    let mut watch = Watch::start(&engine, &["g"]);
    let engine_status = tokio::task::spawn_blocking(move || engine.signal_and_wait("TERM"))
        .await
        .expect("join");
    assert!(engine_status.success());
    let status = watch.wait();
    assert_eq!(status.code(), Some(3));
    let error = watch.stderr.recv_timeout(PATIENCE).expect("an error line");
    assert!(error.starts_with("error: connection_lost: "), "{error}");
}
