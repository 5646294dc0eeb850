//! The publisher: the second half of a commit, on its own thread.
//!
//! The commit loop (`writer`) applies a batch to its overlay and writes its
//! log record without a sync, then hands the batch over here and goes on
//! with the next one. This thread syncs the log (one `fdatasync` for every
//! batch handed over since the last one), then, batch by batch in commit
//! order, installs the read snapshot, publishes the change events and
//! answers the waiters. So the sync of one batch overlaps the apply of the
//! next, and no waiter is answered, and no reader sees a write, before the
//! log record holding it is on disk.

use std::fs::File;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, OnceLock};

use statewell_core::{ChangeEvent, StateError};
use tokio::sync::broadcast;

use crate::command::{Answer, Command};
use crate::counters::Counters;
use crate::read::{Snapshot, SnapshotCache};
use crate::wal::log_failed;

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
    },
    /// Nothing of the batch was committed: every waiter gets `err`.
    Failed {
        batch: Vec<Command>,
        err: StateError,
    },
    /// Sync the log (`batched` mode's interval); nobody waits for it.
    Sync,
    /// The commit loop synced the log file it wrote and goes on in this
    /// one (see `Wal::switch`): later syncs are of this file.
    Switch(Arc<File>),
}

/// The first failure after which nothing on disk can be trusted to match
/// what was acknowledged (see `Writer::broken`); shared by both threads.
pub(crate) type Broken = Arc<OnceLock<StateError>>;

pub(crate) struct Publisher {
    pub rx: Receiver<Handoff>,
    /// The log file being written, for `fdatasync`.
    pub log: Arc<File>,
    pub events: broadcast::Sender<Arc<ChangeEvent>>,
    pub counters: Arc<Counters>,
    pub snapshots: Arc<SnapshotCache>,
    pub broken: Broken,
}

impl Publisher {
    /// Runs until the commit loop drops its sender and every handoff is
    /// answered.
    pub(crate) fn run(mut self) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        while let Ok(first) = self.rx.recv() {
            group.push(first);
            while group.len() < MAX_GROUP {
                match self.rx.try_recv() {
                    Ok(handoff) => group.push(handoff),
                    Err(_) => break,
                }
            }
            // Records written before a switch are synced by it: the group
            // needs a sync of the newest file only.
            for handoff in &group {
                if let Handoff::Switch(file) = handoff {
                    self.log = Arc::clone(file);
                }
            }
            // One verdict for the group: a sync covers every record
            // written before it, and after a failure nothing is answered
            // as a success (a failed fsync cannot be retried safely).
            let failed = self.sync_if_asked(&group);
            for handoff in group.drain(..) {
                self.publish(handoff, failed.as_ref());
            }
        }
    }

    /// Syncs the log when a handoff of `group` asks for it; returns the
    /// error that fails the whole group, if any.
    fn sync_if_asked(&self, group: &[Handoff]) -> Option<StateError> {
        if let Some(err) = self.broken.get() {
            return Some(err.clone());
        }
        let asked = group.iter().any(|h| match h {
            Handoff::Committed { sync, .. } => *sync,
            Handoff::Sync => true,
            Handoff::Failed { .. } | Handoff::Switch(_) => false,
        });
        if !asked {
            return None;
        }
        match self.log.sync_data() {
            Ok(()) => {
                self.counters.syncs.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e) => {
                let err = log_failed(&e);
                tracing::error!(%err, "the commit loop stops accepting writes");
                // The writer may have failed first: either error is the cause.
                let _ = self.broken.set(err);
                self.broken.get().cloned()
            }
        }
    }

    fn publish(&self, handoff: Handoff, failed: Option<&StateError>) {
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
                ..
            } => {
                if let Some(err) = failed {
                    // Its sync (or an earlier one) failed: not acknowledged.
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
        log: Option<File>,
    ) -> (Publisher, mpsc::SyncSender<Handoff>, Arc<Counters>, Broken) {
        let opened = crate::dir::open(dir).expect("open the directory");
        let log = log
            .map(Arc::new)
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
        let log = File::from(std::os::fd::OwnedFd::from(writer));
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
