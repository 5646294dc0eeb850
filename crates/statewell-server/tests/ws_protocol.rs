//! The worker protocol's state functions and framing, over a real socket to
//! an in-process engine.

mod ws_support;

use futures::SinkExt;
use serde_json::{Value, json};
use statewell_server::ServerConfig;
use tokio_tungstenite::tungstenite::Message;
use ws_support::{Raw, TestServer};

fn is_uuid(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())
}

#[tokio::test]
async fn greets_with_workerregistered_first() {
    let server = TestServer::start().await;
    let mut raw = Raw::connect(&server.url()).await;
    let first = raw.recv().await;
    assert_eq!(first["type"], "workerregistered");
    assert!(is_uuid(&first["worker_id"]), "{first}");
    assert!(is_uuid(&first["reattach_token"]), "{first}");
}

#[tokio::test]
async fn accepts_frames_sent_before_reading_the_greeting() {
    let server = TestServer::start().await;
    let mut raw = Raw::connect(&server.url()).await;
    raw.send(
        &json!({"type":"invokefunction","invocation_id":"a","function_id":"state::set",
        "data":{"scope":"g","key":"k","value":1}}),
    )
    .await;
    assert_eq!(raw.recv().await["type"], "workerregistered");
    let reply = raw.recv().await;
    assert_eq!(reply["invocation_id"], "a");
    assert_eq!(reply["result"], json!({"old_value": null, "new_value": 1}));
}

#[tokio::test]
async fn register_is_void_and_metadata_kept() {
    let server = TestServer::start().await;
    let mut raw = Raw::ready(&server.url()).await;
    raw.send(
        &json!({"type":"invokefunction","function_id":"engine::workers::register",
        "data":{"runtime":"node","version":"0.22.1","name":"w","os":"linux","pid":1,"telemetry":{}},
        "action":{"type":"void"}}),
    )
    .await;
    // The next frame is the reply to the next call: register got none.
    let reply = raw.call("state::get", json!({"scope":"g","key":"k"})).await;
    assert_eq!(reply["function_id"], "state::get");
}

#[tokio::test]
async fn state_functions_have_the_exact_result_shapes() {
    let server = TestServer::start().await;
    let mut raw = Raw::ready(&server.url()).await;

    let set = raw
        .call(
            "state::set",
            json!({"scope":"orders","key":"o-1","value":{"n":1}}),
        )
        .await;
    assert_eq!(
        set,
        json!({"type":"invocationresult","invocation_id":set["invocation_id"],"function_id":"state::set",
            "result":{"old_value":null,"new_value":{"n":1}}})
    );
    let set = raw
        .call(
            "state::set",
            json!({"scope":"orders","key":"o-1","value":{"n":2}}),
        )
        .await;
    assert_eq!(
        set["result"],
        json!({"old_value":{"n":1},"new_value":{"n":2}})
    );

    let get = raw
        .call("state::get", json!({"scope":"orders","key":"o-1"}))
        .await;
    assert_eq!(get["result"], json!({"n":2}));
    let missing = raw
        .call("state::get", json!({"scope":"orders","key":"nope"}))
        .await;
    assert!(missing.get("result").is_none(), "{missing}");
    assert!(missing.get("error").is_none(), "{missing}");

    let update = raw
        .call(
            "state::update",
            json!({"scope":"orders","key":"o-1",
            "ops":[{"type":"increment","path":"n","by":5}]}),
        )
        .await;
    assert_eq!(
        update["result"],
        json!({"old_value":{"n":2},"new_value":{"n":7}})
    );
    assert!(update["result"].get("errors").is_none());
    let failed_op = raw
        .call(
            "state::update",
            json!({"scope":"orders","key":"o-1",
            "ops":[{"type":"set","path":"s","value":"x"},{"type":"increment","path":"s","by":1}]}),
        )
        .await;
    let errors = &failed_op["result"]["errors"];
    assert_eq!(errors[0]["op_index"], 1, "{failed_op}");
    assert_eq!(errors[0]["code"], "increment.not_number");
    assert_eq!(failed_op["result"]["new_value"], json!({"n":7,"s":"x"}));

    raw.call(
        "state::set",
        json!({"scope":"orders","key":"o-0","value":"zero"}),
    )
    .await;
    let list = raw.call("state::list", json!({"scope":"orders"})).await;
    assert_eq!(list["result"], json!(["zero", {"n":7,"s":"x"}]));
    let empty = raw.call("state::list", json!({"scope":"unknown"})).await;
    assert_eq!(empty["result"], json!([]));

    raw.call(
        "state::set",
        json!({"scope":"carts","key":"c","value":true}),
    )
    .await;
    let groups = raw.call("state::list_groups", json!({})).await;
    assert_eq!(groups["result"], json!({"groups":["carts","orders"]}));

    let page = raw
        .call("state::list_items", json!({"scope":"orders","limit":1}))
        .await;
    assert_eq!(page["result"]["items"][0]["key"], "o-0");
    assert_eq!(page["result"]["items"][0]["value"], "zero");
    assert!(page["result"]["items"][0]["version"].is_u64());
    assert_eq!(page["result"]["next"], "o-0");
    let last = raw
        .call("state::list_items", json!({"scope":"orders","after":"o-0"}))
        .await;
    assert_eq!(last["result"]["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(last["result"]["next"], Value::Null);

    let deleted = raw
        .call("state::delete", json!({"scope":"orders","key":"o-0"}))
        .await;
    assert_eq!(deleted["result"], "zero");
    let again = raw
        .call("state::delete", json!({"scope":"orders","key":"o-0"}))
        .await;
    assert!(
        again.get("result").is_none() && again.get("error").is_none(),
        "{again}"
    );

    let cleared = raw.call("state::clear", json!({"scope":"orders"})).await;
    assert_eq!(cleared["result"], json!({"deleted":1}));
    let groups = raw.call("state::list_groups", json!({})).await;
    assert_eq!(groups["result"], json!({"groups":["carts"]}));
}

#[tokio::test]
async fn null_is_a_value_and_data_is_an_alias_and_extra_fields_are_ignored() {
    let server = TestServer::start().await;
    let mut raw = Raw::ready(&server.url()).await;
    raw.call("state::set", json!({"scope":"g","key":"n","value":null}))
        .await;
    let get = raw.call("state::get", json!({"scope":"g","key":"n"})).await;
    assert_eq!(get.get("result"), Some(&Value::Null), "{get}");

    let set = raw
        .call(
            "state::set",
            json!({"scope":"g","key":"d","data":[1,2],"extra":"ignored"}),
        )
        .await;
    assert_eq!(set["result"]["new_value"], json!([1, 2]));
    raw.send(
        &json!({"type":"invokefunction","invocation_id":"x","function_id":"state::get",
        "data":{"scope":"g","key":"d"},"unknown_envelope_field":1}),
    )
    .await;
    assert_eq!(raw.recv().await["result"], json!([1, 2]));
}

#[tokio::test]
async fn errors_have_stable_codes_and_clear_messages() {
    let server = TestServer::start().await;
    let mut raw = Raw::ready(&server.url()).await;

    let unknown = raw.call("orders::nope", json!({})).await;
    assert_eq!(unknown["error"]["code"], "function_not_found");
    assert_eq!(
        unknown["error"]["message"],
        "Function orders::nope not found in namespace default."
    );
    let unknown_state = raw.call("state::nope", json!({})).await;
    assert_eq!(unknown_state["error"]["code"], "function_not_found");

    let missing = raw.call("state::get", json!({"scope":"g"})).await;
    assert_eq!(missing["error"]["code"], "deserialization_error");
    let message = missing["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("state::get") && message.contains("missing field `key`"),
        "{message}"
    );

    let bad_op = raw
        .call(
            "state::update",
            json!({"scope":"g","key":"k","ops":[{"type":"bogus"}]}),
        )
        .await;
    assert_eq!(bad_op["error"]["code"], "deserialization_error");
    let message = bad_op["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("unknown variant `bogus`"), "{message}");
    // The text of a tree's error: no position in the frame.
    assert!(!message.contains("line 1 column"), "{message}");
    let unchanged = raw.call("state::get", json!({"scope":"g","key":"k"})).await;
    assert!(
        unchanged.get("result").is_none(),
        "failed update wrote: {unchanged}"
    );

    let not_string = raw.call("state::get", json!({"scope":"g","key":5})).await;
    assert_eq!(not_string["error"]["code"], "deserialization_error");
    assert!(
        not_string["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("`key`")
    );

    let ops_not_array = raw
        .call("state::update", json!({"scope":"g","key":"k","ops":{}}))
        .await;
    assert_eq!(ops_not_array["error"]["code"], "deserialization_error");

    let empty_scope = raw
        .call("state::set", json!({"scope":"","key":"k","value":1}))
        .await;
    assert_eq!(empty_scope["error"]["code"], "invalid_argument");
    assert!(
        empty_scope["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("scope")
    );
    let empty_key = raw.call("state::get", json!({"scope":"g","key":""})).await;
    assert_eq!(empty_key["error"]["code"], "invalid_argument");
    assert!(
        empty_key["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("key")
    );

    let too_big = "x".repeat(1024 * 1024 + 1);
    let large = raw
        .call("state::set", json!({"scope":"g","key":"k","value":too_big}))
        .await;
    assert_eq!(large["error"]["code"], "value_too_large");
}

#[tokio::test]
async fn void_and_id_less_calls_run_without_reply() {
    let server = TestServer::start().await;
    let mut raw = Raw::ready(&server.url()).await;
    raw.send(
        &json!({"type":"invokefunction","invocation_id":"v1","function_id":"state::set",
        "data":{"scope":"g","key":"a","value":1},"action":{"type":"void"}}),
    )
    .await;
    raw.send(&json!({"type":"invokefunction","function_id":"state::set",
        "data":{"scope":"g","key":"b","value":2}}))
        .await;
    // Void calls to unknown functions and malformed void calls: no reply either.
    raw.send(&json!({"type":"invokefunction","function_id":"nope::nope"}))
        .await;
    raw.send(
        &json!({"type":"invokefunction","function_id":"state::get","data":{},
        "action":{"type":"void"},"invocation_id":"v2"}),
    )
    .await;
    let mut values = Vec::new();
    for key in ["a", "b"] {
        // Void calls run concurrently: wait until each write is visible.
        loop {
            let reply = raw.call("state::get", json!({"scope":"g","key":key})).await;
            assert_ne!(reply["invocation_id"], "v1");
            assert_ne!(reply["invocation_id"], "v2");
            if let Some(value) = reply.get("result") {
                values.push(value.clone());
                break;
            }
        }
    }
    assert_eq!(values, vec![json!(1), json!(2)]);
}

#[tokio::test]
async fn malformed_frames_get_errors_and_the_connection_stays_usable() {
    let server = TestServer::start().await;
    let mut raw = Raw::ready(&server.url()).await;

    raw.send_text(r#"{"type":"invokefunction","invocation_id":"broken-1","function_id":"state::get","data":{"#)
        .await;
    let reply = raw.recv().await;
    assert_eq!(reply["invocation_id"], "broken-1");
    assert_eq!(reply["error"]["code"], "deserialization_error");

    raw.send(&json!({"type":"invokefunction","invocation_id":"not-a-uuid","function_id":7}))
        .await;
    let reply = raw.recv().await;
    assert_eq!(reply["invocation_id"], "not-a-uuid");
    assert_eq!(reply["error"]["code"], "deserialization_error");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("function_id")
    );

    raw.send(&json!({"invocation_id":"no-type"})).await;
    let reply = raw.recv().await;
    assert_eq!(reply["invocation_id"], "no-type");
    assert_eq!(reply["error"]["code"], "deserialization_error");

    raw.send(&json!({"type":"whatisthis","invocation_id":42}))
        .await;
    let reply = raw.recv().await;
    assert_eq!(reply["invocation_id"], 42);
    assert_eq!(reply["error"]["code"], "deserialization_error");

    // Frames nobody can answer are dropped without closing anything.
    raw.send_text("not json at all").await;
    raw.send_text("[1,2,3]").await;
    raw.send(&json!({"type":"registerservice","id":"svc"}))
        .await;
    raw.send(&json!({"type":"registerfunction","id":"svc::f"}))
        .await;
    raw.send(&json!({"type":"registertrigger","id":"t","trigger_type":"state","function_id":"svc::f","config":{}}))
        .await;
    raw.send(&json!({"type":"unregistertrigger","id":"t"}))
        .await;
    raw.send(&json!({"type":"unregisterfunction","id":"svc::f"}))
        .await;
    raw.send(&json!({"type":"invocationresult","invocation_id":"unknown","result":1}))
        .await;

    let get = raw
        .call(
            "state::set",
            json!({"scope":"g","key":"k","value":"still here"}),
        )
        .await;
    assert_eq!(get["result"]["new_value"], "still here");
}

#[tokio::test]
async fn unsupported_trigger_types_are_refused_with_a_registration_result() {
    let server = TestServer::start().await;
    let mut raw = Raw::ready(&server.url()).await;
    raw.send(&json!({"type":"registertrigger","id":"t1","trigger_type":"cron","function_id":"f","config":{}}))
        .await;
    let refused = raw.recv().await;
    assert_eq!(refused["type"], "triggerregistrationresult");
    assert_eq!(refused["id"], "t1");
    assert_eq!(refused["trigger_type"], "cron");
    assert_eq!(refused["function_id"], "f");
    assert_eq!(refused["error"]["code"], "trigger_type_not_found");

    raw.send(&json!({"type":"registertrigger","id":"t2","trigger_type":"state","function_id":"f","config":{"scope":5}}))
        .await;
    let refused = raw.recv().await;
    assert_eq!(refused["id"], "t2");
    assert_eq!(refused["error"]["code"], "deserialization_error");
}

#[tokio::test]
async fn oversized_frames_are_refused_and_the_connection_survives() {
    let config = ServerConfig {
        max_frame_bytes: 4096,
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let mut raw = Raw::ready(&server.url()).await;
    let big = "y".repeat(5000);
    raw.send(
        &json!({"type":"invokefunction","invocation_id":"big","function_id":"state::set",
        "data":{"scope":"g","key":"k","value":big}}),
    )
    .await;
    let reply = raw.recv().await;
    assert_eq!(reply["invocation_id"], "big");
    assert_eq!(reply["error"]["code"], "frame_too_large");
    let ok = raw
        .call("state::set", json!({"scope":"g","key":"k","value":"small"}))
        .await;
    assert_eq!(ok["result"]["new_value"], "small");

    // Far beyond the limit the socket is closed with 1009 (message too big).
    let huge = "z".repeat(200_000);
    raw.send(
        &json!({"type":"invokefunction","invocation_id":"huge","function_id":"state::set",
        "data":{"scope":"g","key":"k","value":huge}}),
    )
    .await;
    loop {
        match raw.next_message().await {
            Some(Message::Close(Some(frame))) => {
                assert_eq!(u16::from(frame.code), 1009);
                break;
            }
            Some(Message::Close(None)) | None => panic!("closed without a reason"),
            Some(_) => continue,
        }
    }
}

#[tokio::test]
async fn replies_far_larger_than_the_frame_limit_are_delivered() {
    let server = TestServer::start().await;
    let mut raw = Raw::ready(&server.url()).await;
    let value = "v".repeat(900 * 1024);
    for i in 0..7 {
        let set = raw
            .call(
                "state::set",
                json!({"scope":"big","key":format!("k{i}"),"value":value}),
            )
            .await;
        assert!(set.get("result").is_some(), "set {i} failed");
    }
    // About 6.3 MB in one reply: above the 2 MiB frame limit and its 4 MiB
    // hard cap, which bound what the engine reads, not what it writes.
    let list = raw.call("state::list", json!({"scope":"big"})).await;
    let values = list["result"].as_array().expect("an array");
    assert_eq!(values.len(), 7);
    assert!(values.iter().all(|v| v.as_str() == Some(value.as_str())));
}

#[tokio::test]
async fn many_requests_in_flight_are_all_answered() {
    let server = TestServer::start().await;
    let mut raw = Raw::ready(&server.url()).await;
    const N: usize = 2000;
    for i in 0..N {
        let frame = json!({"type":"invokefunction","invocation_id":format!("id-{i}"),
            "function_id":"state::update",
            "data":{"scope":"g","key":"counter","ops":[{"type":"increment","path":"n","by":1}]}});
        raw.socket
            .feed(Message::text(frame.to_string()))
            .await
            .expect("feed");
    }
    raw.socket.flush().await.expect("flush");
    let mut seen = std::collections::HashSet::new();
    for _ in 0..N {
        let reply = raw.recv().await;
        assert!(reply.get("error").is_none(), "{reply}");
        assert!(
            seen.insert(
                reply["invocation_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            )
        );
    }
    assert_eq!(seen.len(), N);
    let total = raw
        .call("state::get", json!({"scope":"g","key":"counter"}))
        .await;
    assert_eq!(total["result"], json!({"n": N}));
}

#[tokio::test]
async fn pings_are_answered() {
    let server = TestServer::start().await;
    let mut raw = Raw::ready(&server.url()).await;
    raw.socket
        .send(Message::Ping(b"hello".to_vec().into()))
        .await
        .expect("ping");
    assert_eq!(raw.await_pong().await, b"hello");
}

#[tokio::test]
async fn otel_socket_is_accepted_and_discarded() {
    let server = TestServer::start().await;
    let mut otel = Raw::connect(&format!("ws://{}/otel", server.addr)).await;
    otel.send_text("anything").await;
    otel.socket
        .send(Message::Binary(vec![0u8, 1, 2].into()))
        .await
        .expect("send");
    // Still open: a ping is answered.
    otel.socket
        .send(Message::Ping(b"p".to_vec().into()))
        .await
        .expect("ping");
    loop {
        match otel.next_message().await {
            Some(Message::Pong(_)) => break,
            Some(Message::Text(text)) => panic!("otel answered: {text}"),
            Some(_) => continue,
            None => panic!("socket ended"),
        }
    }
}

#[tokio::test]
async fn shutdown_finishes_in_flight_work_then_closes_sockets() {
    let mut server = TestServer::start().await;
    let mut raw = Raw::ready(&server.url()).await;
    let mut otel = Raw::connect(&format!("ws://{}/otel", server.addr)).await;
    for i in 0..100 {
        let frame = json!({"type":"invokefunction","invocation_id":format!("s-{i}"),
            "function_id":"state::set","data":{"scope":"g","key":format!("k{i}"),"value":i}});
        raw.socket
            .feed(Message::text(frame.to_string()))
            .await
            .expect("feed");
    }
    raw.socket.flush().await.expect("flush");
    // Shut down once the engine is busy with them.
    let first = raw.recv().await;
    assert!(first.get("result").is_some(), "{first}");
    server.shut_down();
    let mut answered = 1;
    let close = loop {
        match raw.next_message().await {
            Some(Message::Text(text)) => {
                let reply: Value = serde_json::from_str(text.as_str()).expect("json");
                // Requests read before shutdown complete; later ones are refused.
                assert!(
                    reply.get("result").is_some() || reply["error"]["code"] == "unavailable",
                    "{reply}"
                );
                answered += 1;
            }
            Some(Message::Close(frame)) => break frame,
            Some(_) => continue,
            None => panic!("socket ended without a close frame"),
        }
    };
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1001));
    // Frames still unread when the last in-flight request finished may go
    // unanswered; none may be answered twice.
    assert!(answered <= 100, "{answered} replies to 100 requests");
    let served = server.served.take().expect("serve task");
    let result = tokio::time::timeout(ws_support::PATIENCE, served)
        .await
        .expect("serve returned after shutdown")
        .expect("serve task");
    assert!(result.is_ok());
    // The telemetry socket was closed too.
    loop {
        match otel.socket.next().await {
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => continue,
        }
    }
}

use futures::StreamExt;

#[tokio::test]
async fn a_binary_frame_that_is_not_utf8_is_answered_when_its_id_is_readable() {
    let server = TestServer::start().await;
    let mut raw = Raw::ready(&server.url()).await;
    let mut bytes = br#"{"type":"invokefunction","invocation_id":"binary-1","function_id":"state::get","data":{"scope":"g","key":""#.to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    bytes.extend_from_slice(br#""}}"#);
    raw.socket.send(Message::binary(bytes)).await.expect("send");
    let reply = raw.recv().await;
    assert_eq!(reply["invocation_id"], "binary-1", "{reply}");
    assert_eq!(reply["error"]["code"], "deserialization_error", "{reply}");

    // Binary frames holding UTF-8 JSON are served, and the socket is usable.
    let text =
        json!({"type":"invokefunction","invocation_id":"binary-2","function_id":"state::set",
        "data":{"scope":"g","key":"k","value":1}})
        .to_string();
    raw.socket
        .send(Message::binary(text.into_bytes()))
        .await
        .expect("send");
    let reply = raw.recv().await;
    assert_eq!(reply["invocation_id"], "binary-2", "{reply}");
    assert_eq!(reply["result"]["new_value"], 1, "{reply}");
}

#[tokio::test]
async fn a_text_frame_that_is_not_utf8_closes_the_socket_with_1007() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

    let server = TestServer::start().await;
    let mut raw = Raw::ready(&server.url()).await;
    let mut bytes = br#"{"type":"invokefunction","invocation_id":"t","function_id":"state::get","data":{"scope":"g","key":""#.to_vec();
    bytes.push(0xff);
    bytes.extend_from_slice(br#""}}"#);
    let frame = Frame::message(bytes, OpCode::Data(Data::Text), true);
    raw.socket.send(Message::Frame(frame)).await.expect("send");
    loop {
        match raw.next_message().await {
            Some(Message::Close(Some(frame))) => {
                assert_eq!(u16::from(frame.code), 1007, "{frame:?}");
                break;
            }
            Some(Message::Close(None)) | None => panic!("closed without a code"),
            Some(_) => continue,
        }
    }
}
