//! `statewell serve`: the first stdout line, flag and environment validation,
//! auth, and an orderly exit on SIGTERM/SIGINT.

mod common;

use std::time::Duration;

use common::{Engine, Finished, finish, statewell};
use serde_json::json;
use statewell_client::{Client, ClientError};

/// `serve` with these flags must refuse to start.
fn refused(args: &[&str], env: &[(&str, &str)]) -> Finished {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = statewell();
    command
        .arg("serve")
        .args(["--data"])
        .arg(dir.path().join("data"))
        .args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let done = finish(command, Duration::from_secs(30));
    assert!(!done.status.success(), "serve {args:?} {env:?} started");
    assert!(
        !done.stdout.contains("listening on"),
        "serve {args:?} printed {}",
        done.stdout
    );
    done
}

#[tokio::test]
async fn prints_the_bound_address_and_answers() {
    let engine = Engine::start(&[]);
    let (ip, port) = engine.addr.split_once(':').expect("IP:PORT");
    assert_eq!(ip, "127.0.0.1");
    assert_ne!(port.parse::<u16>().expect("a port number"), 0);

    let client = engine.client().await;
    client.set("g", "k", json!({"a": 1})).await.expect("set");
    assert_eq!(
        client.get("g", "k").await.expect("get"),
        Some(json!({"a": 1}))
    );
}

#[test]
fn bad_listen_is_refused_with_a_clear_message() {
    for bad in ["nonsense", "127.0.0.1", "127.0.0.1:99999", "localhost:x"] {
        let done = refused(&["--listen", bad], &[]);
        assert!(done.stderr.contains("--listen"), "{bad}: {}", done.stderr);
        assert!(done.stderr.contains("IP:PORT"), "{bad}: {}", done.stderr);
    }
}

#[test]
fn bad_durability_store_and_limits_are_refused() {
    let done = refused(
        &["--listen", "127.0.0.1:0", "--durability", "sometimes"],
        &[],
    );
    assert!(done.stderr.contains("--durability"), "{}", done.stderr);
    assert!(done.stderr.contains("always"), "{}", done.stderr);

    let done = refused(&["--listen", "127.0.0.1:0", "--store", "rocksdb"], &[]);
    assert!(
        done.stderr.contains("embedded, memory or redis://"),
        "{}",
        done.stderr
    );

    let done = refused(&["--listen", "127.0.0.1:0", "--sync-interval", "fast"], &[]);
    assert!(done.stderr.contains("--sync-interval"), "{}", done.stderr);

    let done = refused(&["--listen", "127.0.0.1:0", "--max-value-bytes", "0"], &[]);
    assert!(done.stderr.contains("--max-value-bytes"), "{}", done.stderr);

    let done = refused(&["--listen", "127.0.0.1:0", "--checkpoint-bytes", "1"], &[]);
    assert!(
        done.stderr.contains("--checkpoint-bytes"),
        "{}",
        done.stderr
    );

    let done = refused(&["--listen", "127.0.0.1:0", "--worker-threads", "0"], &[]);
    assert!(done.stderr.contains("--worker-threads"), "{}", done.stderr);

    let done = refused(&["--listen", "127.0.0.1:0", "--token", ""], &[]);
    assert!(done.stderr.contains("--token"), "{}", done.stderr);

    let done = refused(&["--listen", "127.0.0.1:0", "--log", "info,=[bad"], &[]);
    assert!(done.stderr.contains("--log"), "{}", done.stderr);
}

#[test]
fn redis_is_not_supported_yet() {
    let done = refused(
        &[
            "--listen",
            "127.0.0.1:0",
            "--store",
            "redis://127.0.0.1:6379",
        ],
        &[],
    );
    assert!(done.stderr.contains("not supported yet"), "{}", done.stderr);
}

#[test]
fn flags_come_from_the_environment_too() {
    let done = refused(
        &["--listen", "127.0.0.1:0"],
        &[("STATEWELL_DURABILITY", "sometimes")],
    );
    assert!(done.stderr.contains("sometimes"), "{}", done.stderr);

    let done = refused(&[], &[("STATEWELL_LISTEN", "not-an-address")]);
    assert!(done.stderr.contains("not-an-address"), "{}", done.stderr);
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let engine = Engine::start(&[]);
    let done = refused(&["--listen", &engine.addr], &[]);
    assert!(
        done.stderr
            .contains(&format!("cannot listen on {}", engine.addr)),
        "{}",
        done.stderr
    );
}

#[tokio::test]
async fn a_token_is_required_when_set() {
    let engine = Engine::start(&["--token", "s3cret"]);
    let refused = Client::connect(&engine.ws_url(), None).await.err();
    assert!(
        matches!(refused, Some(ClientError::Unauthorized)),
        "{refused:?}"
    );
    let wrong = Client::connect(&engine.ws_url(), Some("guess")).await.err();
    assert!(
        matches!(wrong, Some(ClientError::Unauthorized)),
        "{wrong:?}"
    );

    let client = Client::connect(&engine.ws_url(), Some("s3cret"))
        .await
        .expect("the right token is accepted");
    client.set("g", "k", json!(1)).await.expect("set");
}

#[tokio::test]
async fn the_token_can_come_from_the_environment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = Engine::start_with_env(
        &dir.path().join("data"),
        &[],
        &[("STATEWELL_TOKEN", "from-env")],
    );
    assert!(Client::connect(&engine.ws_url(), None).await.is_err());
    Client::connect(&engine.ws_url(), Some("from-env"))
        .await
        .expect("the token from the environment is the one required");
}

/// `--token-in-query`: what the iii engine's state `bridge` needs, since it
/// connects from a URL alone (docs/WITH-III.md).
#[tokio::test]
async fn a_token_in_the_url_is_accepted_only_with_token_in_query() {
    let url = |engine: &Engine, token: &str| format!("ws://{}/?access_token={token}", engine.addr);

    // Without the flag the URL's token is refused, even the right one.
    let strict = Engine::start(&["--token", "s3cret"]);
    let refused = Client::connect(&url(&strict, "s3cret"), None).await.err();
    assert!(
        matches!(refused, Some(ClientError::Unauthorized)),
        "{refused:?}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let engine = Engine::start_with_env(
        &dir.path().join("data"),
        &["--token", "s3cret"],
        &[("STATEWELL_TOKEN_IN_QUERY", "true")],
    );
    let client = Client::connect(&url(&engine, "s3cret"), None)
        .await
        .expect("the right token in the URL is accepted");
    client.set("g", "k", json!(1)).await.expect("set");
    // statewell's own client puts the root path before the query.
    let bare = format!("ws://{}?access_token=s3cret", engine.addr);
    let client = Client::connect(&bare, None).await.expect("bare URL");
    assert_eq!(client.get("g", "k").await.expect("get"), Some(json!(1)));

    for wrong in ["guess", "", "s3cret2"] {
        let refused = Client::connect(&url(&engine, wrong), None).await.err();
        assert!(
            matches!(refused, Some(ClientError::Unauthorized)),
            "{wrong:?}: {refused:?}"
        );
    }
    assert!(Client::connect(&engine.ws_url(), None).await.is_err());
    // The header still works.
    let client = Client::connect(&engine.ws_url(), Some("s3cret"))
        .await
        .expect("the header is accepted");
    assert_eq!(client.get("g", "k").await.expect("get"), Some(json!(1)));

    // HTTP routes take the header only, flag or not.
    let http = reqwest::Client::new();
    let status = http
        .get(format!(
            "http://{}/v1/groups?access_token=s3cret",
            engine.addr
        ))
        .send()
        .await
        .expect("request")
        .status();
    assert_eq!(status.as_u16(), 401);
}

#[test]
fn token_in_query_needs_a_token() {
    let done = refused(&["--listen", "127.0.0.1:0", "--token-in-query"], &[]);
    assert!(done.stderr.contains("needs --token"), "{}", done.stderr);
    let done = refused(
        &["--listen", "127.0.0.1:0", "--token", "t"],
        &[("STATEWELL_TOKEN_IN_QUERY", "maybe")],
    );
    assert!(done.stderr.contains("--token-in-query"), "{}", done.stderr);
}

#[tokio::test]
async fn sigterm_and_sigint_exit_zero() {
    for signal in ["TERM", "INT"] {
        let mut engine = Engine::start(&[]);
        let client = engine.client().await;
        client.set("g", "k", json!(1)).await.expect("set");
        let status = tokio::task::spawn_blocking(move || engine.signal_and_wait(signal))
            .await
            .expect("join");
        assert!(status.success(), "SIG{signal}: {status:?}");
    }
}

#[tokio::test]
async fn large_values_follow_max_value_bytes() {
    let engine = Engine::start(&["--store", "memory", "--max-value-bytes", "100"]);
    let client = engine.client().await;
    client
        .set("g", "small", json!("x".repeat(50)))
        .await
        .expect("under the limit");
    let error = client
        .set("g", "big", json!("x".repeat(200)))
        .await
        .err()
        .map(|e| e.code().to_owned());
    assert_eq!(error.as_deref(), Some("value_too_large"));
}

#[test]
fn a_data_directory_in_use_is_refused() {
    let engine = Engine::start(&[]);
    let mut command = statewell();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&engine.data);
    let done = finish(command, Duration::from_secs(30));
    assert!(
        !done.status.success(),
        "a second engine started on {:?}",
        engine.data
    );
    assert!(done.stderr.contains("data directory"), "{}", done.stderr);
    assert!(done.stderr.contains("already open"), "{}", done.stderr);
}

#[tokio::test]
async fn state_survives_a_restart_on_the_same_data_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut engine = Engine::start_on(&data, &[]);
    engine
        .client()
        .await
        .set("g", "k", json!({"kept": true}))
        .await
        .expect("set");
    let status = tokio::task::spawn_blocking(move || engine.signal_and_wait("TERM"))
        .await
        .expect("join");
    assert!(status.success(), "{status:?}");

    let engine = Engine::start_on(&data, &[]);
    let value = engine.client().await.get("g", "k").await.expect("get");
    assert_eq!(value, Some(json!({"kept": true})));
}

/// A `serve --listen 127.0.0.1:0 --log info` with `extra` flags, stopped
/// with SIGTERM once it has printed its address: its first stdout line, the
/// rest of its stdout, and how it ended (with all of stderr).
fn serve_until_sigterm(extra: &[&str]) -> (String, String, std::process::Output) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = statewell()
        .args(["serve", "--listen", "127.0.0.1:0", "--log", "info"])
        .args(extra)
        .arg("--data")
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).expect("read");
    assert!(first.starts_with("listening on 127.0.0.1:"), "{first:?}");

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success(), "{:?}", output.status);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("read");
    (first, rest, output)
}

#[test]
fn stdout_holds_only_the_address_and_logs_go_to_stderr() {
    let (_, rest, output) = serve_until_sigterm(&[]);
    assert_eq!(rest, "", "stdout after the first line");
    let logs = String::from_utf8_lossy(&output.stderr);
    for event in ["engine started", "shutting down", "stopped accepting"] {
        assert!(
            logs.lines().any(|line| line.contains(event)),
            "no {event:?} log line in {logs}"
        );
    }
    // The last word: the store closed and the process is about to exit.
    assert!(
        logs.lines()
            .last()
            .is_some_and(|line| line.ends_with("stopped")),
        "{logs}"
    );
}

#[tokio::test]
async fn listen_takes_a_host_name_and_binds_loopback() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = statewell();
    command
        .args(["serve", "--store", "memory", "--listen", "localhost:0"])
        .stderr(std::process::Stdio::inherit());
    let engine = Engine::from_command(command, dir.path());
    assert!(engine.addr.starts_with("127.0.0.1:"), "{}", engine.addr);
    let port = engine.addr.rsplit_once(':').expect("IP:PORT").1;
    let client = Client::connect(&format!("ws://localhost:{port}"), None)
        .await
        .expect("connect by name");
    client.set("g", "k", json!(1)).await.expect("set");

    // RFC 6761: `.invalid` never resolves.
    let done = refused(&["--listen", "no-such-host.invalid:80"], &[]);
    assert!(done.stderr.contains("--listen"), "{}", done.stderr);
    assert!(done.stderr.contains("cannot resolve"), "{}", done.stderr);
}

#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let (_, _, output) = serve_until_sigterm(&["--log-format", "json"]);
    let logs = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect();
    for line in &lines {
        assert!(line["timestamp"].is_string(), "{line}");
        assert!(line["level"].is_string(), "{line}");
        assert!(line["fields"]["message"].is_string(), "{line}");
    }
    let started = lines
        .iter()
        .find(|line| line["fields"]["message"] == "engine started")
        .unwrap_or_else(|| panic!("no start line in {logs}"));
    assert_eq!(started["level"], "INFO");
    assert_eq!(started["fields"]["durability"], "Always");
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "shutting down"),
        "{logs}"
    );

    // A failure to start is a JSON line too.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let done = refused(&["--log-format", "json", "--listen", &addr], &[]);
    let last = done.stderr.lines().last().unwrap_or_default();
    let line: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"));
    assert_eq!(line["level"], "ERROR", "{line}");
    let error = line["fields"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("cannot listen on"), "{line}");
    assert!(
        done.stderr
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "{}",
        done.stderr
    );

    let done = refused(&["--log-format", "xml"], &[]);
    assert!(done.stderr.contains("--log-format"), "{}", done.stderr);
}

#[test]
fn durations_share_one_syntax() {
    // Minutes, hours and fractions, as the bench takes them.
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = Engine::start_on(
        &dir.path().join("data"),
        &[
            "--invocation-timeout",
            "2m",
            "--reconnect-grace",
            "1h",
            "--trigger-retry-backoff",
            "0.5s",
        ],
    );
    assert!(engine.addr.starts_with("127.0.0.1:"));
    let done = refused(&["--invocation-timeout", "2h"], &[]);
    assert!(
        done.stderr.contains("between 10ms and 1h"),
        "{}",
        done.stderr
    );
    let done = refused(&["--sync-interval", "100"], &[]);
    assert!(done.stderr.contains("250ms, 30s or 5m"), "{}", done.stderr);
}
