//! Functions registered by one worker and invoked by another, over real
//! sockets to an in-process engine.

mod ws_support;

use std::time::Duration;

use serde_json::{Value, json};
use statewell_server::ServerConfig;
use tokio::sync::mpsc;
use ws_support::{Raw, TestServer, Worker, eventually};

async fn add(data: Value) -> Result<Value, Value> {
    let a = data["a"].as_i64().unwrap_or_default();
    let b = data["b"].as_i64().unwrap_or_default();
    Ok(json!({ "sum": a + b }))
}

#[tokio::test]
async fn a_call_is_routed_to_the_owner_and_the_result_relayed() {
    let server = TestServer::start().await;
    let owner = Worker::connect(&server.url()).await;
    owner.register("math::add", add);
    owner.sync().await;

    let mut caller = Raw::ready(&server.url()).await;
    let reply = caller.call("math::add", json!({"a": 2, "b": 3})).await;
    assert_eq!(reply["type"], "invocationresult");
    assert_eq!(reply["function_id"], "math::add");
    assert_eq!(reply["result"], json!({"sum": 5}));

    // A worker may call its own function through the engine as well.
    let own = owner.call("math::add", json!({"a": 1, "b": 1})).await;
    assert_eq!(own["result"], json!({"sum": 2}));
}

#[tokio::test]
async fn many_concurrent_calls_each_get_their_own_answer() {
    let server = TestServer::start().await;
    let owner = Worker::connect(&server.url()).await;
    owner.register("math::add", |data: Value| async move {
        // Answer out of order.
        let delay = data["a"].as_u64().unwrap_or_default() % 7;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        add(data).await
    });
    owner.sync().await;
    let caller = std::sync::Arc::new(Worker::connect(&server.url()).await);
    let mut calls = Vec::new();
    for i in 0..200i64 {
        let caller = std::sync::Arc::clone(&caller);
        calls.push(tokio::spawn(async move {
            let reply = caller.call("math::add", json!({"a": i, "b": 1000})).await;
            assert_eq!(reply["result"]["sum"], i + 1000, "{reply}");
        }));
    }
    for call in calls {
        call.await.expect("call task");
    }
}

#[tokio::test]
async fn errors_from_the_handler_are_relayed_as_they_are() {
    let server = TestServer::start().await;
    let owner = Worker::connect(&server.url()).await;
    owner.register("orders::fail", |_| async {
        Err(json!({"code": "order_invalid", "message": "no items", "stacktrace": "at f"}))
    });
    owner.sync().await;
    let mut caller = Raw::ready(&server.url()).await;
    let reply = caller.call("orders::fail", json!({})).await;
    assert_eq!(
        reply["error"],
        json!({"code": "order_invalid", "message": "no items", "stacktrace": "at f"})
    );
    assert!(reply.get("result").is_none());
}

#[tokio::test]
async fn void_calls_are_forwarded_without_a_reply() {
    let server = TestServer::start().await;
    let owner = Worker::connect(&server.url()).await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    owner.register("log::write", move |data: Value| {
        let seen_tx = seen_tx.clone();
        async move {
            let _ = seen_tx.send(data);
            Ok(json!("ignored"))
        }
    });
    owner.sync().await;
    let mut caller = Raw::ready(&server.url()).await;
    caller
        .send(
            &json!({"type":"invokefunction","invocation_id":"void-1","function_id":"log::write",
            "data":{"line":1},"action":{"type":"void"}}),
        )
        .await;
    caller
        .send(&json!({"type":"invokefunction","function_id":"log::write","data":{"line":2}}))
        .await;
    let mut lines = vec![
        seen.recv().await.expect("first")["line"].clone(),
        seen.recv().await.expect("second")["line"].clone(),
    ];
    lines.sort_by_key(|v| v.as_i64());
    assert_eq!(lines, vec![json!(1), json!(2)]);
    // No reply came for either: the next frame answers the next call.
    let reply = caller.call("state::list_groups", json!({})).await;
    assert_eq!(reply["function_id"], "state::list_groups");
}

#[tokio::test]
async fn a_call_that_takes_too_long_is_answered_with_a_timeout() {
    let config = ServerConfig {
        invocation_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let owner = Worker::connect(&server.url()).await;
    owner.register("slow::never", |_| {
        std::future::pending::<Result<Value, Value>>()
    });
    owner.sync().await;
    let mut caller = Raw::ready(&server.url()).await;
    let reply = caller.call("slow::never", json!({})).await;
    assert_eq!(reply["error"]["code"], "invocation_timeout", "{reply}");
    assert_eq!(reply["function_id"], "slow::never");
}

#[tokio::test]
async fn the_owner_disconnecting_mid_call_fails_the_call_clearly() {
    let server = TestServer::start().await;
    let owner = Worker::connect(&server.url()).await;
    let mut started = owner.register_hanging("slow::hang");
    owner.sync().await;
    let caller = Worker::connect(&server.url()).await;
    let call = tokio::spawn(async move {
        let reply = caller.call("slow::hang", json!({})).await;
        (caller, reply)
    });
    started.recv().await.expect("the handler started");
    owner.crash();
    let (caller, reply) = call.await.expect("call task");
    assert_eq!(reply["error"]["code"], "worker_disconnected", "{reply}");
    // Its functions went with it.
    let after = caller.call("slow::hang", json!({})).await;
    assert_eq!(after["error"]["code"], "function_not_found", "{after}");
}

#[tokio::test]
async fn unregistered_functions_are_not_found() {
    let server = TestServer::start().await;
    let owner = Worker::connect(&server.url()).await;
    owner.register("math::add", add);
    owner.sync().await;
    let mut caller = Raw::ready(&server.url()).await;
    assert!(
        caller
            .call("math::add", json!({"a":1,"b":2}))
            .await
            .get("result")
            .is_some()
    );
    owner.send(json!({"type":"unregisterfunction","id":"math::add"}));
    owner.sync().await;
    let reply = caller.call("math::add", json!({})).await;
    assert_eq!(reply["error"]["code"], "function_not_found");
}

#[tokio::test]
async fn the_newest_registration_wins_and_the_previous_one_takes_over_when_it_leaves() {
    let server = TestServer::start().await;
    let first = Worker::connect(&server.url()).await;
    first.register("who", |_| async { Ok(json!("first")) });
    first.sync().await;
    let second = Worker::connect(&server.url()).await;
    second.register("who", |_| async { Ok(json!("second")) });
    second.sync().await;
    let mut caller = Raw::ready(&server.url()).await;
    assert_eq!(caller.call("who", json!({})).await["result"], "second");
    second.close().await;
    let mut answer = Value::Null;
    for _ in 0..1000 {
        answer = caller.call("who", json!({})).await["result"].clone();
        if answer == "first" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(answer, "first");
}

#[tokio::test]
async fn engine_functions_cannot_be_taken_over() {
    let server = TestServer::start().await;
    let worker = Worker::connect(&server.url()).await;
    worker.register("state::get", |_| async { Ok(json!("hijacked")) });
    worker.sync().await;
    worker
        .call("state::set", json!({"scope":"g","key":"k","value":"real"}))
        .await;
    let reply = worker
        .call("state::get", json!({"scope":"g","key":"k"}))
        .await;
    assert_eq!(reply["result"], "real");
}

#[tokio::test]
async fn a_worker_that_stops_reading_is_disconnected_not_buffered_forever() {
    let config = ServerConfig {
        outgoing_queue_per_connection: 16,
        max_in_flight_per_connection: 8,
        // Probes forwarded to the sleeper before it is cut off time out.
        invocation_timeout: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    // Registers a function, then never reads another frame.
    let mut sleeper = Raw::ready(&server.url()).await;
    sleeper
        .send(&json!({"type":"registerfunction","id":"sleepy::f"}))
        .await;
    let mut caller = Raw::ready(&server.url()).await;
    assert!(
        caller
            .call("state::list_groups", json!({}))
            .await
            .get("result")
            .is_some()
    );
    let payload = "p".repeat(64 * 1024);
    let mut disconnected = false;
    for _ in 0..500 {
        for _ in 0..20 {
            caller
                .send(&json!({"type":"invokefunction","function_id":"sleepy::f",
                    "data":{"blob":payload},"action":{"type":"void"}}))
                .await;
        }
        let probe = caller.call("sleepy::f", json!({})).await;
        let code = probe["error"]["code"].clone();
        if code == "function_not_found" || code == "worker_disconnected" {
            disconnected = true;
            break;
        }
    }
    assert!(
        disconnected,
        "the engine kept queueing frames for a worker that does not read"
    );
    eventually("only the caller is left", || {
        server.app.shutdown.active_connections() == 1
    })
    .await;
    drop(sleeper);
}

#[tokio::test]
async fn an_empty_function_id_cannot_be_registered() {
    let server = TestServer::start().await;
    let mut owner = Raw::ready(&server.url()).await;
    owner
        .send(&json!({"type":"registerfunction","id":""}))
        .await;
    // Read in order: once this is answered, the registration was handled.
    owner.call("state::list_groups", json!({})).await;

    let mut caller = Raw::ready(&server.url()).await;
    let reply = caller.call("", json!({})).await;
    assert_eq!(reply["error"]["code"], "function_not_found", "{reply}");
}

#[tokio::test]
async fn a_result_too_large_to_relay_fails_its_call_at_once() {
    let config = ServerConfig {
        max_frame_bytes: 64 * 1024,
        // The caller must not be left waiting for the timeout.
        invocation_timeout: Duration::from_secs(3600),
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let owner = Worker::connect(&server.url()).await;
    // Above the frame limit, below twice it (beyond that the owner's socket
    // is closed and the call fails `worker_disconnected`).
    owner.register("big::result", |_| async {
        Ok(json!("r".repeat(100 * 1024)))
    });
    owner.register("small::result", |_| async { Ok(json!("ok")) });
    owner.sync().await;

    let mut caller = Raw::ready(&server.url()).await;
    let reply = caller.call("big::result", json!({})).await;
    assert_eq!(reply["error"]["code"], "result_too_large", "{reply}");
    assert_eq!(reply["function_id"], "big::result", "{reply}");

    // The owner stays connected and serves its other calls.
    let reply = caller.call("small::result", json!({})).await;
    assert_eq!(reply["result"], "ok", "{reply}");
}
