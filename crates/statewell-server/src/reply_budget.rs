//! The engine-wide budget of reply bytes in flight: frames built for a
//! WebSocket peer (replies, forwarded invocations) and not yet handed to its
//! socket.
//!
//! Per connection, the engine bounds requests in flight and frames queued,
//! but those count frames, not bytes: a client that sends many `get`s of a
//! large value and never reads its replies held hundreds of megabytes per
//! connection. Every queued frame is [`ReplyBudget::charge`]d here until its
//! writer has handed it to the socket; while the total is at or above the
//! budget, no connection reads a new request ([`ReplyBudget::has_room`],
//! [`ReplyBudget::room`]). Requests already read still finish and queue their
//! replies, so the total may pass the budget by those replies; it cannot keep
//! growing. A peer that does not read at all is cut off by the write
//! timeout, which frees its share.
//!
//! Hot path: a charge is two relaxed atomic additions and a reference count,
//! never a lock; a reader's check is one atomic load.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

#[derive(Debug)]
pub struct ReplyBudget {
    limit: usize,
    used: AtomicUsize,
    /// The highest `used` has been since start, for `/metrics`.
    peak: AtomicUsize,
    /// Woken when `used` falls below `limit`.
    freed: Notify,
}

/// Bytes of one frame, counted until this is dropped (the frame was handed
/// to the socket, or dropped with its connection).
#[derive(Debug)]
pub struct Charge {
    budget: Arc<ReplyBudget>,
    bytes: usize,
}

impl ReplyBudget {
    pub fn new(limit: usize) -> Self {
        ReplyBudget {
            limit: limit.max(1),
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            freed: Notify::new(),
        }
    }

    /// Counts `bytes` of a frame about to be queued, whatever the total: the
    /// frame is built already, and refusing it would lose a reply.
    pub fn charge(self: &Arc<Self>, bytes: usize) -> Charge {
        let now = self.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if now > self.peak.load(Ordering::Relaxed) {
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
        Charge {
            budget: Arc::clone(self),
            bytes,
        }
    }

    /// True while a connection may read another request.
    pub fn has_room(&self) -> bool {
        self.used.load(Ordering::Relaxed) < self.limit
    }

    /// Resolves once the total is below the budget.
    pub async fn room(&self) {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Register before checking, so a release in between wakes us.
            freed.as_mut().enable();
            if self.has_room() {
                return;
            }
            freed.await;
        }
    }

    /// Bytes charged and not yet released.
    pub fn in_flight(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Appends the budget's series in Prometheus text format.
    pub fn render_prometheus(&self, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "# HELP statewell_reply_bytes_in_flight Bytes of frames built for WebSocket peers and not yet written to their sockets.\n\
             # TYPE statewell_reply_bytes_in_flight gauge\n\
             statewell_reply_bytes_in_flight {}\n\
             # HELP statewell_reply_bytes_in_flight_max The highest statewell_reply_bytes_in_flight since start.\n\
             # TYPE statewell_reply_bytes_in_flight_max gauge\n\
             statewell_reply_bytes_in_flight_max {}\n\
             # HELP statewell_reply_bytes_budget Reply bytes in flight at which the engine stops reading requests (--max-reply-bytes-in-flight).\n\
             # TYPE statewell_reply_bytes_budget gauge\n\
             statewell_reply_bytes_budget {}",
            self.in_flight(),
            self.peak.load(Ordering::Relaxed),
            self.limit
        );
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        let before = self.budget.used.fetch_sub(self.bytes, Ordering::Relaxed);
        let limit = self.budget.limit;
        // Exactly one release takes the total from at-or-above the budget
        // to below it: that one wakes the waiting readers.
        if before >= limit && before - self.bytes < limit {
            self.budget.freed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readers_wait_while_the_budget_is_spent_and_resume_when_freed() {
        let budget = Arc::new(ReplyBudget::new(100));
        let first = budget.charge(60);
        assert!(budget.has_room());
        let second = budget.charge(60);
        assert!(!budget.has_room());
        assert_eq!(budget.in_flight(), 120);

        let room = budget.room();
        tokio::pin!(room);
        assert!(futures::poll!(room.as_mut()).is_pending());
        drop(first);
        assert!(futures::poll!(room.as_mut()).is_ready());
        drop(second);
        assert_eq!(budget.in_flight(), 0);

        let mut text = String::new();
        budget.render_prometheus(&mut text);
        assert!(
            text.contains("statewell_reply_bytes_in_flight 0\n"),
            "{text}"
        );
        assert!(
            text.contains("statewell_reply_bytes_in_flight_max 120\n"),
            "{text}"
        );
        assert!(text.contains("statewell_reply_bytes_budget 100"), "{text}");
    }
}
