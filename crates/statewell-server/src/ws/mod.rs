//! The iii worker protocol over WebSocket at `/` (see `docs/PROTOCOL.md`),
//! and the telemetry socket `/otel`, accepted and discarded.

mod connection;
pub(crate) mod frame;
mod ops;
mod raw;
mod state_fns;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::response::Response;
use axum::routing::any;
use futures::StreamExt;

use crate::app::AppState;
use crate::listen::ConnectionSlot;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", any(worker))
        .route("/otel", any(telemetry))
}

/// The largest message the socket reads at all. Frames above
/// `max_frame_bytes` but below this get an error reply and the connection
/// stays usable; beyond it the connection is closed with 1009 (too big),
/// because the engine would have to buffer it to answer.
fn hard_limit(max_frame_bytes: usize) -> usize {
    max_frame_bytes.saturating_mul(2).max(64 * 1024)
}

fn configure(upgrade: WebSocketUpgrade, max_frame_bytes: usize) -> WebSocketUpgrade {
    let limit = hard_limit(max_frame_bytes);
    // The write buffer is left unbounded on purpose: it only grows past its
    // flush threshold by the one frame being written (a reply may be far
    // larger than any request, e.g. `state::list`), while a peer that stops
    // reading blocks the writer and overflows the connection's bounded queue
    // (see `WorkerLink::send`).
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(READ_CHUNK)
}

/// How much the socket reads at once. The WebSocket library zeroes this
/// much of its buffer before every read: its default (128 KiB) cost 4% of
/// the engine's CPU on small requests (a burst of a dozen requests is ~2
/// KiB). Larger frames still arrive whole, over several reads.
const READ_CHUNK: usize = 16 * 1024;

/// The connection's slot (its place within `max_connections` and in the
/// shutdown drain; absent when the router is served by something other than
/// `listen::serve`), kept by the upgraded socket until it closes.
type Slot = Option<Extension<ConnectionSlot>>;

async fn worker(upgrade: WebSocketUpgrade, State(app): State<AppState>, slot: Slot) -> Response {
    let max = app.config.max_frame_bytes;
    configure(upgrade, max).on_upgrade(move |socket| async move {
        connection::run(socket, app).await;
        drop(slot);
    })
}

async fn telemetry(upgrade: WebSocketUpgrade, State(app): State<AppState>, slot: Slot) -> Response {
    let max = app.config.max_frame_bytes;
    configure(upgrade, max).on_upgrade(move |socket| async move {
        discard(socket, app).await;
        drop(slot);
    })
}

/// Reads and drops everything a client sends on `/otel` until it closes or
/// the engine shuts down.
async fn discard(mut socket: WebSocket, app: AppState) {
    let _guard = app.shutdown.track();
    loop {
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = app.shutdown.wait() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        }
    }
}
