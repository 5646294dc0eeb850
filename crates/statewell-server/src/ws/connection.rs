//! One worker connection: a reader loop that parses each frame once and
//! spawns a task per request, and a writer task that drains a bounded queue
//! of frames into the socket, flushing when the queue runs dry.
//!
//! Bounds: at most `max_in_flight_per_connection` requests run at once (the
//! reader stops reading until a reply has been written), at most
//! `outgoing_queue_per_connection` frames wait to be written (a worker that
//! lets the queue overflow is disconnected, see `WorkerLink::send`), and no
//! connection reads a request while the engine-wide reply budget is spent
//! (see `reply_budget.rs`). A socket whose writes stay blocked for
//! `write_timeout` fails its writer, which disconnects the worker.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::stream::{SplitSink, SplitStream};
use futures::{FutureExt, SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use uuid::Uuid;

use super::frame::{self, ErrorBody};
use super::raw::{
    RawData, RawFrame, invocation_id, raw_str, raw_type_name, raw_value, scan_invocation_id,
};
use super::state_fns;
use crate::app::AppState;
use crate::functions::{Outgoing, TraceContext, WorkerLink, is_reserved};
use crate::state_fn::StateFn;
use crate::triggers::TriggerSpec;

/// How long the writer may take to flush its last frames once the
/// connection is over, before the socket is dropped.
const WRITER_LINGER: Duration = Duration::from_secs(5);

/// Frames the writer gathers at most before it flushes.
const MAX_FRAMES_PER_FLUSH: usize = 256;

/// Messages the reader handles at most in one go, when they are already
/// there, before it looks at its timer and signals again.
const MAX_BURST: usize = 64;

/// How often the engine pings a worker. The clients ping too (every ~20 s),
/// so a live worker is never silent for long.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// A worker silent this long (no frame, no ping, no pong) is taken for dead
/// (a vanished host does not close its TCP connection): its calls fail and
/// its triggers start their reconnect grace period.
const IDLE_LIMIT: Duration = Duration::from_secs(90);

struct Connection {
    app: AppState,
    link: Arc<WorkerLink>,
    in_flight: Arc<Semaphore>,
}

/// Why the read loop ended.
enum End {
    /// The worker closed the socket (or it broke).
    Peer,
    /// The worker sent a message larger than the socket accepts.
    TooBig,
    /// The worker stopped reading and its queue overflowed.
    Slow,
    /// Nothing arrived from the worker for `IDLE_LIMIT`.
    Idle,
    /// The worker sent a text frame that is not UTF-8.
    BadUtf8,
    /// The worker broke the WebSocket protocol (e.g. an unmasked frame).
    Protocol,
    /// The engine is shutting down, this connection's requests are done and
    /// no invocation forwarded to it is pending.
    Shutdown,
}

pub async fn run(socket: WebSocket, app: AppState) {
    let worker_id = Uuid::new_v4();
    let reattach_token = Uuid::new_v4();
    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel(app.config.outgoing_queue_per_connection.max(1));
    let link = Arc::new(WorkerLink::new(worker_id, tx, Arc::clone(&app.replies)));
    let mut writer = tokio::spawn(write_then_report(sink, rx, Arc::downgrade(&link)));
    let _ = link.send(
        frame::worker_registered_frame(
            &worker_id.as_hyphenated().to_string(),
            &reattach_token.as_hyphenated().to_string(),
        ),
        None,
    );
    app.metrics.worker_connected();
    app.functions.worker_connected(&link);
    tracing::debug!(worker = %worker_id, "worker connected");

    let max_in_flight = app.config.max_in_flight_per_connection.max(1);
    let conn = Arc::new(Connection {
        app: app.clone(),
        link: Arc::clone(&link),
        in_flight: Arc::new(Semaphore::new(max_in_flight)),
    });
    let end = conn.read_loop(&mut stream, max_in_flight).await;

    // Triggers first: a delivery whose call fails below must already see its
    // worker as gone, so that it waits for a reconnect instead of counting a
    // failed attempt.
    app.triggers.worker_gone(worker_id);
    app.functions.worker_gone(worker_id);
    // Let requests still running queue their replies (a closing peer may
    // still read them), then close.
    if matches!(end, End::Slow | End::Idle) {
        // Nothing more can be written to a worker that does not read.
        writer.abort();
    } else {
        let all = u32::try_from(max_in_flight).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(
            app.config.shutdown_drain_timeout,
            conn.in_flight.acquire_many(all),
        )
        .await;
        match end {
            End::TooBig => link.close(1009, "frame larger than the engine accepts"),
            End::BadUtf8 => link.close(1007, "text frame is not valid UTF-8"),
            End::Protocol => link.close(1002, "WebSocket protocol error"),
            End::Shutdown => link.close(1001, "engine shutting down"),
            _ => link.close(1000, ""),
        }
    }
    let refused = link.refused_frames();
    if refused > 0 {
        // The end of the incident `WorkerLink::send` warned about once.
        tracing::info!(worker = %worker_id, refused, "disconnected the worker that stopped reading; frames refused meanwhile");
    }
    drop(conn);
    drop(link);
    if tokio::time::timeout(WRITER_LINGER, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
    app.metrics.worker_disconnected();
    tracing::debug!(worker = %worker_id, "worker disconnected");
}

/// Runs the writer; when the socket fails (the peer went away, or it read
/// nothing for `write_timeout`), the connection is ended, so that its reader
/// stops taking requests whose replies could not be written.
async fn write_then_report(
    sink: SplitSink<WebSocket, Message>,
    rx: mpsc::Receiver<Outgoing>,
    link: Weak<WorkerLink>,
) {
    let Err(error) = write_loop(sink, rx).await else {
        return;
    };
    let Some(link) = link.upgrade() else { return };
    // `TimedWrites`' error, told apart by its text (axum hides the type).
    let text = error.to_string();
    if text.contains("read nothing") {
        tracing::info!(worker = %link.id, error = %text, "worker reads nothing; disconnecting it");
    } else {
        tracing::debug!(worker = %link.id, error = %text, "writing to the worker failed");
    }
    link.kill();
}

/// Writes queued frames; flushes once the queue is empty even after every
/// other ready task had its turn, so a burst of replies goes out in one
/// syscall.
///
/// Replies are produced by one task per request: when a read brings in a
/// dozen requests, the first reply wakes this task while the other requests
/// are still running. Yielding once before flushing lets them queue their
/// replies first (a yield is far cheaper than a `sendto`), so under load
/// many replies share one write. The queue stays bounded: a frame's
/// in-flight permit is released as soon as the frame is in the socket's
/// buffer, exactly as before.
///
/// A frame's reply-budget charge is held until the next frame is fed or the
/// flush is done: feeding a frame may leave it in the socket's own buffer
/// (the peer is slow), and the next feed first writes that buffer out.
///
/// `Err` when the socket failed; `Ok` once the close frame is sent or every
/// handle on the queue is gone.
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outgoing>,
) -> Result<(), axum::Error> {
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut unflushed = 0usize;
        let mut buffered = None;
        loop {
            while let Some(item) = next.take() {
                unflushed += 1;
                match item {
                    Outgoing::Frame(text, permit, charge) => {
                        sink.feed(Message::Text(text.into())).await?;
                        drop(permit);
                        buffered = Some(charge);
                    }
                    Outgoing::Ping => sink.feed(Message::Ping(Default::default())).await?,
                    Outgoing::Close(code, reason) => {
                        let close = CloseFrame {
                            code,
                            reason: reason.into(),
                        };
                        let _ = sink.send(Message::Close(Some(close))).await;
                        return Ok(());
                    }
                }
                next = rx.try_recv().ok();
            }
            // A worker streaming frames without pause still gets them
            // flushed regularly, not only when the stream stops.
            if unflushed >= MAX_FRAMES_PER_FLUSH {
                break;
            }
            tokio::task::yield_now().await;
            match rx.try_recv() {
                Ok(item) => next = Some(item),
                Err(_) => break,
            }
        }
        sink.flush().await?;
        drop(buffered);
    }
    Ok(())
}

type Next = (
    Option<OwnedSemaphorePermit>,
    Option<Result<Message, axum::Error>>,
);

/// The next message, with an in-flight slot for it unless draining.
async fn next_message(
    stream: &mut SplitStream<WebSocket>,
    in_flight: &Arc<Semaphore>,
    draining: bool,
) -> Next {
    let permit = if draining {
        None
    } else {
        // The semaphore is never closed.
        Arc::clone(in_flight).acquire_owned().await.ok()
    };
    (permit, stream.next().await)
}

impl Connection {
    async fn read_loop(
        self: &Arc<Self>,
        stream: &mut SplitStream<WebSocket>,
        max_in_flight: usize,
    ) -> End {
        let mut shutdown = self.app.shutdown.subscribe();
        let mut draining = false;
        let mut idle: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(std::future::pending());
        let mut heartbeat =
            tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_seen = tokio::time::Instant::now();
        // Made once, not on every turn of the loop: a fresh wait on a
        // `Notify` or a `watch` registers itself under a lock when first
        // polled and unregisters when dropped, which every message paid.
        let killed = self.link.killed();
        tokio::pin!(killed);
        let shutdown_begun = shutdown.wait_for(|begun| *begun);
        tokio::pin!(shutdown_begun);
        let replies = &self.app.replies;
        loop {
            // While the engine-wide reply budget is spent, read nothing
            // (requests are what make replies); a draining connection only
            // reads answers and refuses the rest, so it never waits.
            let waiting_for_room = !draining && !replies.has_room();
            tokio::select! {
                biased;
                _ = &mut killed => return End::Slow,
                _ = heartbeat.tick() => {
                    // Silence while this end does not read is not the worker's.
                    if !waiting_for_room && last_seen.elapsed() > IDLE_LIMIT {
                        tracing::info!(worker = %self.link.id, "worker silent for too long; disconnecting it");
                        return End::Idle;
                    }
                    self.link.ping();
                }
                _ = &mut shutdown_begun, if !draining => {
                    // Stop taking requests, but keep reading: the answers to
                    // invocations forwarded to this worker arrive here.
                    draining = true;
                    idle = Box::pin(self.drained(max_in_flight));
                }
                _ = &mut idle => return End::Shutdown,
                _ = replies.room(), if waiting_for_room => {
                    last_seen = tokio::time::Instant::now();
                }
                (permit, message) = next_message(stream, &self.in_flight, draining), if !waiting_for_room => {
                    last_seen = tokio::time::Instant::now();
                    if let Some(end) = self.on_message(message, permit, draining) {
                        return end;
                    }
                    // The other messages the last read brought in, without a
                    // turn of the select (and its polls of the timer, the
                    // kill switch and the shutdown signal) for each one.
                    for _ in 1..MAX_BURST {
                        let Some((permit, message)) = self.next_ready(stream, draining) else {
                            break;
                        };
                        if let Some(end) = self.on_message(message, permit, draining) {
                            return end;
                        }
                    }
                }
            }
        }
    }

    /// The next message if it is already there (read, or in the socket's
    /// buffer) and an in-flight slot is free for it and the reply budget
    /// has room (unless draining).
    fn next_ready(&self, stream: &mut SplitStream<WebSocket>, draining: bool) -> Option<Next> {
        let permit = if draining {
            None
        } else {
            if !self.app.replies.has_room() {
                return None;
            }
            Some(Arc::clone(&self.in_flight).try_acquire_owned().ok()?)
        };
        // Polled without this task's waker: when nothing is there, the
        // select polls the stream again (with it) before the task sleeps.
        let message = stream.next().now_or_never()?;
        Some((permit, message))
    }

    /// Handles one message of the worker; `Some` when it ends the
    /// connection.
    fn on_message(
        self: &Arc<Self>,
        message: Option<Result<Message, axum::Error>>,
        permit: Option<OwnedSemaphorePermit>,
        draining: bool,
    ) -> Option<End> {
        match message {
            None | Some(Ok(Message::Close(_))) => return Some(End::Peer),
            Some(Err(error)) => {
                let text = error.to_string();
                tracing::debug!(worker = %self.link.id, error = %text, "worker socket error");
                // The WebSocket library's errors, told apart by their text
                // (axum does not expose their type).
                if text.contains("too long") || text.contains("Space limit") {
                    return Some(End::TooBig);
                }
                if text.contains("UTF-8") {
                    return Some(End::BadUtf8);
                }
                if text.contains("protocol error") {
                    return Some(End::Protocol);
                }
                return Some(End::Peer);
            }
            Some(Ok(Message::Text(text))) => self.on_frame(text.as_str(), permit, draining),
            Some(Ok(Message::Binary(bytes))) => match std::str::from_utf8(&bytes) {
                Ok(text) => self.on_frame(text, permit, draining),
                Err(_) => self.on_binary_not_utf8(&bytes, permit),
            },
            // Pings are answered by the socket itself.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
        }
        None
    }

    /// Resolves once this connection may close on shutdown: no request of
    /// its own in flight (their replies written) and no invocation forwarded
    /// to it pending — or once `shutdown_drain_timeout` has passed. Requests
    /// of its own only decrease while draining (new ones are refused), so
    /// holding every slot while waiting for the forwarded ones makes both
    /// true at once.
    fn drained(&self, max_in_flight: usize) -> impl Future<Output = ()> + Send + 'static {
        let in_flight = Arc::clone(&self.in_flight);
        let functions = Arc::clone(&self.app.functions);
        let worker = self.link.id;
        let all = u32::try_from(max_in_flight).unwrap_or(u32::MAX);
        let drain = self.app.config.shutdown_drain_timeout;
        async move {
            let both = async {
                let _mine = in_flight.acquire_many_owned(all).await;
                functions.retire_when_idle(worker).await;
            };
            if tokio::time::timeout(drain, both).await.is_err() {
                tracing::warn!(%worker, "worker connection still busy after the drain timeout; closing it");
            }
        }
    }

    fn reply(
        &self,
        invocation_id: &Value,
        function_id: Option<&str>,
        outcome: Result<Option<Value>, ErrorBody>,
        permit: Option<OwnedSemaphorePermit>,
    ) {
        self.reply_with(invocation_id, function_id, outcome, permit);
    }

    /// [`Connection::reply`] with any result a frame can hold (a state function's
    /// [`state_fns::Reply`]).
    fn reply_with<R: frame::WriteJson>(
        &self,
        invocation_id: &Value,
        function_id: Option<&str>,
        outcome: Result<Option<R>, ErrorBody>,
        permit: Option<OwnedSemaphorePermit>,
    ) {
        let text = frame::result_frame(invocation_id, function_id, &outcome);
        let _ = self.link.send(text, permit);
    }

    /// A binary frame must hold UTF-8 JSON like a text frame; one that does
    /// not is answered like any other malformed frame, when its id can be
    /// read (an id with bytes that are not UTF-8 cannot be echoed back).
    fn on_binary_not_utf8(&self, bytes: &[u8], permit: Option<OwnedSemaphorePermit>) {
        tracing::debug!(worker = %self.link.id, "binary frame that is not UTF-8");
        let text = String::from_utf8_lossy(bytes);
        let id = scan_invocation_id(&text)
            .filter(|id| id.as_str().is_some_and(|id| !id.contains('\u{FFFD}')));
        if let Some(id) = id {
            let error = ErrorBody::new(
                "deserialization_error",
                "Failed to deserialize frame: a binary frame must hold UTF-8 JSON",
            );
            self.reply(&id, None, Err(error), permit);
        }
    }

    /// A frame above `max_frame_bytes` (but within what the socket reads).
    /// A request is refused `frame_too_large`. A worker's result to an
    /// invocation the engine forwarded cannot be relayed: its caller gets
    /// `result_too_large` now instead of waiting for the invocation timeout.
    fn on_oversized(&self, text: &str, limit: usize, permit: Option<OwnedSemaphorePermit>) {
        let bytes = text.len();
        let result_for = RawFrame::parse(text).ok().and_then(|frame| {
            let kind = frame.get("type").and_then(raw_str)?;
            if kind != "invocationresult" {
                return None;
            }
            match invocation_id(frame.get("invocation_id")) {
                Some(Value::String(id)) => Some(id),
                _ => None,
            }
        });
        if let Some(id) = result_for {
            tracing::warn!(worker = %self.link.id, bytes, limit, "function result too large to relay; its call fails");
            let error = ErrorBody::new(
                "result_too_large",
                format!(
                    "the function's result is {bytes} bytes, more than the engine's frame limit of {limit} bytes"
                ),
            );
            self.app.functions.fail(self.link.id, &id, error);
            return;
        }
        tracing::warn!(worker = %self.link.id, bytes, limit, "frame too large");
        if let Some(id) = scan_invocation_id(text) {
            let error = ErrorBody::new(
                "frame_too_large",
                format!("frame is {bytes} bytes, more than the limit of {limit} bytes"),
            );
            self.reply(&id, None, Err(error), permit);
        }
    }

    fn on_frame(
        self: &Arc<Self>,
        text: &str,
        permit: Option<OwnedSemaphorePermit>,
        draining: bool,
    ) {
        let limit = self.app.config.max_frame_bytes;
        if text.len() > limit {
            self.on_oversized(text, limit, permit);
            return;
        }
        let frame = match RawFrame::parse(text) {
            Ok(frame) => frame,
            Err(error) if error.is_data() => {
                tracing::debug!(worker = %self.link.id, "frame is JSON but not an object");
                return;
            }
            Err(error) => {
                tracing::debug!(worker = %self.link.id, %error, "frame is not JSON");
                if let Some(id) = scan_invocation_id(text) {
                    let error = ErrorBody::new(
                        "deserialization_error",
                        format!("Failed to deserialize frame: {error}"),
                    );
                    self.reply(&id, None, Err(error), permit);
                }
                return;
            }
        };
        let invocation_id = invocation_id(frame.get("invocation_id"));
        let raw_kind = frame.get("type");
        let Some(kind) = raw_kind.and_then(raw_str) else {
            if let Some(id) = invocation_id {
                let detail = match raw_kind {
                    None => "missing field `type`".to_owned(),
                    Some(raw) => format!(
                        "field `type`: invalid type: {}, expected a string",
                        raw_type_name(raw)
                    ),
                };
                let error = ErrorBody::new(
                    "deserialization_error",
                    format!("Failed to deserialize frame: {detail}"),
                );
                self.reply(&id, None, Err(error), permit);
            }
            return;
        };
        match &*kind {
            "invokefunction" => self.on_invoke(invocation_id, &frame, permit, draining),
            "invocationresult" => {
                if let Some(Value::String(id)) = invocation_id {
                    let result = frame.get("result").and_then(|r| raw_value(r).ok());
                    let error = frame.get("error").and_then(|e| raw_value(e).ok());
                    self.app
                        .functions
                        .complete(self.link.id, &id, result, error);
                }
            }
            "registerfunction" => self.on_register_function(&frame),
            "unregisterfunction" => {
                if let Some(id) = take_string(&frame, "id") {
                    self.app.functions.unregister(self.link.id, &id);
                }
            }
            "registertrigger" => self.on_register_trigger(&frame),
            "unregistertrigger" => {
                if let Some(id) = take_string(&frame, "id") {
                    self.app.triggers.unregister(self.link.id, &id);
                }
            }
            other => {
                // Messages of iii the engine has no use for (registerservice,
                // registertriggertype, ...) carry no invocation id.
                tracing::debug!(worker = %self.link.id, kind = other, "message ignored");
                if let Some(id) = invocation_id {
                    let error = ErrorBody::new(
                        "deserialization_error",
                        format!("Failed to deserialize frame: unknown message type `{other}`"),
                    );
                    self.reply(&id, None, Err(error), permit);
                }
            }
        }
    }

    fn on_invoke(
        self: &Arc<Self>,
        invocation_id: Option<Value>,
        frame: &RawFrame<'_>,
        permit: Option<OwnedSemaphorePermit>,
        draining: bool,
    ) {
        let void = invocation_id.is_none()
            || frame
                .get("action")
                .and_then(|a| raw_value(a).ok())
                .as_ref()
                .and_then(|a| a.get("type"))
                .and_then(Value::as_str)
                == Some("void");
        // A void call gets no reply, whatever happens.
        let reply_to = if void { None } else { invocation_id };
        let raw_function = frame.get("function_id");
        let Some(function_id) = raw_function.and_then(raw_str) else {
            if let Some(id) = reply_to {
                let detail = match raw_function {
                    None => "missing field `function_id`".to_owned(),
                    Some(raw) => format!(
                        "field `function_id`: invalid type: {}, expected a string",
                        raw_type_name(raw)
                    ),
                };
                let error = ErrorBody::new(
                    "deserialization_error",
                    format!("Failed to deserialize invokefunction: {detail}"),
                );
                self.reply(&id, None, Err(error), permit);
            }
            return;
        };
        if draining {
            if let Some(id) = reply_to {
                let error = ErrorBody::shutting_down();
                self.reply(&id, Some(&function_id), Err(error), permit);
            }
            return;
        }
        let data = frame.data();

        if let Some(function) = StateFn::from_id(&function_id) {
            // Arguments are decoded here, from the frame's text, straight
            // into what the call needs; the task owns them.
            let call = state_fns::Call::parse(function, data);
            let conn = Arc::clone(self);
            let request = async move {
                let outcome =
                    state_fns::call(&conn.app.state, &conn.app.metrics, function, call).await;
                match reply_to {
                    Some(id) => conn.reply_with(&id, Some(function.id()), outcome, permit),
                    None => drop(permit),
                }
            };
            // Polled once here, while the frame is read: a read (or a refused
            // call) usually completes at once — the embedded store reads its
            // snapshot without waiting — so it is answered without the cost
            // of a task, its reply queued with the others of this read burst.
            // A write reaches the commit loop now, which applies it while the
            // rest of the burst is still being read, instead of once every
            // frame of the burst has been read and its task has run. What
            // waits (a write's commit, a store that goes over the network)
            // continues in its own task.
            let mut request = Box::pin(request);
            if (&mut request).now_or_never().is_none() {
                tokio::spawn(request);
            }
            return;
        }
        let function_id = function_id.into_owned();
        let data = match data.map(RawData::to_value).transpose() {
            Ok(data) => data.unwrap_or(Value::Null),
            Err(error) => {
                if let Some(id) = reply_to {
                    let error = ErrorBody::deserialization(&function_id, error);
                    self.reply(&id, Some(&function_id), Err(error), permit);
                }
                return;
            }
        };
        if function_id == "engine::workers::register" {
            self.link.set_metadata(data);
            if let Some(id) = reply_to {
                self.reply(&id, Some(&function_id), Ok(None), permit);
            }
            return;
        }
        if function_id == crate::info::FUNCTION_ID {
            if let Some(id) = reply_to {
                let conn = Arc::clone(self);
                tokio::spawn(async move {
                    let outcome = crate::info::describe(&conn.app).await.map(Some);
                    conn.reply(&id, Some(crate::info::FUNCTION_ID), outcome, permit);
                });
            }
            return;
        }
        if is_reserved(&function_id) {
            if let Some(id) = reply_to {
                let error = ErrorBody::function_not_found(&function_id);
                self.reply(&id, Some(&function_id), Err(error), permit);
            }
            return;
        }

        let trace = TraceContext {
            traceparent: take_string(frame, "traceparent"),
            baggage: take_string(frame, "baggage"),
        };
        let Some(id) = reply_to else {
            if let Err(error) = self.app.functions.invoke_void(&function_id, &data, &trace) {
                tracing::debug!(function = %function_id, code = error.code(), "void invocation not delivered");
            }
            return;
        };
        // Forwarded now, while the request is read, not in the task: the
        // owner must count it as pending before it can decide to close.
        let functions = &self.app.functions;
        match functions.forward(&function_id, &data, &trace, Some(&self.app.shutdown)) {
            Err(error) => self.reply(&id, Some(&function_id), Err(error), permit),
            Ok(forwarded) => {
                let conn = Arc::clone(self);
                tokio::spawn(async move {
                    let outcome = conn.app.functions.outcome(forwarded, &function_id).await;
                    conn.reply(&id, Some(&function_id), outcome, permit);
                });
            }
        }
    }

    fn on_register_function(&self, frame: &RawFrame<'_>) {
        let Some(id) = take_string(frame, "id") else {
            tracing::warn!(worker = %self.link.id, "registerfunction without a string `id` ignored");
            return;
        };
        if id.is_empty() {
            // No call could name it on purpose; a caller's missing id would.
            tracing::warn!(worker = %self.link.id, "registerfunction with an empty `id` ignored");
            return;
        }
        if is_reserved(&id) {
            tracing::warn!(worker = %self.link.id, function = %id, "registerfunction of an engine function ignored");
            return;
        }
        self.app.functions.register(&self.link, id);
    }

    fn on_register_trigger(&self, frame: &RawFrame<'_>) {
        let id = take_string(frame, "id").unwrap_or_default();
        let trigger_type = take_string(frame, "trigger_type").unwrap_or_default();
        let function_id = take_string(frame, "function_id").unwrap_or_default();
        let spec = if id.is_empty() || function_id.is_empty() {
            let field = if id.is_empty() { "id" } else { "function_id" };
            Err(ErrorBody::deserialization(
                "registertrigger",
                format!("missing field `{field}`"),
            ))
        } else if trigger_type != "state" {
            Err(ErrorBody::new(
                "trigger_type_not_found",
                format!(
                    "Trigger type `{trigger_type}` is not supported; statewell serves `state` triggers."
                ),
            ))
        } else {
            let config = frame.get("config").and_then(|c| raw_value(c).ok());
            TriggerSpec::from_config(function_id.clone(), config)
        };
        match spec {
            Ok(spec) => self.app.triggers.register(self.link.id, id, spec),
            Err(error) => {
                tracing::warn!(worker = %self.link.id, trigger = %id, code = error.code(), "trigger registration refused");
                let text = frame::trigger_registration_failed_frame(
                    &id,
                    &trigger_type,
                    &function_id,
                    &error,
                );
                let _ = self.link.send(text, None);
            }
        }
    }
}

/// A string field of the frame; `None` when missing or of another type.
fn take_string(frame: &RawFrame<'_>, field: &str) -> Option<String> {
    frame.get(field).and_then(raw_str).map(|s| s.into_owned())
}
