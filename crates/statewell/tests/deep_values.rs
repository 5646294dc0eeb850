//! Values nested deeper than a JSON parser's recursion limit (128 levels in
//! serde_json): an update may not build one, since it could never be read
//! back from disk. The op is refused with a code and the item stays readable.

mod common;
mod http_support;

use common::Engine;
use http_support::{Http, item_path};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// `depth` nested arrays around `1`, as JSON text.
fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

/// `{"ops":[{"type":OP,"path":[32 segments],"value":VALUE}]}`
fn deep_op(op: &str, value: &str) -> Vec<u8> {
    let segments: Vec<String> = (0..32).map(|i| format!("\"s{i}\"")).collect();
    format!(
        "{{\"ops\":[{{\"type\":\"{op}\",\"path\":[{}],\"value\":{value}}}]}}",
        segments.join(",")
    )
    .into_bytes()
}

#[tokio::test]
async fn an_update_cannot_nest_a_value_past_what_can_be_read_back() {
    let engine = Engine::start(&[]);
    let http = Http::new(engine.http_url(), None);
    let path = item_path("g", "k");
    http.put("g", "k", &json!({"kept": true})).await;
    // 32 path levels + 120 array levels: 152 deep, past serde_json's 128.
    for op in ["set", "append"] {
        let reply = http
            .call(Method::PATCH, &path, Some(deep_op(op, &nested(120))))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{op}: {}", reply.body);
        assert_eq!(
            reply.body["errors"][0]["code"],
            format!("{op}.value.too_deep")
        );
        assert_eq!(reply.body["new_value"], json!({"kept": true}));
    }
    // Exactly at the limit (32 + 68 = 100 levels) still works and reads back.
    let reply = http
        .call(Method::PATCH, &path, Some(deep_op("set", &nested(68))))
        .await;
    assert_eq!(reply.body["errors"], json!([]), "{}", reply.body);
    let reply = http.get(&path).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["kept"], json!(true));
}

#[tokio::test]
async fn a_reply_too_deep_to_parse_fails_its_call_with_a_code() {
    let engine = Engine::start(&[]);
    let http = Http::new(engine.http_url(), None);
    // 127 levels: storable and readable over HTTP, but wrapped in a reply
    // frame it passes serde_json's limit of 128 in the client.
    let reply = http
        .call(
            Method::PUT,
            &item_path("g", "k"),
            Some(nested(127).into_bytes()),
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.body);
    let client = statewell_client::Client::connect(&engine.ws_url(), None)
        .await
        .expect("connect")
        .with_timeout(std::time::Duration::from_secs(20));
    let error = client.get("g", "k").await.expect_err("unreadable reply");
    assert_eq!(error.code(), "protocol_error", "{error}");
    assert!(error.to_string().contains("state::get"), "{error}");
}
