//! SIGTERM drains rather than cuts off: requests the engine has read before
//! the signal are answered with their result, requests arriving after
//! shutdown began are answered `unavailable`, and the process exits 0 with
//! nothing acknowledged lost (docs/PROTOCOL.md, "Shutdown").

mod common;

use std::process::Command;
use std::time::Duration;

use common::Engine;
use common::raw_http::RawHttp;
use futures::future::join_all;
use serde_json::{Value, json};
use statewell_client::{Client, ClientError, Invocation, UpdateOp};

/// A bound on waiting for something that must happen, not a timing claim.
const PATIENCE: Duration = Duration::from_secs(20);

/// Sends a signal without waiting for the exit (the test keeps talking to
/// the engine while it drains).
fn send_signal(engine: &Engine, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), engine.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} failed");
}

/// Waits for the engine's exit without hanging the suite.
async fn exit_status(mut engine: Engine) -> std::process::ExitStatus {
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = engine.child.try_wait().expect("poll engine") {
                return status;
            }
            assert!(started.elapsed() < PATIENCE * 2, "the engine did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .expect("join")
}

/// Probes `client` until the engine answers `unavailable`: from then on its
/// connection is draining.
async fn wait_until_draining(client: &Client) {
    let started = std::time::Instant::now();
    loop {
        match client.get("probe", "k").await {
            Ok(_) => {}
            Err(ClientError::Engine { code, .. }) if code == "unavailable" => return,
            Err(other) => panic!("probe failed before the drain answered: {other:?}"),
        }
        assert!(started.elapsed() < PATIENCE, "shutdown never began");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn next_invocation(invocations: &mut statewell_client::Invocations) -> Invocation {
    tokio::time::timeout(PATIENCE, invocations.next())
        .await
        .expect("no invocation forwarded")
        .expect("invocation stream open")
}

/// A worker calls its own slow function through the engine; the calls are in
/// flight (forwarded) when SIGTERM arrives and are answered only once the
/// drain has begun. Each caller still gets its result, a call made during
/// the drain gets `unavailable`, and the engine exits 0.
#[tokio::test]
async fn calls_in_flight_at_sigterm_get_their_results() {
    let engine = Engine::start(&["--store", "memory"]);
    let worker = engine.client().await.with_timeout(PATIENCE * 2);
    let mut invocations = worker
        .register_function("drain::slow")
        .await
        .expect("register");
    // Registration is read before this round trip on the same socket.
    worker.get("probe", "k").await.expect("round trip");

    const CALLS: usize = 3;
    let calls: Vec<_> = (0..CALLS)
        .map(|n| {
            let worker = worker.clone();
            tokio::spawn(async move { worker.call("drain::slow", json!({"n": n})).await })
        })
        .collect();
    // Every call has reached the function: the engine read them all.
    let mut held = Vec::new();
    for _ in 0..CALLS {
        held.push(next_invocation(&mut invocations).await);
    }

    send_signal(&engine, "TERM");
    wait_until_draining(&worker).await;

    for invocation in &held {
        let n = invocation.data["n"].clone();
        worker
            .respond(invocation, Ok(Some(json!({"doubled": n}))))
            .await
            .expect("answer");
    }
    for (n, call) in calls.into_iter().enumerate() {
        let reply = call.await.expect("join");
        assert_eq!(
            reply.expect("an in-flight call was cut off"),
            Some(json!({"doubled": n})),
            "call {n}"
        );
    }
    let status = exit_status(engine).await;
    assert!(status.success(), "{status:?}");
}

/// A connection held open through the drain by a call to its own function
/// that is answered only on `release`: the way to watch the drain begin
/// without depending on any other connection staying open.
struct Sentinel {
    client: Client,
    held: Invocation,
    call: tokio::task::JoinHandle<Result<Option<Value>, ClientError>>,
}

impl Sentinel {
    async fn start(engine: &Engine, name: &str) -> Sentinel {
        let client = engine.client().await.with_timeout(PATIENCE * 2);
        let function_id = format!("drain::sentinel::{name}");
        let mut invocations = client
            .register_function(&function_id)
            .await
            .expect("register");
        client.get("probe", "k").await.expect("round trip");
        let call = {
            let client = client.clone();
            tokio::spawn(async move { client.call(&function_id, json!({})).await })
        };
        let held = next_invocation(&mut invocations).await;
        Sentinel { client, held, call }
    }

    async fn release(self) {
        self.client
            .respond(&self.held, Ok(Some(json!("released"))))
            .await
            .expect("answer the sentinel");
        let reply = self.call.await.expect("join");
        assert_eq!(reply.expect("sentinel call"), Some(json!("released")));
    }
}

/// The same with the function served by another worker: the owner's
/// connection must stay open while calls forwarded to it are pending.
#[tokio::test]
async fn calls_forwarded_to_another_worker_at_sigterm_get_their_results() {
    let engine = Engine::start(&["--store", "memory"]);
    let sentinel = Sentinel::start(&engine, "forwarded").await;
    let owner = engine.client().await;
    let mut invocations = owner
        .register_function("drain::slow")
        .await
        .expect("register");
    owner.get("probe", "k").await.expect("round trip");
    let caller = engine.client().await.with_timeout(PATIENCE * 2);

    let call = {
        let caller = caller.clone();
        tokio::spawn(async move { caller.call("drain::slow", json!({"n": 7})).await })
    };
    let invocation = next_invocation(&mut invocations).await;

    send_signal(&engine, "TERM");
    wait_until_draining(&sentinel.client).await;
    // The owner's connection is draining but still reads this answer.
    owner
        .respond(&invocation, Ok(Some(json!(14))))
        .await
        .expect("answer");

    let reply = call.await.expect("join");
    assert_eq!(
        reply.expect("the forwarded call was cut off"),
        Some(json!(14))
    );
    sentinel.release().await;
    let status = exit_status(engine).await;
    assert!(status.success(), "{status:?}");
}

fn increment() -> Vec<UpdateOp> {
    serde_json::from_value(json!([{"type": "increment", "path": "n", "by": 1}])).expect("valid ops")
}

/// Many durable writes in flight on several connections at SIGTERM.
///
/// Each connection sends its writes, then calls a marker function of its
/// own: once the marker reaches the function, the engine has read every
/// write before it (a connection's frames are read in order). Then SIGTERM.
/// The marker is answered only after the drain has begun, so each
/// connection is still open and draining: writes sent then are answered
/// `unavailable`. Every write read before the signal gets its result, the
/// engine exits 0, and after a restart the counter holds exactly the
/// acknowledged increments.
#[tokio::test]
async fn durable_writes_in_flight_are_answered_and_none_acknowledged_is_lost() {
    const CONNECTIONS: usize = 4;
    // Below the engine's 256 requests in flight per connection, so every
    // write is read at once rather than held back in the socket.
    const WRITES: usize = 200;
    const LATE: usize = 20;

    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let engine = Engine::start_on(&data, &[]);
    let ops = increment();

    let mut workers = Vec::new();
    for n in 0..CONNECTIONS {
        let client = engine.client().await.with_timeout(PATIENCE * 2);
        let marker_id = format!("drain::marker::{n}");
        let markers = client
            .register_function(&marker_id)
            .await
            .expect("register");
        client.get("probe", "k").await.expect("round trip");
        workers.push((client, marker_id, markers));
    }

    // Writes then the marker, queued in this order on each connection
    // (`join_all` polls its futures in order, and each call queues its
    // frame on its first poll). The writes run unconstrained by tokio's
    // cooperative budget: with it, the 129th send of one poll would be put
    // off while the marker went out first on a fresh budget.
    let mut early = Vec::new();
    for (client, marker_id, _) in &workers {
        let client = client.clone();
        let marker_id = marker_id.clone();
        let ops = ops.clone();
        early.push(tokio::spawn(async move {
            let writes = (0..WRITES).map(|_| {
                let client = client.clone();
                let ops = ops.clone();
                async move {
                    let outcome = client.update("drain", "counter", &ops).await;
                    (outcome, std::time::Instant::now())
                }
            });
            let writes = tokio::task::unconstrained(join_all(writes));
            let marker = client.call(&marker_id, json!({}));
            futures::join!(writes, marker)
        }));
    }
    let mut held = Vec::new();
    for (_, _, markers) in &mut workers {
        held.push(next_invocation(markers).await);
    }

    let signalled = std::time::Instant::now();
    send_signal(&engine, "TERM");
    for (client, _, _) in &workers {
        wait_until_draining(client).await;
    }
    // Arriving after shutdown began: answered `unavailable`, not run.
    for (client, _, _) in &workers {
        let late = join_all((0..LATE).map(|_| client.update("drain", "counter", &ops))).await;
        for outcome in late {
            match outcome {
                Err(ClientError::Engine { code, .. }) if code == "unavailable" => {}
                other => panic!("a write during the drain got {other:?}"),
            }
        }
    }
    for ((client, _, _), marker) in workers.iter().zip(&held) {
        client
            .respond(marker, Ok(Some(json!("done"))))
            .await
            .expect("answer marker");
    }

    let mut acknowledged = 0usize;
    let mut after_signal = 0usize;
    for task in early {
        let (writes, marker) = task.await.expect("join");
        assert_eq!(marker.expect("marker call"), Some(json!("done")));
        for (outcome, at) in writes {
            let updated = outcome.expect("a write read before the signal was not answered");
            assert!(updated.errors.is_empty(), "{updated:?}");
            acknowledged += 1;
            if at > signalled {
                after_signal += 1;
            }
        }
    }
    assert_eq!(acknowledged, CONNECTIONS * WRITES);
    // A figure, not an assertion: how many were still in flight at the signal.
    eprintln!("{after_signal} of {acknowledged} writes were answered after SIGTERM was sent");

    let status = exit_status(engine).await;
    assert!(status.success(), "{status:?}");

    let restarted = Engine::start_on(&data, &[]);
    let counter = restarted
        .client()
        .await
        .get("drain", "counter")
        .await
        .expect("get")
        .expect("the counter exists");
    assert_eq!(counter, json!({"n": acknowledged}));
}

/// Clients holding unfinished HTTP requests — the head half sent, a chunked
/// body that never ends, a body shorter than its `Content-Length` — do not
/// hold off SIGTERM: once the drain timeout has passed the engine exits 0
/// and the data directory's lock is released (a new engine opens it). The
/// read timeouts are set far beyond the test, so the drain is what ends
/// these connections.
#[tokio::test]
async fn unfinished_http_requests_do_not_keep_the_engine_alive() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let engine = Engine::start_on(
        &data,
        &[
            "--drain-timeout",
            "1s",
            "--header-read-timeout",
            "3600s",
            "--body-read-timeout",
            "3600s",
        ],
    );
    let path = "/v1/groups/drain/items/unfinished";
    let unfinished = [
        format!("PUT {path} HTTP/1.1\r\nHost: engine\r\nContent-Le"),
        format!(
            "PUT {path} HTTP/1.1\r\nHost: engine\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\n\r\n5\r\n{{\"a\":\r\n"
        ),
        format!(
            "PUT {path} HTTP/1.1\r\nHost: engine\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\n\r\n{{\"a\":"
        ),
    ];
    let mut clients = Vec::new();
    for request in &unfinished {
        let mut client = RawHttp::connect(&engine.addr).await;
        // A whole request first: the engine has accepted this connection
        // and serves it, so the unfinished one is read by the engine.
        assert_eq!(client.get("/healthz").await.status, 200);
        client.send(request.as_bytes()).await;
        clients.push(client);
    }

    send_signal(&engine, "TERM");
    let status = exit_status(engine).await;
    assert!(status.success(), "{status:?}");
    for client in &mut clients {
        client.closed_by_engine().await;
    }

    // The lock is released; none of the unfinished writes was applied.
    let restarted = Engine::start_on(&data, &[]);
    let item = restarted
        .client()
        .await
        .get("drain", "unfinished")
        .await
        .expect("get");
    assert_eq!(item, None);
}
