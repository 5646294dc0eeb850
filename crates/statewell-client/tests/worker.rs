//! The worker side of the client against a scripted WebSocket server on a
//! real socket: forwarded invocations reach the function's stream and are
//! answered, an invocation of a function the client does not serve is
//! refused at once, void calls are not answered, a refused trigger
//! registration is reported.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use statewell_client::{Client, ClientError};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const PATIENCE: Duration = Duration::from_secs(20);

/// A server that greets, then: on `registerfunction` forwards three calls
/// (`call-1` to it, `call-2` to a function nobody serves, a void one to it);
/// on `registertrigger` with an empty scope refuses it; answers every other
/// `invokefunction` with an empty result. Every `invocationresult` the
/// client sends goes to the returned channel.
async fn scripted_engine() -> (String, mpsc::UnboundedReceiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (results, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut ws = tokio_tungstenite::accept_async(tcp)
            .await
            .expect("handshake");
        let send = |frame: Value| Message::text(frame.to_string());
        ws.send(send(json!({"type": "workerregistered", "worker_id": "w"})))
            .await
            .expect("greet");
        while let Some(Ok(Message::Text(text))) = ws.next().await {
            let frame: Value = serde_json::from_str(text.as_str()).expect("json frame");
            match frame["type"].as_str() {
                Some("registerfunction") => {
                    let id = &frame["id"];
                    for call in [
                        json!({"type": "invokefunction", "invocation_id": "call-1", "function_id": id, "data": {"n": 1}}),
                        json!({"type": "invokefunction", "invocation_id": "call-2", "function_id": "nobody::serves", "data": {}}),
                        json!({"type": "invokefunction", "invocation_id": "call-3", "function_id": id, "data": {"n": 3}, "action": {"type": "void"}}),
                    ] {
                        ws.send(send(call)).await.expect("forward");
                    }
                }
                Some("registertrigger") if frame["config"]["scope"] == "" => {
                    let refused = json!({"type": "triggerregistrationresult", "id": frame["id"],
                        "trigger_type": "state", "function_id": frame["function_id"],
                        "error": {"code": "invalid_argument", "message": "invalid config.scope: must not be empty"}});
                    ws.send(send(refused)).await.expect("refuse");
                }
                Some("invokefunction") => {
                    if let Some(id) = frame["invocation_id"].as_str() {
                        let reply = json!({"type": "invocationresult", "invocation_id": id,
                            "function_id": frame["function_id"]});
                        ws.send(send(reply)).await.expect("reply");
                    }
                }
                Some("invocationresult") => {
                    let _ = results.send(frame);
                }
                _ => {}
            }
        }
    });
    (format!("ws://{addr}"), rx)
}

async fn next<T>(rx: impl std::future::Future<Output = Option<T>>) -> T {
    tokio::time::timeout(PATIENCE, rx)
        .await
        .expect("nothing arrived")
        .expect("channel open")
}

#[tokio::test]
async fn invocations_are_streamed_answered_and_refused_when_unserved() {
    let (url, mut results) = scripted_engine().await;
    let client = Client::connect(&url, None).await.expect("connect");
    let mut invocations = client
        .register_function("math::double")
        .await
        .expect("register");

    let call = next(invocations.next()).await;
    assert_eq!(call.function_id, "math::double");
    assert_eq!(call.data, json!({"n": 1}));
    assert!(call.expects_answer());

    // The call to a function this client does not serve was answered by the
    // client itself, without the application seeing it.
    let refused = next(results.recv()).await;
    assert_eq!(refused["invocation_id"], "call-2");
    assert_eq!(refused["error"]["code"], "function_not_found");

    let void = next(invocations.next()).await;
    assert_eq!(void.data, json!({"n": 3}));
    assert!(!void.expects_answer());
    client
        .respond(&void, Ok(Some(json!(6))))
        .await
        .expect("no-op");

    client
        .respond(&call, Ok(Some(json!(2))))
        .await
        .expect("answer");
    // The void call's answer (sent first) was dropped: the next result the
    // engine sees is call-1's.
    let answered = next(results.recv()).await;
    assert_eq!(
        answered,
        json!({"type": "invocationresult", "invocation_id": "call-1",
            "function_id": "math::double", "result": 2})
    );
    // An error answer carries `error` and no `result`.
    client
        .respond(&call, Err(json!({"code": "boom", "message": "again"})))
        .await
        .expect("answer");
    let errored = next(results.recv()).await;
    assert_eq!(errored["error"]["code"], "boom");
    assert!(errored.get("result").is_none(), "{errored}");
}

#[tokio::test]
async fn a_refused_trigger_registration_is_an_error_and_an_accepted_one_is_not() {
    let (url, _results) = scripted_engine().await;
    let client = Client::connect(&url, None).await.expect("connect");
    let refused = client
        .register_trigger("t-1", "state", "f", json!({"scope": ""}))
        .await;
    match refused {
        Err(ClientError::Engine { code, message }) => {
            assert_eq!(code, "invalid_argument");
            assert!(message.contains("config.scope"), "{message}");
        }
        other => panic!("expected the refusal, got {other:?}"),
    }
    client
        .register_trigger("t-2", "state", "f", json!({"scope": "orders"}))
        .await
        .expect("accepted");
}
