//! Checkpoints: the overlay of the writes since the last one goes into the
//! data file, so that the log can start over.
//!
//! Once the log file being written holds `checkpoint_bytes`, the commit
//! loop (`writer`) goes on in the other log file (see `Wal::switch`), the
//! overlay is frozen (readers still see it, between the new overlay and
//! the data file) and written into redb in one durable transaction on a
//! thread of its own. The commit loop takes its result in between batches:
//! the data file it left replaces the frozen overlay in the snapshots made
//! from then on. A clean close writes whatever is left on the commit
//! thread itself ([`Checkpoints::write_all`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::Database;
use statewell_core::StateError;

use crate::counters::Counters;
use crate::logfile::LogFile;
use crate::overlay::Overlay;
use crate::publish::Broken;
use crate::read::{Base, Snapshot};
use crate::tables::{GROUPS, ITEMS, META, META_LOG_LSN, META_REVISION, storage};
use crate::wal::{LsnMark, Wal};

/// The commit loop's checkpoints: when the next one is due, the one
/// running, and the overlay it writes.
pub(crate) struct Checkpoints {
    db: Arc<Database>,
    /// Log bytes that start a checkpoint (`EmbeddedOptions::checkpoint_bytes`).
    every: u64,
    /// Size of the log file being written that starts the next checkpoint.
    due_at: u64,
    /// The checkpoint running on its own thread, if any: it returns the
    /// data file's state once its commit is durable.
    running: Option<JoinHandle<Result<Base, StateError>>>,
    /// The revision and the last log record of the frozen overlay, while
    /// it is not yet in a durable checkpoint (the other log file holds its
    /// records and must not be written again).
    frozen_at: Option<(u64, u64)>,
    counters: Arc<Counters>,
    /// How far batches were answered, and whether the log failed (see
    /// [`wait_answered`]).
    answered: LsnMark,
    broken: Broken,
}

impl Checkpoints {
    /// Checkpoints of `db` every `checkpoint_bytes` of log; `answered` and
    /// `broken` are the publisher's.
    pub(crate) fn new(
        db: Arc<Database>,
        checkpoint_bytes: u64,
        counters: Arc<Counters>,
        (answered, broken): (LsnMark, Broken),
    ) -> Self {
        Checkpoints {
            db,
            every: checkpoint_bytes,
            due_at: checkpoint_bytes,
            running: None,
            frozen_at: None,
            counters,
            answered,
            broken,
        }
    }

    /// Starts a checkpoint once the log file being written holds
    /// `checkpoint_bytes` and no checkpoint runs: the log goes on in its
    /// other file (handed to `switched`), the overlay of `current` (the
    /// commit loop's state, at `revision`) is frozen and written into redb
    /// on a thread of its own.
    pub(crate) fn start_if_due(
        &mut self,
        current: &mut Snapshot,
        wal: &mut Wal,
        revision: u64,
        switched: impl FnOnce(Arc<LogFile>),
    ) {
        if self.running.is_some() || wal.len() < self.due_at {
            return;
        }
        let log_bytes = wal.len();
        let (revision, last_lsn) = if let Some(frozen_at) = self.frozen_at {
            // The last checkpoint failed: the same overlay is tried again.
            frozen_at
        } else {
            // Every record of the other file is in the data file (the
            // last checkpoint finished), so it can be written again.
            switched(wal.switch());
            current.frozen = std::mem::take(&mut current.overlay);
            let frozen_at = (revision, wal.next_lsn().saturating_sub(1));
            self.frozen_at = Some(frozen_at);
            frozen_at
        };
        let (db, frozen) = (Arc::clone(&self.db), current.frozen.clone());
        let (answered, broken) = (self.answered.clone(), Arc::clone(&self.broken));
        let started = Instant::now();
        let spawned = std::thread::Builder::new()
            .name("statewell-checkpoint".into())
            .spawn(move || {
                wait_answered(&answered, &broken, last_lsn)?;
                let base = write_checkpoint(&db, &[&frozen], revision, last_lsn)?;
                tracing::debug!(
                    log_bytes,
                    changes = frozen.len(),
                    took_ms = started.elapsed().as_secs_f64() * 1e3,
                    "checkpoint"
                );
                Ok(base)
            });
        match spawned {
            Ok(handle) => self.running = Some(handle),
            Err(err) => {
                tracing::error!(%err, "cannot start a checkpoint thread; trying again later");
                self.due_at = wal.len().saturating_add(self.every);
            }
        }
    }

    /// Takes in the result of the running checkpoint, if it finished (or
    /// once it has, with `wait`): the data file it left replaces the
    /// frozen overlay of `current`, and so of the snapshots made from now
    /// on.
    pub(crate) fn finish(&mut self, current: &mut Snapshot, wal: &Wal, wait: bool) {
        match &self.running {
            Some(handle) if wait || handle.is_finished() => {}
            _ => return,
        }
        let Some(handle) = self.running.take() else {
            return;
        };
        let result = handle
            .join()
            .unwrap_or_else(|_| Err(StateError::Storage("the checkpoint thread panicked".into())));
        match result {
            Ok(base) => {
                current.base = Arc::new(base);
                current.frozen = Overlay::default();
                self.frozen_at = None;
                self.due_at = self.every;
                self.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                // The log still holds everything: try again once it has
                // grown by another checkpoint's worth.
                tracing::error!(%err, "checkpoint failed; the write-ahead log keeps growing");
                self.due_at = wal.len().saturating_add(self.every);
            }
        }
    }

    /// The checkpoint of a clean close, on the caller's thread: everything
    /// of `current` not yet in the data file (a failed checkpoint's
    /// overlay, then the newest) goes into one transaction.
    pub(crate) fn write_all(
        &mut self,
        current: &mut Snapshot,
        wal: &Wal,
        revision: u64,
    ) -> Result<(), StateError> {
        self.finish(current, wal, true);
        let last_lsn = wal.next_lsn().saturating_sub(1);
        let base = write_checkpoint(
            &self.db,
            &[&current.frozen, &current.overlay],
            revision,
            last_lsn,
        )?;
        *current = Snapshot {
            base: Arc::new(base),
            frozen: Overlay::default(),
            overlay: Overlay::default(),
        };
        self.frozen_at = None;
        self.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Waits until every batch up to `last_lsn` was answered as a success: a
/// batch is applied to the overlay before its sync, and one refused when
/// its sync fails must not reach the data file (see `publish`). Fails once
/// the log has failed: then some may be refused. The publisher answers a
/// batch within a sync of its handoff; this thread is on no waiter's path,
/// so it polls.
fn wait_answered(answered: &LsnMark, broken: &Broken, last_lsn: u64) -> Result<(), StateError> {
    while answered.get() < last_lsn {
        if let Some(err) = broken.get() {
            return Err(err.clone());
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(())
}

/// Writes `layers` (oldest first: a later one's change of a key wins) into
/// the data file in one durable transaction, with the revision and the lsn
/// of the last log record they hold; returns the state it leaves. Redb
/// allows one write transaction at a time: only checkpoints write to it.
fn write_checkpoint(
    db: &Database,
    layers: &[&Overlay],
    revision: u64,
    last_lsn: u64,
) -> Result<Base, StateError> {
    let txn = db.begin_write().map_err(storage)?;
    {
        let mut items = txn.open_table(ITEMS).map_err(storage)?;
        let mut groups = txn.open_table(GROUPS).map_err(storage)?;
        for layer in layers {
            for (stored_key, bytes) in layer.items() {
                match bytes {
                    Some(bytes) => drop(items.insert(stored_key, bytes).map_err(storage)?),
                    None => drop(items.remove(stored_key).map_err(storage)?),
                }
            }
            for (group, count) in layer.groups() {
                if count == 0 {
                    groups.remove(group).map_err(storage)?;
                } else {
                    groups.insert(group, count).map_err(storage)?;
                }
            }
        }
        let mut meta = txn.open_table(META).map_err(storage)?;
        meta.insert(META_REVISION, revision).map_err(storage)?;
        meta.insert(META_LOG_LSN, last_lsn).map_err(storage)?;
    }
    txn.commit().map_err(storage)?;
    Base::open(db)
}
