//! How an embedded store is opened: its durability mode and its limits.

use std::time::Duration;

use statewell_core::Limits;

/// When a write reaches the disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// The default: a write is acknowledged only after the commit holding it
    /// is synced to disk. Concurrent writes share one commit and one sync.
    #[default]
    Always,
    /// Commits are not synced one by one; a sync runs at least every
    /// `interval` (and on `sync()` and on close). A power loss or a kill may
    /// lose the writes acknowledged during the last interval.
    Batched { interval: Duration },
}

/// Options of [`crate::EmbeddedStore::open`]. Build with
/// `EmbeddedOptions { durability, ..Default::default() }` so that fields
/// added later do not break callers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmbeddedOptions {
    pub durability: Durability,
    /// Checked again inside the commit loop, for values an update produces.
    pub limits: Limits,
}
