//! The publisher: the second half of a commit, on its own thread.
//!
//! The commit loop (`writer`) applies a batch to its overlay and writes its
//! log record without a sync, then hands the batch over here and goes on
//! with the next one. This thread syncs the log (one `fdatasync` for every
//! batch handed over since the last one), then, batch by batch in commit
//! order, installs the read snapshot, publishes the change events and
//! answers the waiters. So the sync of one batch overlaps the apply of the
//! next, and no waiter is answered, and no reader sees a write, before the
//! log record holding it is on disk. This thread is the only one that syncs
//! the log while the store is open, so that a sync's failure is seen by the
//! thread that answers for it (Linux reports a failed writeback to one
//! `fdatasync` only).
//!
//! A failed sync leaves unknown what reached the disk, and cannot be
//! retried safely: every batch not yet answered, and every later one, is
//! refused. Their records are *withdrawn* first — zeros written over each
//! and synced — so that a restart does not replay what was refused: the
//! answer says the write was not applied, or, when even the withdrawal
//! fails, that its outcome is unknown.

use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, OnceLock};

use statewell_core::{ChangeEvent, StateError};
use tokio::sync::broadcast;

use crate::command::{Answer, Command};
use crate::counters::Counters;
use crate::logfile::LogFile;
use crate::read::{Snapshot, SnapshotCache};
use crate::wal::{LsnMark, Span, not_synced, outcome_unknown};

/// Most handoffs taken per sync: bounds how long the first waiter of a
/// group waits for the last one's turn.
const MAX_GROUP: usize = 256;

/// A batch the commit loop is done with.
pub(crate) enum Handoff {
    /// Applied, its log record written but not necessarily synced.
    Committed {
        /// Sync the log before answering (`always` mode, or a `sync()`).
        sync: bool,
        /// The read view that includes the batch; `None` when it changed
        /// nothing, so the current one still holds.
        snapshot: Option<Arc<Snapshot>>,
        events: Vec<ChangeEvent>,
        answers: Vec<(Command, Answer)>,
        revision: u64,
        items: u64,
        /// Where the batch's log record went, when it wrote one.
        record: Option<Span>,
    },
    /// Nothing of the batch was committed: every waiter gets `err`.
    Failed {
        batch: Vec<Command>,
        err: StateError,
    },
    /// Sync the log (`batched` mode's interval); nobody waits for it.
    Sync,
    /// The commit loop goes on in this log file (see `Wal::switch`): the
    /// records handed over before are in the one it leaves, which is synced
    /// before any later record is answered; later syncs are of this one.
    Switch(Arc<LogFile>),
}

/// The first failure after which nothing on disk can be trusted to match
/// what was acknowledged (see `Writer::broken`); set by the publisher,
/// read by both threads.
pub(crate) type Broken = Arc<OnceLock<StateError>>;

pub(crate) struct Publisher {
    pub rx: Receiver<Handoff>,
    /// The log file being written, for `fdatasync`.
    pub log: Arc<LogFile>,
    pub events: broadcast::Sender<Arc<ChangeEvent>>,
    pub counters: Arc<Counters>,
    pub snapshots: Arc<SnapshotCache>,
    pub broken: Broken,
    /// Raised after each sync to the last record handed over before it.
    pub durable: LsnMark,
    /// Raised to each record whose batch was answered as a success: a
    /// checkpoint writes no batch before (see `checkpoint`).
    pub answered: LsnMark,
}

/// What the publisher knows of the log beyond the handoffs at hand.
#[derive(Default)]
struct LogState {
    /// The last record handed over in a segment taken in so far.
    handed: u64,
    /// Records were written to `log` since its last sync (answered without
    /// one, in `batched` mode): a switch syncs them.
    unsynced: bool,
    /// Why a sync failed, once one did.
    failed: Option<String>,
}

/// How the waiters of a segment are answered once a sync failed.
struct Refusal {
    /// For a batch with a log record: not applied if it was withdrawn,
    /// else its outcome is unknown.
    recorded: StateError,
    /// For a batch that wrote nothing.
    unrecorded: StateError,
}

impl Publisher {
    /// Runs until the commit loop drops its sender and every handoff is
    /// answered.
    pub(crate) fn run(mut self) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        let mut segment = Vec::with_capacity(MAX_GROUP);
        let mut state = LogState::default();
        while let Ok(first) = self.rx.recv() {
            group.push(first);
            while group.len() < MAX_GROUP {
                match self.rx.try_recv() {
                    Ok(handoff) => group.push(handoff),
                    Err(_) => break,
                }
            }
            // A switch splits the group: the records handed over before it
            // are in the file it leaves, which one sync covers, and are
            // answered before the records of the next file.
            for handoff in group.drain(..) {
                match handoff {
                    Handoff::Switch(file) => {
                        self.settle(&mut segment, &mut state);
                        if state.unsynced && state.failed.is_none() {
                            self.sync(&mut state);
                        }
                        self.log = file;
                        state.unsynced = false;
                    }
                    other => segment.push(other),
                }
            }
            self.settle(&mut segment, &mut state);
        }
    }

    /// Syncs the log if a handoff of `segment` (records of one file) asks
    /// for it, then answers its handoffs in order; after a failed sync,
    /// withdraws their records and refuses them.
    fn settle(&self, segment: &mut Vec<Handoff>, state: &mut LogState) {
        if segment.is_empty() {
            return;
        }
        let mut asked = false;
        for handoff in segment.iter() {
            match handoff {
                Handoff::Committed { sync, record, .. } => {
                    asked |= *sync;
                    if let Some(span) = record {
                        state.handed = state.handed.max(span.lsn);
                        state.unsynced = true;
                    }
                }
                Handoff::Sync => asked = true,
                Handoff::Failed { .. } | Handoff::Switch(_) => {}
            }
        }
        // One verdict for the segment: a sync covers every record written
        // before it, and after a failure nothing is answered as a success
        // (a failed fsync cannot be retried safely).
        if asked && state.failed.is_none() {
            self.sync(state);
        }
        let refusal = state
            .failed
            .as_deref()
            .map(|failed| self.withdraw(segment, failed));
        for handoff in segment.drain(..) {
            self.publish(handoff, refusal.as_ref());
        }
    }

    /// Syncs the log file: on success every record handed over so far is
    /// durable; on failure the store is broken from now on.
    fn sync(&self, state: &mut LogState) {
        match self.log.sync_data() {
            Ok(()) => {
                self.counters.syncs.fetch_add(1, Ordering::Relaxed);
                self.durable.raise(state.handed);
                state.unsynced = false;
            }
            Err(e) => {
                let failed = e.to_string();
                let err = not_synced(&failed);
                tracing::error!(%err, "the commit loop stops accepting writes");
                let _ = self.broken.set(err);
                state.failed = Some(failed);
            }
        }
    }

    /// Writes zeros over the records of `segment`'s batches, which are to
    /// be refused, and syncs them, so that a restart does not replay them;
    /// returns how to answer their waiters.
    fn withdraw(&self, segment: &[Handoff], failed: &str) -> Refusal {
        let unrecorded = not_synced(failed);
        let spans = segment.iter().filter_map(|handoff| match handoff {
            Handoff::Committed { record, .. } => *record,
            _ => None,
        });
        let mut any = false;
        let mut withdrawn = Ok(());
        for span in spans {
            any = true;
            withdrawn = self.log.write_zeros(span.at, span.len);
            if withdrawn.is_err() {
                break;
            }
        }
        if any && withdrawn.is_ok() {
            withdrawn = self.log.sync_data();
        }
        let recorded = match withdrawn {
            Ok(()) => unrecorded.clone(),
            Err(e) => {
                let err = outcome_unknown(failed, &e);
                tracing::error!(%err, "a refused write may be replayed after a restart");
                err
            }
        };
        Refusal {
            recorded,
            unrecorded,
        }
    }

    fn publish(&self, handoff: Handoff, refusal: Option<&Refusal>) {
        match handoff {
            Handoff::Sync | Handoff::Switch(_) => {}
            Handoff::Failed { batch, err } => {
                for command in batch {
                    command.fail(err.clone());
                }
            }
            Handoff::Committed {
                snapshot,
                events,
                answers,
                revision,
                items,
                record,
                ..
            } => {
                if let Some(refusal) = refusal {
                    // Its sync (or an earlier one) failed: not acknowledged.
                    let err = match record {
                        Some(_) => &refusal.recorded,
                        None => &refusal.unrecorded,
                    };
                    for (command, _) in answers {
                        command.fail(err.clone());
                    }
                    return;
                }
                if let Some(snapshot) = snapshot {
                    self.snapshots.install(snapshot);
                }
                self.counters.revision.store(revision, Ordering::Relaxed);
                self.counters.items.store(items, Ordering::Relaxed);
                // Events first, so that a waiter that reads the stream after
                // its answer finds its own event there. One thread publishes,
                // in the order the batches applied: commit order.
                for event in events {
                    // No receiver is not an error: nobody is listening.
                    let _ = self.events.send(Arc::new(event));
                }
                for (command, answer) in answers {
                    command.answer(answer);
                }
                if let Some(span) = record {
                    self.answered.raise(span.lsn);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use statewell_core::{Mutation, MutationOutcome};
    use tokio::sync::oneshot;

    use super::*;
    use crate::command::{WriteAnswer, WriteResult};

    /// A publisher over a real data directory, syncing through `log` (the
    /// directory's own log when `None`).
    fn publisher(
        dir: &std::path::Path,
        log: Option<std::fs::File>,
    ) -> (Publisher, mpsc::SyncSender<Handoff>, Arc<Counters>, Broken) {
        let opened = crate::dir::open(dir, false).expect("open the directory");
        let log = log
            .map(|file| Arc::new(LogFile::from(file)))
            .unwrap_or_else(|| opened.wal.sync_handle());
        let (tx, rx) = mpsc::sync_channel(8);
        let counters = Arc::new(Counters::default());
        let broken: Broken = Arc::default();
        let snapshot = Snapshot::open(&opened.db).expect("snapshot");
        let publisher = Publisher {
            rx,
            log,
            events: broadcast::channel(16).0,
            counters: counters.clone(),
            snapshots: Arc::new(SnapshotCache::new(snapshot)),
            broken: broken.clone(),
            durable: opened.wal.durable(),
            answered: LsnMark::default(),
        };
        (publisher, tx, counters, broken)
    }

    type Reply = oneshot::Receiver<Result<WriteAnswer, StateError>>;

    fn committed(sync: bool, revision: u64) -> (Handoff, Reply) {
        let (reply, answer) = oneshot::channel();
        let mutation = Mutation::Delete {
            group: "g".into(),
            key: "k".into(),
        };
        let outcome = MutationOutcome {
            old_value: None,
            new_value: None,
            version: None,
            op_errors: Vec::new(),
        };
        let handoff = Handoff::Committed {
            sync,
            snapshot: None,
            events: Vec::new(),
            answers: vec![(
                Command::Write {
                    mutation,
                    as_text: false,
                    reply,
                },
                Answer::Write(WriteResult::Accepted(WriteAnswer {
                    outcome,
                    replaced: None,
                    texts: None,
                })),
            )],
            revision,
            items: 0,
            record: None,
        };
        (handoff, answer)
    }

    #[test]
    fn a_synced_batch_is_answered_and_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (publisher, tx, counters, broken) = publisher(dir.path(), None);
        let (first, first_answer) = committed(true, 7);
        let (second, second_answer) = committed(false, 8);
        tx.send(first).expect("send");
        tx.send(second).expect("send");
        drop(tx);
        publisher.run();
        assert!(first_answer.blocking_recv().expect("answered").is_ok());
        assert!(second_answer.blocking_recv().expect("answered").is_ok());
        assert_eq!(
            counters.syncs.load(Ordering::Relaxed),
            1,
            "one sync for the group"
        );
        assert_eq!(counters.revision.load(Ordering::Relaxed), 8);
        assert!(broken.get().is_none());
    }

    #[test]
    fn a_failed_sync_fails_its_batch_and_every_later_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        // fdatasync on a pipe fails (EINVAL): a disk that refuses a sync.
        let (_reader, writer) = std::io::pipe().expect("pipe");
        let log = std::fs::File::from(std::os::fd::OwnedFd::from(writer));
        let (publisher, tx, counters, broken) = publisher(dir.path(), Some(log));
        let (first, first_answer) = committed(true, 7);
        tx.send(first).expect("send");
        let runs = std::thread::spawn(move || publisher.run());
        let err = first_answer
            .blocking_recv()
            .expect("answered")
            .expect_err("its sync failed");
        assert_eq!(err.code(), statewell_core::ErrorCode::Storage, "{err}");
        // A later batch, even one that asks no sync, is not acknowledged.
        let (later, later_answer) = committed(false, 8);
        tx.send(later).expect("send");
        assert!(later_answer.blocking_recv().expect("answered").is_err());
        drop(tx);
        runs.join().expect("publisher");
        assert!(broken.get().is_some());
        assert_eq!(counters.syncs.load(Ordering::Relaxed), 0);
        assert_eq!(
            counters.revision.load(Ordering::Relaxed),
            0,
            "nothing published"
        );
    }
}
