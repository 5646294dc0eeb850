//! One WebSocket to the engine, shared by every request.
//!
//! Requests are multiplexed: each carries a fresh `invocation_id`, and a
//! reader task routes each `invocationresult` to the waiting caller through a
//! oneshot channel, so any number of requests may be in flight at once and
//! replies may come back in any order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::ClientError;
use crate::invocation::{INVOCATION_CAPACITY, Invocation, result_frame};

type Reply = Result<Option<Value>, ClientError>;
type Pending = HashMap<String, oneshot::Sender<Reply>>;

/// How long a request waits for its reply unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Frames waiting to be written; bounded so a stalled socket pushes back on
/// callers instead of buffering without limit.
const OUTGOING_CAPACITY: usize = 1024;

/// How much the socket reads at once. The WebSocket library zeroes this much
/// of its read buffer before every read, including reads that find nothing
/// waiting; with its default (128 KiB) a connection with one request in
/// flight spent ~6 µs of memset per reply, half of the load generator's CPU
/// (`statewell-bench --shape b`: 11.9 → 6.1 µs per get; 4 and 8 KiB did no
/// better than 16). Larger frames still arrive whole, over several reads.
/// The engine reads its sockets in chunks of the same size, for the same
/// reason (`statewell_server::ws`).
const READ_CHUNK: usize = 16 * 1024;

/// The socket settings of every client connection (this client's and the
/// load generator's).
pub fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(READ_CHUNK)
}

/// A connection to a statewell engine. Cheap to clone: clones share the one
/// WebSocket. The connection closes when the last clone is dropped.
#[derive(Clone)]
pub struct Client {
    pub(crate) shared: Arc<Shared>,
    timeout: Duration,
}

pub(crate) struct Shared {
    pending: Mutex<Pending>,
    /// Set (before `pending` is drained) once the reader has stopped, so a
    /// request registered afterwards fails at once instead of timing out.
    closed: AtomicBool,
    outgoing: mpsc::Sender<Message>,
    worker_id: Mutex<Option<String>>,
    reader: Mutex<Option<JoinHandle<()>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Functions this client serves: where their invocations go.
    pub(crate) functions: Mutex<HashMap<String, mpsc::Sender<Invocation>>>,
    /// Trigger registrations the engine refused, by trigger id, until
    /// `register_trigger` collects them.
    pub(crate) trigger_errors: Mutex<HashMap<String, ClientError>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(reader) = lock(&self.reader).take() {
            reader.abort();
        }
    }
}

/// A poisoned lock only means another caller panicked while holding it; the
/// map itself is still consistent (every operation on it is one call).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Accepts `ws://`, `wss://`, and for convenience `http://`/`https://`
/// (the engine serves both on one port).
pub fn websocket_url(url: &str) -> Result<String, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("expected ws://HOST:PORT"))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        _ => return Err(invalid("the scheme must be ws, wss, http or https")),
    };
    if rest.is_empty() || rest.starts_with(['/', '?', '#']) {
        return Err(invalid("no host"));
    }
    // The root path goes after the authority, before any query
    // (`ws://h:1?access_token=...` -> `ws://h:1/?access_token=...`).
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let rest = if rest[authority_end..].starts_with('/') {
        rest.to_owned()
    } else {
        format!("{}/{}", &rest[..authority_end], &rest[authority_end..])
    };
    Ok(format!("{scheme}://{rest}"))
}

impl Client {
    /// Opens the WebSocket and announces this process as a worker. With a
    /// token, the upgrade carries `Authorization: Bearer <token>`.
    pub async fn connect(url: &str, token: Option<&str>) -> Result<Client, ClientError> {
        let url = websocket_url(url)?;
        let mut request =
            url.as_str()
                .into_client_request()
                .map_err(|e| ClientError::InvalidUrl {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
        if let Some(token) = token {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                ClientError::InvalidUrl {
                    url: url.clone(),
                    reason: "the token holds characters a header cannot carry".into(),
                }
            })?;
            request.headers_mut().insert("authorization", value);
        }
        // Requests are small frames, often many in flight: send each at once
        // rather than letting Nagle's algorithm hold it back.
        let connect =
            tokio_tungstenite::connect_async_with_config(request, Some(socket_config()), true);
        let (socket, _) = match tokio::time::timeout(DEFAULT_TIMEOUT, connect).await {
            Err(_) => {
                return Err(ClientError::Connect {
                    url,
                    reason: "timed out".into(),
                });
            }
            Ok(Err(tungstenite::Error::Http(response))) if response.status() == 401 => {
                return Err(ClientError::Unauthorized);
            }
            Ok(Err(e)) => {
                return Err(ClientError::Connect {
                    url,
                    reason: e.to_string(),
                });
            }
            Ok(Ok(connected)) => connected,
        };
        let (mut sink, mut stream) = socket.split();
        let (outgoing, mut queue) = mpsc::channel::<Message>(OUTGOING_CAPACITY);
        let shared = Arc::new(Shared {
            pending: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            outgoing,
            worker_id: Mutex::new(None),
            reader: Mutex::new(None),
            writer: Mutex::new(None),
            functions: Mutex::new(HashMap::new()),
            trigger_errors: Mutex::new(HashMap::new()),
        });

        // Writer: ends when every sender is gone (the client was dropped)
        // or after a close frame (`Client::close`), closing the socket
        // politely.
        let writer = tokio::spawn(async move {
            while let Some(message) = queue.recv().await {
                let closing = matches!(message, Message::Close(_));
                if sink.send(message).await.is_err() {
                    return;
                }
                if closing {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        *lock(&shared.writer) = Some(writer);

        // Reader: holds only a weak reference so dropping the client ends it.
        let weak = Arc::downgrade(&shared);
        let reader = tokio::spawn(async move {
            let reason = loop {
                let message = match stream.next().await {
                    None => break "the engine closed the connection".to_owned(),
                    Some(Err(e)) => break e.to_string(),
                    Some(Ok(message)) => message,
                };
                let Some(shared) = weak.upgrade() else { return };
                match message {
                    Message::Text(text) => shared.dispatch(text.as_str()),
                    Message::Close(frame) => {
                        break match frame {
                            Some(frame) => format!("closed by the engine: {}", frame.reason),
                            None => "closed by the engine".to_owned(),
                        };
                    }
                    // Pings are answered by tungstenite itself.
                    _ => {}
                }
            };
            if let Some(shared) = weak.upgrade() {
                shared.fail_all(&reason);
            }
        });
        *lock(&shared.reader) = Some(reader);

        let client = Client {
            shared,
            timeout: DEFAULT_TIMEOUT,
        };
        client
            .send(json!({
                "type": "invokefunction",
                "function_id": "engine::workers::register",
                "data": {
                    "runtime": "rust",
                    "version": env!("CARGO_PKG_VERSION"),
                    "name": "statewell-client",
                    "os": std::env::consts::OS,
                    "pid": std::process::id(),
                },
                "action": {"type": "void"},
            }))
            .await?;
        Ok(client)
    }

    /// The same connection with another request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// The worker id the engine assigned (once its greeting has arrived).
    pub fn worker_id(&self) -> Option<String> {
        lock(&self.shared.worker_id).clone()
    }

    /// Invokes `function_id` with `data` and waits for the reply: `Ok(None)`
    /// when the engine omitted `result` (a missing item), `Ok(Some(v))`
    /// otherwise. The untyped door used by the typed methods and by tests
    /// that compare raw protocol behaviour.
    pub async fn call(&self, function_id: &str, data: Value) -> Result<Option<Value>, ClientError> {
        let id = uuid::Uuid::new_v4().to_string();
        let (reply, wait) = oneshot::channel();
        lock(&self.shared.pending).insert(id.clone(), reply);
        if self.shared.closed.load(Ordering::SeqCst) {
            lock(&self.shared.pending).remove(&id);
            return Err(ClientError::Closed("the connection is closed".into()));
        }
        let frame = json!({
            "type": "invokefunction",
            "invocation_id": id,
            "function_id": function_id,
            "data": data,
        });
        if let Err(e) = self.send(frame).await {
            lock(&self.shared.pending).remove(&id);
            return Err(e);
        }
        match tokio::time::timeout(self.timeout, wait).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(ClientError::Closed("the connection is closed".into())),
            Err(_) => {
                lock(&self.shared.pending).remove(&id);
                Err(ClientError::Timeout {
                    function_id: function_id.to_owned(),
                    after: self.timeout,
                })
            }
        }
    }

    /// Closes the connection politely: frames already queued (answers,
    /// unregistrations) are written first, then a close frame; waits at most
    /// `timeout` for that. Other clones of this client fail from then on.
    pub async fn close(&self, timeout: Duration) {
        let _ = self.shared.outgoing.send(Message::Close(None)).await;
        let writer = lock(&self.shared.writer).take();
        if let Some(writer) = writer {
            let _ = tokio::time::timeout(timeout, writer).await;
        }
    }

    pub(crate) async fn send(&self, frame: Value) -> Result<(), ClientError> {
        self.shared
            .outgoing
            .send(Message::text(frame.to_string()))
            .await
            .map_err(|_| ClientError::Closed("the connection is closed".into()))
    }
}

impl Shared {
    /// Routes one frame from the engine: replies to the waiting caller,
    /// invocations to the function's stream, refused trigger registrations to
    /// `register_trigger`. Frames this client has no use for are ignored, as
    /// the protocol says unknown input must be.
    fn dispatch(&self, text: &str) {
        let mut frame = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(frame)) => frame,
            Ok(_) => {
                tracing::warn!("ignoring a frame that is not a JSON object");
                return;
            }
            Err(e) => {
                self.fail_unreadable_reply(text, &e);
                return;
            }
        };
        match frame.get("type").and_then(Value::as_str) {
            Some("workerregistered") => {
                if let Some(id) = frame.get("worker_id").and_then(Value::as_str) {
                    *lock(&self.worker_id) = Some(id.to_owned());
                }
            }
            Some("invocationresult") => {
                let Some(id) = frame.get("invocation_id").and_then(Value::as_str) else {
                    return;
                };
                let Some(waiter) = lock(&self.pending).remove(id) else {
                    // The caller timed out and left.
                    return;
                };
                let reply = match frame.get("error") {
                    Some(error) if !error.is_null() => Err(engine_error(error)),
                    _ => Ok(frame.get("result").cloned()),
                };
                let _ = waiter.send(reply);
            }
            Some("invokefunction") => {
                if let Some(invocation) = Invocation::from_frame(&mut frame) {
                    self.deliver(invocation);
                }
            }
            Some("triggerregistrationresult") => {
                let id = frame.get("id").and_then(Value::as_str).unwrap_or_default();
                match frame.get("error") {
                    Some(error) if !error.is_null() => {
                        lock(&self.trigger_errors).insert(id.to_owned(), engine_error(error));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// A reply this client cannot parse (e.g. a stored value nested past
    /// serde_json's recursion limit of 128) still answers its caller, with a
    /// `protocol_error`, instead of leaving it to time out.
    fn fail_unreadable_reply(&self, text: &str, error: &serde_json::Error) {
        tracing::warn!("ignoring a frame that is not readable JSON: {error}");
        let Some(id) = scan_string_field(text, "invocation_id") else {
            return;
        };
        if let Some(waiter) = lock(&self.pending).remove(id) {
            let _ = waiter.send(Err(ClientError::Protocol {
                function_id: scan_string_field(text, "function_id")
                    .unwrap_or("the call")
                    .to_owned(),
                reason: format!("the reply is not readable JSON: {error}"),
            }));
        }
    }

    /// Hands an invocation to its function's stream; when there is none, or
    /// it is full or gone, answers the engine with an error at once so the
    /// caller is not left waiting for the invocation timeout.
    fn deliver(&self, invocation: Invocation) {
        let sender = lock(&self.functions).get(&invocation.function_id).cloned();
        let Some(sender) = sender else {
            let message = format!(
                "Function {} is not served by this worker.",
                invocation.function_id
            );
            return self.refuse(&invocation, "function_not_found", message);
        };
        match sender.try_send(invocation) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(invocation)) => {
                let message = format!(
                    "Function {} has {} invocations waiting; try again later.",
                    invocation.function_id, INVOCATION_CAPACITY
                );
                self.refuse(&invocation, "worker_busy", message);
            }
            Err(mpsc::error::TrySendError::Closed(invocation)) => {
                // The application dropped the stream: stop routing to it
                // (unless the function was registered again meanwhile).
                let mut functions = lock(&self.functions);
                if functions
                    .get(&invocation.function_id)
                    .is_some_and(|current| current.same_channel(&sender))
                {
                    functions.remove(&invocation.function_id);
                }
                drop(functions);
                let message = format!("Function {} is no longer served.", invocation.function_id);
                self.refuse(&invocation, "function_not_found", message);
            }
        }
    }

    fn refuse(&self, invocation: &Invocation, code: &str, message: String) {
        tracing::debug!(code, %message, "invocation refused");
        let Some(id) = invocation
            .invocation_id
            .as_ref()
            .filter(|_| !invocation.void)
        else {
            return;
        };
        let error = json!({"code": code, "message": message});
        let frame = result_frame(id, &invocation.function_id, Err(error));
        // From the reader task: never wait here (the writer may be waiting
        // on the socket); if even the outgoing queue is full the engine's
        // invocation timeout answers the caller.
        let _ = self.outgoing.try_send(Message::text(frame.to_string()));
    }

    fn fail_all(&self, reason: &str) {
        self.closed.store(true, Ordering::SeqCst);
        // Ends every function's invocation stream.
        lock(&self.functions).clear();
        let pending = std::mem::take(&mut *lock(&self.pending));
        for (_, waiter) in pending {
            let _ = waiter.send(Err(ClientError::Closed(reason.to_owned())));
        }
    }
}

fn engine_error(error: &Value) -> ClientError {
    let field = |name: &str| {
        error
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    ClientError::Engine {
        code: field("code"),
        message: field("message"),
    }
}

/// The text of `"name":"..."` in a frame that did not parse, when it is a
/// plain string (no escapes; ids this client makes never have any). The
/// engine writes `invocation_id` and `function_id` before `result`, so the
/// first match is the frame's own, not a key inside the value.
fn scan_string_field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let quoted = format!("\"{name}\"");
    let start = text.find(&quoted)? + quoted.len();
    let rest = text
        .get(start..)?
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find(['"', '\\'])?;
    rest.get(end..)?.starts_with('"').then(|| rest.get(..end))?
}

#[cfg(test)]
mod tests {
    use super::websocket_url;

    #[test]
    fn maps_http_to_ws_and_adds_the_root_path() {
        for (given, expected) in [
            ("http://127.0.0.1:1", "ws://127.0.0.1:1/"),
            ("HTTPS://h/x", "wss://h/x"),
            ("ws://h:2/", "ws://h:2/"),
            ("ws://h:2?access_token=a/b", "ws://h:2/?access_token=a/b"),
            ("ws://h:2/?access_token=t", "ws://h:2/?access_token=t"),
        ] {
            assert_eq!(
                websocket_url(given).ok().as_deref(),
                Some(expected),
                "{given}"
            );
        }
    }

    #[test]
    fn refuses_other_schemes_and_missing_hosts() {
        for bad in ["127.0.0.1:1", "ftp://h", "ws://", "ws:///x", "ws://?a=1"] {
            let err = websocket_url(bad).err().map(|e| e.code().to_owned());
            assert_eq!(err.as_deref(), Some("invalid_url"), "{bad}");
        }
    }
}
