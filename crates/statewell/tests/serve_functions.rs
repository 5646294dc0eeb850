//! `statewell serve`'s settings of functions and triggers between workers:
//! `--invocation-timeout`, `--trigger-retries`, `--trigger-retry-backoff`,
//! `--reconnect-grace` (and their environment variables), through the real
//! binary. That each takes effect, with every other setting, is in
//! `serve_settings.rs`.

mod common;

use std::time::Duration;

use common::{Engine, Finished, finish, statewell};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use statewell_client::ClientError;
use tokio_tungstenite::tungstenite::Message;

/// The variables of the settings under test; a developer's shell must not
/// leak them into the engine.
const ENGINE_VARS: [&str; 4] = [
    "STATEWELL_INVOCATION_TIMEOUT",
    "STATEWELL_TRIGGER_RETRIES",
    "STATEWELL_TRIGGER_RETRY_BACKOFF",
    "STATEWELL_RECONNECT_GRACE",
];

/// `serve` with these flags and variables; asserts it refused to start.
fn refused(args: &[&str], env: &[(&str, &str)]) -> Finished {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = statewell();
    for var in ENGINE_VARS {
        command.env_remove(var);
    }
    command
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--store", "memory", "--data"])
        .arg(dir.path().join("data"))
        .args(args)
        .envs(env.iter().copied());
    let done = finish(command, Duration::from_secs(30));
    assert!(!done.status.success(), "serve {args:?} {env:?} started");
    assert!(
        !done.stdout.contains("listening on"),
        "serve {args:?} {env:?} printed {}",
        done.stdout
    );
    done
}

/// A worker on a raw socket that registers `function_id` and then reads
/// (and never answers) what the engine forwards to it.
struct SilentWorker {
    invocations: tokio::sync::mpsc::UnboundedReceiver<Value>,
    _reader: tokio::task::JoinHandle<()>,
}

impl SilentWorker {
    async fn start(url: &str, function_id: &str) -> SilentWorker {
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect the worker");
        let register = json!({"type": "registerfunction", "id": function_id});
        socket
            .send(Message::text(register.to_string()))
            .await
            .expect("send registerfunction");
        // A round trip on the same socket: once it is answered, the
        // registration (read before it) is in place.
        let barrier = json!({"type": "invokefunction", "invocation_id": "barrier",
            "function_id": "state::get", "data": {"scope": "g", "key": "k"}});
        socket
            .send(Message::text(barrier.to_string()))
            .await
            .expect("send the barrier");
        loop {
            let frame = next_frame(&mut socket).await;
            if frame["type"] == "invocationresult" && frame["invocation_id"] == "barrier" {
                break;
            }
        }
        let (tx, invocations) = tokio::sync::mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            loop {
                let frame = next_frame(&mut socket).await;
                if frame["type"] == "invokefunction" && tx.send(frame).is_err() {
                    return;
                }
            }
        });
        SilentWorker {
            invocations,
            _reader: reader,
        }
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("the engine went silent")
            .expect("the engine closed the socket")
            .expect("socket error");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("frames are JSON");
        }
    }
}

#[tokio::test]
async fn a_call_nobody_answers_fails_with_invocation_timeout_after_the_flag() {
    let engine = Engine::start(&["--store", "memory", "--invocation-timeout", "1s"]);
    let mut worker = SilentWorker::start(&engine.ws_url(), "slow::never").await;
    // The client's own timeout is far longer: the error must be the engine's.
    let caller = engine.client().await.with_timeout(Duration::from_secs(60));

    let outcome = caller.call("slow::never", json!({"n": 1})).await;
    match outcome {
        Err(ClientError::Engine { code, message }) => {
            assert_eq!(code, "invocation_timeout", "{message}");
            assert!(message.contains("1000 ms"), "{message}");
        }
        other => panic!("expected invocation_timeout, got {other:?}"),
    }
    // The call did reach the worker: the timeout is not a routing failure.
    let forwarded = worker.invocations.recv().await.expect("forwarded call");
    assert_eq!(forwarded["function_id"], "slow::never");
    assert_eq!(forwarded["data"], json!({"n": 1}));
}

#[tokio::test]
async fn the_invocation_timeout_can_come_from_the_environment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = Engine::start_with_env(
        &dir.path().join("data"),
        &["--store", "memory"],
        &[("STATEWELL_INVOCATION_TIMEOUT", "1500ms")],
    );
    let _worker = SilentWorker::start(&engine.ws_url(), "slow::env").await;
    let caller = engine.client().await.with_timeout(Duration::from_secs(60));
    match caller.call("slow::env", json!({})).await {
        Err(ClientError::Engine { code, message }) => {
            assert_eq!(code, "invocation_timeout", "{message}");
            assert!(message.contains("1500 ms"), "{message}");
        }
        other => panic!("expected invocation_timeout, got {other:?}"),
    }
}

#[test]
fn bad_values_are_refused_at_start_naming_the_flag_and_the_range() {
    let cases: [(&str, &str, &str); 9] = [
        ("--invocation-timeout", "0s", "between 10ms and 1h"),
        ("--invocation-timeout", "2h", "between 10ms and 1h"),
        ("--invocation-timeout", "soon", "expected a duration"),
        ("--trigger-retries", "101", "between 0 and 100"),
        ("--trigger-retries", "-1", "whole number"),
        ("--trigger-retry-backoff", "0ms", "between 1ms and 10s"),
        ("--trigger-retry-backoff", "11s", "between 1ms and 10s"),
        ("--reconnect-grace", "3601s", "between 0s and 1h"),
        ("--reconnect-grace", "15", "expected a duration"),
    ];
    for (flag, value, expect) in cases {
        let arg = format!("{flag}={value}");
        let done = refused(&[&arg], &[]);
        assert!(done.stderr.contains(flag), "{arg}: {}", done.stderr);
        assert!(done.stderr.contains(expect), "{arg}: {}", done.stderr);
    }
}

#[test]
fn bad_values_from_the_environment_are_refused_too() {
    let cases = [
        ("STATEWELL_INVOCATION_TIMEOUT", "forever"),
        ("STATEWELL_TRIGGER_RETRIES", "many"),
        ("STATEWELL_TRIGGER_RETRY_BACKOFF", "60s"),
        ("STATEWELL_RECONNECT_GRACE", "-1s"),
    ];
    for (var, value) in cases {
        let done = refused(&[], &[(var, value)]);
        assert!(
            done.stderr.contains(value),
            "{var}={value}: {}",
            done.stderr
        );
    }
}
