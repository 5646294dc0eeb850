//! The engine's handle on one connected worker: a bounded queue of frames to
//! write to its socket.

use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::Value;
use tokio::sync::{Notify, OwnedSemaphorePermit, mpsc};
use uuid::Uuid;

/// What the connection's writer task sends.
pub enum Outgoing {
    /// A text frame. The permit, when present, is the in-flight slot of the
    /// request this frame answers: it is released only once the frame is
    /// written, so a worker that does not read its replies stops being read
    /// from (backpressure) instead of growing the queue.
    Frame(String, Option<OwnedSemaphorePermit>),
    /// A WebSocket ping (heartbeat).
    Ping,
    /// A close frame; the writer stops after it.
    Close(u16, &'static str),
}

/// The queue is full or the connection is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

pub struct WorkerLink {
    pub id: Uuid,
    tx: mpsc::Sender<Outgoing>,
    /// Raised when the worker must be disconnected (it stopped reading).
    kill: Notify,
    /// What the worker said about itself in `engine::workers::register`.
    metadata: Mutex<Option<Value>>,
    /// When the connection was accepted (shown by `GET /v1/workers`).
    pub connected_at: SystemTime,
}

impl WorkerLink {
    pub fn new(id: Uuid, tx: mpsc::Sender<Outgoing>) -> Self {
        WorkerLink {
            id,
            tx,
            kill: Notify::new(),
            metadata: Mutex::new(None),
            connected_at: SystemTime::now(),
        }
    }

    /// Queues a frame without waiting. A full queue means the worker is not
    /// reading: it is disconnected rather than allowed to grow the engine's
    /// memory.
    pub fn send(&self, frame: String, permit: Option<OwnedSemaphorePermit>) -> Result<(), Gone> {
        match self.tx.try_send(Outgoing::Frame(frame, permit)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(worker = %self.id, "worker is not reading its frames; disconnecting it");
                self.kill.notify_one();
                Err(Gone)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Gone),
        }
    }

    /// Queues a heartbeat ping; skipped when the queue is full.
    pub fn ping(&self) {
        let _ = self.tx.try_send(Outgoing::Ping);
    }

    pub fn close(&self, code: u16, reason: &'static str) {
        let _ = self.tx.try_send(Outgoing::Close(code, reason));
    }

    /// Resolves when the worker must be disconnected.
    pub async fn killed(&self) {
        self.kill.notified().await;
    }

    pub fn set_metadata(&self, metadata: Value) {
        *self.metadata.lock().unwrap_or_else(|p| p.into_inner()) = Some(metadata);
    }

    pub fn metadata(&self) -> Option<Value> {
        self.metadata
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
