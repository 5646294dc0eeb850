//! The data directory: its lock, its format marker and its redb file.
//!
//! Layout: `LOCK` (held with an exclusive flock while a store has the
//! directory open), `FORMAT` (the format number of the files), `data.redb`,
//! and `wal.log` and `wal.1.log` (the write-ahead log, replayed here; see
//! `wal`). Opening
//! refuses — with `data_directory` and a reason — a
//! directory locked by another store, a file redb finds corrupt, a format
//! newer than this build, a missing data file or log, a missing marker in a
//! directory that holds data, and a directory holding files that are not
//! ours (so that a mistyped `--data` never scribbles in someone's home
//! directory).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, StorageError};
use statewell_core::StateError;

use crate::replay::replay;
use crate::tables::{GROUPS, ITEMS, META, META_FORMAT, META_LOG_LSN, META_REVISION};
use crate::wal::{self, Damage, Layout, WAL_FILE, WAL_SPARE_FILE, Wal};

/// The format this build writes. Bump it when the encoding changes.
/// 2: acknowledged writes may live in `wal.log` only, so a build that does
/// not replay the log (format 1) must refuse the directory.
/// 3: they may live in `wal.1.log` too, which format 2 builds do not read.
/// 4: each log record says how far the log was synced when it was written
/// (what tells a damaged log from a torn tail), a header format 3 builds
/// cannot read.
/// Formats 1 to 3 are upgraded in place at open.
pub(crate) const FORMAT: u64 = 4;
/// The first format whose log records say how far the log was synced.
const FIRST_FORMAT_WITH_SYNCED_LSN: u64 = 4;
/// Format 1 (no log) is upgraded in place at open.
const FIRST_FORMAT_WITH_LOG: u64 = 2;

const LOCK_FILE: &str = "LOCK";
const FORMAT_FILE: &str = "FORMAT";
const FORMAT_TMP: &str = "FORMAT.tmp";
pub(crate) const DATA_FILE: &str = "data.redb";

/// An open data directory. The lock is released when this (its `lock` file)
/// is dropped, so the store keeps it alive as long as the database.
pub(crate) struct OpenDir {
    pub db: Database,
    pub lock: File,
    pub data_path: PathBuf,
    pub revision: u64,
    pub items: u64,
    /// Emptied, every record it held replayed and checkpointed.
    pub wal: Wal,
    /// Records replayed at this open.
    pub replayed: usize,
}

/// Opens `dir`; with `accept_log_damage`, a damaged log (see `wal::read`)
/// is cut at the damage instead of refused.
pub(crate) fn open(dir: &Path, accept_log_damage: bool) -> Result<OpenDir, StateError> {
    let refuse = |reason: String| StateError::DataDirectory {
        path: dir.display().to_string(),
        reason,
    };
    let create_log =
        || Wal::create(dir).map_err(|e| refuse(format!("cannot create {WAL_FILE}: {e}")));
    fs::create_dir_all(dir).map_err(|e| refuse(format!("cannot create it: {e}")))?;
    let lock = lock(dir).map_err(&refuse)?;

    let data_path = dir.join(DATA_FILE);
    let marker = read_marker(dir).map_err(&refuse)?;
    let data_exists = data_path.exists();
    if let Some(format) = marker {
        if format > FORMAT {
            return Err(refuse(format!(
                "written in format {format} by a newer statewell; this build reads format {FORMAT} and older"
            )));
        }
        if !data_exists {
            return Err(refuse(format!(
                "{FORMAT_FILE} is present but {DATA_FILE} is missing; refusing to start empty"
            )));
        }
    } else {
        if !data_exists {
            check_only_ours(dir).map_err(&refuse)?;
        }
        refuse_log_without_marker(dir).map_err(&refuse)?;
    }

    let fresh = marker.is_none() && !data_exists;
    if fresh {
        // The log exists before the data file that says it must: a crash
        // in between leaves a directory that opens as fresh again. Nothing
        // was acknowledged yet, so an old log here holds nothing to keep.
        create_log()?;
    }
    let db = open_redb(&data_path, data_exists).map_err(&refuse)?;
    if fresh {
        init_tables(&db).map_err(|e| refuse(format!("cannot initialise {DATA_FILE}: {e}")))?;
    }
    let meta = read_meta(&db).map_err(&refuse)?;
    if marker.is_none() && (meta.revision > 0 || meta.log_lsn > 0) {
        return Err(refuse(lost_marker(&format!(
            "{DATA_FILE} holds writes up to revision {}",
            meta.revision
        ))));
    }
    if meta.format > FORMAT {
        return Err(refuse(format!(
            "{DATA_FILE} is in format {}, newer than this build's {FORMAT}",
            meta.format
        )));
    }
    let layout = if meta.format >= FIRST_FORMAT_WITH_SYNCED_LSN {
        Layout::V4
    } else {
        Layout::V3
    };
    let log = match wal::read_after(dir, meta.log_lsn, layout).map_err(&refuse)? {
        Some(log) => log,
        None if meta.format < FIRST_FORMAT_WITH_LOG => {
            create_log()?;
            wal::LogRead::default()
        }
        None => {
            return Err(refuse(format!(
                "{WAL_FILE} is missing; it may hold acknowledged writes, refusing to start without it"
            )));
        }
    };
    if let Some(damage) = &log.damage {
        if !accept_log_damage {
            return Err(refuse(damage.refusal()));
        }
        accept_damage(dir, damage).map_err(&refuse)?;
    }
    if log.torn_tail > 0 {
        tracing::warn!(
            records = log.torn_tail,
            "dropped log records a crash left beyond a torn one: they were written after the \
             last sync, and are not replayed without it"
        );
    }
    let records = log.records;
    replay(&db, &records).map_err(&refuse)?;
    let meta = if records.is_empty() {
        meta
    } else {
        read_meta(&db).map_err(&refuse)?
    };
    if meta.format < FORMAT {
        set_format(&db, FORMAT).map_err(|e| refuse(format!("cannot upgrade {DATA_FILE}: {e}")))?;
    }
    if marker != Some(FORMAT) {
        // Fresh, upgraded, or a crash hit between creating the file and
        // writing the marker; the file's own format record is now FORMAT.
        write_marker(dir, FORMAT)
            .map_err(|e| refuse(format!("cannot write {FORMAT_FILE}: {e}")))?;
    }
    // Every record is now in a durable commit of the data file.
    let next_lsn = meta.log_lsn.saturating_add(1);
    let wal =
        Wal::start(dir, next_lsn).map_err(|e| refuse(format!("cannot open {WAL_FILE}: {e}")))?;
    Ok(OpenDir {
        db,
        lock,
        data_path,
        revision: meta.revision,
        items: meta.items,
        wal,
        replayed: records.len(),
    })
}

/// Opening a damaged log anyway, as asked: the records from the damage on
/// are left out (the caller replays the ones before it); a copy of each
/// log file is kept next to it, since opening starts the log over.
fn accept_damage(dir: &Path, damage: &Damage) -> Result<(), String> {
    let mut copies = Vec::new();
    for name in [WAL_FILE, WAL_SPARE_FILE] {
        let from = dir.join(name);
        if !from.exists() {
            continue;
        }
        let to = (1..=1000)
            .map(|n| match n {
                1 => dir.join(format!("{name}.damaged")),
                n => dir.join(format!("{name}.damaged.{n}")),
            })
            .find(|path| !path.exists())
            .ok_or_else(|| format!("no free name to keep a copy of {name}"))?;
        fs::copy(&from, &to).map_err(|e| format!("cannot keep a copy of {name}: {e}"))?;
        File::open(&to)
            .and_then(|copy| copy.sync_all())
            .map_err(|e| format!("cannot sync the copy of {name}: {e}"))?;
        copies.push(to.display().to_string());
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot sync the directory: {e}"))?;
    tracing::error!(
        file = damage.file,
        offset = damage.offset,
        missing = damage.missing,
        dropped = damage.later,
        first_dropped = damage.first_later,
        last_dropped = damage.last_later,
        copies = ?copies,
        "opening a damaged write-ahead log, as asked (accept_log_damage), without the records \
         from the damage on: {}; copies of the log kept: {}",
        damage.describe(),
        copies.join(", ")
    );
    Ok(())
}

fn lock(dir: &Path) -> Result<File, String> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))
        .map_err(|e| format!("cannot open {LOCK_FILE}: {e}"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "already open by another statewell process (it holds the lock on {LOCK_FILE})"
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {LOCK_FILE}: {e}")),
    }
}

fn read_marker(dir: &Path) -> Result<Option<u64>, String> {
    let text = match fs::read_to_string(dir.join(FORMAT_FILE)) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {FORMAT_FILE}: {e}")),
    };
    text.lines()
        .find_map(|line| line.strip_prefix("format "))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| format!("{FORMAT_FILE} is unreadable (no `format N` line)"))
}

/// Writes the marker atomically: a crash leaves either no marker or a whole one.
fn write_marker(dir: &Path, format: u64) -> std::io::Result<()> {
    let tmp = dir.join(FORMAT_TMP);
    let mut file = File::create(&tmp)?;
    writeln!(file, "statewell-embedded data directory\nformat {format}")?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(FORMAT_FILE))?;
    File::open(dir)?.sync_all()
}

/// Without a marker the directory is new, or its creation was cut short
/// before the marker was written (the last step): then its log is empty
/// and the spare log file, created after the marker, is absent. Anything
/// else means the marker was lost from a directory holding data.
fn refuse_log_without_marker(dir: &Path) -> Result<(), String> {
    if dir.join(WAL_SPARE_FILE).exists() {
        return Err(lost_marker(&format!("it holds {WAL_SPARE_FILE}")));
    }
    match fs::metadata(dir.join(WAL_FILE)) {
        Ok(meta) if meta.len() > 0 => Err(lost_marker(&format!(
            "its {WAL_FILE} holds {} bytes",
            meta.len()
        ))),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot read {WAL_FILE}: {e}")),
    }
}

/// The refusal of a directory that holds data but lost its marker: taking
/// it for a new one would start over the log that may hold writes.
fn lost_marker(evidence: &str) -> String {
    format!(
        "{FORMAT_FILE} is missing, but the directory is not new ({evidence}); refusing to take \
         it for a new one. If it is a statewell data directory, restore {FORMAT_FILE} (this \
         build writes the two lines `statewell-embedded data directory` and `format {FORMAT}`)"
    )
}

fn check_only_ours(dir: &Path) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read it: {e}"))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read it: {e}"))?;
        let name = entry.file_name();
        if ![LOCK_FILE, FORMAT_TMP, WAL_FILE, WAL_SPARE_FILE]
            .iter()
            .any(|ours| name == *ours)
        {
            return Err(format!(
                "not a statewell data directory: it holds {:?} but no {FORMAT_FILE}",
                name
            ));
        }
    }
    Ok(())
}

fn open_redb(path: &Path, exists: bool) -> Result<Database, String> {
    let mut builder = Database::builder();
    // Verify every page's checksum at open: a damaged file is refused here
    // with a clear reason instead of failing (or panicking) on a later read.
    builder.set_check_integrity_on_open(true);
    // redb documents that a plain open of an altered file "may panic"; a
    // panic here must become a refusal, never a crash of the engine.
    let opened = catch_unwind(AssertUnwindSafe(|| {
        if exists {
            builder.open(path)
        } else {
            builder.create(path)
        }
    }));
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(DatabaseError::DatabaseAlreadyOpen)) => {
            Err(format!("{DATA_FILE} is already open by another process"))
        }
        Ok(Err(DatabaseError::Storage(StorageError::Corrupted(why)))) => {
            Err(format!("{DATA_FILE} is corrupt: {why}"))
        }
        Ok(Err(e)) => Err(format!("cannot open {DATA_FILE}: {e}")),
        Err(_) => Err(format!(
            "{DATA_FILE} is corrupt (the storage engine could not read it)"
        )),
    }
}

fn init_tables(db: &Database) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        txn.open_table(ITEMS)?;
        txn.open_table(GROUPS)?;
        let mut meta = txn.open_table(META)?;
        meta.insert(META_FORMAT, FORMAT)?;
        meta.insert(META_REVISION, 0)?;
    }
    txn.commit()?;
    Ok(())
}

fn set_format(db: &Database, format: u64) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    txn.open_table(META)?.insert(META_FORMAT, format)?;
    txn.commit()?;
    Ok(())
}

struct Meta {
    format: u64,
    revision: u64,
    items: u64,
    log_lsn: u64,
}

/// Reads the format, the revision, the item count and the lsn of the log
/// the file holds; refuses a file that lacks statewell's tables rather than
/// treating it as an empty store.
fn read_meta(db: &Database) -> Result<Meta, String> {
    let missing = |e: redb::TableError| match e {
        redb::TableError::TableDoesNotExist(name) => {
            format!("{DATA_FILE} is not a statewell file (no `{name}` table)")
        }
        other => format!("cannot read {DATA_FILE}: {other}"),
    };
    let read = |e: redb::StorageError| format!("cannot read {DATA_FILE}: {e}");
    let txn = db
        .begin_read()
        .map_err(|e| format!("cannot read {DATA_FILE}: {e}"))?;
    let meta = txn.open_table(META).map_err(missing)?;
    let format = meta
        .get(META_FORMAT)
        .map_err(read)?
        .map(|v| v.value())
        .ok_or_else(|| format!("{DATA_FILE} has no format record"))?;
    let revision = meta
        .get(META_REVISION)
        .map_err(read)?
        .map(|v| v.value())
        .unwrap_or(0);
    let log_lsn = meta
        .get(META_LOG_LSN)
        .map_err(read)?
        .map(|v| v.value())
        .unwrap_or(0);
    txn.open_table(ITEMS).map_err(missing)?;
    let groups = txn.open_table(GROUPS).map_err(missing)?;
    let mut items = 0u64;
    for row in groups.iter().map_err(read)? {
        let (_, count) = row.map_err(read)?;
        items = items.saturating_add(count.value());
    }
    Ok(Meta {
        format,
        revision,
        items,
        log_lsn,
    })
}
