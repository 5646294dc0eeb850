//! The write-ahead log: what makes a durable commit cost one small
//! sequential write and one `fdatasync`, whatever the size of the B-tree.
//!
//! The commit loop encodes every batch it applies as one log record — the
//! items it wrote (stored key and stored bytes), removed, and the groups it
//! cleared — and acknowledges the batch once that record is synced; the
//! batch itself lives in memory (see `overlay`) until a *checkpoint*
//! writes it into redb with a durable commit. Opening a directory replays
//! the records the last checkpoint does not hold (see `replay`).
//!
//! There are two log files, `wal.log` and `wal.1.log`, written in turns.
//! Once the one being written holds `checkpoint_bytes`, the commit loop
//! syncs it and goes on in the other one (`switch`), while a checkpoint of
//! everything the first one holds runs on another thread. So writes never
//! wait for a checkpoint, and a file is written again only after the
//! checkpoint of its records is durable (the commit loop does not switch
//! back before that).
//!
//! Each file holds records back to back from offset 0:
//! `payload length (u64 LE) ‖ crc32 of what follows (u32 LE) ‖ lsn (u64 LE)
//! ‖ revision after the batch (u64 LE) ‖ synced lsn (u64 LE) ‖ payload`.
//! Log sequence numbers grow by one per record and never restart; redb
//! stores the last one it holds (`meta.log_lsn`). The *synced lsn* is the
//! last record known durable when this one was written (synced, or held by
//! the data file): it is what tells, at open, a crash's torn tail from a
//! damaged log (see `read`). Directories of format 3 and older lack it
//! ([`Layout::V3`]).
//!
//! The file is zero-filled ahead of the write position, [`FILL_STEP`] at a
//! time, and reused after a checkpoint: overwriting blocks the file already
//! has lets `fdatasync` flush the data alone, without a journal commit for
//! a changed size (measured on this machine's ext4: 0.10 ms against 0.24 ms
//! per 16 KB synced write).

mod read;

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use statewell_core::StateError;

use crate::logfile::LogFile;

pub(crate) use read::{Damage, LogRead, read_after};

pub(crate) const WAL_FILE: &str = "wal.log";
/// The log file the commit loop writes while `wal.log` is checkpointed.
pub(crate) const WAL_SPARE_FILE: &str = "wal.1.log";

/// How a directory's records are laid out, by its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Formats 2 and 3: no synced lsn in the header.
    V3,
    /// Format 4 on: the header carries the synced lsn.
    V4,
}

impl Layout {
    /// Bytes of a record before its payload.
    const fn header(self) -> usize {
        match self {
            Layout::V3 => 8 + 4 + 8 + 8,
            Layout::V4 => 8 + 4 + 8 + 8 + 8,
        }
    }
}

/// Bytes of a record (as this build writes it) before its payload.
const HEADER: usize = Layout::V4.header();
/// How far ahead of the write position the file is zero-filled.
const FILL_STEP: u64 = 1 << 20;

const OP_PUT: u8 = 1;
const OP_REMOVE: u8 = 2;
const OP_CLEAR: u8 = 3;

/// One change a logged batch made, as stored bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogOp {
    /// The item at `key` (an encoded item key) now holds `value` (encoded).
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Remove {
        key: Vec<u8>,
    },
    /// Every item of the group was removed.
    Clear {
        group: String,
    },
}

/// A record read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub lsn: u64,
    pub revision: u64,
    /// The last record durable when it was written (`None` in [`Layout::V3`]).
    pub synced: Option<u64>,
    pub ops: Vec<LogOp>,
}

/// The log, open for writing. Only the commit loop holds it.
pub(crate) struct Wal {
    /// The file being written; shared with the publisher, which syncs it.
    file: Arc<LogFile>,
    /// Where the next record goes.
    pos: u64,
    /// The file is allocated (written, zeros included) up to here.
    filled: u64,
    /// The other file, written after the next `switch`, and how far it is
    /// allocated.
    spare: Arc<LogFile>,
    spare_filled: u64,
    next_lsn: u64,
    /// The record being built: header space, then the batch's ops.
    record: Vec<u8>,
    ops: usize,
    /// Written since the last `sync`.
    unsynced: bool,
    /// The lsn of the last record known durable: raised by whoever syncs
    /// the log, written into every record's header.
    durable: LsnMark,
}

/// An lsn that only grows, shared between threads: how far the log was
/// synced (raised by the thread that syncs it after each sync, read by the
/// commit loop into each record: see [`Wal::durable`]), or how far batches
/// were answered (see `publish`). It may lag, never lead: a record saying
/// "synced up to N" is written only once N was.
#[derive(Debug, Clone, Default)]
pub(crate) struct LsnMark(Arc<AtomicU64>);

impl LsnMark {
    pub(crate) fn new(lsn: u64) -> Self {
        LsnMark(Arc::new(AtomicU64::new(lsn)))
    }

    /// Records up to `lsn` are in.
    pub(crate) fn raise(&self, lsn: u64) {
        self.0.fetch_max(lsn, Ordering::AcqRel);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

impl Wal {
    /// Creates the log of a new directory, empty, and makes its directory
    /// entry durable.
    pub(crate) fn create(dir: &Path) -> std::io::Result<()> {
        let file = File::create(dir.join(WAL_FILE))?;
        file.sync_all()?;
        File::open(dir)?.sync_all()
    }

    /// Opens the log for writing from the start of `wal.log`, both files
    /// emptied (the spare one created if missing): called once every record
    /// in them is held by a durable redb commit. Emptying (rather than
    /// overwriting) means no record of an earlier life of a file can ever
    /// follow the new ones in sequence, whatever a crash left in it.
    pub(crate) fn start(dir: &Path, next_lsn: u64) -> std::io::Result<Wal> {
        let file = LogFile::open(&dir.join(WAL_FILE))?;
        let spare = LogFile::open(&dir.join(WAL_SPARE_FILE))?;
        for file in [&file, &spare] {
            file.empty()?;
        }
        // The spare file's entry must be durable before records go into it.
        File::open(dir)?.sync_all()?;
        let mut wal = Wal {
            file: Arc::new(file),
            pos: 0,
            filled: 0,
            spare: Arc::new(spare),
            spare_filled: 0,
            next_lsn,
            record: Vec::with_capacity(64 * 1024),
            ops: 0,
            unsynced: false,
            // Every earlier record is in a durable commit of the data file.
            durable: LsnMark::new(next_lsn.saturating_sub(1)),
        };
        wal.begin();
        Ok(wal)
    }

    /// Starts a new record, dropping whatever the last one collected.
    pub(crate) fn begin(&mut self) {
        self.record.clear();
        self.record.resize(HEADER, 0);
        self.ops = 0;
    }

    pub(crate) fn put(&mut self, key: &[u8], value: &[u8]) {
        self.record.push(OP_PUT);
        push_bytes(&mut self.record, key);
        push_bytes(&mut self.record, value);
        self.ops += 1;
    }

    pub(crate) fn remove(&mut self, key: &[u8]) {
        self.record.push(OP_REMOVE);
        push_bytes(&mut self.record, key);
        self.ops += 1;
    }

    pub(crate) fn clear(&mut self, group: &str) {
        self.record.push(OP_CLEAR);
        push_bytes(&mut self.record, group.as_bytes());
        self.ops += 1;
    }

    /// Whether the record being built holds anything to write.
    pub(crate) fn has_ops(&self) -> bool {
        self.ops > 0
    }

    /// The lsn the record being built will take.
    pub(crate) fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// Bytes of log written since it (re)started: what a checkpoint frees.
    pub(crate) fn len(&self) -> u64 {
        self.pos
    }

    /// Whether records were written since the last sync (or sync request).
    pub(crate) fn is_unsynced(&self) -> bool {
        self.unsynced
    }

    /// Whether records were written since the last sync request, and
    /// counts them as requested: the caller has the publisher sync them.
    pub(crate) fn take_unsynced(&mut self) -> bool {
        std::mem::take(&mut self.unsynced)
    }

    /// The file being written, for the publisher's `fdatasync`.
    pub(crate) fn sync_handle(&self) -> Arc<LogFile> {
        Arc::clone(&self.file)
    }

    /// The durable lsn, for the publisher to raise after its syncs.
    pub(crate) fn durable(&self) -> LsnMark {
        self.durable.clone()
    }

    /// Writes the record being built (not synced); returns where it went.
    /// Nothing is written, and the lsn is not taken, when it holds no ops.
    ///
    /// On an error the lsn is not taken either and the next record goes
    /// where this one was to go: the file holds at most part of this one,
    /// which fails its checksum and is overwritten by the next. So a batch
    /// whose record could not be written is not applied, after a restart
    /// either, and the log can go on (a disk that was full may have room
    /// again).
    pub(crate) fn write(&mut self, revision: u64) -> std::io::Result<Option<Span>> {
        if !self.has_ops() {
            return Ok(None);
        }
        // Lengths are u64: a batch of many large values may pass 4 GiB.
        let payload = (self.record.len() - HEADER) as u64;
        self.record[0..8].copy_from_slice(&payload.to_le_bytes());
        self.record[12..20].copy_from_slice(&self.next_lsn.to_le_bytes());
        self.record[20..28].copy_from_slice(&revision.to_le_bytes());
        self.record[28..36].copy_from_slice(&self.durable.get().to_le_bytes());
        let crc = crc32fast::hash(&self.record[12..]);
        self.record[8..12].copy_from_slice(&crc.to_le_bytes());

        let end = self.pos + self.record.len() as u64;
        if end > self.filled {
            // Before the record: a disk too full for the file to grow
            // fails here, with nothing of the record written.
            self.fill_to(end.div_ceil(FILL_STEP) * FILL_STEP + FILL_STEP)?;
        }
        self.unsynced = true;
        self.file.write_record(&self.record, self.pos)?;
        let span = Span {
            lsn: self.next_lsn,
            at: self.pos,
            len: self.record.len() as u64,
        };
        self.pos = end;
        self.next_lsn += 1;
        self.begin();
        Ok(Some(span))
    }

    /// Makes every written record durable.
    pub(crate) fn sync(&mut self) -> std::io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
            self.durable.raise(self.next_lsn.saturating_sub(1));
        }
        Ok(())
    }

    /// Goes on at the start of the other file; returns it. The publisher,
    /// which is handed it after the records written so far, syncs those
    /// before any written after (see `publish`): one thread syncs the log.
    /// Called between batches, once every record the other file holds is
    /// in a durable redb commit: those records are older than any
    /// checkpoint can need, so reading skips them (and stops at them, being
    /// out of sequence).
    pub(crate) fn switch(&mut self) -> Arc<LogFile> {
        std::mem::swap(&mut self.file, &mut self.spare);
        std::mem::swap(&mut self.filled, &mut self.spare_filled);
        self.pos = 0;
        // The publisher syncs what the other file holds when it switches.
        self.unsynced = false;
        Arc::clone(&self.file)
    }

    fn fill_to(&mut self, target: u64) -> std::io::Result<()> {
        self.file.write_zeros(self.filled, target - self.filled)?;
        self.filled = target;
        Ok(())
    }
}

fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = bytes.len() as u64;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Where a record went in the file being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub lsn: u64,
    pub at: u64,
    pub len: u64,
}

/// The answer to a batch whose log record could not be written.
pub(crate) fn not_written(err: &std::io::Error) -> StateError {
    StateError::Storage(format!(
        "the write-ahead log could not be written ({err}); the write was not applied"
    ))
}

/// The answer to a batch whose log record could not be synced but was
/// withdrawn from the log, and to every write after it (see `publish`).
pub(crate) fn not_synced(err: &str) -> StateError {
    StateError::Storage(format!(
        "the write-ahead log could not be synced ({err}); the write was not applied, and writes \
         are refused until the engine restarts"
    ))
}

/// The answer to a batch whose log record could be neither synced nor
/// withdrawn: the disk decides whether a restart finds it.
pub(crate) fn outcome_unknown(err: &str, withdrawal: &std::io::Error) -> StateError {
    StateError::Storage(format!(
        "the write-ahead log could not be synced ({err}), nor the write withdrawn from it \
         ({withdrawal}): the outcome of the write is unknown, it may be present after a restart; \
         writes are refused until the engine restarts"
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn put(key: &str, value: &str) -> LogOp {
        LogOp::Put {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
        }
    }

    /// Writes one record of `ops`.
    pub(crate) fn log(wal: &mut Wal, revision: u64, ops: &[LogOp]) {
        for op in ops {
            match op {
                LogOp::Put { key, value } => wal.put(key, value),
                LogOp::Remove { key } => wal.remove(key),
                LogOp::Clear { group } => wal.clear(group),
            }
        }
        wal.write(revision).expect("write");
    }

    /// What `read_after` finds in an existing log of this build's layout.
    pub(crate) fn read(dir: &Path, after: u64) -> LogRead {
        read_after(dir, after, Layout::V4)
            .expect("read")
            .expect("exists")
    }

    /// The lsns of the records `read_after` returns from a whole log.
    pub(crate) fn lsns_after(dir: &Path, after: u64) -> Vec<u64> {
        let read = read(dir, after);
        assert_eq!(read.damage, None);
        read.records.iter().map(|r| r.lsn).collect()
    }

    /// A switch as the store makes it: the file left is synced (by the
    /// publisher) before records of the other one are answered.
    fn switch(wal: &mut Wal) -> Arc<LogFile> {
        wal.sync().expect("sync");
        wal.switch()
    }

    pub(crate) fn fresh() -> (tempfile::TempDir, Wal) {
        let dir = tempfile::tempdir().expect("tempdir");
        Wal::create(dir.path()).expect("create");
        let wal = Wal::start(dir.path(), 1).expect("start");
        (dir, wal)
    }

    #[test]
    fn records_read_back_in_order_after_the_given_lsn() {
        let (dir, mut wal) = fresh();
        let batches = [
            vec![put("a", "1"), put("b", "2")],
            vec![LogOp::Remove { key: b"a".to_vec() }],
            vec![LogOp::Clear { group: "g".into() }, put("c", "")],
        ];
        for (i, ops) in batches.iter().enumerate() {
            log(&mut wal, 10 + i as u64, ops);
        }
        wal.sync().expect("sync");
        let all = read(dir.path(), 0);
        assert_eq!(all.damage, None);
        assert_eq!(all.records.len(), 3);
        for (i, record) in all.records.iter().enumerate() {
            assert_eq!(record.lsn, i as u64 + 1);
            assert_eq!(record.revision, 10 + i as u64);
            assert_eq!(record.ops, batches[i]);
            // Nothing was synced while they were written.
            assert_eq!(record.synced, Some(0));
        }
        assert_eq!(lsns_after(dir.path(), 2), vec![3]);
    }

    #[test]
    fn each_record_says_how_far_the_log_was_synced_when_it_was_written() {
        let (dir, mut wal) = fresh();
        log(&mut wal, 1, &[put("a", "1")]);
        log(&mut wal, 2, &[put("b", "2")]);
        // What the thread syncing the log does after its sync.
        wal.durable().raise(2);
        log(&mut wal, 3, &[put("c", "3")]);
        wal.sync().expect("sync");
        log(&mut wal, 4, &[put("d", "4")]);
        let synced: Vec<Option<u64>> = read(dir.path(), 0)
            .records
            .iter()
            .map(|r| r.synced)
            .collect();
        assert_eq!(synced, vec![Some(0), Some(0), Some(2), Some(3)]);
        // A log that starts after a checkpoint counts it as synced.
        drop(wal);
        let mut wal = Wal::start(dir.path(), 8).expect("start");
        log(&mut wal, 8, &[put("e", "5")]);
        assert_eq!(read(dir.path(), 7).records[0].synced, Some(7));
    }

    #[test]
    fn an_empty_batch_writes_nothing_and_takes_no_lsn() {
        let (dir, mut wal) = fresh();
        wal.write(5).expect("write");
        assert_eq!(wal.len(), 0);
        assert_eq!(wal.next_lsn(), 1);
        assert!(!wal.is_unsynced());
        assert_eq!(lsns_after(dir.path(), 0), Vec::<u64>::new());
    }

    #[test]
    fn records_go_on_in_the_other_file_after_a_switch() {
        let (dir, mut wal) = fresh();
        for i in 1..=3 {
            log(&mut wal, i, &[put(&format!("a{i}"), "x")]);
        }
        let switched = switch(&mut wal);
        assert!(!wal.is_unsynced());
        assert_eq!(wal.len(), 0);
        log(&mut wal, 4, &[put("b4", "y")]);
        log(&mut wal, 5, &[put("b5", "y")]);
        switched.sync_data().expect("sync");
        let all = read(dir.path(), 0).records;
        let lsns: Vec<u64> = all.iter().map(|r| r.lsn).collect();
        assert_eq!(lsns, vec![1, 2, 3, 4, 5]);
        assert_eq!(all[3].ops, vec![put("b4", "y")]);
        assert_eq!(all[3].synced, Some(3), "the switch synced 1..=3");
        // A checkpoint holds 1..=3: only the second file's records are left.
        assert_eq!(lsns_after(dir.path(), 3), vec![4, 5]);
    }

    #[test]
    fn a_file_written_again_hides_its_earlier_records() {
        let (dir, mut wal) = fresh();
        for i in 1..=5 {
            log(&mut wal, i, &[put(&format!("old{i}"), "x")]);
        }
        switch(&mut wal);
        log(&mut wal, 6, &[put("second", "y")]);
        // Once a checkpoint holds 1..=5, the first file is written again
        // from its start; the tail of its earlier records stays behind.
        switch(&mut wal);
        log(&mut wal, 7, &[put("third", "z")]);
        wal.sync().expect("sync");
        assert_eq!(lsns_after(dir.path(), 5), vec![6, 7]);
        assert_eq!(lsns_after(dir.path(), 6), vec![7]);
        assert_eq!(lsns_after(dir.path(), 7), Vec::<u64>::new());
        // Held up to 4 but lsn 5 (synced) was overwritten: refused, not skipped.
        let damage = read(dir.path(), 4).damage.expect("damage");
        assert_eq!(damage.missing, 5);
        assert!(
            damage.refusal().contains("record 5 is missing"),
            "{damage:?}"
        );
    }

    #[test]
    fn a_missing_spare_file_reads_as_empty() {
        let (dir, mut wal) = fresh();
        log(&mut wal, 1, &[put("a", "1")]);
        std::fs::remove_file(dir.path().join(WAL_SPARE_FILE)).expect("remove");
        assert_eq!(lsns_after(dir.path(), 0), vec![1]);
    }

    #[test]
    fn the_file_is_filled_ahead_of_the_records() {
        let (dir, mut wal) = fresh();
        log(&mut wal, 1, &[put("a", "1")]);
        let len = std::fs::metadata(dir.path().join(WAL_FILE))
            .expect("meta")
            .len();
        assert!(len >= FILL_STEP, "filled to {len}");
        assert_eq!(lsns_after(dir.path(), 0), vec![1]);
    }

    #[test]
    fn start_empties_the_file() {
        let (dir, mut wal) = fresh();
        log(&mut wal, 1, &[put("a", "1")]);
        drop(wal);
        let wal = Wal::start(dir.path(), 2).expect("start");
        assert_eq!(wal.len(), 0);
        assert_eq!(lsns_after(dir.path(), 0), Vec::<u64>::new());
    }
}
