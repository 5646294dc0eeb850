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
//! with a new overlay and the other log file (see `checkpoint_if_due`).
//! Throughput therefore grows with the number of concurrent writers: the
//! cost of a sync is shared by the whole batch. A short batch waits briefly
//! for the writers the last commits saw (see [`Pace`]), so that concurrent
//! writers share one sync instead of splitting into alternating cohorts.

use std::collections::HashMap;
use std::ops::{Bound, ControlFlow};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redb::Database;
use serde_json::Value;
use statewell_core::{
    Applied, ChangeEvent, Limits, Mutation, MutationOutcome, RawJson, StateError, UpdateOp,
    apply_mutation_owned, apply_mutation_unsized, change_event, raw_json, update::apply_to_text,
};
use tokio::sync::{broadcast, oneshot};

use crate::Durability;
use crate::codec::{
    decode_value, decode_value_and_text, encode_json, group_prefix, item_key, key_of, parse_json,
    prefix_end, stamp_version,
};
use crate::overlay::Overlay;
use crate::publish::{Broken, Handoff};
use crate::read::{Base, Snapshot, Stored, bounds};
use crate::tables::{GROUPS, ITEMS, META, META_LOG_LSN, META_REVISION, storage};
use crate::wal::Wal;

/// Largest batch committed at once: bounds the latency a batch adds and the
/// memory it holds, while being far above what a sync's worth of concurrent
/// writers usually queues.
pub(crate) const MAX_BATCH: usize = 4096;

pub(crate) enum Command {
    Write {
        mutation: Mutation,
        /// Whether the waiter wants the values as JSON text (see
        /// [`Written::texts`]) rather than parsed.
        texts: bool,
        reply: oneshot::Sender<Result<Written, StateError>>,
    },
    /// A set whose value its waiter already encoded (see
    /// `EmbeddedStore::write`): the commit thread, which every write waits
    /// for, only stamps the revision into it.
    Put {
        group: String,
        key: String,
        encoded: Vec<u8>,
        reply: oneshot::Sender<Result<Written, StateError>>,
    },
    Clear {
        group: String,
        reply: oneshot::Sender<Result<u64, StateError>>,
    },
    /// Forces the batch it lands in to be synced (for `batched` mode).
    Sync {
        reply: oneshot::Sender<Result<(), StateError>>,
    },
}

impl Command {
    /// Sends `done`, the result of this command, to its waiter.
    pub(crate) fn answer(self, done: Done) {
        match (self, done) {
            (Command::Write { reply, .. } | Command::Put { reply, .. }, Done::Write(result)) => {
                drop(reply.send(result))
            }
            (Command::Clear { reply, .. }, Done::Clear(n)) => drop(reply.send(Ok(n))),
            (Command::Sync { reply }, Done::Sync) => drop(reply.send(Ok(()))),
            (command, _) => command.fail(StateError::Storage(
                "internal: batch results out of step with commands".into(),
            )),
        }
    }

    pub(crate) fn fail(self, err: StateError) {
        // A waiter that went away (its task was cancelled) needs no answer.
        match self {
            Command::Write { reply, .. } | Command::Put { reply, .. } => drop(reply.send(Err(err))),
            Command::Clear { reply, .. } => drop(reply.send(Err(err))),
            Command::Sync { reply } => drop(reply.send(Err(err))),
        }
    }
}

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
}

pub(crate) struct Writer {
    pub db: Arc<Database>,
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
    /// Size of the log file being written that starts the next checkpoint.
    pub checkpoint_at: u64,
    /// The checkpoint running on its own thread, if any: it returns the
    /// data file's state once its commit is durable.
    pub checkpoint: Option<JoinHandle<Result<Base, StateError>>>,
    /// The revision and the last log record of the frozen overlay, while
    /// it is not yet in a durable checkpoint (the other log file holds its
    /// records and must not be written again).
    pub frozen_at: Option<(u64, u64)>,
    pub checkpoint_bytes: u64,
    /// Set when the log or redb failed after a batch was logged: what is on
    /// disk is no longer known, so every later write is refused with it
    /// (a failed fsync cannot be retried safely). A restart replays the log.
    pub broken: Broken,
}

/// The group-commit policy: how many commands a batch waits for, and how
/// long at most.
///
/// Committing as soon as one command waits splits N concurrent writers
/// into cohorts that alternate, each paying a whole sync: while cohort A
/// commits, cohort B queues; B then commits alone while A's writers come
/// back. Aiming only at the previous batch's size keeps that split forever
/// (each cohort meets its own size). So the target is the number of
/// writers seen around the last commit — its batch plus the commands that
/// queued behind it — which merges the cohorts into one batch per sync.
/// It decays by an eighth per commit rather than dropping at once, so one
/// short batch (a writer slow to come back) does not split them again,
/// while a real drop in load is followed within a few commits.
///
/// The wait is bounded by a quarter of the work of the previous commit
/// (at most [`MAX_WAIT`]; the time it spent waiting is not counted): when
/// the writers do come back it costs far less than the extra sync a split
/// costs them, and when they don't, a write waits at most 1.25 commits. A
/// lone writer (batch 1, nothing behind) has target 1 and never waits.
/// The batch is applied while it waits (see `Writer::apply`): the wait
/// delays its writers only by what is left of it once they are applied.
#[derive(Debug)]
struct Pace {
    target: usize,
    last_commit: Duration,
}

/// Upper bound of the group-commit wait, whatever a commit costs.
const MAX_WAIT: Duration = Duration::from_millis(2);

impl Default for Pace {
    fn default() -> Self {
        Pace {
            target: 1,
            last_commit: Duration::ZERO,
        }
    }
}

impl Pace {
    /// Records a commit of `size` commands that worked for `worked` (the
    /// time it spent waiting for writers excluded), with `behind` commands
    /// queued during it.
    fn committed(&mut self, size: usize, behind: usize, worked: Duration) {
        let seen = size.saturating_add(behind).min(MAX_BATCH);
        // Decay by at least one, so the target always falls back to `seen`.
        let decayed = self.target - self.target.div_ceil(8);
        self.target = seen.max(decayed).max(1);
        self.last_commit = worked;
    }

    /// The longest a batch short of the target waits for it.
    fn wait(&self) -> Duration {
        (self.last_commit / 4).min(MAX_WAIT)
    }
}

/// What one command of a batch produced, before the commit decides its fate.
// Nearly every command is a write, so boxing the write's result would only
// add an allocation per write to shrink the rare `Clear` and `Sync`.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Done {
    Write(Result<Written, StateError>),
    Clear(u64),
    Sync,
}

/// A write's outcome as the commit thread hands it to its waiter.
#[derive(Debug)]
pub(crate) struct Written {
    pub(crate) outcome: MutationOutcome,
    /// The value a [`Command::Put`] replaced, as its stored JSON text
    /// (checked, not parsed): the waiter parses it on its own thread (see
    /// [`Written::finish`]).
    pub(crate) replaced: Option<RawJson>,
    /// Both values as compact JSON text, for a [`Command::Write`] that asked
    /// for them (then `outcome` holds no values): the old one as it was
    /// stored, the new one as printed to be stored. The commit thread prints
    /// the new value anyway, so handing over that text spares the waiter's
    /// thread — the connections' — a second print.
    pub(crate) texts: Option<Texts>,
}

#[derive(Debug)]
pub(crate) struct Texts {
    pub(crate) old_value: Option<RawJson>,
    pub(crate) new_value: Option<RawJson>,
}

impl Written {
    /// The outcome, with the replaced value parsed.
    pub(crate) fn finish(self) -> Result<MutationOutcome, StateError> {
        let Written {
            mut outcome,
            replaced,
            texts: _,
        } = self;
        if let Some(raw) = replaced {
            outcome.old_value = Some(parse_json(&raw)?);
        }
        Ok(outcome)
    }

    /// The replaced value as JSON text, and the revision written.
    pub(crate) fn into_raw(self) -> Result<(Option<RawJson>, Option<u64>), StateError> {
        let old_value = match (self.replaced, &self.outcome.old_value) {
            (Some(raw), _) => Some(raw),
            // Parsed for an event: printed again.
            (None, Some(old)) => Some(raw_json(old)?),
            (None, None) => None,
        };
        Ok((old_value, self.outcome.version))
    }
}

/// The state a batch builds up inside its transaction.
struct Batch {
    revision: u64,
    events: Vec<ChangeEvent>,
    /// Change of each group's item count, applied once at the end of the batch.
    group_deltas: HashMap<String, i64>,
    want_events: bool,
    /// Whether the batch wrote anything (a log record, a new snapshot).
    changed: bool,
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
        self.wal.sync().map_err(|e| log_failed(&e))?;
        self.checkpoint_all()
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
            self.hand_off(Handoff::Sync);
        }
        self.unsynced_since = None;
        Ok(())
    }

    fn hand_off(&self, handoff: Handoff) {
        // Sending fails only if the publisher is gone (it panicked): the
        // waiters' reply senders are dropped with the handoff, and they
        // see the store as closed.
        if let Some(handoffs) = &self.handoffs {
            let _ = handoffs.send(handoff);
        }
    }

    /// Starts a checkpoint once the log file being written holds
    /// `checkpoint_bytes` and no checkpoint runs: the log goes on in its
    /// other file, the overlay is frozen (readers still see it, between
    /// the new overlay and the data file) and written into redb on a
    /// thread of its own. Also takes in the result of one that finished.
    fn checkpoint_if_due(&mut self) {
        self.finish_checkpoint(false);
        if self.checkpoint.is_some()
            || self.wal.len() < self.checkpoint_at
            || self.broken.get().is_some()
        {
            return;
        }
        let log_bytes = self.wal.len();
        let (revision, last_lsn) = if let Some(frozen_at) = self.frozen_at {
            // The last checkpoint failed: the same overlay is tried again.
            frozen_at
        } else {
            // Every record of the other file is in the data file (the
            // last checkpoint finished), so it can be written again.
            match self.wal.switch() {
                Ok(file) => self.hand_off(Handoff::Switch(file)),
                Err(e) => {
                    self.break_down(log_failed(&e));
                    return;
                }
            }
            self.current.frozen = std::mem::take(&mut self.current.overlay);
            let frozen_at = (self.revision, self.wal.next_lsn().saturating_sub(1));
            self.frozen_at = Some(frozen_at);
            frozen_at
        };
        let (db, frozen) = (Arc::clone(&self.db), self.current.frozen.clone());
        let started = Instant::now();
        let spawned = std::thread::Builder::new()
            .name("statewell-checkpoint".into())
            .spawn(move || {
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
            Ok(handle) => self.checkpoint = Some(handle),
            Err(err) => {
                tracing::error!(%err, "cannot start a checkpoint thread; trying again later");
                self.checkpoint_at = self.wal.len().saturating_add(self.checkpoint_bytes);
            }
        }
    }

    /// Takes in the result of the running checkpoint, if it finished (or
    /// once it has, with `wait`): the data file it left replaces the
    /// frozen overlay in the snapshots made from now on.
    fn finish_checkpoint(&mut self, wait: bool) {
        match &self.checkpoint {
            Some(handle) if wait || handle.is_finished() => {}
            _ => return,
        }
        let Some(handle) = self.checkpoint.take() else {
            return;
        };
        let result = handle
            .join()
            .unwrap_or_else(|_| Err(StateError::Storage("the checkpoint thread panicked".into())));
        match result {
            Ok(base) => {
                self.current.base = Arc::new(base);
                self.current.frozen = Overlay::default();
                self.frozen_at = None;
                self.checkpoint_at = self.checkpoint_bytes;
                self.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                // The log still holds everything: try again once it has
                // grown by another checkpoint's worth.
                tracing::error!(%err, "checkpoint failed; the write-ahead log keeps growing");
                self.checkpoint_at = self.wal.len().saturating_add(self.checkpoint_bytes);
            }
        }
    }

    /// The checkpoint of a clean close, on this thread: everything not yet
    /// in the data file (a failed checkpoint's overlay, then the newest)
    /// goes into one transaction.
    fn checkpoint_all(&mut self) -> Result<(), StateError> {
        self.finish_checkpoint(true);
        let current = &self.current;
        let last_lsn = self.wal.next_lsn().saturating_sub(1);
        let base = write_checkpoint(
            &self.db,
            &[&current.frozen, &current.overlay],
            self.revision,
            last_lsn,
        )?;
        self.current = Snapshot {
            base: Arc::new(base),
            frozen: Overlay::default(),
            overlay: Overlay::default(),
        };
        self.frozen_at = None;
        self.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Refuses every later write with `err` (see `broken`).
    fn break_down(&mut self, err: StateError) -> StateError {
        tracing::error!(%err, "the commit loop stops accepting writes");
        let _ = self.broken.set(err.clone());
        err
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
            self.hand_off(Handoff::Failed { batch, err });
            return (size, Duration::ZERO);
        }
        let applied = self.apply(&mut batch, pace);
        self.drain(behind);
        let (done, batch_state, waited) = match applied {
            Ok(result) => result,
            Err(err) => {
                // Nothing of the batch was committed: every waiter is told.
                tracing::error!(%err, size = batch.len(), "commit failed");
                let size = batch.len();
                self.hand_off(Handoff::Failed { batch, err });
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

        self.hand_off(Handoff::Committed {
            sync,
            snapshot,
            events: batch_state.events,
            answers: batch.into_iter().zip(done).collect(),
            revision: self.revision,
            items: self.items,
        });
        self.checkpoint_if_due();
        (size, waited)
    }

    /// Applies the batch to the overlay, taking in more commands as they
    /// arrive (see `top_up`) — so the batch's work overlaps its writers'
    /// arrival instead of starting once the last one is in —, then logs
    /// what it changed (the publisher syncs it). On an error before the log
    /// is written the overlay is put back as it was: nothing is
    /// half-applied. An error writing the log leaves the store broken (see
    /// `broken`).
    fn apply(
        &mut self,
        batch: &mut Vec<Command>,
        pace: &Pace,
    ) -> Result<(Vec<Done>, Batch, Duration), StateError> {
        let started = Instant::now();
        let deadline = started + pace.wait();
        let before = self.current.overlay.clone();
        self.wal.begin();
        let mut state = Batch {
            revision: self.revision,
            events: Vec::new(),
            group_deltas: HashMap::new(),
            want_events: self.events.receiver_count() > 0,
            changed: false,
        };
        let mut done = Vec::with_capacity(batch.len().max(pace.target));
        let mut waited = Duration::ZERO;
        let applied = self
            .apply_commands(batch, pace, deadline, &mut state, &mut done, &mut waited)
            .and_then(|()| count_groups(&mut self.current, &state.group_deltas));
        if let Err(err) = applied {
            self.current.overlay = before;
            return Err(err);
        }
        state.changed = self.wal.has_ops();
        if let Err(e) = self.wal.write(state.revision) {
            self.current.overlay = before;
            return Err(self.break_down(log_failed(&e)));
        }
        Ok((done, state, waited))
    }
}

impl Writer {
    /// Applies the batch's commands one after the other, topping the batch
    /// up as `apply` says, and collects what each produced in `done`.
    fn apply_commands(
        &mut self,
        batch: &mut Vec<Command>,
        pace: &Pace,
        deadline: Instant,
        state: &mut Batch,
        done: &mut Vec<Done>,
        waited: &mut Duration,
    ) -> Result<(), StateError> {
        loop {
            let Some(command) = batch.get_mut(done.len()) else {
                if self.top_up(batch, pace.target, deadline, waited) {
                    continue;
                }
                return Ok(());
            };
            let current = &mut self.current;
            done.push(match command {
                Command::Write {
                    mutation, texts, ..
                } => Done::Write(apply_write(
                    &self.limits,
                    &mut self.wal,
                    current,
                    (mutation, *texts),
                    state,
                )?),
                Command::Put {
                    group,
                    key,
                    encoded,
                    ..
                } => Done::Write(apply_put(
                    &mut self.wal,
                    current,
                    (group, key),
                    encoded,
                    state,
                )?),
                Command::Clear { group, .. } => {
                    Done::Clear(apply_clear(&mut self.wal, current, group, state)?)
                }
                Command::Sync { .. } => Done::Sync,
            });
        }
    }
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

/// Adds each group's change of item count to the overlay's counts (the
/// data file's are changed by `tables::store_group_counts` at replay and by
/// checkpoints).
fn count_groups(current: &mut Snapshot, deltas: &HashMap<String, i64>) -> Result<(), StateError> {
    for (group, delta) in deltas {
        if *delta != 0 {
            let count = current.group_count(group)?.saturating_add_signed(*delta);
            current.overlay.set_group_count(group, count);
        }
    }
    Ok(())
}

/// The outer error aborts the batch (storage failed); the inner one is
/// this mutation's own failure (validation), which changes nothing. With
/// `texts`, the values are answered as JSON text (see [`Written::texts`]).
fn apply_write(
    limits: &Limits,
    wal: &mut Wal,
    current: &mut Snapshot,
    (mutation, texts): (&Mutation, bool),
    state: &mut Batch,
) -> Result<Result<Written, StateError>, StateError> {
    let (group, key) = (mutation.group(), mutation.key());
    let stored_key = item_key(group, key);
    // Reads inside the transaction see the batch's earlier writes, so two
    // mutations of one key in a batch apply one after the other.
    let item = current.item(&stored_key)?;
    // An update answered as text with no event to publish: one increment of
    // a counter is applied to the stored text itself.
    if let (Some(stored), Mutation::Update { ops, .. }, true, false) =
        (&item, mutation, texts, state.want_events)
        && let Some((old, new)) = counter_text(stored, ops)
    {
        drop(item);
        return Ok(store_counter(
            limits,
            wal,
            current,
            &stored_key,
            (old, new),
            state,
        ));
    }
    let (current_value, old_text) = match item {
        Some(stored) => {
            let decoded = match texts {
                true => decode_value_and_text(stored.bytes())
                    .map(|(_, value, text)| (value, Some(text))),
                false => decode_value(stored.bytes()).map(|(_, value)| (value, None)),
            };
            match decoded {
                Ok((value, text)) => (Some(value), text),
                Err(err) => return Ok(Err(err)),
            }
        }
        None => (None, None),
    };
    let existed = current_value.is_some();
    // Sized below, by the encoding it gets anyway. The value before is
    // needed afterwards only by an event or an answer that is not text;
    // otherwise an update changes it in place rather than a copy of it.
    let keep_before = state.want_events || !texts;
    let (applied, current_value) = match keep_before {
        true => (
            apply_mutation_unsized(current_value.as_ref(), mutation),
            current_value,
        ),
        false => (apply_mutation_owned(current_value, mutation), None),
    };
    if !applied.changed {
        // Nothing is stored, so nothing was printed: the rare answer that
        // prints the value (an update whose every op failed, say).
        let texts = match texts {
            true => match applied.after.as_ref().map(raw_json).transpose() {
                Ok(new_value) => Some(Texts {
                    old_value: old_text,
                    new_value,
                }),
                Err(err) => return Ok(Err(err)),
            },
            false => None,
        };
        return Ok(Ok(written(current_value, applied, None, texts)));
    }
    let Some(revision) = state.revision.checked_add(1) else {
        return Ok(Err(revisions_exhausted()));
    };
    let mut new_text = None;
    match &applied.after {
        Some(value) => {
            let printed = raw_json(value).and_then(|text| {
                limits.check_value_len(text.get().len())?;
                Ok(text)
            });
            let text = match printed {
                Ok(text) => text,
                Err(err) => return Ok(Err(err)),
            };
            let bytes = encode_json(revision, text.get());
            wal.put(&stored_key, &bytes);
            current.overlay.put(&stored_key, Arc::from(bytes));
            if !existed {
                *state.group_deltas.entry(group.to_owned()).or_default() += 1;
            }
            new_text = Some(text);
        }
        None => {
            wal.remove(&stored_key);
            current.overlay.remove(&stored_key);
            *state.group_deltas.entry(group.to_owned()).or_default() -= 1;
        }
    }
    state.revision = revision;
    if state.want_events {
        let event = change_event(
            group,
            key,
            current_value.clone(),
            applied.after.clone(),
            revision,
        );
        state.events.extend(event);
    }
    let texts = texts.then_some(Texts {
        old_value: old_text,
        new_value: new_text,
    });
    Ok(Ok(written(current_value, applied, Some(revision), texts)))
}

/// The stored text (checked when read from the data file) and the new
/// one, when `ops` are one increment or decrement that [`apply_to_text`]
/// applies to it; `None` sends the update the parsed way (which also
/// reports a damaged stored value).
fn counter_text(stored: &Stored<'_>, ops: &[UpdateOp]) -> Option<(RawJson, String)> {
    // Other ops never apply: spare them the text.
    if !matches!(
        ops,
        [UpdateOp::Increment { .. } | UpdateOp::Decrement { .. }]
    ) {
        return None;
    }
    let (_, old) = stored.raw().ok()?;
    let new = apply_to_text(old.get(), ops)?;
    Some((old, new))
}

/// Stores a [`counter_text`] result for [`apply_write`]: the item exists
/// already, so no group count changes.
fn store_counter(
    limits: &Limits,
    wal: &mut Wal,
    current: &mut Snapshot,
    stored_key: &[u8],
    (old, new): (RawJson, String),
    state: &mut Batch,
) -> Result<Written, StateError> {
    let Some(revision) = state.revision.checked_add(1) else {
        return Err(revisions_exhausted());
    };
    limits.check_value_len(new.len())?;
    let bytes = encode_json(revision, &new);
    wal.put(stored_key, &bytes);
    current.overlay.put(stored_key, Arc::from(bytes));
    state.revision = revision;
    let applied = Applied {
        after: None,
        changed: true,
        op_errors: Vec::new(),
    };
    let texts = Texts {
        old_value: Some(old),
        // Valid JSON with one number replaced by a printed number.
        new_value: Some(RawJson::known_json_unchecked(new)),
    };
    Ok(written(None, applied, Some(revision), Some(texts)))
}

/// A [`Command::Write`]'s answer: the values parsed, or as `texts` when it
/// asked for them (the parsed ones are then dropped here, on the commit
/// thread, rather than on the waiter's).
fn written(
    old_value: Option<Value>,
    applied: Applied,
    version: Option<u64>,
    texts: Option<Texts>,
) -> Written {
    let (old_value, new_value) = match texts {
        Some(_) => (None, None),
        None => (old_value, applied.after),
    };
    Written {
        outcome: MutationOutcome {
            old_value,
            new_value,
            version,
            op_errors: applied.op_errors,
        },
        replaced: None,
        texts,
    }
}

/// Applies a [`Command::Put`]: stamps the revision into the value its waiter
/// encoded and stores it. The value it replaces goes back as text, checked
/// here (a damaged one fails the set, as it fails any other write) but
/// parsed by the waiter — unless an event carries it. Errors as
/// [`apply_write`]'s.
fn apply_put(
    wal: &mut Wal,
    current: &mut Snapshot,
    (group, key): (&str, &str),
    encoded: &mut [u8],
    state: &mut Batch,
) -> Result<Result<Written, StateError>, StateError> {
    let stored_key = item_key(group, key);
    let mut replaced = match current.item(&stored_key)? {
        Some(stored) => match stored.raw() {
            Ok((_, raw)) => Some(raw),
            Err(err) => return Ok(Err(err)),
        },
        None => None,
    };
    let existed = replaced.is_some();
    // An event needs both values parsed; done before anything is stored,
    // so that a failure changes nothing.
    let mut event_values = None;
    if state.want_events {
        let parsed = decode_value(encoded).and_then(|(_, new_value)| {
            let old_value = replaced.take().as_ref().map(parse_json).transpose()?;
            Ok((old_value, new_value))
        });
        match parsed {
            Ok(values) => event_values = Some(values),
            Err(err) => return Ok(Err(err)),
        }
    }
    let Some(revision) = state.revision.checked_add(1) else {
        return Ok(Err(revisions_exhausted()));
    };
    stamp_version(encoded, revision);
    wal.put(&stored_key, encoded);
    current.overlay.put(&stored_key, Arc::from(&*encoded));
    if !existed {
        *state.group_deltas.entry(group.to_owned()).or_default() += 1;
    }
    state.revision = revision;
    let mut old_value = None;
    if let Some((old, new)) = event_values {
        old_value = old.clone();
        state
            .events
            .extend(change_event(group, key, old, Some(new), revision));
    }
    Ok(Ok(Written {
        outcome: MutationOutcome {
            // Filled in by the waiter, which still holds the value.
            new_value: None,
            old_value,
            version: Some(revision),
            op_errors: Vec::new(),
        },
        replaced,
        texts: None,
    }))
}

pub(crate) fn log_failed(err: &std::io::Error) -> StateError {
    StateError::Storage(format!(
        "the write-ahead log could not be written or synced ({err}); writes are refused until \
         the engine restarts"
    ))
}

/// The revision read from disk is at its maximum (only a damaged or edited
/// file gets there): refuse the write rather than wrap to 0, which would
/// reorder every later event.
fn revisions_exhausted() -> StateError {
    StateError::Storage("corrupt data: the stored revision counter is at its maximum".into())
}

/// Removes every item of `group`; each removal takes its own revision and
/// raises its own `deleted` event, in key order.
fn apply_clear(
    wal: &mut Wal,
    current: &mut Snapshot,
    group: &str,
    state: &mut Batch,
) -> Result<u64, StateError> {
    let prefix = group_prefix(group);
    let end = prefix_end(&prefix);
    let want_events = state.want_events;
    // Read first, removed after: the overlay cannot change under its own
    // iterator. (An error stops the batch, which puts the overlay back.)
    let mut found: Vec<(Vec<u8>, Option<Value>)> = Vec::new();
    current.visit(
        bounds(Bound::Included(&prefix), end.as_deref()),
        |stored_key, bytes| {
            let value = want_events.then(|| decode_value(bytes)).transpose()?;
            found.push((stored_key.to_vec(), value.map(|(_, value)| value)));
            Ok(ControlFlow::Continue(()))
        },
    )?;
    let removed = found.len() as u64;
    for (stored_key, value) in found {
        state.revision = state
            .revision
            .checked_add(1)
            .ok_or_else(revisions_exhausted)?;
        if let Some(value) = value {
            let key = key_of(&stored_key, prefix.len())?;
            let event = change_event(group, &key, Some(value), None, state.revision);
            state.events.extend(event);
        }
        current.overlay.remove(&stored_key);
    }
    if removed > 0 {
        wal.clear(group);
        let delta = i64::try_from(removed).unwrap_or(i64::MAX);
        *state.group_deltas.entry(group.to_owned()).or_default() -= delta;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: Duration = Duration::from_millis(4);

    #[test]
    fn a_lone_writer_never_waits() {
        let mut pace = Pace::default();
        for _ in 0..100 {
            // A batch of one always meets the target: `top_up` is skipped.
            assert!(1 >= pace.target, "target {}", pace.target);
            pace.committed(1, 0, COMMIT);
        }
        assert_eq!(pace.target, 1);
    }

    #[test]
    fn two_alternating_cohorts_are_aimed_at_together() {
        let mut pace = Pace::default();
        // Cohort A (32) commits while cohort B (32) queues behind it.
        pace.committed(32, 32, COMMIT);
        assert_eq!(pace.target, 64);
        // The old policy aimed at 32 here, which B alone meets.
    }

    #[test]
    fn one_short_batch_does_not_split_the_writers_again() {
        let mut pace = Pace::default();
        pace.committed(64, 0, COMMIT);
        // A few writers were slow to come back: the target stays close.
        pace.committed(40, 0, COMMIT);
        assert_eq!(pace.target, 56);
        pace.committed(64, 0, COMMIT);
        assert_eq!(pace.target, 64);
    }

    #[test]
    fn a_drop_in_load_is_followed_within_a_few_commits() {
        let mut pace = Pace::default();
        pace.committed(64, 0, COMMIT);
        let mut commits = 0;
        while pace.target > 1 {
            let before = pace.target;
            pace.committed(1, 0, COMMIT);
            assert!(pace.target < before, "the target must fall at every commit");
            commits += 1;
        }
        assert!(commits <= 32, "{commits} commits to forget 64 writers");
        pace.committed(10, 0, COMMIT);
        assert_eq!(pace.target, 10);
    }

    #[test]
    fn the_target_never_exceeds_a_batch() {
        let mut pace = Pace::default();
        pace.committed(MAX_BATCH, MAX_BATCH, COMMIT);
        assert_eq!(pace.target, MAX_BATCH);
    }

    #[test]
    fn the_wait_is_a_quarter_of_a_commit_and_bounded() {
        let mut pace = Pace::default();
        assert_eq!(pace.wait(), Duration::ZERO, "no commit yet, no wait");
        pace.committed(64, 0, COMMIT);
        assert_eq!(pace.wait(), Duration::from_millis(1));
        pace.committed(64, 0, Duration::from_secs(1));
        assert_eq!(pace.wait(), MAX_WAIT);
    }
}
