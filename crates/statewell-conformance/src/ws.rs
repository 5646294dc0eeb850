//! WebSocket clients of the worker protocol for tests, shared by the
//! in-process server tests (`crates/statewell-server/tests/ws_*.rs`) and the
//! end-to-end tests against the real binary (`crates/statewell/tests/ws_*.rs`):
//! [`Raw`], which sends and reads frames exactly, and [`Worker`], a small
//! worker that registers functions and answers invocations like an SDK does.
//!
//! Test support: a failure here is a failed test, so these helpers panic
//! with a message instead of returning errors. Timeouts only turn a hang
//! into a failure; no test asserts a duration.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// Long enough for any single step on a loaded 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A fresh invocation id (the engine accepts any string).
pub fn fresh_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "call-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A socket that sends and reads frames as they are.
pub struct Raw {
    pub socket: Socket,
}

impl Raw {
    /// Connects and returns the socket with `workerregistered` still unread.
    pub async fn connect(url: &str) -> Raw {
        let (socket, _) = connect_async(url).await.expect("connect");
        Raw { socket }
    }

    /// Connects and reads the `workerregistered` frame.
    pub async fn ready(url: &str) -> Raw {
        let mut raw = Raw::connect(url).await;
        let first = raw.recv().await;
        assert_eq!(first["type"], "workerregistered", "{first}");
        raw
    }

    pub async fn send(&mut self, frame: &Value) {
        self.send_text(&frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::text(text.to_owned()))
            .await
            .expect("send");
    }

    /// The next message of any kind.
    pub async fn next_message(&mut self) -> Option<Message> {
        tokio::time::timeout(PATIENCE, self.socket.next())
            .await
            .expect("no message from the engine")
            .map(|m| m.expect("read"))
    }

    /// The next text frame, as JSON.
    pub async fn recv(&mut self) -> Value {
        loop {
            match self.next_message().await {
                Some(Message::Text(text)) => {
                    return serde_json::from_str(text.as_str()).expect("frame is JSON");
                }
                Some(Message::Close(frame)) => panic!("engine closed the socket: {frame:?}"),
                Some(_) => continue,
                None => panic!("socket ended"),
            }
        }
    }

    /// Reads until a pong arrives (frames before it are passed over) and
    /// returns its payload.
    pub async fn await_pong(&mut self) -> Vec<u8> {
        loop {
            match self.next_message().await {
                Some(Message::Pong(payload)) => return payload.to_vec(),
                Some(_) => continue,
                None => panic!("socket ended"),
            }
        }
    }

    /// Invokes a function and returns its reply frame.
    pub async fn call(&mut self, function_id: &str, data: Value) -> Value {
        let id = fresh_id();
        self.send(&json!({
            "type": "invokefunction",
            "invocation_id": id,
            "function_id": function_id,
            "data": data,
        }))
        .await;
        let reply = self.recv().await;
        assert_eq!(reply["invocation_id"], id, "reply to another call: {reply}");
        reply
    }
}

type Handler =
    Arc<dyn Fn(Value) -> Pin<Box<dyn Future<Output = Result<Value, Value>> + Send>> + Send + Sync>;

/// A worker in the style of the published SDKs: one socket, calls
/// multiplexed by invocation id, functions answered concurrently.
pub struct Worker {
    out: mpsc::UnboundedSender<Message>,
    pending: Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>,
    handlers: Arc<Mutex<HashMap<String, Handler>>>,
    /// Frames that are neither replies nor invocations.
    pub other: mpsc::UnboundedReceiver<Value>,
    pub worker_id: String,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Worker {
    pub async fn connect(url: &str) -> Worker {
        let (socket, _) = connect_async(url).await.expect("connect");
        let (sink, mut stream) = socket.split();
        let (out, out_rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_all(sink, out_rx));
        let pending: Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>> = Default::default();
        let handlers: Arc<Mutex<HashMap<String, Handler>>> = Default::default();
        let (other_tx, mut other) = mpsc::unbounded_channel();
        let reader = {
            let pending = Arc::clone(&pending);
            let handlers = Arc::clone(&handlers);
            let out = out.clone();
            tokio::spawn(async move {
                while let Some(Ok(message)) = stream.next().await {
                    let Message::Text(text) = message else {
                        continue;
                    };
                    let frame: Value = serde_json::from_str(text.as_str()).expect("frame is JSON");
                    match frame["type"].as_str() {
                        Some("invocationresult") => {
                            let id = frame["invocation_id"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned();
                            let waiter = pending.lock().expect("lock").remove(&id);
                            if let Some(waiter) = waiter {
                                let _ = waiter.send(frame);
                            }
                        }
                        Some("invokefunction") => {
                            let function_id =
                                frame["function_id"].as_str().unwrap_or_default().to_owned();
                            let handler = handlers.lock().expect("lock").get(&function_id).cloned();
                            let out = out.clone();
                            tokio::spawn(async move {
                                let id = frame.get("invocation_id").cloned();
                                let outcome = match handler {
                                    Some(handler) => handler(frame["data"].clone()).await,
                                    None => {
                                        Err(json!({"code": "no_handler", "message": function_id}))
                                    }
                                };
                                let Some(id) = id else { return };
                                let reply = match outcome {
                                    Ok(result) => {
                                        json!({"type": "invocationresult", "invocation_id": id, "function_id": function_id, "result": result})
                                    }
                                    Err(error) => {
                                        json!({"type": "invocationresult", "invocation_id": id, "function_id": function_id, "error": error})
                                    }
                                };
                                let _ = out.send(Message::text(reply.to_string()));
                            });
                        }
                        _ => {
                            let _ = other_tx.send(frame);
                        }
                    }
                }
            })
        };
        let first = tokio::time::timeout(PATIENCE, other.recv())
            .await
            .expect("workerregistered")
            .expect("workerregistered");
        assert_eq!(first["type"], "workerregistered");
        Worker {
            out,
            pending,
            handlers,
            other,
            worker_id: first["worker_id"].as_str().unwrap_or_default().to_owned(),
            reader,
            writer,
        }
    }

    pub fn send(&self, frame: Value) {
        self.out
            .send(Message::text(frame.to_string()))
            .expect("writer alive");
    }

    /// Registers `function_id`, answered by `handler`.
    pub fn register<F, Fut>(&self, function_id: &str, handler: F)
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, Value>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |data| Box::pin(handler(data)));
        self.handlers
            .lock()
            .expect("lock")
            .insert(function_id.to_owned(), handler);
        self.send(json!({"type": "registerfunction", "id": function_id}));
    }

    /// Registers `function_id` with a handler that never answers; the
    /// returned channel gets one `()` each time the handler starts.
    pub fn register_hanging(&self, function_id: &str) -> mpsc::UnboundedReceiver<()> {
        let (started_tx, started) = mpsc::unbounded_channel();
        self.register(function_id, move |_| {
            let started_tx = started_tx.clone();
            async move {
                let _ = started_tx.send(());
                std::future::pending::<Result<Value, Value>>().await
            }
        });
        started
    }

    pub fn register_trigger(&self, id: &str, function_id: &str, config: Value) {
        self.send(json!({
            "type": "registertrigger",
            "id": id,
            "trigger_type": "state",
            "function_id": function_id,
            "config": config,
        }));
    }

    /// Invokes a function and returns the reply frame.
    pub async fn call(&self, function_id: &str, data: Value) -> Value {
        let id = fresh_id();
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("lock").insert(id.clone(), tx);
        self.send(json!({
            "type": "invokefunction",
            "invocation_id": id,
            "function_id": function_id,
            "data": data,
        }));
        tokio::time::timeout(PATIENCE, rx)
            .await
            .expect("no reply")
            .expect("reader alive")
    }

    /// A round trip through the engine: once it returns, every frame sent
    /// before it has been processed.
    pub async fn sync(&self) {
        let reply = self.call("state::list_groups", json!({})).await;
        assert!(reply.get("result").is_some(), "{reply}");
    }

    /// Closes the socket abruptly (no close frame), like a crashed worker.
    pub fn crash(self) {
        self.reader.abort();
        self.writer.abort();
    }

    /// Closes the socket with a close frame.
    pub async fn close(self) {
        let _ = self.out.send(Message::Close(None));
        let _ = tokio::time::timeout(PATIENCE, self.writer).await;
        self.reader.abort();
    }
}

async fn write_all(mut sink: SplitSink<Socket, Message>, mut rx: mpsc::UnboundedReceiver<Message>) {
    while let Some(message) = rx.recv().await {
        let closing = matches!(message, Message::Close(_));
        if sink.send(message).await.is_err() || closing {
            return;
        }
    }
}

/// Waits until `check` holds, polling; panics after [`PATIENCE`].
pub async fn eventually<F: FnMut() -> bool>(what: &str, mut check: F) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Registers `function_id` on `worker`; every event (or call data) it
/// receives goes to the returned channel, and it answers `null`.
pub fn recorder(worker: &Worker, function_id: &str) -> mpsc::UnboundedReceiver<Value> {
    let (tx, rx) = mpsc::unbounded_channel();
    worker.register(function_id, move |event: Value| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(event);
            Ok(Value::Null)
        }
    });
    rx
}

/// The next event a [`recorder`] got; panics after [`PATIENCE`].
pub async fn next(rx: &mut mpsc::UnboundedReceiver<Value>) -> Value {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("no event delivered")
        .expect("handler channel open")
}
