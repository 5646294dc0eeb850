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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedOptions {
    pub durability: Durability,
    /// Checked again inside the commit loop, for values an update produces.
    pub limits: Limits,
    /// Size of write-ahead log after which the data file is made durable
    /// and the log starts over (a checkpoint). Larger: fewer, longer
    /// checkpoints and more to replay after a crash.
    pub checkpoint_bytes: u64,
    /// Open a damaged write-ahead log anyway (`false`, the default, refuses
    /// it with `data_directory`): a synced record is missing or unreadable
    /// while later ones are there. The records from the damage on —
    /// acknowledged writes — are dropped; a copy of each log file is kept
    /// next to it (`wal.log.damaged`) and what was dropped is logged at
    /// ERROR. A recovery step for an operator, not a setting to leave on.
    pub accept_log_damage: bool,
}

/// 8 MiB: about 30,000 writes of 200-byte values — a fraction of a second
/// to replay at open, and checkpoints rare enough to cost little.
pub const DEFAULT_CHECKPOINT_BYTES: u64 = 8 << 20;

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            durability: Durability::default(),
            limits: Limits::default(),
            checkpoint_bytes: DEFAULT_CHECKPOINT_BYTES,
            accept_log_damage: false,
        }
    }
}
