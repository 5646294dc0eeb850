//! The figures the commit loop and the publisher keep for `stats()`.

use std::sync::atomic::AtomicU64;

/// Figures shared with the store for `stats()`; written by the writer and
/// (revision, items, syncs: what readers can see) the publisher.
#[derive(Default)]
pub(crate) struct Counters {
    pub revision: AtomicU64,
    pub items: AtomicU64,
    pub commits: AtomicU64,
    pub last_batch: AtomicU64,
    pub max_batch: AtomicU64,
    /// Commands committed, across all batches (for the average batch size).
    pub batched: AtomicU64,
    /// Syncs of the write-ahead log (by the publisher; in `always` mode one
    /// per group of batches handed over while the previous sync ran).
    pub syncs: AtomicU64,
    /// Durable redb commits that let the log start over.
    pub checkpoints: AtomicU64,
    /// Idempotency keys the commit thread remembers.
    pub idempotency_keys: AtomicU64,
}
