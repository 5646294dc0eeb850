//! The client against a scripted WebSocket server on a real socket: replies
//! out of order reach the right callers, a missing reply times out with a
//! clear error, a dropped connection fails what is pending, 401 is told apart.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use statewell_client::{Client, ClientError};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// Echo calls the server holds before answering them all, newest first.
const ECHOES: usize = 20;

/// A server that greets, then for every `invokefunction` with an id:
/// `echo` replies with its data once ECHOES of them have arrived (in reverse
/// order of arrival), `never` gets no reply, `fail` gets an engine error,
/// `hangup` closes the socket.
async fn scripted_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(tcp)
                    .await
                    .expect("handshake");
                let hello =
                    json!({"type": "workerregistered", "worker_id": "w-1", "reattach_token": "t"});
                ws.send(Message::text(hello.to_string()))
                    .await
                    .expect("greet");
                let mut held = Vec::new();
                while let Some(Ok(Message::Text(text))) = ws.next().await {
                    let frame: Value = serde_json::from_str(text.as_str()).expect("json frame");
                    let Some(id) = frame["invocation_id"].as_str() else {
                        continue;
                    };
                    let function = frame["function_id"].as_str().unwrap_or_default();
                    let reply = |body: Value| {
                        let mut reply = json!({"type": "invocationresult", "invocation_id": id, "function_id": function});
                        reply
                            .as_object_mut()
                            .expect("object")
                            .extend(body.as_object().expect("object").clone());
                        Message::text(reply.to_string())
                    };
                    match function {
                        "echo" => {
                            held.push(reply(json!({"result": frame["data"]})));
                            if held.len() == ECHOES {
                                while let Some(message) = held.pop() {
                                    ws.send(message).await.expect("send");
                                }
                            }
                        }
                        "fail" => {
                            let error = json!({"error": {"code": "invalid_argument", "message": "invalid key: must not be empty"}});
                            ws.send(reply(error)).await.expect("send");
                        }
                        "hangup" => return,
                        _ => {}
                    }
                }
            });
        }
    });
    format!("ws://{addr}")
}

/// Sends one `echo` call per payload at once (ECHOES of them, so the server
/// answers them all, newest first) and checks that each caller gets its own.
async fn echo_concurrently(client: &Client, payloads: Vec<Value>) {
    assert_eq!(
        payloads.len(),
        ECHOES,
        "the server answers in groups of ECHOES"
    );
    let calls: Vec<_> = payloads
        .into_iter()
        .map(|payload| {
            let client = client.clone();
            tokio::spawn(async move {
                let reply = client.call("echo", payload.clone()).await;
                (payload, reply)
            })
        })
        .collect();
    for call in calls {
        let (payload, reply) = call.await.expect("task");
        assert_eq!(reply.expect("reply"), Some(payload));
    }
}

#[tokio::test]
async fn replies_out_of_order_reach_their_callers() {
    let client = Client::connect(&scripted_server().await, None)
        .await
        .expect("connect");
    echo_concurrently(&client, (0..ECHOES).map(|i| json!({"n": i})).collect()).await;
    assert_eq!(client.worker_id().as_deref(), Some("w-1"));
}

#[tokio::test]
async fn replies_larger_than_one_socket_read_arrive_whole() {
    let client = Client::connect(&scripted_server().await, None)
        .await
        .expect("connect");
    // The socket reads 16 KiB at a time: each reply (20 to 87 KB) spans
    // several reads, and the replies, written back to back, share reads at
    // their edges.
    let texts = (0..ECHOES).map(|i| json!({"text": format!("{i}:").repeat(10_000 + 997 * i)}));
    echo_concurrently(&client, texts.collect()).await;
}

#[tokio::test]
async fn a_missing_reply_times_out_with_a_clear_error() {
    let client = Client::connect(&scripted_server().await, None)
        .await
        .expect("connect")
        .with_timeout(Duration::from_millis(200));
    let error = client.call("never", json!({})).await.expect_err("no reply");
    assert!(matches!(&error, ClientError::Timeout { function_id, .. } if function_id == "never"));
    assert_eq!(error.code(), "timeout");
    assert!(
        error.to_string().contains("never got no reply within"),
        "{error}"
    );
}

#[tokio::test]
async fn engine_errors_carry_code_and_message() {
    let client = Client::connect(&scripted_server().await, None)
        .await
        .expect("connect");
    match client.call("fail", json!({})).await {
        Err(ClientError::Engine { code, message }) => {
            assert_eq!(code, "invalid_argument");
            assert_eq!(message, "invalid key: must not be empty");
        }
        other => panic!("expected an engine error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_closed_connection_fails_pending_and_later_calls() {
    let client = Client::connect(&scripted_server().await, None)
        .await
        .expect("connect");
    let pending = {
        let client = client.clone();
        tokio::spawn(async move { client.call("never", json!({})).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = client.call("hangup", json!({})).await;
    let error = pending.await.expect("task").expect_err("closed");
    assert_eq!(error.code(), "connection_closed");
    let later = client.call("echo", json!({})).await.expect_err("closed");
    assert_eq!(later.code(), "connection_closed");
}

#[tokio::test]
async fn a_401_upgrade_is_unauthorized_and_no_listener_is_connect_failed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = tcp.read(&mut request).await;
            let _ = tcp
                .write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let error = Client::connect(&format!("http://{addr}"), Some("wrong"))
        .await
        .err();
    assert!(
        matches!(error, Some(ClientError::Unauthorized)),
        "{error:?}"
    );

    let free = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let closed = free.local_addr().expect("addr");
    drop(free);
    let error = Client::connect(&format!("ws://{closed}"), None).await.err();
    assert_eq!(
        error.as_ref().map(ClientError::code),
        Some("connect_failed"),
        "{error:?}"
    );
}
