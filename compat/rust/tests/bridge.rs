//! statewell as the state store under an iii engine: the calls of the iii
//! engine's state `bridge` adapter, made with the published Rust `iii-sdk`
//! client against the real statewell binary.
//!
//! The deployment these tests stand for is the one in docs/WITH-III.md,
//! section "Point iii's state worker at statewell": iii's `iii-state` worker
//! configured with `adapter: {name: bridge, config: {bridge_url: ws://...}}`.
//! That adapter holds one client made by `register_worker(bridge_url, ...)`
//! with default options but a worker name, sends every `state::*` call with
//! `trigger` (no action, the default timeout), and reads each answer into
//! the type below: `state::set` into `StreamSetResult`, `state::get` into
//! `Option<Value>`, `state::delete` into nothing (only success counts),
//! `state::update` into `StreamUpdateResult`, `state::list` into
//! `Vec<Value>`, `state::list_groups` into the `groups` field as
//! `Vec<String>`. An answer that does not deserialise fails the user's call
//! inside iii; these tests fail instead.
//!
//! Every test runs once per pinned SDK version (see Cargo.toml): the one the
//! iii 0.23 engine's bridge ships with, and the newest stable.

macro_rules! bridge_suite {
    ($sdk:ident, $helpers:ident) => {
        use ::$helpers::stream::{
            MergePath, StreamSetResult, StreamUpdateResult, UpdateOp, UpdateOpError,
        };
        use ::$sdk::protocol::TriggerRequest;
        use ::$sdk::runtime::{IIIConnectionState, WorkerMetadata};
        use ::$sdk::{IIIClient, InitOptions, register_worker};
        use futures::future::join_all;
        use serde::Serialize;
        use serde_json::{Value, json};
        use statewell_compat_iii_rust::{Engine, eventually};

        /// `data` of `state::set`.
        #[derive(Serialize)]
        struct SetInput<'a> {
            scope: &'a str,
            key: &'a str,
            value: Value,
        }

        /// `data` of `state::get` and `state::delete`.
        #[derive(Serialize)]
        struct ItemInput<'a> {
            scope: &'a str,
            key: &'a str,
        }

        /// `data` of `state::update`: the ops as iii-helpers serialises them.
        #[derive(Serialize)]
        struct UpdateInput<'a> {
            scope: &'a str,
            key: &'a str,
            ops: Vec<UpdateOp>,
        }

        /// `data` of `state::list`.
        #[derive(Serialize)]
        struct ScopeInput<'a> {
            scope: &'a str,
        }

        /// `data` of `state::list_groups`: an empty object.
        #[derive(Serialize)]
        struct NoInput {}

        /// One client, made and used as the bridge adapter makes and uses it.
        struct Bridge {
            client: IIIClient,
        }

        impl Bridge {
            fn connect(url: &str) -> Bridge {
                let options = InitOptions {
                    metadata: Some(WorkerMetadata {
                        name: "iii-state-bridge".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                Bridge {
                    client: register_worker(url, options),
                }
            }

            async fn call(
                &self,
                function_id: &str,
                payload: impl Serialize,
            ) -> Result<Value, ::$sdk::Error> {
                let payload = serde_json::to_value(payload).expect("payload");
                self.client
                    .trigger(TriggerRequest {
                        function_id: function_id.into(),
                        payload,
                        action: None,
                        timeout_ms: None,
                    })
                    .await
            }

            async fn try_set(
                &self,
                scope: &str,
                key: &str,
                value: Value,
            ) -> Result<StreamSetResult, String> {
                let answer = self
                    .call("state::set", SetInput { scope, key, value })
                    .await
                    .map_err(|e| format!("state::set failed: {e}"))?;
                serde_json::from_value(answer)
                    .map_err(|e| format!("state::set's answer is no StreamSetResult: {e}"))
            }

            async fn set(&self, scope: &str, key: &str, value: Value) -> StreamSetResult {
                self.try_set(scope, key, value).await.unwrap_or_else(|e| panic!("{e}"))
            }

            async fn get(&self, scope: &str, key: &str) -> Option<Value> {
                let answer = self
                    .call("state::get", ItemInput { scope, key })
                    .await
                    .expect("state::get");
                serde_json::from_value(answer).expect("state::get's answer is an Option<Value>")
            }

            async fn delete(&self, scope: &str, key: &str) {
                self.call("state::delete", ItemInput { scope, key })
                    .await
                    .expect("state::delete");
            }

            async fn update(
                &self,
                scope: &str,
                key: &str,
                ops: Vec<UpdateOp>,
            ) -> StreamUpdateResult {
                let answer = self
                    .call("state::update", UpdateInput { scope, key, ops })
                    .await
                    .expect("state::update");
                serde_json::from_value(answer)
                    .expect("state::update's answer is a StreamUpdateResult")
            }

            async fn list(&self, scope: &str) -> Vec<Value> {
                let answer = self
                    .call("state::list", ScopeInput { scope })
                    .await
                    .expect("state::list");
                serde_json::from_value(answer).expect("state::list's answer is a Vec<Value>")
            }

            async fn list_groups(&self) -> Vec<String> {
                let answer = self
                    .call("state::list_groups", NoInput {})
                    .await
                    .expect("state::list_groups");
                let groups = answer
                    .get("groups")
                    .cloned()
                    .expect("state::list_groups's answer has a `groups` field");
                serde_json::from_value(groups).expect("`groups` is a Vec<String>")
            }
        }

        impl Drop for Bridge {
            fn drop(&mut self) {
                // Stops the client's connection thread and joins it.
                self.client.shutdown();
            }
        }

        #[tokio::test]
        async fn set_answers_the_old_and_the_new_value() {
            let engine = Engine::start(&[]);
            let bridge = Bridge::connect(&engine.url());

            let first = bridge.set("orders", "o-1", json!({"status": "new", "total": 42})).await;
            // No old value: iii fires state:created.
            assert_eq!(first.old_value, None);
            assert_eq!(first.new_value, json!({"status": "new", "total": 42}));

            let second = bridge.set("orders", "o-1", json!({"status": "paid"})).await;
            assert_eq!(second.old_value, Some(json!({"status": "new", "total": 42})));
            assert_eq!(second.new_value, json!({"status": "paid"}));

            // Values of every JSON type come back as they were stored.
            for (key, value) in [
                ("s", json!("text")),
                ("n", json!(-1.5)),
                ("big", json!(18446744073709551615u64)),
                ("b", json!(true)),
                ("a", json!([1, "two", {"three": 3}])),
            ] {
                assert_eq!(bridge.set("types", key, value.clone()).await.new_value, value);
                assert_eq!(bridge.get("types", key).await, Some(value));
            }
        }

        #[tokio::test]
        async fn get_answers_the_value_or_nothing() {
            let engine = Engine::start(&[]);
            let bridge = Bridge::connect(&engine.url());

            bridge.set("users", "u-1", json!({"name": "Ada"})).await;
            assert_eq!(bridge.get("users", "u-1").await, Some(json!({"name": "Ada"})));
            assert_eq!(bridge.get("users", "nobody").await, None);
            assert_eq!(bridge.get("no-such-scope", "u-1").await, None);

            // A stored null reaches the bridge as `None` too: statewell answers
            // `"result": null` (docs/PROTOCOL.md), and the client reads a null
            // result and an absent one alike.
            bridge.set("users", "u-null", Value::Null).await;
            assert_eq!(bridge.get("users", "u-null").await, None);
            assert_eq!(bridge.list("users").await, vec![json!({"name": "Ada"}), Value::Null]);
        }

        #[tokio::test]
        async fn delete_succeeds_whether_or_not_the_key_exists() {
            let engine = Engine::start(&[]);
            let bridge = Bridge::connect(&engine.url());

            bridge.set("carts", "c-1", json!({"items": 2})).await;
            bridge.set("carts", "c-2", json!({"items": 3})).await;
            bridge.delete("carts", "c-1").await;
            assert_eq!(bridge.get("carts", "c-1").await, None);
            assert_eq!(bridge.list("carts").await, vec![json!({"items": 3})]);
            // Deleting what is not there is no error, as on iii's own store.
            bridge.delete("carts", "c-1").await;
            bridge.delete("no-such-scope", "c-1").await;
            assert_eq!(bridge.get("carts", "c-2").await, Some(json!({"items": 3})));
        }

        #[tokio::test]
        async fn update_applies_every_op_and_reports_the_ones_that_fail() {
            let engine = Engine::start(&[]);
            let bridge = Bridge::connect(&engine.url());

            // A missing key starts from {} and is created.
            let created = bridge
                .update("orders", "o-1", vec![
                    UpdateOp::set("status", Some(json!("new"))),
                    UpdateOp::increment("total", 40),
                ])
                .await;
            assert_eq!(created.old_value, None, "iii fires state:created");
            assert_eq!(created.new_value, json!({"status": "new", "total": 40}));
            assert!(created.errors.is_empty(), "{:?}", created.errors);

            let before = created.new_value.clone();
            let updated = bridge
                .update("orders", "o-1", vec![
                    UpdateOp::increment("total", 10),
                    UpdateOp::decrement("total", 8),
                    UpdateOp::Merge { path: None, value: json!({"paid": true}) },
                    UpdateOp::Merge {
                        path: Some(MergePath::Single("customer".into())),
                        value: json!({"id": "c-7"}),
                    },
                    UpdateOp::Merge {
                        path: Some(MergePath::Segments(vec!["shipping".into(), "address".into()])),
                        value: json!({"city": "Lyon"}),
                    },
                    UpdateOp::set("log", Some(json!([]))),
                    UpdateOp::append("log", json!("paid")),
                    UpdateOp::append("log", json!("shipped")),
                    UpdateOp::Append {
                        path: Some(MergePath::Segments(vec!["shipping".into(), "parcels".into()])),
                        value: json!({"id": 1}),
                    },
                    UpdateOp::append("note", json!("a")),
                    UpdateOp::append("note", json!("b")),
                    UpdateOp::set("status", Some(json!("paid"))),
                    UpdateOp::Set { path: "coupon".into(), value: None },
                    UpdateOp::Remove { path: "coupon".into() },
                    // Fails (a string is not a number); the others still apply.
                    UpdateOp::increment("status", 1),
                ])
                .await;
            assert_eq!(updated.old_value, Some(before));
            assert_eq!(
                updated.new_value,
                json!({
                    "status": "paid",
                    "total": 42,
                    "paid": true,
                    "customer": {"id": "c-7"},
                    "shipping": {"address": {"city": "Lyon"}, "parcels": [{"id": 1}]},
                    "log": ["paid", "shipped"],
                    "note": "ab",
                })
            );
            let codes: Vec<(usize, &str)> = updated
                .errors
                .iter()
                .map(|e: &UpdateOpError| (e.op_index, e.code.as_str()))
                .collect();
            assert_eq!(codes, vec![(14, "increment.not_number")]);
            assert!(!updated.errors[0].message.is_empty());
            assert_eq!(bridge.get("orders", "o-1").await, Some(updated.new_value));

            // No ops: nothing changes, nothing is created.
            let nothing = bridge.update("orders", "o-2", vec![]).await;
            assert_eq!((nothing.old_value, nothing.new_value), (None, Value::Null));
            assert_eq!(bridge.get("orders", "o-2").await, None);
        }

        #[tokio::test]
        async fn list_answers_values_in_key_order_and_list_groups_the_scopes() {
            let engine = Engine::start(&[]);
            let bridge = Bridge::connect(&engine.url());

            assert_eq!(bridge.list_groups().await, Vec::<String>::new());
            for key in ["b", "c", "a"] {
                bridge.set("letters", key, json!({"key": key})).await;
            }
            bridge.set("digits", "1", json!(1)).await;
            assert_eq!(
                bridge.list("letters").await,
                vec![json!({"key": "a"}), json!({"key": "b"}), json!({"key": "c"})]
            );
            assert_eq!(bridge.list("no-such-scope").await, Vec::<Value>::new());
            assert_eq!(bridge.list_groups().await, vec!["digits", "letters"]);

            // A scope whose last item is deleted is no group any more.
            bridge.delete("digits", "1").await;
            assert_eq!(bridge.list_groups().await, vec!["letters"]);
        }

        /// A refused call reaches the bridge as the client's remote error
        /// with statewell's code, which the iii engine puts in the message of
        /// its own error (`SET_ERROR`, `UPDATE_ERROR`, ...).
        #[tokio::test]
        async fn refusals_reach_the_bridge_as_remote_errors_with_their_code() {
            let engine = Engine::start(&["--max-value-bytes", "1024"]);
            let bridge = Bridge::connect(&engine.url());

            let code = |answer: Result<Value, ::$sdk::Error>| match answer {
                Err(::$sdk::Error::Remote { code, message, .. }) => {
                    assert!(!message.is_empty());
                    code
                }
                other => panic!("expected a remote error, got {other:?}"),
            };
            let big = json!("x".repeat(2048));
            let data = SetInput { scope: "limits", key: "k", value: big };
            assert_eq!(code(bridge.call("state::set", data).await), "value_too_large");
            let ops = vec![UpdateOp::set("text", Some(json!("y".repeat(2048))))];
            let data = UpdateInput { scope: "limits", key: "k", ops };
            assert_eq!(code(bridge.call("state::update", data).await), "value_too_large");
            let data = ItemInput { scope: "", key: "k" };
            assert_eq!(code(bridge.call("state::get", data).await), "invalid_argument");
            // Nothing was written by the refused calls.
            assert_eq!(bridge.list_groups().await, Vec::<String>::new());
        }

        #[tokio::test]
        async fn many_calls_in_flight_on_one_connection() {
            let engine = Engine::start(&[]);
            let bridge = Bridge::connect(&engine.url());
            const CALLS: usize = 400;

            // Every call of the iii engine's state worker shares the one
            // bridge client, so they overlap on one socket.
            let sets = (0..CALLS).map(|i| {
                let bridge = &bridge;
                async move { bridge.set("burst", &format!("k{i:04}"), json!({"i": i})).await }
            });
            let increments = (0..CALLS).map(|_| {
                let bridge = &bridge;
                let ops = vec![UpdateOp::increment("hits", 1)];
                async move { bridge.update("burst-counter", "n", ops).await }
            });
            let (sets, increments) = tokio::join!(join_all(sets), join_all(increments));
            assert!(sets.iter().all(|s| s.old_value.is_none()));
            // Each increment saw a distinct count before it: none was lost or doubled.
            let mut seen: Vec<i64> = increments
                .iter()
                .map(|u| u.new_value["hits"].as_i64().expect("a count"))
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (1..=CALLS as i64).collect::<Vec<_>>());
            assert_eq!(bridge.get("burst-counter", "n").await, Some(json!({"hits": CALLS})));
            let listed = bridge.list("burst").await;
            assert_eq!(listed.len(), CALLS);
            assert_eq!(listed[CALLS - 1], json!({"i": CALLS - 1}));
        }

        /// docs/WITH-III.md, "When statewell restarts": the client reconnects
        /// by itself (it retries every 2 s), calls made while statewell is
        /// down are sent once it is back, and every acknowledged write is
        /// still there after a SIGKILL.
        #[tokio::test]
        async fn the_client_reconnects_after_statewell_is_killed_and_restarted() {
            let mut engine = Engine::start(&[]);
            let bridge = Bridge::connect(&engine.url());
            for i in 0..50 {
                bridge.set("durable", &format!("k{i:02}"), json!(i)).await;
            }

            engine.kill();
            eventually("the client to notice the lost connection", 200, || async {
                let state = bridge.client.get_connection_state();
                (state != IIIConnectionState::Connected).then_some(())
            })
            .await;
            // A call made while statewell is down waits for the connection.
            let waiting = async {
                bridge.try_set("durable", "during-restart", json!("queued")).await
            };
            let restart = async {
                // Runs once the call above is queued (it yields at its first await).
                tokio::task::yield_now().await;
                engine.restart();
            };
            let (answered, ()) = tokio::join!(waiting, restart);
            let answered = answered.expect("the call made while statewell was down");
            assert_eq!(answered.old_value, None);

            eventually("the client to reconnect", 400, || async {
                let state = bridge.client.get_connection_state();
                (state == IIIConnectionState::Connected).then_some(())
            })
            .await;
            let listed = bridge.list("durable").await;
            assert_eq!(listed.len(), 51, "every acknowledged write survived the kill");
            assert_eq!(bridge.get("durable", "k49").await, Some(json!(49)));
            assert_eq!(bridge.get("durable", "during-restart").await, Some(json!("queued")));
        }

        /// docs/WITH-III.md, "When statewell restarts": statewell killed in
        /// the middle of a stream of writes. Every write the client saw
        /// acknowledged is there after the restart. A call whose frame was
        /// already sent when statewell died gets no answer, and the client
        /// does not fail it on the disconnect: it fails with `Timeout` once
        /// the call's timeout (30 s by default, the bridge's) has passed, so
        /// this test lasts about that long. At most one call per lane is lost
        /// that way; the lanes' later calls go through after the reconnect.
        #[tokio::test]
        async fn every_acknowledged_write_survives_a_kill_in_the_middle_of_a_write_stream() {
            use std::sync::atomic::{AtomicUsize, Ordering};
            const LANES: usize = 16;
            const WRITES: usize = 40;

            let mut engine = Engine::start(&[]);
            let bridge = Bridge::connect(&engine.url());
            let acknowledged = AtomicUsize::new(0);

            let lanes = (0..LANES).map(|lane| {
                let (bridge, acknowledged) = (&bridge, &acknowledged);
                async move {
                    let mut outcomes = Vec::with_capacity(WRITES);
                    for i in 0..WRITES {
                        let key = format!("l{lane:02}-{i:03}");
                        let value = json!({"lane": lane, "i": i});
                        let data = SetInput { scope: "stream", key: &key, value: value.clone() };
                        let answer = bridge.call("state::set", data).await;
                        if answer.is_ok() {
                            acknowledged.fetch_add(1, Ordering::SeqCst);
                        }
                        outcomes.push((key, value, answer));
                    }
                    outcomes
                }
            });
            let crash = async {
                eventually("a quarter of the writes to be acknowledged", 1200, || async {
                    (acknowledged.load(Ordering::SeqCst) >= LANES * WRITES / 4).then_some(())
                })
                .await;
                // Blocks this thread until the engine listens again; the
                // client's connection runs on a thread of its own.
                engine.restart();
            };
            let (lanes, ()) = tokio::join!(join_all(lanes), crash);

            let mut lost = 0;
            for (key, value, answer) in lanes.into_iter().flatten() {
                match answer {
                    Ok(answer) => {
                        let set: StreamSetResult =
                            serde_json::from_value(answer).expect("a StreamSetResult");
                        assert_eq!(set.new_value, value);
                        let stored = bridge.get("stream", &key).await;
                        assert_eq!(stored, Some(value), "{key} was acknowledged");
                    }
                    Err(::$sdk::Error::Timeout) => lost += 1,
                    Err(other) => panic!("{key}: expected an answer or a timeout, got {other}"),
                }
            }
            assert!(lost <= LANES, "{lost} calls lost, more than one per lane");
            assert_eq!(acknowledged.load(Ordering::SeqCst), LANES * WRITES - lost);
        }

        /// docs/WITH-III.md, "With a token": the bridge cannot send a header,
        /// so its `bridge_url` carries the token and statewell runs with
        /// `--token-in-query`. The `/` before the `?` is needed: without it
        /// the client sends `GET ?access_token=... HTTP/1.1`, which no HTTP
        /// server accepts.
        #[tokio::test]
        async fn a_token_in_the_bridge_url_is_accepted_with_token_in_query() {
            let engine = Engine::start(&["--token", "s3cret-Token_1", "--token-in-query"]);
            let url = format!("{}/?access_token=s3cret-Token_1", engine.url());
            let bridge = Bridge::connect(&url);
            let set = bridge.set("secured", "k", json!({"n": 1})).await;
            assert_eq!((set.old_value, set.new_value), (None, json!({"n": 1})));
            assert_eq!(bridge.get("secured", "k").await, Some(json!({"n": 1})));
        }
    };
}

mod iii_sdk_0_23 {
    bridge_suite!(iii_sdk_0_23, iii_helpers_0_23);
}

mod iii_sdk_0_25 {
    bridge_suite!(iii_sdk_0_25, iii_helpers_0_25);
}
