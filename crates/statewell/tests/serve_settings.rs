//! `statewell serve` started with every setting at once: each one takes
//! effect, observed through what the engine does — the address it answers
//! on, the files in its data directory, `/metrics`, its replies, the calls it
//! forwards to workers, its threads and its log.

mod common;
mod http_support;

use std::io::BufRead;
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::raw_http::RawHttp;
use common::{Engine, statewell};
use http_support::Http;
use reqwest::StatusCode;
use serde_json::{Value, json};
use statewell_client::{Client, ClientError, Invocations};

const TOKEN: &str = "every-setting";
/// `--max-value-bytes`: a value of 4,000 bytes fits, one of 9,000 does not
/// (the default takes both).
const MAX_VALUE_BYTES: &str = "8192";
/// `--trigger-retry-backoff`, ten times the default.
const BACKOFF: Duration = Duration::from_secs(1);
/// A bound on waiting for something the engine does at once (a failure
/// only), never a measure of speed.
const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_setting_takes_effect() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    // More reactor threads than any default (one less than the cores).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores + 8).to_string();
    let data_flag = data.to_str().expect("a UTF-8 temporary path");
    let settings = [
        ("--listen", "127.0.0.2:0"),
        ("--data", data_flag),
        ("--store", "embedded"),
        ("--durability", "batched"),
        ("--sync-interval", "60s"),
        ("--token", TOKEN),
        ("--log", "info"),
        ("--worker-threads", &threads),
        ("--checkpoint-bytes", "65536"),
        ("--max-value-bytes", MAX_VALUE_BYTES),
        ("--invocation-timeout", "250ms"),
        ("--trigger-retries", "1"),
        ("--trigger-retry-backoff", "1s"),
        ("--reconnect-grace", "3600s"),
        ("--max-connections", "64"),
        ("--header-read-timeout", "1s"),
        ("--body-read-timeout", "200ms"),
        ("--write-timeout", "20s"),
        ("--max-reply-bytes-in-flight", "2097152"),
        ("--drain-timeout", "2s"),
    ];
    let mut command = statewell();
    command.arg("serve").stderr(Stdio::piped());
    for (flag, value) in settings {
        command.args([flag, value]);
    }
    let mut engine = Engine::from_command(command, &data);
    let logs = log_lines(&mut engine);

    // --listen: the address announced, and answered on, is the one asked for.
    assert!(engine.addr.starts_with("127.0.0.2:"), "{}", engine.addr);
    // --log info (the harness sets RUST_LOG=warn): the start is logged,
    // with every setting as the engine took it.
    let started = first_line_with(&logs, "engine started");
    for field in [
        "store=embedded".to_owned(),
        format!("data={}", data.display()),
        "durability=Batched".to_owned(),
        "sync_interval=60s".to_owned(),
        "checkpoint_bytes=65536".to_owned(),
        format!("max_value_bytes={MAX_VALUE_BYTES}"),
        format!("worker_threads={threads}"),
        "auth=true".to_owned(),
        "invocation_timeout=250ms".to_owned(),
        "trigger_retries=1".to_owned(),
        "trigger_retry_backoff=1s".to_owned(),
        "reconnect_grace=3600s".to_owned(),
        "max_connections=64".to_owned(),
        "header_read_timeout=1s".to_owned(),
        "body_read_timeout=200ms".to_owned(),
        "write_timeout=20s".to_owned(),
        "max_reply_bytes_in_flight=2097152".to_owned(),
        "drain_timeout=2s".to_owned(),
    ] {
        assert!(started.contains(&field), "no {field} in {started}");
    }
    check_worker_threads(engine.pid(), &threads);

    let http = Http::new(engine.http_url(), Some(TOKEN));
    check_token(&engine).await;
    let caller = Client::connect(&engine.ws_url(), Some(TOKEN))
        .await
        .expect("the token is accepted")
        .with_timeout(Duration::from_secs(60));
    check_data_directory(&data);
    check_connection_limits(&engine, &http).await;
    check_batched_durability(&caller, &http).await;
    check_max_value_bytes(&caller).await;
    check_checkpoint_bytes(&caller, &data).await;
    // The workers of these two stay connected: the last check counts the
    // connections, and only its own may go.
    let _slow = check_invocation_timeout(&engine, &caller).await;
    let _failing = check_trigger_retries_and_backoff(&engine, &caller, &http).await;
    check_reconnect_grace(&engine, &caller, &http).await;
}

/// The engine's stderr, line by line, read on a thread of its own so that
/// the engine never blocks on a full pipe.
fn log_lines(engine: &mut Engine) -> mpsc::Receiver<String> {
    let stderr = engine.child.stderr.take().expect("stderr is piped");
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            // The test may be done with the log: the rest is drained.
            let _ = sender.send(line);
        }
    });
    lines
}

fn first_line_with(lines: &mpsc::Receiver<String>, text: &str) -> String {
    loop {
        match lines.recv_timeout(PATIENCE) {
            Ok(line) if line.contains(text) => return line,
            Ok(_) => {}
            Err(e) => panic!("no log line with {text:?}: {e}"),
        }
    }
}

/// --worker-threads: the runtime's threads carry the engine's name (as does
/// its main thread; the store's own threads have longer names).
fn check_worker_threads(pid: u32, threads: &str) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the engine's threads");
    let named = tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "statewell")
        .count();
    let wanted: usize = threads.parse().expect("a number");
    assert!(named >= wanted, "{named} threads named statewell");
}

/// --token: refused without it, over HTTP and WebSocket; /healthz stays open.
async fn check_token(engine: &Engine) {
    let anonymous = Http::new(engine.http_url(), None);
    anonymous
        .get("/v1/groups")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(anonymous.get("/healthz").await.status, StatusCode::OK);
    let refused = Client::connect(&engine.ws_url(), None).await.err();
    assert!(
        matches!(refused, Some(ClientError::Unauthorized)),
        "{refused:?}"
    );
}

/// --max-connections and --max-reply-bytes-in-flight: the limits `/metrics`
/// reports. --header-read-timeout 1s and --body-read-timeout 200ms: half a
/// request head is cut off, a body that stops coming is answered 408.
/// (--write-timeout and --drain-timeout are shown at work in slow_clients.rs
/// and shutdown_drain.rs.)
async fn check_connection_limits(engine: &Engine, http: &Http) {
    let text = metrics(http).await;
    assert_eq!(metric(&text, "statewell_connections_limit"), 64.0, "{text}");
    assert_eq!(
        metric(&text, "statewell_reply_bytes_budget"),
        2_097_152.0,
        "{text}"
    );
    let mut head = RawHttp::connect(&engine.addr).await;
    head.send(b"GET /healthz HTTP/1.1\r\nHost: engine\r\n")
        .await;
    head.closed_by_engine().await;
    let mut body = RawHttp::connect(&engine.addr).await;
    let request = format!(
        "PUT /v1/groups/settings/items/slow HTTP/1.1\r\nHost: engine\r\n\
         Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n\
         Content-Length: 10\r\n\r\n{{"
    );
    body.send(request.as_bytes()).await;
    assert_eq!(body.response().await.status, 408);
}

/// --data and --store embedded: the store's files are in the directory given.
fn check_data_directory(data: &Path) {
    for file in ["LOCK", "FORMAT", "data.redb", "wal.log", "wal.1.log"] {
        assert!(data.join(file).is_file(), "no {file} in {}", data.display());
    }
}

/// --durability batched with --sync-interval 60s: writes are acknowledged
/// without a sync (in `always` mode every acknowledged commit is synced).
async fn check_batched_durability(caller: &Client, http: &Http) {
    let before = metrics(http).await;
    for i in 0..5 {
        caller
            .set("durability", &format!("k{i}"), json!(i))
            .await
            .expect("set");
    }
    let after = metrics(http).await;
    let commits = |text: &str| metric(text, "statewell_commits_total");
    assert!(commits(&after) >= commits(&before) + 5.0, "{after}");
    assert_eq!(
        metric(&after, "statewell_syncs_total"),
        metric(&before, "statewell_syncs_total"),
        "{after}"
    );
}

/// --max-value-bytes: a value over it is refused, one under it is kept.
async fn check_max_value_bytes(caller: &Client) {
    let refused = caller
        .set("limits", "big", json!("x".repeat(9000)))
        .await
        .err()
        .map(|e| e.code().to_owned());
    assert_eq!(refused.as_deref(), Some("value_too_large"));
    caller
        .set("limits", "small", json!("x".repeat(4000)))
        .await
        .expect("under the limit");
}

/// --checkpoint-bytes 65536: once the log holds 64 KiB a checkpoint starts
/// and the log goes on in its second file (the default, 8 MiB, would keep
/// all of this in the first one).
async fn check_checkpoint_bytes(caller: &Client, data: &Path) {
    let spare = || std::fs::metadata(data.join("wal.1.log")).map_or(0, |m| m.len());
    assert_eq!(spare(), 0, "the second log file is in use already");
    // 20 records of ~4 KB: past 64 KiB. The commit loop switches files
    // right after the commit that crossed it, before it takes the next
    // write, which therefore lands in the second file.
    for i in 0..20 {
        caller
            .set("checkpoint", &format!("k{i}"), json!("y".repeat(4000)))
            .await
            .expect("set");
    }
    caller
        .set("checkpoint", "after", json!(true))
        .await
        .expect("set");
    assert!(spare() > 0, "no checkpoint: the second log file is empty");
}

/// A worker of its own connection that registered `function_id`; returns
/// once the engine has taken the registration (a later call on the same
/// socket was answered).
async fn worker(engine: &Engine, function_id: &str) -> (Client, Invocations) {
    let worker = Client::connect(&engine.ws_url(), Some(TOKEN))
        .await
        .expect("connect the worker");
    let invocations = worker
        .register_function(function_id)
        .await
        .expect("register");
    worker.get("barrier", "k").await.expect("a round trip");
    (worker, invocations)
}

async fn next(invocations: &mut Invocations) -> statewell_client::Invocation {
    tokio::time::timeout(PATIENCE, invocations.next())
        .await
        .expect("the engine forwarded nothing")
        .expect("the invocations ended")
}

/// --invocation-timeout 250ms: a call its worker never answers fails with
/// the engine's `invocation_timeout` (the caller's own timeout is 60 s).
async fn check_invocation_timeout(engine: &Engine, caller: &Client) -> Client {
    let (worker, mut invocations) = worker(engine, "slow::never").await;
    match caller.call("slow::never", json!({"n": 1})).await {
        Err(ClientError::Engine { code, message }) => {
            assert_eq!(code, "invocation_timeout", "{message}");
            assert!(message.contains("250 ms"), "{message}");
        }
        other => panic!("expected invocation_timeout, got {other:?}"),
    }
    assert_eq!(next(&mut invocations).await.data, json!({"n": 1}));
    worker
}

/// --trigger-retries 1 and --trigger-retry-backoff 1s: a handler that always
/// fails is tried twice for one event, the second time no sooner than the
/// backoff after the first failure (a lower bound the engine guarantees:
/// it starts waiting only once it has the failure), then the event counts
/// as failed after one retry (the default would retry three times).
async fn check_trigger_retries_and_backoff(
    engine: &Engine,
    caller: &Client,
    http: &Http,
) -> Client {
    let (worker, mut invocations) = worker(engine, "fail::always").await;
    worker
        .register_trigger(
            "t-fail",
            "state",
            "fail::always",
            json!({"scope": "retried"}),
        )
        .await
        .expect("register the trigger");
    caller.set("retried", "k", json!(1)).await.expect("set");
    let failure = json!({"code": "failing_on_purpose", "message": "always fails"});
    let first = next(&mut invocations).await;
    assert_eq!(first.data["new_value"], json!(1));
    worker
        .respond(&first, Err(failure.clone()))
        .await
        .expect("answer");
    let failed_at = Instant::now();
    let second = next(&mut invocations).await;
    assert!(failed_at.elapsed() >= BACKOFF, "{:?}", failed_at.elapsed());
    assert_eq!(second.data, first.data);
    worker.respond(&second, Err(failure)).await.expect("answer");

    let failed = "statewell_trigger_events_total{outcome=\"failed\"}";
    let text = metrics_until(http, |text| metric(text, failed) == 1.0).await;
    assert_eq!(
        metric(&text, "statewell_trigger_retries_total"),
        1.0,
        "{text}"
    );
    worker
}

/// --reconnect-grace 3600s: a trigger outlives its worker's connection and
/// keeps the events committed meanwhile for the worker that takes it over
/// (with no grace it would go with the connection, and the event with it).
async fn check_reconnect_grace(engine: &Engine, caller: &Client, http: &Http) {
    let config = json!({"scope": "kept"});
    let (gone, _invocations) = worker(engine, "kept::seen").await;
    gone.register_trigger("t-kept", "state", "kept::seen", config.clone())
        .await
        .expect("register the trigger");
    let before = metrics(http).await;
    let connected = metric(&before, "statewell_workers_connected");
    gone.close(PATIENCE).await;
    drop(gone);
    let text = metrics_until(http, |text| {
        metric(text, "statewell_workers_connected") < connected
    })
    .await;
    assert_eq!(
        metric(&text, "statewell_triggers"),
        metric(&before, "statewell_triggers"),
        "the trigger went with its worker: {text}"
    );

    caller
        .set("kept", "k", json!("while away"))
        .await
        .expect("set");
    let (back, mut invocations) = worker(engine, "kept::seen").await;
    back.register_trigger("t-kept", "state", "kept::seen", config)
        .await
        .expect("take the trigger over");
    let event = next(&mut invocations).await;
    assert_eq!(
        event.data["new_value"],
        json!("while away"),
        "{}",
        event.data
    );
    back.respond(&event, Ok(None)).await.expect("answer");
}

async fn metrics(http: &Http) -> String {
    let reply = http.get("/metrics").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    match reply.body {
        Value::String(text) => text,
        other => panic!("/metrics is not text: {other}"),
    }
}

/// `/metrics` once `done` holds (polled a bounded number of times: what it
/// waits for happens at once, and the bound only ends a failing run).
async fn metrics_until(http: &Http, done: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    for _ in 0..1500 {
        text = metrics(http).await;
        if done(&text) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("/metrics never got there: {text}");
}

/// The value of one series (0 when it is not shown).
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}
