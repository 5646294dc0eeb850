//! One slow or failing worker is one incident in the log, not a line per
//! event or per frame: the engine warns once when it starts, counts what
//! follows, and (for triggers) reports the count when it ends.

mod common;

use std::time::Duration;

use common::{Engine, Logs};
use futures::SinkExt;
use serde_json::{Value, json};
use statewell_conformance::ws::{Raw, Worker};
use tokio_tungstenite::tungstenite::Message;

/// A bound on waiting for something that must happen, not a timing claim.
const PATIENCE: Duration = Duration::from_secs(30);

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Polls `/metrics` until `series` reads `value`.
async fn wait_for_metric(engine: &Engine, series: &str, value: f64) {
    let url = format!("{}/metrics", engine.http_url());
    let started = std::time::Instant::now();
    loop {
        let text = reqwest::get(&url)
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        if metric(&text, series) == Some(value) {
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{series} never reached {value}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stops the engine and returns its whole log.
fn stop(mut engine: Engine, logs: &Logs) {
    let status = engine.signal_and_wait("TERM");
    assert!(status.success(), "{status:?}");
    logs.wait_for_the_end();
}

/// A trigger handler that fails every event: one warning when it starts
/// failing and one error when it first gives an event up, however many
/// events fail after that.
#[tokio::test]
async fn a_failing_trigger_handler_is_one_warning_not_one_per_event() {
    const EVENTS: usize = 30;
    let (engine, logs) =
        Engine::start_logged(&["--trigger-retries", "1", "--trigger-retry-backoff", "1ms"]);
    let worker = Worker::connect(&engine.ws_url()).await;
    worker.register("logs::fails", |_event: Value| async move {
        Err(json!({"code": "broken", "message": "always"}))
    });
    worker.register_trigger("t-fails", "logs::fails", json!({"scope": "logs"}));
    worker.sync().await;

    let mut writer = Raw::ready(&engine.ws_url()).await;
    for n in 0..EVENTS {
        writer
            .call(
                "state::set",
                json!({"scope": "logs", "key": format!("k{n}"), "value": n}),
            )
            .await;
    }
    wait_for_metric(
        &engine,
        "statewell_trigger_events_total{outcome=\"failed\"}",
        EVENTS as f64,
    )
    .await;
    stop(engine, &logs);

    let retrying = logs.matching("trigger handler failed; retrying");
    assert_eq!(retrying.len(), 1, "{retrying:#?}");
    let given_up = logs.matching("trigger handler failed after every retry");
    assert_eq!(given_up.len(), 1, "{given_up:#?}");
}

/// A worker that stops reading while calls keep being forwarded to it: one
/// warning when its queue overflows (it is disconnected), not one per frame
/// refused after that.
#[tokio::test]
async fn a_worker_that_stops_reading_is_one_warning_not_one_per_frame() {
    const CALLS: usize = 2000;
    let (engine, logs) = Engine::start_logged(&[]);
    let mut sink = Raw::ready(&engine.ws_url()).await;
    sink.send(&json!({"type": "registerfunction", "id": "logs::sink"}))
        .await;
    // Answered once the registration was read; from here on the sink
    // reads nothing.
    sink.call("state::list_groups", json!({})).await;

    let mut caller = Raw::ready(&engine.ws_url()).await;
    let padding = "p".repeat(8 * 1024);
    for n in 0..CALLS {
        let frame = json!({"type": "invokefunction", "invocation_id": format!("c{n}"),
            "function_id": "logs::sink", "data": {"n": n, "padding": padding},
            "action": {"type": "void"}});
        caller
            .socket
            .feed(Message::text(frame.to_string()))
            .await
            .expect("send");
    }
    caller.socket.flush().await.expect("flush");
    // Only the caller is left.
    wait_for_metric(&engine, "statewell_workers_connected", 1.0).await;
    drop(sink);
    stop(engine, &logs);

    let warned = logs.matching("not reading its frames");
    assert_eq!(warned.len(), 1, "{warned:#?}");
}
