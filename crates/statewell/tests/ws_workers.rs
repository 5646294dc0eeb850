//! Functions and state triggers between workers, against the real binary:
//! two and more workers over real sockets.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use common::Engine;
use serde_json::{Value, json};
use statewell_conformance::ws::{Raw, Worker, next, recorder};
use tokio::sync::mpsc;

#[tokio::test]
async fn calls_are_routed_between_workers_and_void_calls_get_no_reply() {
    let engine = Engine::start(&[]);
    let owner = Worker::connect(&engine.ws_url()).await;
    owner.register("math::double", |data: Value| async move {
        Ok(json!(data["n"].as_i64().unwrap_or_default() * 2))
    });
    let mut seen = recorder(&owner, "log::line");
    owner.sync().await;

    let mut caller = Raw::ready(&engine.ws_url()).await;
    let reply = caller.call("math::double", json!({"n": 21})).await;
    assert_eq!(reply["result"], 42);
    assert_eq!(reply["function_id"], "math::double");

    caller
        .send(
            &json!({"type":"invokefunction","invocation_id":"v","function_id":"log::line",
            "data":{"text":"hello"},"action":{"type":"void"}}),
        )
        .await;
    assert_eq!(next(&mut seen).await["text"], "hello");
    let after = caller.call("state::list_groups", json!({})).await;
    assert_eq!(
        after["function_id"], "state::list_groups",
        "a void call was answered"
    );
}

#[tokio::test]
async fn a_call_fails_clearly_when_its_owner_disconnects() {
    let engine = Engine::start(&[]);
    let owner = Worker::connect(&engine.ws_url()).await;
    let mut started = owner.register_hanging("slow::hang");
    owner.sync().await;
    let caller = Worker::connect(&engine.ws_url()).await;
    let call = tokio::spawn(async move { caller.call("slow::hang", json!({})).await });
    started.recv().await.expect("handler started");
    owner.crash();
    let reply = call.await.expect("call task");
    assert_eq!(reply["error"]["code"], "worker_disconnected", "{reply}");
}

#[tokio::test]
async fn triggers_filter_order_retry_and_survive_a_reconnect() {
    let engine = Engine::start(&[]);
    let worker = Worker::connect(&engine.ws_url()).await;
    let mut scoped = recorder(&worker, "on::orders");
    let mut keyed = recorder(&worker, "on::o1");
    worker.register("cond::big", |event: Value| async move {
        Ok(json!(
            event["new_value"]["total"].as_i64().unwrap_or_default() >= 100
        ))
    });
    let mut big = recorder(&worker, "on::big");
    let failures = Arc::new(AtomicU32::new(0));
    let (flaky_tx, mut flaky) = mpsc::unbounded_channel();
    let counter = Arc::clone(&failures);
    worker.register("on::flaky", move |event: Value| {
        let counter = Arc::clone(&counter);
        let flaky_tx = flaky_tx.clone();
        async move {
            if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                return Err(json!({"code":"flaky","message":"not yet"}));
            }
            let _ = flaky_tx.send(event);
            Ok(Value::Null)
        }
    });
    worker.register_trigger("t-orders", "on::orders", json!({"scope":"orders"}));
    worker.register_trigger("t-o1", "on::o1", json!({"scope":"orders","key":"o-1"}));
    worker.register_trigger(
        "t-big",
        "on::big",
        json!({"condition_function_id":"cond::big"}),
    );
    worker.register_trigger("t-flaky", "on::flaky", json!({"scope":"flaky"}));
    worker.sync().await;

    let mut writer = Raw::ready(&engine.ws_url()).await;
    writer
        .call(
            "state::set",
            json!({"scope":"orders","key":"o-2","value":{"total":5}}),
        )
        .await;
    writer
        .call(
            "state::set",
            json!({"scope":"orders","key":"o-1","value":{"total":150}}),
        )
        .await;
    writer
        .call("state::set", json!({"scope":"flaky","key":"f","value":1}))
        .await;

    assert_eq!(next(&mut scoped).await["key"], "o-2");
    assert_eq!(next(&mut scoped).await["key"], "o-1");
    let o1 = next(&mut keyed).await;
    assert_eq!(
        o1,
        json!({"type":"state","event_type":"state:created","scope":"orders","key":"o-1",
            "old_value":null,"new_value":{"total":150}})
    );
    // Only the order of 150 passed the condition.
    assert_eq!(next(&mut big).await["key"], "o-1");
    // Failed twice, delivered on the third attempt.
    assert_eq!(next(&mut flaky).await["new_value"], 1);
    assert_eq!(failures.load(Ordering::SeqCst), 3);

    // 1,000 rapid updates of one key arrive in commit order.
    let pipelined = Arc::new(Worker::connect(&engine.ws_url()).await);
    let mut calls = Vec::new();
    for _ in 0..1000 {
        let pipelined = Arc::clone(&pipelined);
        calls.push(tokio::spawn(async move {
            pipelined
                .call(
                    "state::update",
                    json!({"scope":"orders","key":"o-1",
                    "ops":[{"type":"increment","path":"total","by":1}]}),
                )
                .await
        }));
    }
    for call in calls {
        assert!(call.await.expect("call").get("result").is_some());
    }
    for expected in 151..=1150 {
        assert_eq!(next(&mut keyed).await["new_value"]["total"], expected);
    }

    // A short disconnect: events raised meanwhile are delivered after it.
    // The round trip first makes sure the engine has the acknowledgement of
    // the last event: one still queued when the socket drops is delivered
    // again after the reconnect (at least once), ahead of the new events.
    worker.sync().await;
    worker.crash();
    writer
        .call(
            "state::set",
            json!({"scope":"orders","key":"o-1","value":{"total":-1}}),
        )
        .await;
    writer
        .call("state::delete", json!({"scope":"orders","key":"o-1"}))
        .await;
    let back = Worker::connect(&engine.ws_url()).await;
    let mut keyed = recorder(&back, "on::o1");
    back.register_trigger("t-o1", "on::o1", json!({"scope":"orders","key":"o-1"}));
    let while_away = next(&mut keyed).await;
    assert_eq!(while_away["event_type"], "state:updated");
    assert_eq!(while_away["new_value"], json!({"total":-1}));
    let deleted = next(&mut keyed).await;
    assert_eq!(deleted["event_type"], "state:deleted");
    assert_eq!(deleted["new_value"], Value::Null);
}

/// An empty function id is refused by the client with `invalid_argument`
/// before anything is sent (the engine ignores one sent anyway, see the
/// server's `ws_functions` tests).
#[tokio::test]
async fn the_client_refuses_an_empty_function_id() {
    let engine = Engine::start(&[]);
    let client = engine.client().await;
    match client.register_function("").await.map(|_| ()) {
        Err(error) => assert_eq!(error.code(), "invalid_argument", "{error}"),
        Ok(()) => panic!("an empty function id was taken"),
    }
    // The connection is as usable as before.
    client.get("g", "k").await.expect("round trip");
}
