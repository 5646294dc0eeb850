//! State triggers across workers, over real sockets to an in-process engine.

mod ws_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use statewell_server::ServerConfig;
use tokio::sync::mpsc;
use ws_support::{Raw, TestServer, Worker, eventually, next, recorder};

/// Events until (and including) the one for `scope`/`key` whose new value
/// is `sentinel`. Triggers deliver in commit order, so this is everything
/// the trigger got up to that write.
async fn until(rx: &mut mpsc::UnboundedReceiver<Value>, sentinel: &Value) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let event = next(rx).await;
        let done = &event["new_value"] == sentinel;
        events.push(event);
        if done {
            return events;
        }
    }
}

fn keys(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["scope"].as_str().unwrap_or("?"),
                e["key"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

#[tokio::test]
async fn events_carry_the_exact_payload_for_each_kind_of_change() {
    let server = TestServer::start().await;
    let worker = Worker::connect(&server.url()).await;
    let mut events = recorder(&worker, "on::orders");
    worker.register_trigger("t-orders", "on::orders", json!({"scope": "orders"}));
    worker.sync().await;

    let mut writer = Raw::ready(&server.url()).await;
    writer
        .call(
            "state::set",
            json!({"scope":"orders","key":"o-1","value":{"n":1}}),
        )
        .await;
    writer
        .call(
            "state::update",
            json!({"scope":"orders","key":"o-1","ops":[{"type":"increment","path":"n","by":1}]}),
        )
        .await;
    writer
        .call("state::delete", json!({"scope":"orders","key":"o-1"}))
        .await;
    assert_eq!(
        next(&mut events).await,
        json!({"type":"state","event_type":"state:created","scope":"orders","key":"o-1",
            "old_value":null,"new_value":{"n":1}})
    );
    assert_eq!(
        next(&mut events).await,
        json!({"type":"state","event_type":"state:updated","scope":"orders","key":"o-1",
            "old_value":{"n":1},"new_value":{"n":2}})
    );
    assert_eq!(
        next(&mut events).await,
        json!({"type":"state","event_type":"state:deleted","scope":"orders","key":"o-1",
            "old_value":{"n":2},"new_value":null})
    );

    // clear: one state:deleted per item.
    writer
        .call("state::set", json!({"scope":"orders","key":"a","value":1}))
        .await;
    writer
        .call("state::set", json!({"scope":"orders","key":"b","value":2}))
        .await;
    writer.call("state::clear", json!({"scope":"orders"})).await;
    let created: Vec<Value> = vec![next(&mut events).await, next(&mut events).await];
    assert!(created.iter().all(|e| e["event_type"] == "state:created"));
    let mut deleted = [next(&mut events).await, next(&mut events).await];
    deleted.sort_by_key(|e| e["key"].as_str().map(str::to_owned));
    assert_eq!(deleted[0]["event_type"], "state:deleted");
    assert_eq!(deleted[0]["key"], "a");
    assert_eq!(deleted[0]["old_value"], 1);
    assert_eq!(deleted[1]["key"], "b");
    assert_eq!(deleted[1]["new_value"], Value::Null);
}

#[tokio::test]
async fn filters_by_scope_by_scope_and_key_or_not_at_all() {
    let server = TestServer::start().await;
    let worker = Worker::connect(&server.url()).await;
    let mut by_scope = recorder(&worker, "on::scope");
    let mut by_key = recorder(&worker, "on::key");
    let mut all = recorder(&worker, "on::all");
    worker.register_trigger("t1", "on::scope", json!({"scope":"orders"}));
    worker.register_trigger("t2", "on::key", json!({"scope":"orders","key":"o-1"}));
    worker.register_trigger("t3", "on::all", json!({}));
    worker.sync().await;

    let mut writer = Raw::ready(&server.url()).await;
    for (scope, key, value) in [
        ("orders", "o-1", json!(1)),
        ("orders", "o-2", json!(2)),
        ("carts", "o-1", json!(3)),
        ("orders", "o-1", json!("end")),
    ] {
        writer
            .call("state::set", json!({"scope":scope,"key":key,"value":value}))
            .await;
    }
    let end = json!("end");
    assert_eq!(
        keys(&until(&mut by_scope, &end).await),
        ["orders/o-1", "orders/o-2", "orders/o-1"]
    );
    assert_eq!(
        keys(&until(&mut by_key, &end).await),
        ["orders/o-1", "orders/o-1"]
    );
    assert_eq!(
        keys(&until(&mut all, &end).await),
        ["orders/o-1", "orders/o-2", "carts/o-1", "orders/o-1"]
    );
}

#[tokio::test]
async fn a_condition_returning_false_skips_the_handler() {
    let server = TestServer::start().await;
    let worker = Worker::connect(&server.url()).await;
    worker.register("cond::even", |event: Value| async move {
        Ok(json!(
            event["new_value"].as_i64().is_some_and(|n| n % 2 == 0)
        ))
    });
    let mut events = recorder(&worker, "on::even");
    worker.register_trigger(
        "t",
        "on::even",
        json!({"scope":"numbers","condition_function_id":"cond::even"}),
    );
    worker.sync().await;
    let mut writer = Raw::ready(&server.url()).await;
    for n in 1..=6 {
        writer
            .call("state::set", json!({"scope":"numbers","key":"n","value":n}))
            .await;
    }
    let seen: Vec<Value> = until(&mut events, &json!(6))
        .await
        .into_iter()
        .map(|e| e["new_value"].clone())
        .collect();
    assert_eq!(seen, vec![json!(2), json!(4), json!(6)]);
    eventually("skips counted", || {
        server.app.triggers.stats().skipped.load(Ordering::Relaxed) == 3
    })
    .await;
}

#[tokio::test]
async fn a_failing_condition_is_retried_then_the_event_is_given_up_and_counted() {
    let config = ServerConfig {
        trigger_max_retries: 2,
        trigger_retry_backoff: Duration::from_millis(5),
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let worker = Worker::connect(&server.url()).await;
    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    worker.register("cond::picky", move |event: Value| {
        let counted = Arc::clone(&counted);
        async move {
            if event["new_value"] == "bad" {
                counted.fetch_add(1, Ordering::SeqCst);
                return Err(json!({"code":"cond_failed","message":"cannot decide"}));
            }
            Ok(json!(true))
        }
    });
    let mut events = recorder(&worker, "on::picky");
    worker.register_trigger(
        "t",
        "on::picky",
        json!({"condition_function_id":"cond::picky"}),
    );
    worker.sync().await;
    let mut writer = Raw::ready(&server.url()).await;
    writer
        .call("state::set", json!({"scope":"g","key":"k","value":"bad"}))
        .await;
    writer
        .call("state::set", json!({"scope":"g","key":"k","value":"good"}))
        .await;
    let event = next(&mut events).await;
    // The bad event never reached the handler; the next one still did.
    assert_eq!(event["new_value"], "good");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "one attempt and two retries"
    );
    let stats = server.app.triggers.stats();
    assert_eq!(stats.failed.load(Ordering::Relaxed), 1);
    assert_eq!(stats.retried.load(Ordering::Relaxed), 2);
    let metrics = reqwest::get(format!("http://{}/metrics", server.addr))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body");
    assert!(
        metrics.contains("statewell_trigger_events_total{outcome=\"failed\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("statewell_trigger_retries_total 2\n"),
        "{metrics}"
    );
    assert!(metrics.contains("statewell_triggers 1\n"), "{metrics}");
}

#[tokio::test]
async fn a_failing_handler_is_retried_until_it_succeeds() {
    let config = ServerConfig {
        trigger_retry_backoff: Duration::from_millis(5),
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let worker = Worker::connect(&server.url()).await;
    let attempts = Arc::new(AtomicU32::new(0));
    let (tx, mut events) = mpsc::unbounded_channel();
    let counter = Arc::clone(&attempts);
    worker.register("on::flaky", move |event: Value| {
        let counter = Arc::clone(&counter);
        let tx = tx.clone();
        async move {
            // Fails twice for the first event, then works.
            if event["new_value"] == 1 && counter.fetch_add(1, Ordering::SeqCst) < 2 {
                return Err(json!({"code":"flaky","message":"try again"}));
            }
            let _ = tx.send(event);
            Ok(Value::Null)
        }
    });
    worker.register_trigger("t", "on::flaky", json!({"scope":"g"}));
    worker.sync().await;
    let mut writer = Raw::ready(&server.url()).await;
    writer
        .call("state::set", json!({"scope":"g","key":"k","value":1}))
        .await;
    writer
        .call("state::set", json!({"scope":"g","key":"k","value":2}))
        .await;
    let seen: Vec<Value> = vec![
        next(&mut events).await["new_value"].clone(),
        next(&mut events).await["new_value"].clone(),
    ];
    assert_eq!(
        seen,
        vec![json!(1), json!(2)],
        "retried in place, order kept"
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    assert_eq!(
        server.app.triggers.stats().failed.load(Ordering::Relaxed),
        0
    );
}

#[tokio::test]
async fn a_timed_out_handler_is_retried() {
    let config = ServerConfig {
        invocation_timeout: Duration::from_millis(150),
        trigger_retry_backoff: Duration::from_millis(5),
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let worker = Worker::connect(&server.url()).await;
    let attempts = Arc::new(AtomicU32::new(0));
    let (tx, mut events) = mpsc::unbounded_channel();
    let counter = Arc::clone(&attempts);
    worker.register("on::sleepy", move |event: Value| {
        let counter = Arc::clone(&counter);
        let tx = tx.clone();
        async move {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                std::future::pending::<()>().await;
            }
            let _ = tx.send(event);
            Ok(Value::Null)
        }
    });
    worker.register_trigger("t", "on::sleepy", json!({}));
    worker.sync().await;
    let mut writer = Raw::ready(&server.url()).await;
    writer
        .call("state::set", json!({"scope":"g","key":"k","value":"once"}))
        .await;
    assert_eq!(next(&mut events).await["new_value"], "once");
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn one_thousand_rapid_updates_arrive_in_commit_order() {
    let server = TestServer::start().await;
    let worker = Worker::connect(&server.url()).await;
    let mut events = recorder(&worker, "on::count");
    worker.register_trigger("t", "on::count", json!({"scope":"counters","key":"c"}));
    worker.sync().await;

    let writer = Arc::new(Worker::connect(&server.url()).await);
    // Pipelined: all sent before any reply is read.
    let mut calls = Vec::new();
    for _ in 0..1000 {
        let writer = Arc::clone(&writer);
        calls.push(tokio::spawn(async move {
            writer
                .call(
                    "state::update",
                    json!({"scope":"counters","key":"c",
                    "ops":[{"type":"increment","path":"n","by":1}]}),
                )
                .await
        }));
    }
    for call in calls {
        let reply = call.await.expect("call");
        assert!(reply.get("error").is_none(), "{reply}");
    }
    for expected in 1..=1000 {
        let event = next(&mut events).await;
        assert_eq!(event["new_value"]["n"], expected, "out of order: {event}");
        assert_eq!(
            event["old_value"]["n"],
            if expected == 1 {
                Value::Null
            } else {
                json!(expected - 1)
            }
        );
    }
}

#[tokio::test]
async fn writes_never_wait_for_a_handler() {
    let server = TestServer::start().await;
    let worker = Worker::connect(&server.url()).await;
    worker.register("on::stuck", |_| {
        std::future::pending::<Result<Value, Value>>()
    });
    worker.register_trigger("t", "on::stuck", json!({}));
    worker.sync().await;
    let mut writer = Raw::ready(&server.url()).await;
    for i in 0..200 {
        let reply = writer
            .call(
                "state::set",
                json!({"scope":"g","key":format!("k{i}"),"value":i}),
            )
            .await;
        assert!(reply.get("result").is_some(), "{reply}");
    }
}

#[tokio::test]
async fn events_raised_during_a_short_disconnect_are_delivered_after_it() {
    let server = TestServer::start().await;
    let worker = Worker::connect(&server.url()).await;
    let mut before = recorder(&worker, "on::orders");
    worker.register_trigger("t-fixed-id", "on::orders", json!({"scope":"orders"}));
    worker.sync().await;
    let mut writer = Raw::ready(&server.url()).await;
    writer
        .call("state::set", json!({"scope":"orders","key":"a","value":0}))
        .await;
    assert_eq!(next(&mut before).await["new_value"], 0);

    worker.crash();
    for i in 1..=3 {
        writer
            .call("state::set", json!({"scope":"orders","key":"a","value":i}))
            .await;
    }
    // The worker comes back and registers the same things again.
    let back = Worker::connect(&server.url()).await;
    let mut after = recorder(&back, "on::orders");
    back.register_trigger("t-fixed-id", "on::orders", json!({"scope":"orders"}));
    writer
        .call("state::set", json!({"scope":"orders","key":"a","value":4}))
        .await;
    let seen: Vec<Value> = until(&mut after, &json!(4))
        .await
        .into_iter()
        .map(|e| e["new_value"].clone())
        .collect();
    assert_eq!(seen, vec![json!(1), json!(2), json!(3), json!(4)]);
}

#[tokio::test]
async fn a_reconnecting_worker_with_new_trigger_ids_takes_over_by_config() {
    let server = TestServer::start().await;
    let worker = Worker::connect(&server.url()).await;
    let _ignored = recorder(&worker, "on::orders");
    worker.register_trigger("first-id", "on::orders", json!({"scope":"orders"}));
    worker.sync().await;
    worker.close().await;
    let mut writer = Raw::ready(&server.url()).await;
    writer
        .call(
            "state::set",
            json!({"scope":"orders","key":"a","value":"while away"}),
        )
        .await;
    let back = Worker::connect(&server.url()).await;
    let mut after = recorder(&back, "on::orders");
    back.register_trigger("second-id", "on::orders", json!({"scope":"orders"}));
    assert_eq!(next(&mut after).await["new_value"], "while away");
    back.sync().await;
    assert_eq!(server.app.triggers.len(), 1, "taken over, not duplicated");
}

#[tokio::test]
async fn triggers_of_a_worker_that_does_not_come_back_expire() {
    let config = ServerConfig {
        reconnect_grace: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let worker = Worker::connect(&server.url()).await;
    let _ignored = recorder(&worker, "on::any");
    worker.register_trigger("t", "on::any", json!({}));
    worker.sync().await;
    assert_eq!(server.app.triggers.len(), 1);
    worker.crash();
    let mut writer = Raw::ready(&server.url()).await;
    writer
        .call("state::set", json!({"scope":"g","key":"k","value":"lost"}))
        .await;
    eventually("the trigger expired", || server.app.triggers.is_empty()).await;
    eventually("the undelivered event was counted", || {
        server.app.triggers.stats().dropped.load(Ordering::Relaxed) == 1
    })
    .await;
    // A later registration starts fresh: the expired event is not replayed.
    let back = Worker::connect(&server.url()).await;
    let mut events = recorder(&back, "on::any");
    back.register_trigger("t", "on::any", json!({}));
    back.sync().await;
    writer
        .call("state::set", json!({"scope":"g","key":"k","value":"fresh"}))
        .await;
    assert_eq!(next(&mut events).await["new_value"], "fresh");
}

#[tokio::test]
async fn unregistered_triggers_stop_delivering() {
    let server = TestServer::start().await;
    let worker = Worker::connect(&server.url()).await;
    let mut gone = recorder(&worker, "on::gone");
    let mut kept = recorder(&worker, "on::kept");
    worker.register_trigger("t-gone", "on::gone", json!({}));
    worker.register_trigger("t-kept", "on::kept", json!({}));
    worker.sync().await;
    worker.send(json!({"type":"unregistertrigger","id":"t-gone"}));
    worker.sync().await;
    let mut writer = Raw::ready(&server.url()).await;
    writer
        .call("state::set", json!({"scope":"g","key":"k","value":1}))
        .await;
    assert_eq!(next(&mut kept).await["new_value"], 1);
    assert!(
        gone.try_recv().is_err(),
        "an unregistered trigger delivered"
    );
    assert_eq!(server.app.triggers.len(), 1);
}
