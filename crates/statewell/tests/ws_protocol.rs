//! The worker protocol of the real `statewell` binary: the exact frames of
//! PROTOCOL.md over a real socket.

mod common;

use common::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use statewell_conformance::ws::Raw;
use tokio_tungstenite::tungstenite::Message;

/// Sends one invocation with a fixed id and returns the whole reply frame.
async fn exchange(raw: &mut Raw, id: &str, function_id: &str, data: Value) -> Value {
    raw.send(
        &json!({"type":"invokefunction","invocation_id":id,"function_id":function_id,"data":data}),
    )
    .await;
    raw.recv().await
}

fn reply(id: &str, function_id: &str, result: Value) -> Value {
    json!({"type":"invocationresult","invocation_id":id,"function_id":function_id,"result":result})
}

fn nothing(id: &str, function_id: &str) -> Value {
    json!({"type":"invocationresult","invocation_id":id,"function_id":function_id})
}

#[tokio::test]
async fn every_state_function_answers_with_the_recorded_frames() {
    let engine = Engine::start(&[]);
    let mut raw = Raw::connect(&engine.ws_url()).await;
    let hello = raw.recv().await;
    assert_eq!(hello["type"], "workerregistered");
    assert!(hello["worker_id"].is_string() && hello["reattach_token"].is_string());
    raw.send(
        &json!({"type":"invokefunction","function_id":"engine::workers::register",
        "data":{"runtime":"rust","version":"0","name":"e2e","os":"linux","pid":1,"telemetry":{}},
        "action":{"type":"void"}}),
    )
    .await;

    let id = "5f0c7c1e-0000-4000-8000-000000000001";
    let set = exchange(
        &mut raw,
        id,
        "state::set",
        json!({"scope":"orders","key":"o-1","value":{"total":10}}),
    )
    .await;
    assert_eq!(
        set,
        reply(
            id,
            "state::set",
            json!({"old_value":null,"new_value":{"total":10}})
        )
    );
    let get = exchange(
        &mut raw,
        id,
        "state::get",
        json!({"scope":"orders","key":"o-1"}),
    )
    .await;
    assert_eq!(get, reply(id, "state::get", json!({"total":10})));
    let missing = exchange(
        &mut raw,
        id,
        "state::get",
        json!({"scope":"orders","key":"none"}),
    )
    .await;
    assert_eq!(missing, nothing(id, "state::get"));
    let update = exchange(&mut raw, id, "state::update", json!({"scope":"orders","key":"o-1",
        "ops":[{"type":"increment","path":"total","by":5},{"type":"set","path":"status","value":"paid"}]}))
        .await;
    assert_eq!(
        update,
        reply(
            id,
            "state::update",
            json!({"old_value":{"total":10},"new_value":{"total":15,"status":"paid"}})
        )
    );
    let list = exchange(&mut raw, id, "state::list", json!({"scope":"orders"})).await;
    assert_eq!(
        list,
        reply(id, "state::list", json!([{"total":15,"status":"paid"}]))
    );
    let groups = exchange(&mut raw, id, "state::list_groups", json!({})).await;
    assert_eq!(
        groups,
        reply(id, "state::list_groups", json!({"groups":["orders"]}))
    );
    let items = exchange(&mut raw, id, "state::list_items", json!({"scope":"orders"})).await;
    assert_eq!(items["result"]["items"][0]["key"], "o-1");
    assert_eq!(items["result"]["next"], Value::Null);
    let deleted = exchange(
        &mut raw,
        id,
        "state::delete",
        json!({"scope":"orders","key":"o-1"}),
    )
    .await;
    assert_eq!(
        deleted,
        reply(id, "state::delete", json!({"total":15,"status":"paid"}))
    );
    let again = exchange(
        &mut raw,
        id,
        "state::delete",
        json!({"scope":"orders","key":"o-1"}),
    )
    .await;
    assert_eq!(again, nothing(id, "state::delete"));
    exchange(
        &mut raw,
        id,
        "state::set",
        json!({"scope":"tmp","key":"a","data":1}),
    )
    .await;
    let cleared = exchange(&mut raw, id, "state::clear", json!({"scope":"tmp"})).await;
    assert_eq!(cleared, reply(id, "state::clear", json!({"deleted":1})));

    let unknown = exchange(&mut raw, id, "nope::nothing", json!({})).await;
    assert_eq!(
        unknown,
        json!({"type":"invocationresult","invocation_id":id,"function_id":"nope::nothing",
            "error":{"code":"function_not_found","message":"Function nope::nothing not found in namespace default."}})
    );
    let bad = exchange(
        &mut raw,
        id,
        "state::set",
        json!({"scope":"orders","value":1}),
    )
    .await;
    assert_eq!(bad["error"]["code"], "deserialization_error");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("missing field `key`")
    );
    let empty = exchange(
        &mut raw,
        id,
        "state::set",
        json!({"scope":"","key":"k","value":1}),
    )
    .await;
    assert_eq!(empty["error"]["code"], "invalid_argument");
}

/// A set's value is stored and answered as compact JSON text however the
/// client spaced or escaped it; a get then reads the same text back. Through
/// the real binary: the embedded store keeps the text it is given.
#[tokio::test]
async fn a_set_value_is_stored_as_compact_json_whatever_its_spacing() {
    let engine = Engine::start(&[]);
    let mut raw = Raw::connect(&engine.ws_url()).await;
    assert_eq!(raw.recv().await["type"], "workerregistered");
    raw.send_text(concat!(
        r#"{"type":"invokefunction","invocation_id":"s","function_id":"state::set","#,
        r#""data":{"scope":"g","key":"k","value": { "n" : [ 1 , 2.50 , 1e2 ] ,"#,
        r#" "s" : "\u0041\/", "t": {"a":1, "a":2} } }}"#
    ))
    .await;
    let reply = raw.recv().await;
    assert_eq!(reply["invocation_id"], "s", "{reply}");
    let stored = json!({"n": [1, 2.5, 100.0], "s": "A/", "t": {"a": 2}});
    assert_eq!(reply["result"]["new_value"], stored, "{reply}");
    raw.send_text(
        r#"{"type":"invokefunction","invocation_id":"g","function_id":"state::get","data":{"scope":"g","key":"k"}}"#,
    )
    .await;
    let Some(Message::Text(text)) = raw.next_message().await else {
        panic!("no reply to the get");
    };
    // The embedded store keeps a repeated key as given (see
    // `compact_json`); it parses as the last occurrence, as `stored` says.
    assert!(
        text.contains(r#""result":{"n":[1,2.5,100.0],"s":"A/","t":{"a":1,"a":2}}"#),
        "{text}"
    );
    let read: Value = serde_json::from_str(text.as_str()).expect("a JSON frame");
    assert_eq!(read["result"], stored, "{text}");
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let reply = raw
        .call("state::set", json!({"scope": "g", "key": "k"}))
        .await;
    assert_eq!(reply["error"]["code"], "deserialization_error", "{reply}");
    raw.send_text(&format!(
        r#"{{"type":"invokefunction","invocation_id":"d","function_id":"state::set","data":{{"scope":"g","key":"k","value":{deep}}}}}"#
    ))
    .await;
    let reply = raw.recv().await;
    assert_eq!(reply["invocation_id"], "d", "{reply}");
    assert_eq!(reply["error"]["code"], "deserialization_error", "{reply}");
    let reply = raw
        .call("state::get", json!({"scope": "g", "key": "k"}))
        .await;
    assert_eq!(
        reply["result"], stored,
        "nothing stored by the refused sets"
    );
}

#[tokio::test]
async fn malformed_and_oversized_frames_leave_the_connection_usable() {
    let engine = Engine::start(&[]);
    let mut raw = Raw::ready(&engine.ws_url()).await;
    raw.send_text(r#"{"type":"invokefunction","invocation_id":"m-1","function_id":"state::get""#)
        .await;
    let error = raw.recv().await;
    assert_eq!(error["invocation_id"], "m-1");
    assert_eq!(error["error"]["code"], "deserialization_error");

    // Above the default 2 MiB frame limit, below the point where the socket
    // is closed.
    let big = "b".repeat(3 * 1024 * 1024);
    raw.send(
        &json!({"type":"invokefunction","invocation_id":"big","function_id":"state::set",
        "data":{"scope":"g","key":"k","value":big}}),
    )
    .await;
    let error = raw.recv().await;
    assert_eq!(error["invocation_id"], "big");
    assert_eq!(error["error"]["code"], "frame_too_large");

    let ok = raw
        .call("state::set", json!({"scope":"g","key":"k","value":"fine"}))
        .await;
    assert_eq!(ok["result"]["new_value"], "fine");
}

#[tokio::test]
async fn pings_otel_and_sigterm() {
    let mut engine = Engine::start(&[]);
    let mut raw = Raw::ready(&engine.ws_url()).await;
    raw.socket
        .send(Message::Ping(b"hi".to_vec().into()))
        .await
        .expect("ping");
    assert_eq!(raw.await_pong().await, b"hi");
    let mut otel = Raw::connect(&format!("ws://{}/otel", engine.addr)).await;
    otel.send_text(r#"{"resourceSpans":[]}"#).await;

    // SIGTERM: the worker socket is closed with 1001 and the engine exits 0.
    let set = raw
        .call("state::set", json!({"scope":"g","key":"k","value":1}))
        .await;
    assert!(set.get("result").is_some());
    let status = engine.signal_and_wait("TERM");
    assert!(status.success(), "{status:?}");
    let mut saw_going_away = false;
    while let Some(Ok(message)) = raw.socket.next().await {
        if let Message::Close(Some(frame)) = message {
            saw_going_away = u16::from(frame.code) == 1001;
        }
    }
    assert!(saw_going_away, "no 1001 close frame before exit");
}
