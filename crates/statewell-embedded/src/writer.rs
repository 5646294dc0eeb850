//! The commit loop: the only code that writes to the database.
//!
//! One std thread blocks for the first waiting command, drains whatever
//! else is already waiting (at most [`MAX_BATCH`]), applies the batch in
//! arrival order to the overlay of writes since the last checkpoint (see
//! `overlay`) — taking in the commands that arrive while it applies, so
//! applying overlaps the writers' arrival instead of waiting for the last
//! of them —, writes what it changed as ONE write-ahead log record (see
//! `wal`), and hands the batch, with a snapshot of the overlay, to the
//! publisher thread (see `publish`), which syncs the log, installs the
//! snapshot, publishes the change events and answers every waiter while
//! this loop goes on with the next batch. Once the log file being written
//! holds `checkpoint_bytes`, a checkpoint writes the overlay into redb in
//! one durable transaction on a thread of its own, while this loop goes on
//! with a new overlay and the other log file (see `checkpoint`).
//! Throughput therefore grows with the number of concurrent writers: the
//! cost of a sync is shared by the whole batch. A short batch waits briefly
//! for the writers the last commits saw (see [`Pace`]), so that concurrent
//! writers share one sync instead of splitting into alternating cohorts.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use statewell_core::{ChangeEvent, IdempotencyTable, Limits, StateError, now_ms};
use tokio::sync::broadcast;

use crate::Durability;
use crate::apply::{BatchState, apply_command, count_groups};
use crate::checkpoint::Checkpoints;
use crate::command::{Answer, Command};
use crate::counters::Counters;
use crate::pace::{MAX_BATCH, Pace};
use crate::publish::{Broken, Handoff};
use crate::read::Snapshot;
use crate::wal::{Wal, not_written};

/// The commit loop's state, owned by its thread (see the module docs).
pub(crate) struct Writer {
    /// The state after every batch applied so far: the data file as of the
    /// last checkpoint, and the overlay this loop applies batches to.
    pub current: Snapshot,
    pub rx: Receiver<Command>,
    /// For its receiver count only: events are built when someone listens.
    pub events: broadcast::Sender<Arc<ChangeEvent>>,
    pub limits: Limits,
    pub durability: Durability,
    pub counters: Arc<Counters>,
    /// Committed batches, to the publisher; bounded, so that a slow disk
    /// holds the loop back instead of piling up batches.
    pub handoffs: Option<SyncSender<Handoff>>,
    pub publisher: Option<JoinHandle<()>>,
    pub revision: u64,
    pub items: u64,
    /// When the oldest commit not yet synced was made (`batched` mode).
    pub unsynced_since: Option<Instant>,
    pub wal: Wal,
    /// When the overlay goes into the data file (see `checkpoint`).
    pub checkpoints: Checkpoints,
    /// Set by the publisher when a sync of the log failed: what is on disk
    /// is no longer known, so every later write is refused with it (a
    /// failed fsync cannot be retried safely), and not written. A restart
    /// replays the log.
    pub broken: Broken,
    /// The remembered idempotency keys (see `txn`): touched only by
    /// requests that carry one.
    pub idempotency: IdempotencyTable,
    /// Keys the table forgot whose entries the next batch removes.
    pub forget: Vec<String>,
}

impl Writer {
    /// Runs until every sender is gone and the queue is drained; then syncs
    /// whatever is not yet synced. Returns the error of that last sync.
    pub(crate) fn run(mut self) -> Result<(), StateError> {
        let mut pace = Pace::default();
        // Commands that queued while the previous batch was committing,
        // taken before its writers were answered (see `commit`): they open
        // the next batch, ahead of anything that arrives later.
        let mut behind: Vec<Command> = Vec::new();
        loop {
            let mut batch = std::mem::take(&mut behind);
            if batch.is_empty() {
                match self.next_command() {
                    Some(first) => batch.push(first),
                    None => break,
                }
            }
            let started = Instant::now();
            let (size, waited) = self.commit(batch, &pace, &mut behind);
            // The pace's wait is a share of the work a commit costs, not of
            // the time it spent waiting for writers.
            let worked = started.elapsed().saturating_sub(waited);
            pace.committed(size, behind.len(), worked);
        }
        // Every batch handed over is answered before the last checkpoint.
        drop(self.handoffs.take());
        if let Some(publisher) = self.publisher.take()
            && publisher.join().is_err()
        {
            return Err(StateError::Storage("the publisher thread panicked".into()));
        }
        if let Some(err) = self.broken.get() {
            return Err(err.clone());
        }
        // A clean close leaves nothing to replay at the next open.
        self.wal.sync().map_err(|e| {
            StateError::Storage(format!(
                "the write-ahead log could not be synced at close: {e}"
            ))
        })?;
        self.checkpoints
            .write_all(&mut self.current, &self.wal, self.revision)
    }

    fn drain(&self, batch: &mut Vec<Command>) {
        while batch.len() < MAX_BATCH {
            match self.rx.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
    }

    /// Takes more commands for a batch short of `target` (see [`Pace`]):
    /// whatever is already waiting (up to [`MAX_BATCH`]), else the next one
    /// to arrive before `deadline`. Returns whether it took any; adds the
    /// time it blocked to `waited`. A batch that reached its target takes
    /// no more: what arrives meanwhile opens the next one.
    fn top_up(
        &self,
        batch: &mut Vec<Command>,
        target: usize,
        deadline: Instant,
        waited: &mut Duration,
    ) -> bool {
        if batch.len() >= target.min(MAX_BATCH) {
            return false;
        }
        let before = batch.len();
        self.drain(batch);
        if batch.len() > before {
            return true;
        }
        let now = Instant::now();
        let Some(left) = deadline.checked_duration_since(now) else {
            return false;
        };
        let received = self.rx.recv_timeout(left);
        *waited += now.elapsed();
        match received {
            Ok(command) => {
                batch.push(command);
                true
            }
            Err(_) => false,
        }
    }

    /// Blocks for the next command; in `batched` mode wakes up in time to
    /// sync commits older than the interval. `None`: the store is closed.
    fn next_command(&mut self) -> Option<Command> {
        loop {
            let (Durability::Batched { interval }, Some(since)) =
                (self.durability, self.unsynced_since)
            else {
                return self.rx.recv().ok();
            };
            let deadline = since + interval;
            let now = Instant::now();
            if now >= deadline {
                if let Err(err) = self.sync_now() {
                    tracing::error!(%err, "background sync failed; retrying after the interval");
                    self.unsynced_since = Some(now);
                }
                continue;
            }
            match self.rx.recv_timeout(deadline - now) {
                Ok(command) => return Some(command),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Has the publisher sync the log records written since the last sync
    /// (`batched` mode's interval).
    fn sync_now(&mut self) -> Result<(), StateError> {
        if let Some(err) = self.broken.get() {
            return Err(err.clone());
        }
        if self.wal.take_unsynced() {
            hand_off(&self.handoffs, Handoff::Sync);
        }
        self.unsynced_since = None;
        Ok(())
    }

    /// Takes in the result of a checkpoint that finished, then starts the
    /// next one if it is due (see `Checkpoints::start_if_due`).
    fn checkpoint_if_due(&mut self) {
        self.checkpoints.finish(&mut self.current, &self.wal, false);
        if self.broken.get().is_some() {
            return;
        }
        let handoffs = &self.handoffs;
        self.checkpoints
            .start_if_due(&mut self.current, &mut self.wal, self.revision, |file| {
                hand_off(handoffs, Handoff::Switch(file))
            });
    }

    /// Commits `batch`, grown as `pace` asks while it applies, then has its
    /// waiters answered. Before answering, moves whatever queued during the
    /// commit into `behind`: those commands come from other writers than
    /// this batch's (which are still waiting for their answers), so
    /// `behind.len()` tells the pace how many writers the batch left out.
    /// Returns the batch's size and how long it waited for writers.
    fn commit(
        &mut self,
        mut batch: Vec<Command>,
        pace: &Pace,
        behind: &mut Vec<Command>,
    ) -> (usize, Duration) {
        // Everything already waiting joins the batch, whatever its target.
        self.drain(&mut batch);
        if let Some(err) = self.broken.get().cloned() {
            let size = batch.len();
            hand_off(&self.handoffs, Handoff::Failed { batch, err });
            return (size, Duration::ZERO);
        }
        let applied = self.apply(&mut batch, pace);
        self.drain(behind);
        let (answers, batch_state, waited) = match applied {
            Ok(result) => result,
            Err(err) => {
                // Nothing of the batch was committed: every waiter is told.
                tracing::error!(%err, size = batch.len(), "commit failed");
                let size = batch.len();
                hand_off(&self.handoffs, Handoff::Failed { batch, err });
                return (size, Duration::ZERO);
            }
        };
        let durable = match self.durability {
            Durability::Always => true,
            Durability::Batched { interval } => {
                batch.iter().any(|c| matches!(c, Command::Sync { .. }))
                    || self
                        .unsynced_since
                        .is_some_and(|since| since.elapsed() >= interval)
            }
        };
        // The view readers get once the publisher has synced this batch.
        let snapshot = batch_state.changed.then(|| Arc::new(self.current.clone()));

        let delta: i64 = batch_state.group_deltas.values().sum();
        self.items = self.items.saturating_add_signed(delta);
        self.revision = batch_state.revision;
        // Records already handed over with a sync request are covered by
        // that sync: the publisher handles handoffs in order.
        let sync = durable && self.wal.take_unsynced();
        if durable {
            self.unsynced_since = None;
        } else if self.unsynced_since.is_none() && self.wal.is_unsynced() {
            self.unsynced_since = Some(Instant::now());
        }
        let size = batch.len();
        let c = &self.counters;
        c.commits.fetch_add(1, Ordering::Relaxed);
        c.last_batch.store(size as u64, Ordering::Relaxed);
        c.max_batch.fetch_max(size as u64, Ordering::Relaxed);
        c.batched.fetch_add(size as u64, Ordering::Relaxed);

        hand_off(
            &self.handoffs,
            Handoff::Committed {
                sync,
                snapshot,
                events: batch_state.events,
                answers: batch.into_iter().zip(answers).collect(),
                revision: self.revision,
                items: self.items,
                record: batch_state.record,
            },
        );
        self.checkpoint_if_due();
        (size, waited)
    }

    /// Applies the batch to the overlay, taking in more commands as they
    /// arrive (see `top_up`) — so the batch's work overlaps its writers'
    /// arrival instead of starting once the last one is in —, then logs
    /// what it changed (the publisher syncs it). On an error — the log's
    /// record could not be written included (see `Wal::write`) — the
    /// overlay is put back as it was: nothing is half-applied, and the
    /// batch is not applied after a restart either.
    fn apply(
        &mut self,
        batch: &mut Vec<Command>,
        pace: &Pace,
    ) -> Result<(Vec<Answer>, BatchState, Duration), StateError> {
        let started = Instant::now();
        let deadline = started + pace.wait();
        let before = self.current.overlay.clone();
        self.wal.begin();
        let forgetting = std::mem::take(&mut self.forget);
        crate::txn::forget(&mut self.wal, &mut self.current, &forgetting);
        let mut state = BatchState::new(self.revision, self.events.receiver_count() > 0);
        let mut answers = Vec::with_capacity(batch.len().max(pace.target()));
        let mut waited = Duration::ZERO;
        let applied = self
            .apply_commands(batch, pace, deadline, &mut state, &mut answers, &mut waited)
            .and_then(|()| count_groups(&mut self.current, &state.group_deltas));
        if let Err(err) = applied {
            self.current.overlay = before;
            self.forget = forgetting;
            return Err(err);
        }
        state.changed = self.wal.has_ops();
        match self.wal.write(state.revision) {
            Ok(record) => state.record = record,
            Err(e) => {
                self.current.overlay = before;
                self.forget = forgetting;
                return Err(not_written(&e));
            }
        }
        if !state.remembered.is_empty() {
            let now = now_ms();
            for (key, entry) in state.remembered.drain(..) {
                let forgotten = self.idempotency.remember(key, entry, now);
                self.forget.extend(forgotten);
            }
            let len = self.idempotency.len() as u64;
            self.counters.idempotency_keys.store(len, Ordering::Relaxed);
        }
        Ok((answers, state, waited))
    }

    /// Applies the batch's commands one after the other, topping the batch
    /// up as `apply` says, and collects what each produced in `answers`.
    fn apply_commands(
        &mut self,
        batch: &mut Vec<Command>,
        pace: &Pace,
        deadline: Instant,
        state: &mut BatchState,
        answers: &mut Vec<Answer>,
        waited: &mut Duration,
    ) -> Result<(), StateError> {
        loop {
            let Some(command) = batch.get_mut(answers.len()) else {
                if self.top_up(batch, pace.target(), deadline, waited) {
                    continue;
                }
                return Ok(());
            };
            answers.push(apply_command(
                (&self.limits, &self.idempotency),
                &mut self.wal,
                &mut self.current,
                command,
                state,
            )?);
        }
    }
}

/// Sends `handoff` to the publisher. Sending fails only if the publisher
/// is gone (it panicked): the waiters' reply senders are dropped with the
/// handoff, and they see the store as closed.
fn hand_off(handoffs: &Option<SyncSender<Handoff>>, handoff: Handoff) {
    if let Some(handoffs) = handoffs {
        let _ = handoffs.send(handoff);
    }
}
