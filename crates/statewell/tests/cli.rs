//! The CLI verbs against a real engine: JSON on stdout, one `error: code:
//! message` line on stderr and a non-zero exit on failure.

mod common;

use std::time::Duration;

use common::{Engine, finish, free_port, statewell};
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
    done.assert_failed(2, "error: invalid_json: ");

    let mut command = statewell();
    command.args(["update", "g", "k", r#"[{"type":"bogus"}]"#]);
    let done = finish(command, Duration::from_secs(30));
    done.assert_failed(2, "error: invalid_argument: ");
}

#[test]
fn engine_errors_exit_4_and_skipped_ops_exit_1() {
    let engine = Engine::start(&["--store", "memory"]);
    let empty_key = engine.cli(&["set", "g", "", "1"]);
    empty_key.assert_failed(4, "error: invalid_argument: ");

    engine.cli(&["set", "g", "k", r#"{"name":"x"}"#]);
    let skipped = engine.cli(&[
        "update",
        "g",
        "k",
        r#"{"type":"increment","path":"name","by":1}"#,
    ]);
    skipped.assert_failed(1, "error: increment.not_number: ");
    // The result is still printed: the caller sees what happened.
    assert_eq!(json_out(&skipped.stdout)["new_value"], json!({"name": "x"}));
}

#[test]
fn no_engine_is_a_one_line_connect_error_exit_3() {
    // Port 9 (discard) is not served on loopback in a test environment.
    let mut command = statewell();
    command.args(["groups", "--url", "http://127.0.0.1:9"]);
    let done = finish(command, Duration::from_secs(60));
    done.assert_failed(3, "error: connect_failed: ");
    assert_eq!(done.stderr.trim_end().lines().count(), 1);
}

#[test]
fn a_bad_url_is_a_usage_error() {
    let mut command = statewell();
    command.args(["groups", "--url", "127.0.0.1:49134"]);
    let done = finish(command, Duration::from_secs(30));
    assert_eq!(done.status.code(), Some(2));
    // The code both SDKs give an address that is no engine URL.
    assert!(
        done.stderr
            .starts_with("error: invalid_argument: invalid url "),
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
    refused.assert_failed(3, "error: unauthorized: ");
}

#[test]
fn a_missing_argument_is_a_usage_error() {
    let mut command = statewell();
    command.args(["get", "only-a-group"]);
    let done = finish(command, Duration::from_secs(30));
    assert_eq!(done.status.code(), Some(2), "{}", done.stderr);
}

#[test]
fn info_describes_the_engine() {
    let engine = Engine::start(&["--durability", "batched", "--sync-interval", "1.5s"]);
    engine.cli(&["set", "orders", "o-1", "1"]);
    engine.cli(&["set", "orders", "o-2", "2"]);
    engine.cli(&["set", "users", "u-1", "3"]);

    let info = engine.cli(&["info"]);
    assert!(info.status.success(), "{}", info.stderr);
    let info = json_out(&info.stdout);
    assert_eq!(info["version"], json!(env!("CARGO_PKG_VERSION")));
    assert_eq!(info["store"], json!("embedded"));
    let data = std::fs::canonicalize(&engine.data).expect("the data directory exists");
    assert_eq!(info["data_dir"], json!(data.display().to_string()));
    assert_eq!(info["durability"], json!("batched (synced every 1s 500ms)"));
    assert_eq!(info["items"], json!(3));
    assert_eq!(info["groups"], json!(2));
    assert!(info["uptime_ms"].is_u64(), "{info}");
    assert!(info["started_at_ms"].is_u64(), "{info}");
    assert!(info["uptime"].is_string(), "{info}");

    let memory = Engine::start(&["--store", "memory"]);
    let info = json_out(&memory.cli(&["info"]).stdout);
    assert_eq!(info["store"], json!("memory"));
    assert_eq!(info["data_dir"], json!(null));
    assert_eq!(info["items"], json!(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_invokes_a_worker_function_through_the_engine() {
    let engine = Engine::start(&["--store", "memory"]);
    let worker = engine.client().await;
    let mut invocations = worker
        .register_function("test::double")
        .await
        .expect("register");
    let serving = worker.clone();
    tokio::spawn(async move {
        while let Some(invocation) = invocations.next().await {
            let n = invocation.data["n"].as_i64().unwrap_or(0);
            let _ = serving.respond(&invocation, Ok(Some(json!(n * 2)))).await;
        }
    });

    let cli = |args: Vec<&'static str>| {
        let url = engine.ws_url();
        tokio::task::spawn_blocking(move || {
            let mut command = statewell();
            command.args(args).args(["--url", &url]);
            finish(command, Duration::from_secs(60))
        })
    };
    let doubled = cli(vec!["call", "test::double", r#"{"n":21}"#])
        .await
        .expect("join");
    assert!(doubled.status.success(), "{}", doubled.stderr);
    assert_eq!(json_out(&doubled.stdout), json!(42));

    // The engine's own functions are functions too.
    let set = cli(vec![
        "call",
        "state::set",
        r#"{"scope":"g","key":"k","value":"v"}"#,
    ])
    .await
    .expect("join");
    assert!(set.status.success(), "{}", set.stderr);
    assert_eq!(json_out(&set.stdout)["new_value"], json!("v"));

    let missing = cli(vec!["call", "test::nobody"]).await.expect("join");
    missing.assert_failed(4, "error: function_not_found: ");
    let bad = cli(vec!["call", "test::double", "{oops"])
        .await
        .expect("join");
    assert_eq!(bad.status.code(), Some(2), "{}", bad.stderr);
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let mut command = statewell();
        command.args(["completions", shell]);
        let done = finish(command, Duration::from_secs(30));
        assert!(done.status.success(), "{shell}: {}", done.stderr);
        for verb in ["serve", "export", "import", "info", "call"] {
            assert!(done.stdout.contains(verb), "{shell} lacks {verb}");
        }
    }
    let mut command = statewell();
    command.args(["completions", "tcsh"]);
    assert_eq!(
        finish(command, Duration::from_secs(30)).status.code(),
        Some(2)
    );
}

/// The bash script is loaded by bash itself and registers the completion.
#[test]
fn the_bash_completion_loads_in_bash() {
    let mut command = statewell();
    command.args(["completions", "bash"]);
    let script = finish(command, Duration::from_secs(30)).stdout;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("statewell.bash");
    std::fs::write(&file, script).expect("write the script");
    let loaded = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#"source "$1" && complete -p statewell"#)
        .arg("bash")
        .arg(&file)
        .output()
        .expect("run bash");
    let said = String::from_utf8_lossy(&loaded.stdout);
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    assert!(said.contains("statewell"), "{said}");
}

#[test]
fn connect_retry_waits_for_an_engine_that_is_starting() {
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}");
    // The verb starts first, with nothing listening yet.
    let mut command = statewell();
    command.args(["groups", "--url", &url, "--connect-retry", "2m"]);
    let verb = std::thread::spawn(move || finish(command, Duration::from_secs(180)));
    let dir = tempfile::tempdir().expect("temp dir");
    let mut serve = statewell();
    serve
        .args(["serve", "--store", "memory", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stderr(std::process::Stdio::inherit());
    let _engine = Engine::from_command(serve, dir.path());
    let done = verb.join().expect("join");
    assert!(done.status.success(), "{}", done.stderr);
    assert_eq!(json_out(&done.stdout), json!([]));

    // A spent budget says so.
    let mut command = statewell();
    command.args([
        "groups",
        "--url",
        "ws://127.0.0.1:9",
        "--connect-retry",
        "300ms",
    ]);
    let done = finish(command, Duration::from_secs(60));
    done.assert_failed(3, "error: connect_failed: ");
    assert!(
        done.stderr.contains("(retried for 300ms)"),
        "{}",
        done.stderr
    );
}

#[test]
fn an_empty_url_in_the_environment_means_the_default() {
    let mut command = statewell();
    // Nothing listens on the default port in tests: the default address
    // was tried, rather than the empty one refused.
    command.args(["groups"]).env("STATEWELL_URL", "");
    let done = finish(command, Duration::from_secs(60));
    assert!(
        done.stderr.contains("127.0.0.1:49134") || done.status.success(),
        "{}",
        done.stderr
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
