//! The CLI verbs against a real engine: JSON on stdout, one `error: code:
//! message` line on stderr and a non-zero exit on failure.

mod common;

use std::time::Duration;

use common::{Engine, finish, statewell};
use serde_json::{Value, json};

fn json_out(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout:?}"))
}

#[test]
fn verbs_round_trip() {
    let engine = Engine::start(&["--store", "memory"]);

    let set = engine.cli(&["set", "orders", "o-1", r#"{"status":"new","n":1}"#]);
    assert!(set.status.success(), "{}", set.stderr);
    assert_eq!(
        json_out(&set.stdout),
        json!({"old_value": null, "new_value": {"status": "new", "n": 1}})
    );
    // Output to a pipe is compact: one line.
    assert_eq!(set.stdout.trim().lines().count(), 1);

    let get = engine.cli(&["get", "orders", "o-1"]);
    assert!(get.status.success(), "{}", get.stderr);
    assert_eq!(json_out(&get.stdout), json!({"status": "new", "n": 1}));

    let update = engine.cli(&[
        "update",
        "orders",
        "o-1",
        r#"[{"type":"increment","path":"n","by":2},{"type":"set","path":"status","value":"paid"}]"#,
    ]);
    assert!(update.status.success(), "{}", update.stderr);
    assert_eq!(
        json_out(&update.stdout)["new_value"],
        json!({"status": "paid", "n": 3})
    );

    engine.cli(&["set", "orders", "o-2", "2"]);
    engine.cli(&["set", "users", "u-1", r#""ada""#]);

    let list = engine.cli(&["list", "orders"]);
    assert!(list.status.success(), "{}", list.stderr);
    assert_eq!(
        json_out(&list.stdout),
        json!([{"status": "paid", "n": 3}, 2])
    );

    let items = engine.cli(&["list", "orders", "--items"]);
    assert!(items.status.success(), "{}", items.stderr);
    let keys: Vec<Value> = json_out(&items.stdout)
        .as_array()
        .expect("an array of items")
        .iter()
        .map(|item| item["key"].clone())
        .collect();
    assert_eq!(keys, vec![json!("o-1"), json!("o-2")]);

    let groups = engine.cli(&["groups"]);
    assert!(groups.status.success(), "{}", groups.stderr);
    assert_eq!(json_out(&groups.stdout), json!(["orders", "users"]));

    let delete = engine.cli(&["delete", "orders", "o-2"]);
    assert!(delete.status.success(), "{}", delete.stderr);
    assert_eq!(json_out(&delete.stdout), json!(2));
    let again = engine.cli(&["delete", "orders", "o-2"]);
    assert!(again.status.success(), "{}", again.stderr);
    assert_eq!(json_out(&again.stdout), json!(null));

    let clear = engine.cli(&["clear", "orders"]);
    assert!(clear.status.success(), "{}", clear.stderr);
    assert_eq!(json_out(&clear.stdout), json!({"deleted": 1}));
    assert_eq!(json_out(&engine.cli(&["list", "orders"]).stdout), json!([]));
}

#[test]
fn get_of_a_missing_key_exits_1_with_not_found() {
    let engine = Engine::start(&["--store", "memory"]);
    let get = engine.cli(&["get", "g", "missing"]);
    assert_eq!(get.status.code(), Some(1));
    assert_eq!(get.stdout, "");
    assert!(
        get.stderr.starts_with("error: not_found: "),
        "{}",
        get.stderr
    );
    assert_eq!(get.stderr.trim_end().lines().count(), 1);

    // A stored null is present: it prints `null` and succeeds.
    engine.cli(&["set", "g", "nothing", "null"]);
    let get = engine.cli(&["get", "g", "nothing"]);
    assert!(get.status.success(), "{}", get.stderr);
    assert_eq!(get.stdout.trim(), "null");
}

#[test]
fn bad_json_is_a_usage_error_before_connecting() {
    // No engine at all: argument errors come first.
    let mut command = statewell();
    command.args(["set", "g", "k", "{not json", "--url", "ws://127.0.0.1:9"]);
    let done = finish(command, Duration::from_secs(30));
    assert_eq!(done.status.code(), Some(2));
    assert!(
        done.stderr.starts_with("error: invalid_json: "),
        "{}",
        done.stderr
    );

    let mut command = statewell();
    command.args(["update", "g", "k", r#"[{"type":"bogus"}]"#]);
    let done = finish(command, Duration::from_secs(30));
    assert_eq!(done.status.code(), Some(2));
    assert!(
        done.stderr.starts_with("error: invalid_argument: "),
        "{}",
        done.stderr
    );
}

#[test]
fn engine_errors_and_skipped_ops_exit_non_zero() {
    let engine = Engine::start(&["--store", "memory"]);
    let empty_key = engine.cli(&["set", "g", "", "1"]);
    assert_eq!(empty_key.status.code(), Some(1));
    assert!(
        empty_key.stderr.starts_with("error: invalid_argument: "),
        "{}",
        empty_key.stderr
    );

    engine.cli(&["set", "g", "k", r#"{"name":"x"}"#]);
    let skipped = engine.cli(&[
        "update",
        "g",
        "k",
        r#"{"type":"increment","path":"name","by":1}"#,
    ]);
    assert_eq!(skipped.status.code(), Some(1));
    assert!(
        skipped.stderr.starts_with("error: increment.not_number: "),
        "{}",
        skipped.stderr
    );
    // The result is still printed: the caller sees what happened.
    assert_eq!(json_out(&skipped.stdout)["new_value"], json!({"name": "x"}));
}

#[test]
fn no_engine_is_a_one_line_connect_error() {
    // Port 9 (discard) is not served on loopback in a test environment.
    let mut command = statewell();
    command.args(["groups", "--url", "http://127.0.0.1:9"]);
    let done = finish(command, Duration::from_secs(60));
    assert_eq!(done.status.code(), Some(1));
    assert!(
        done.stderr.starts_with("error: connect_failed: "),
        "{}",
        done.stderr
    );
    assert_eq!(done.stderr.trim_end().lines().count(), 1);
}

#[test]
fn a_bad_url_is_a_one_line_error() {
    let mut command = statewell();
    command.args(["groups", "--url", "127.0.0.1:49134"]);
    let done = finish(command, Duration::from_secs(30));
    assert_eq!(done.status.code(), Some(1));
    assert!(
        done.stderr.starts_with("error: invalid_url: "),
        "{}",
        done.stderr
    );
}

#[test]
fn url_and_token_come_from_the_environment() {
    let engine = Engine::start(&["--store", "memory", "--token", "t0k"]);
    let mut command = statewell();
    command
        .args(["set", "g", "k", "1"])
        .env("STATEWELL_URL", engine.http_url())
        .env("STATEWELL_TOKEN", "t0k");
    let done = finish(command, Duration::from_secs(60));
    assert!(done.status.success(), "{}", done.stderr);

    let refused = engine.cli(&["get", "g", "k"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        refused.stderr.starts_with("error: unauthorized: "),
        "{}",
        refused.stderr
    );
}

#[test]
fn conditions_idempotency_keys_and_transactions() {
    let engine = Engine::start(&[]);
    let set = engine.cli(&["set", "g", "k", "1", "--if-absent"]);
    assert!(set.status.success(), "{}", set.stderr);
    let again = engine.cli(&["set", "g", "k", "2", "--if-absent"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        again.stderr.starts_with("error: conflict: "),
        "{}",
        again.stderr
    );
    let stale = engine.cli(&["delete", "g", "k", "--if-version", "999999"]);
    assert!(
        stale.stderr.starts_with("error: conflict: "),
        "{}",
        stale.stderr
    );
    let increment = r#"[{"type":"increment","path":"n","by":1}]"#;
    for _ in 0..3 {
        let update = engine.cli(&["update", "g", "c", increment, "--idempotency-key", "cli-1"]);
        assert!(update.status.success(), "{}", update.stderr);
    }
    assert_eq!(
        json_out(&engine.cli(&["get", "g", "c"]).stdout),
        json!({"n": 1})
    );
    let ops = r#"[{"type":"set","scope":"g","key":"a","value":1},{"type":"check","scope":"g","key":"k","if_absent":true}]"#;
    let failed = engine.cli(&["transaction", ops]);
    assert!(
        failed.stderr.starts_with("error: conflict: "),
        "{}",
        failed.stderr
    );
    let ops = r#"{"ops":[{"type":"set","scope":"g","key":"a","value":1},{"type":"delete","scope":"g","key":"k"}]}"#;
    let applied = engine.cli(&["transaction", ops]);
    assert!(applied.status.success(), "{}", applied.stderr);
    let results = json_out(&applied.stdout);
    assert_eq!(results["results"][1]["old_value"], json!(1));
}
