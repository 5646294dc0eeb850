//! The engine's handle on one connected worker: a bounded queue of frames to
//! write to its socket.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::Value;
use tokio::sync::{Notify, OwnedSemaphorePermit, mpsc};
use uuid::Uuid;

use crate::reply_budget::{Charge, ReplyBudget};

/// What the connection's writer task sends.
pub enum Outgoing {
    /// A text frame. The permit, when present, is the in-flight slot of the
    /// request this frame answers: it is released only once the frame is
    /// written, so a worker that does not read its replies stops being read
    /// from (backpressure) instead of growing the queue. The charge counts
    /// the frame's bytes in the engine-wide reply budget until the writer
    /// has handed it to the socket.
    Frame(String, Option<OwnedSemaphorePermit>, Charge),
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
    budget: Arc<ReplyBudget>,
    /// Raised when the worker must be disconnected (it stopped reading).
    kill: Notify,
    /// Set once the queue overflowed: the incident is logged once, and the
    /// frames refused after it are only counted (`refused`).
    overflowed: AtomicBool,
    refused: AtomicU64,
    /// What the worker said about itself in `engine::workers::register`.
    metadata: Mutex<Option<Value>>,
    /// When the connection was accepted (shown by `GET /v1/workers`).
    pub connected_at: SystemTime,
}

impl WorkerLink {
    pub fn new(id: Uuid, tx: mpsc::Sender<Outgoing>, budget: Arc<ReplyBudget>) -> Self {
        WorkerLink {
            id,
            tx,
            budget,
            kill: Notify::new(),
            overflowed: AtomicBool::new(false),
            refused: AtomicU64::new(0),
            metadata: Mutex::new(None),
            connected_at: SystemTime::now(),
        }
    }

    /// Queues a frame without waiting. A full queue means the worker is not
    /// reading: it is disconnected rather than allowed to grow the engine's
    /// memory.
    pub fn send(&self, frame: String, permit: Option<OwnedSemaphorePermit>) -> Result<(), Gone> {
        let charge = self.budget.charge(frame.len());
        match self.tx.try_send(Outgoing::Frame(frame, permit, charge)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.overflow();
                Err(Gone)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Gone),
        }
    }

    /// The queue overflowed. Frames keep arriving for a worker that does not
    /// read (its callers and triggers do not know yet): one warning for the
    /// incident, the rest counted and reported once the connection is gone.
    fn overflow(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        if !self.overflowed.swap(true, Ordering::Relaxed) {
            tracing::warn!(worker = %self.id, "worker is not reading its frames; disconnecting it");
            self.kill.notify_one();
        }
    }

    /// Frames refused because the queue was full (0 unless it overflowed).
    pub fn refused_frames(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Queues a heartbeat ping; skipped when the queue is full.
    pub fn ping(&self) {
        let _ = self.tx.try_send(Outgoing::Ping);
    }

    pub fn close(&self, code: u16, reason: &'static str) {
        let _ = self.tx.try_send(Outgoing::Close(code, reason));
    }

    /// Disconnects the worker: its socket can no longer be written (the
    /// writer failed or timed out).
    pub fn kill(&self) {
        self.kill.notify_one();
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
