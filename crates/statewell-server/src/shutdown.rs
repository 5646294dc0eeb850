//! Graceful shutdown of long-lived connections.
//!
//! Every connection holds a [`ConnectionGuard`] until it closes: the accept
//! loop (`listen.rs`) takes one for each HTTP connection (kept by the
//! WebSocket it is upgraded to), and each worker connection takes its own.
//! A worker connection watches [`Shutdown::wait`]: when shutdown begins it
//! stops taking new requests, finishes the ones in flight, keeps reading until
//! every invocation forwarded to its worker is answered (another connection's
//! request may be waiting on it), sends a close frame and drops its guard.
//! [`crate::serve`] begins the shutdown when its future resolves and returns
//! only once every guard is gone (or a deadline passes).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, watch};

#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

struct Inner {
    signal: watch::Sender<bool>,
    active: AtomicUsize,
    idle: Notify,
}

impl Default for Shutdown {
    fn default() -> Self {
        let (signal, _) = watch::channel(false);
        Shutdown {
            inner: Arc::new(Inner {
                signal,
                active: AtomicUsize::new(0),
                idle: Notify::new(),
            }),
        }
    }
}

impl Shutdown {
    /// Tells every connection to finish its work and close. Idempotent.
    pub fn begin(&self) {
        self.inner.signal.send_replace(true);
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.inner.signal.borrow()
    }

    /// Resolves once [`Shutdown::begin`] has been called.
    pub async fn wait(&self) {
        let mut rx = self.inner.signal.subscribe();
        // The sender lives in `self`, so the channel cannot close under us.
        let _ = rx.wait_for(|begun| *begun).await;
    }

    /// A receiver of the shutdown flag, for loops that poll it often.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.inner.signal.subscribe()
    }

    /// Registers a live connection; dropping the guard unregisters it.
    pub fn track(&self) -> ConnectionGuard {
        self.inner.active.fetch_add(1, Ordering::SeqCst);
        ConnectionGuard {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Connections currently registered with [`Shutdown::track`].
    pub fn active_connections(&self) -> usize {
        self.inner.active.load(Ordering::SeqCst)
    }

    /// Resolves when no tracked connection is left.
    pub async fn connections_closed(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            // Register interest before checking, so a guard dropped between
            // the check and the await still wakes us.
            notified.as_mut().enable();
            if self.inner.active.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

pub struct ConnectionGuard {
    inner: Arc<Inner>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if self.inner.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}
