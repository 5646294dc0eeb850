//! `EmbeddedStore`: the handle callers hold. Writes go to the commit loop
//! over a channel and wait for its answer; reads go straight to redb.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread::JoinHandle;

use async_trait::async_trait;
use serde_json::Value;
use statewell_core::store::EVENT_CHANNEL_CAPACITY;
use statewell_core::{
    ChangeEvent, Limits, Mutation, MutationOutcome, Page, RawJson, RawPage, RawSetOutcome,
    RawUpdateOutcome, RawVersioned, ResolvedPageRequest, StateError, Store, StoreStats, TxOutcome,
    UpdateOp, Versioned, WriteRequest,
};
use tokio::sync::{broadcast, oneshot};

use crate::checkpoint::Checkpoints;
use crate::codec::{encode_json, encode_value, json_len};
use crate::command::{Command, WriteAnswer};
use crate::counters::Counters;
use crate::publish::{Broken, Handoff, Publisher};
use crate::read::{Snapshot, SnapshotCache};
use crate::wal::LsnMark;
use crate::writer::Writer;
use crate::{Durability, EmbeddedOptions, dir, read};

/// Batches committed but not yet answered, at most: with a sync slower than
/// an apply the commit loop waits here rather than running ahead.
const HANDOFF_QUEUE: usize = 8;

/// The durable store: a data directory on disk. See the crate docs.
pub struct EmbeddedStore {
    /// `None` once closing: dropping the sender is what stops the writer.
    commands: Option<mpsc::Sender<Command>>,
    /// Checked by the caller for what it encodes itself (a set's value).
    limits: Limits,
    writer: Option<JoinHandle<Result<(), StateError>>>,
    /// Holds the database (with the writer until it stops); declared
    /// before `_lock`, so the lock is released only once the file is closed.
    reader: read::Reader,
    events: broadcast::Sender<Arc<ChangeEvent>>,
    counters: Arc<Counters>,
    durability: Durability,
    data_path: PathBuf,
    /// Both log files.
    wal_paths: [PathBuf; 2],
    _lock: File,
}

/// Figures of the commit loop beyond [`StoreStats`], for benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmbeddedStats {
    pub store: StoreStats,
    /// Largest batch committed since open.
    pub max_batch_size: u64,
    /// Commands committed since open; divided by `store.commits` it gives
    /// the average batch size.
    pub batched_commands: u64,
    /// Syncs of the write-ahead log since open (in `always` mode one per
    /// group of commits that changed something and queued while the
    /// previous sync ran; in `batched` mode the interval and `sync()` syncs).
    pub syncs: u64,
    /// Checkpoints since open: durable commits of the data file, each of
    /// which lets the log start over.
    pub checkpoints: u64,
}

impl EmbeddedStore {
    /// Opens (creating it if missing) the data directory `dir`.
    ///
    /// Refused with [`StateError::DataDirectory`] when the directory is
    /// already open (in this or another process), corrupt, from a newer
    /// format, has a damaged write-ahead log (unless
    /// [`EmbeddedOptions::accept_log_damage`]), or holds files that are not
    /// a statewell data directory.
    pub fn open(dir: &Path, options: EmbeddedOptions) -> Result<Self, StateError> {
        let opened = dir::open(dir, options.accept_log_damage)?;
        if opened.replayed > 0 {
            tracing::info!(
                records = opened.replayed,
                "replayed the write-ahead log of a store that was not closed"
            );
        }
        let db = Arc::new(opened.db);
        let (events, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
        let counters = Arc::new(Counters::default());
        counters.revision.store(opened.revision, Ordering::Relaxed);
        counters.items.store(opened.items, Ordering::Relaxed);
        let (commands, rx) = mpsc::channel();
        let current = Snapshot::open(&db)?;
        let (idempotency, forget) = crate::txn::load_idempotency(&current, &options.limits)?;
        counters
            .idempotency_keys
            .store(idempotency.len() as u64, Ordering::Relaxed);
        let snapshots = Arc::new(SnapshotCache::new(current.clone()));
        let broken: Broken = Arc::default();
        let answered = LsnMark::default();
        let (handoffs, handoffs_rx) = mpsc::sync_channel::<Handoff>(HANDOFF_QUEUE);
        let publisher = Publisher {
            rx: handoffs_rx,
            log: opened.wal.sync_handle(),
            events: events.clone(),
            counters: counters.clone(),
            snapshots: snapshots.clone(),
            broken: Arc::clone(&broken),
            durable: opened.wal.durable(),
            answered: answered.clone(),
        };
        let publisher = std::thread::Builder::new()
            .name("statewell-sync".into())
            .spawn(move || publisher.run())
            .map_err(|e| StateError::Storage(format!("cannot start the sync thread: {e}")))?;
        let writer = Writer {
            handoffs: Some(handoffs),
            publisher: Some(publisher),
            current,
            rx,
            events: events.clone(),
            limits: options.limits,
            durability: options.durability,
            counters: counters.clone(),
            revision: opened.revision,
            items: opened.items,
            unsynced_since: None,
            wal: opened.wal,
            checkpoints: Checkpoints::new(
                db.clone(),
                options.checkpoint_bytes,
                counters.clone(),
                (answered, Arc::clone(&broken)),
            ),
            broken,
            idempotency,
            forget,
        };
        let writer = std::thread::Builder::new()
            .name("statewell-commit".into())
            .spawn(move || writer.run())
            .map_err(|e| StateError::Storage(format!("cannot start the commit thread: {e}")))?;
        Ok(EmbeddedStore {
            commands: Some(commands),
            limits: options.limits,
            writer: Some(writer),
            reader: read::Reader::new(db, snapshots),
            events,
            counters,
            durability: options.durability,
            wal_paths: [crate::wal::WAL_FILE, crate::wal::WAL_SPARE_FILE]
                .map(|name| dir.join(name)),
            data_path: opened.data_path,
            _lock: opened.lock,
        })
    }

    /// Stops the commit loop after it has committed everything queued,
    /// syncs, and closes the directory. Dropping the store does the same but
    /// can only log a failure of that last sync.
    pub fn close(mut self) -> Result<(), StateError> {
        self.stop()
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }

    pub fn embedded_stats(&self) -> EmbeddedStats {
        EmbeddedStats {
            store: self.stats(),
            max_batch_size: self.counters.max_batch.load(Ordering::Relaxed),
            batched_commands: self.counters.batched.load(Ordering::Relaxed),
            syncs: self.counters.syncs.load(Ordering::Relaxed),
            checkpoints: self.counters.checkpoints.load(Ordering::Relaxed),
        }
    }

    fn stop(&mut self) -> Result<(), StateError> {
        drop(self.commands.take());
        match self.writer.take() {
            Some(writer) => writer
                .join()
                .map_err(|_| StateError::Storage("the commit thread panicked".into()))?,
            None => Ok(()),
        }
    }

    /// Stores `encoded` (a value `encode_value` encoded before its revision
    /// is known) at `key`. The caller encodes it, on its own thread, so that
    /// the commit thread only stamps the revision into it.
    async fn put(
        &self,
        group: String,
        key: String,
        encoded: Vec<u8>,
    ) -> Result<WriteAnswer, StateError> {
        self.limits.check_value_len(json_len(&encoded))?;
        let (reply, answer) = oneshot::channel();
        self.send(Command::Put {
            group,
            key,
            encoded,
            reply,
        })?;
        answer.await.map_err(|_| closed())?
    }

    /// Has the commit thread apply `mutation` (answered as values, or as
    /// JSON text with `as_text`: see `WriteAnswer::texts`) and waits for it.
    async fn apply(&self, mutation: Mutation, as_text: bool) -> Result<WriteAnswer, StateError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Write {
            mutation,
            as_text,
            reply,
        })?;
        answer.await.map_err(|_| closed())?
    }

    fn send(&self, command: Command) -> Result<(), StateError> {
        self.commands
            .as_ref()
            .ok_or_else(closed)?
            .send(command)
            .map_err(|_| closed())
    }
}

fn closed() -> StateError {
    StateError::Unavailable("the embedded store's commit loop has stopped".into())
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            tracing::error!(%err, "closing the embedded store failed");
        }
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, group: &str, key: &str) -> Result<Option<Versioned>, StateError> {
        self.reader.get(group, key)
    }

    async fn write(&self, mutation: Mutation) -> Result<MutationOutcome, StateError> {
        let Mutation::Set { group, key, value } = mutation else {
            return self.apply(mutation, false).await?.finish();
        };
        let mut outcome = self
            .put(group, key, encode_value(0, &value)?)
            .await?
            .finish()?;
        // Kept here for the reply rather than sent to the commit thread.
        outcome.new_value = Some(value);
        Ok(outcome)
    }

    // The text given is both what is stored and what is answered; the
    // replaced value comes back as the stored text. Nothing is parsed or
    // printed here.
    async fn set_raw(
        &self,
        group: &str,
        key: &str,
        new_value: RawJson,
    ) -> Result<RawSetOutcome, StateError> {
        let encoded = encode_json(0, new_value.get());
        let (old_value, version) = self
            .put(group.to_owned(), key.to_owned(), encoded)
            .await?
            .into_raw()?;
        Ok(RawSetOutcome {
            old_value,
            new_value,
            version: version.unwrap_or_default(),
        })
    }

    // The commit thread prints the new value to store it; that text, and
    // the old value's stored one, are what is answered.
    async fn update_raw(
        &self,
        group: &str,
        key: &str,
        ops: Vec<UpdateOp>,
    ) -> Result<RawUpdateOutcome, StateError> {
        let update = Mutation::Update {
            group: group.to_owned(),
            key: key.to_owned(),
            ops,
        };
        let WriteAnswer { outcome, texts, .. } = self.apply(update, true).await?;
        let texts = texts.ok_or_else(|| {
            StateError::Storage("internal: an update asked for texts got values".into())
        })?;
        Ok(RawUpdateOutcome {
            old_value: texts.old_value,
            new_value: texts.new_value,
            errors: outcome.op_errors,
            version: outcome.version,
        })
    }

    async fn transaction(&self, request: WriteRequest) -> Result<TxOutcome, StateError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Transaction { request, reply })?;
        answer.await.map_err(|_| closed())?
    }

    async fn clear(&self, group: &str) -> Result<u64, StateError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Clear {
            group: group.to_owned(),
            reply,
        })?;
        answer.await.map_err(|_| closed())?
    }

    async fn list(&self, group: &str) -> Result<Vec<Value>, StateError> {
        self.reader.list(group)
    }

    async fn list_items(
        &self,
        group: &str,
        page: ResolvedPageRequest<'_>,
    ) -> Result<Page, StateError> {
        self.reader.list_items(group, page)
    }

    // The stored text is the compact JSON of the value: handed over as is.
    async fn get_raw(&self, group: &str, key: &str) -> Result<Option<RawVersioned>, StateError> {
        self.reader.get_raw(group, key)
    }

    async fn list_raw(&self, group: &str) -> Result<Vec<RawJson>, StateError> {
        self.reader.list_raw(group)
    }

    async fn list_items_raw(
        &self,
        group: &str,
        page: ResolvedPageRequest<'_>,
    ) -> Result<RawPage, StateError> {
        self.reader.list_items_raw(group, page)
    }

    async fn list_groups(&self) -> Result<Vec<String>, StateError> {
        self.reader.list_groups()
    }

    async fn group_size(&self, group: &str) -> Result<u64, StateError> {
        self.reader.group_size(group)
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeEvent>> {
        self.events.subscribe()
    }

    async fn sync(&self) -> Result<(), StateError> {
        // In `always` mode every acknowledged write is already synced.
        if self.durability == Durability::Always {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.send(Command::Sync { reply })?;
        answer.await.map_err(|_| closed())?
    }

    fn stats(&self) -> StoreStats {
        let c = &self.counters;
        StoreStats {
            items: c.items.load(Ordering::Relaxed),
            // The data file plus the log (zero-filled ahead of its records).
            bytes: std::iter::once(&self.data_path)
                .chain(&self.wal_paths)
                .filter_map(|path| std::fs::metadata(path).ok())
                .map(|m| m.len())
                .sum(),
            last_batch_size: c.last_batch.load(Ordering::Relaxed),
            commits: c.commits.load(Ordering::Relaxed),
            syncs: c.syncs.load(Ordering::Relaxed),
            revision: c.revision.load(Ordering::Relaxed),
            idempotency_keys: c.idempotency_keys.load(Ordering::Relaxed),
        }
    }
}
