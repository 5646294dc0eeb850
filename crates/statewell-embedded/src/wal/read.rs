//! Reading the log back at open: the records the data file lacks, and
//! whether the log is whole.
//!
//! Each file is read from offset 0 as a *run* of records whose lsns grow by
//! one; the run ends at the first record that is cut short, fails its
//! checksum, cannot be decoded or is out of sequence. What follows it is
//! normally what a crash or an earlier pass over the file left: zeros, a
//! torn record, older records (lsns the data file holds). The records of
//! both files after the data file's lsn must then follow on without a gap.
//!
//! Whatever valid record lies beyond the first missing one (past the end of
//! a run, or beyond a gap between the files) is either a crash's unsynced
//! tail or damage, and the record's synced lsn tells which. A crash — even a
//! power loss, which may write the unsynced tail's pages out of order —
//! only loses records that were never synced, and every record written
//! after one that was never synced says it was synced up to less than it.
//! So a record beyond the gap saying the log was synced up to the missing
//! record (or past it) means a synced record — an acknowledged write — is
//! gone: the log is damaged, and opening is refused rather than dropping it
//! and everything after it. Anything else is a torn tail and is dropped.
//!
//! Records of [`Layout::V3`] (format 3 and older) do not say how far the
//! log was synced: there, any valid record beyond the gap counts as damage.

use std::io::ErrorKind;
use std::path::Path;

use super::{Layout, LogOp, OP_CLEAR, OP_PUT, OP_REMOVE, Record, WAL_FILE, WAL_SPARE_FILE};

/// What [`read_after`] found in the log.
#[derive(Debug, Default)]
pub(crate) struct LogRead {
    /// The records after the data file's lsn, in lsn order, up to the
    /// first one missing: what replay applies.
    pub records: Vec<Record>,
    /// Where the log is damaged, if it is: `records` stop there and the
    /// records it names are left out.
    pub damage: Option<Damage>,
    /// Valid records beyond the first missing one that were written after
    /// it without its being synced: the tail a crash cut, left out.
    pub torn_tail: usize,
}

/// A synced record is missing while later ones are there (see the module
/// docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    /// The log file where the records stop, and the byte where they do.
    pub file: &'static str,
    pub offset: u64,
    /// What is at that byte.
    pub what: String,
    /// The lsn of the first record missing.
    pub missing: u64,
    /// How many valid records follow, from which lsn to which: what
    /// opening anyway drops.
    pub later: usize,
    pub first_later: u64,
    pub last_later: u64,
    pub evidence: Evidence,
}

/// Why the records beyond the missing one are not a crash's torn tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Evidence {
    /// A later record says the missing one was synced.
    Synced,
    /// A record passes its checksum (so was written whole) but cannot be
    /// decoded: no crash writes that.
    Undecodable,
    /// The log's format does not say how far it was synced.
    Unknown,
}

impl Damage {
    /// Where the log is damaged and what that drops.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} is damaged at byte {}: {}; record {} is missing, yet {} later records (lsn {} to \
             {}) follow",
            self.file,
            self.offset,
            self.what,
            self.missing,
            self.later,
            self.first_later,
            self.last_later,
        )
    }

    /// The reason opening is refused.
    pub(crate) fn refusal(&self) -> String {
        let why = match self.evidence {
            Evidence::Synced => format!(
                "record {} was synced (acknowledged) before they were written",
                self.missing
            ),
            Evidence::Undecodable => "a record written whole cannot be a crash's torn one".into(),
            Evidence::Unknown => {
                "the log's format does not tell whether they were acknowledged".into()
            }
        };
        format!(
            "{} and {why}. Opening would drop them; start with --accept-log-damage \
             (EmbeddedOptions::accept_log_damage) to open without them, keeping a copy of the \
             log",
            self.describe()
        )
    }
}

/// Reads the records of both log files that come after `after` (the lsn
/// the data file holds) and what is wrong with the log, if anything (see
/// the module docs). A missing `wal.log` reads as `None`; a missing
/// `wal.1.log` as empty (directories written before it existed).
pub(crate) fn read_after(
    dir: &Path,
    after: u64,
    layout: Layout,
) -> Result<Option<LogRead>, String> {
    let Some(main) = read_file(dir, WAL_FILE)? else {
        return Ok(None);
    };
    let spare = read_file(dir, WAL_SPARE_FILE)?.unwrap_or_default();
    let scans = [
        scan(&main, after, layout, WAL_FILE),
        scan(&spare, after, layout, WAL_SPARE_FILE),
    ];
    Ok(Some(settle(after, scans)))
}

fn read_file(dir: &Path, name: &str) -> Result<Option<Vec<u8>>, String> {
    match std::fs::read(dir.join(name)) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {name}: {e}")),
    }
}

/// A valid record seen beyond the first missing one.
#[derive(Debug, Clone, Copy)]
struct Seen {
    lsn: u64,
    synced: Option<u64>,
}

/// One file read: its run, where and why the run ends, and the valid
/// records after that end that are newer than the run.
struct Scan {
    name: &'static str,
    /// The run's records after `after`, decoded.
    records: Vec<Record>,
    /// The run's last lsn, `after` or not.
    last: Option<u64>,
    end: usize,
    what: String,
    /// The run ends at a record that passes its checksum but cannot be
    /// decoded.
    undecodable: bool,
    beyond: Vec<Seen>,
}

fn scan(bytes: &[u8], after: u64, layout: Layout, name: &'static str) -> Scan {
    let mut records = Vec::new();
    let mut last: Option<u64> = None;
    let mut at = 0usize;
    let mut undecodable = false;
    let what = loop {
        let Some(frame) = frame_at(bytes, at, layout, 0) else {
            break if at >= bytes.len() {
                "the file ends there".to_owned()
            } else {
                "the record there is cut short or fails its checksum".to_owned()
            };
        };
        if let Some(previous) = last
            && Some(frame.lsn) != previous.checked_add(1)
        {
            break format!(
                "record {} there does not follow record {previous}",
                frame.lsn
            );
        }
        if frame.lsn > after {
            let Some(ops) = decode_ops(frame.payload) else {
                undecodable = true;
                break format!(
                    "record {} there passes its checksum but cannot be decoded",
                    frame.lsn
                );
            };
            records.push(Record {
                lsn: frame.lsn,
                revision: frame.revision,
                synced: frame.synced,
                ops,
            });
        }
        last = Some(frame.lsn);
        at += frame.len;
    };
    // Older records (an earlier pass over the file) hold lsns up to the
    // data file's: only newer ones can be lost writes.
    let beyond = newer_records(bytes, at, layout, after.max(last.unwrap_or(0)));
    Scan {
        name,
        records,
        last,
        end: at,
        what,
        undecodable,
        beyond,
    }
}

/// The valid records from byte `from` on with an lsn above `above`, found
/// by trying every offset (the damage may have hit a length field, so the
/// records' boundaries cannot be followed).
fn newer_records(bytes: &[u8], from: usize, layout: Layout, above: u64) -> Vec<Seen> {
    let mut seen = Vec::new();
    let mut at = from;
    while at < bytes.len() {
        match frame_at(bytes, at, layout, above) {
            Some(frame) => {
                seen.push(Seen {
                    lsn: frame.lsn,
                    synced: frame.synced,
                });
                at += frame.len;
            }
            None => at = next_candidate(bytes, at),
        }
    }
    seen
}

/// The next offset after `at` where a record could start. A record's lsn
/// (bytes 12 to 20 of it) is never 0, so a run of zeros — most of a log
/// file is zero-filled space ahead of its records — is stepped over at
/// once rather than byte by byte.
fn next_candidate(bytes: &[u8], at: usize) -> usize {
    let lsn_at = at + 12;
    if bytes
        .get(lsn_at..lsn_at + 8)
        .is_some_and(|lsn| lsn.iter().all(|&b| b == 0))
    {
        let nonzero = bytes[lsn_at..]
            .iter()
            .position(|&b| b != 0)
            .map_or(bytes.len(), |n| lsn_at + n);
        // The first start whose lsn field reaches that byte.
        return nonzero.saturating_sub(12 + 7).max(at + 1);
    }
    at + 1
}

/// Joins both files' runs into the records after `after` and judges what
/// lies beyond the first missing one.
fn settle(after: u64, scans: [Scan; 2]) -> LogRead {
    let mut lsns: Vec<u64> = scans
        .iter()
        .flat_map(|scan| scan.records.iter().map(|record| record.lsn))
        .collect();
    lsns.sort_unstable();
    let mut missing = after.saturating_add(1);
    for lsn in lsns {
        if lsn != missing {
            break;
        }
        missing = missing.saturating_add(1);
    }
    let later_in = |scan: &Scan| -> Vec<Seen> {
        let run = scan.records.iter().map(|record| Seen {
            lsn: record.lsn,
            synced: record.synced,
        });
        run.chain(scan.beyond.iter().copied())
            .filter(|seen| seen.lsn >= missing)
            .collect()
    };
    let later_by_file = scans.each_ref().map(later_in);
    // The file whose run stops just before the missing record (when it
    // held records the data file lacks); else the one holding the nearest
    // later record (a file whose first record is what is missing).
    let nearest = |i: usize| later_by_file[i].iter().map(|seen| seen.lsn).min();
    let stopped = (0..2)
        .find(|&i| missing - 1 > after && scans[i].last == Some(missing - 1))
        .or_else(|| {
            (0..2)
                .filter(|&i| nearest(i).is_some())
                .min_by_key(|&i| nearest(i))
        })
        .unwrap_or(0);
    let undecodable = scans[stopped].undecodable;
    let mut later: Vec<Seen> = later_by_file.into_iter().flatten().collect();
    later.sort_by_key(|seen| seen.lsn);
    later.dedup_by_key(|seen| seen.lsn);

    let [main, spare] = scans;
    let mut records: Vec<Record> = main.records.into_iter().chain(spare.records).collect();
    records.sort_by_key(|record| record.lsn);
    records.dedup_by_key(|record| record.lsn);
    records.retain(|record| record.lsn < missing);
    let (Some(first), Some(last)) = (later.first(), later.last()) else {
        return LogRead {
            records,
            damage: None,
            torn_tail: 0,
        };
    };
    let evidence = if undecodable {
        Evidence::Undecodable
    } else if later
        .iter()
        .any(|seen| seen.synced.is_some_and(|synced| synced >= missing))
    {
        Evidence::Synced
    } else if later.iter().any(|seen| seen.synced.is_none()) {
        Evidence::Unknown
    } else {
        return LogRead {
            records,
            damage: None,
            torn_tail: later.len(),
        };
    };
    let (file, offset, what) = if stopped == 0 {
        (main.name, main.end, main.what)
    } else {
        (spare.name, spare.end, spare.what)
    };
    LogRead {
        records,
        damage: Some(Damage {
            file,
            offset: offset as u64,
            what,
            missing,
            later: later.len(),
            first_later: first.lsn,
            last_later: last.lsn,
            evidence,
        }),
        torn_tail: 0,
    }
}

/// A whole record whose checksum holds.
struct Frame<'a> {
    lsn: u64,
    revision: u64,
    synced: Option<u64>,
    payload: &'a [u8],
    /// Header and payload.
    len: usize,
}

/// The record at `at`, when it is whole, its lsn is above `above` (checked
/// first: it is the cheap test that skips zeros and older records) and its
/// checksum holds.
fn frame_at(bytes: &[u8], at: usize, layout: Layout, above: u64) -> Option<Frame<'_>> {
    let header = bytes.get(at..at.checked_add(layout.header())?)?;
    let word = |from: usize| -> Option<u64> {
        Some(u64::from_le_bytes(
            header.get(from..from + 8)?.try_into().ok()?,
        ))
    };
    let lsn = word(12)?;
    // Zeroed space has a valid checksum for an empty payload only if crc32
    // of its zero bytes were 0, which it is not; lsn 0 is never written.
    if lsn == 0 || lsn <= above {
        return None;
    }
    let payload_len = usize::try_from(word(0)?).ok()?;
    let end = at.checked_add(layout.header())?.checked_add(payload_len)?;
    let checked = bytes.get(at + 12..end)?;
    let crc = u32::from_le_bytes(header.get(8..12)?.try_into().ok()?);
    if crc32fast::hash(checked) != crc {
        return None;
    }
    Some(Frame {
        lsn,
        revision: word(20)?,
        synced: match layout {
            Layout::V3 => None,
            Layout::V4 => Some(word(28)?),
        },
        payload: &bytes[at + layout.header()..end],
        len: end - at,
    })
}

fn decode_ops(mut payload: &[u8]) -> Option<Vec<LogOp>> {
    let mut ops = Vec::new();
    while let Some((&tag, rest)) = payload.split_first() {
        payload = rest;
        let op = match tag {
            OP_PUT => {
                let key = take_bytes(&mut payload)?.to_vec();
                let value = take_bytes(&mut payload)?.to_vec();
                LogOp::Put { key, value }
            }
            OP_REMOVE => LogOp::Remove {
                key: take_bytes(&mut payload)?.to_vec(),
            },
            OP_CLEAR => LogOp::Clear {
                group: String::from_utf8(take_bytes(&mut payload)?.to_vec()).ok()?,
            },
            _ => return None,
        };
        ops.push(op);
    }
    Some(ops)
}

fn take_bytes<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(u64::from_le_bytes(input.get(..8)?.try_into().ok()?)).ok()?;
    let end = 8usize.checked_add(len)?;
    let bytes = input.get(8..end)?;
    *input = &input[end..];
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fresh, log, put, read};
    use super::super::{HEADER, Wal, push_bytes};
    use super::*;

    /// A log of `n` records of one put each, each synced before the next is
    /// written (as acknowledged writes are); returns each record's offset.
    fn synced_log(wal: &mut Wal, n: u64) -> Vec<usize> {
        let mut offsets = Vec::new();
        for i in 1..=n {
            offsets.push(wal.len() as usize);
            log(wal, i, &[put(&format!("k{i}"), "v")]);
            wal.sync().expect("sync");
        }
        offsets
    }

    fn edit(dir: &Path, name: &str, change: impl FnOnce(&mut Vec<u8>)) {
        let path = dir.join(name);
        let mut bytes = std::fs::read(&path).expect("read");
        change(&mut bytes);
        std::fs::write(&path, &bytes).expect("write");
    }

    fn lsns(read: &LogRead) -> Vec<u64> {
        read.records.iter().map(|r| r.lsn).collect()
    }

    #[test]
    fn a_torn_last_record_ends_the_log_quietly() {
        let (dir, mut wal) = fresh();
        let offsets = synced_log(&mut wal, 2);
        // One byte of the last record's payload, as a torn write leaves it.
        edit(dir.path(), WAL_FILE, |b| b[offsets[1] + HEADER + 3] ^= 0xFF);
        let found = read(dir.path(), 0);
        assert_eq!(
            (lsns(&found), found.damage, found.torn_tail),
            (vec![1], None, 0)
        );
        // Cut in the middle of it instead.
        edit(dir.path(), WAL_FILE, |b| {
            b.truncate(offsets[1] + HEADER + 2)
        });
        let found = read(dir.path(), 0);
        assert_eq!((lsns(&found), found.damage), (vec![1], None));
    }

    #[test]
    fn a_bad_record_followed_by_records_written_after_it_was_synced_is_damage() {
        let (dir, mut wal) = fresh();
        let offsets = synced_log(&mut wal, 5);
        edit(dir.path(), WAL_FILE, |b| b[offsets[1] + HEADER + 3] ^= 0x01);
        let found = read(dir.path(), 0);
        assert_eq!(lsns(&found), vec![1], "replay stops at the damage");
        let damage = found.damage.expect("damage");
        assert_eq!(
            damage,
            Damage {
                file: WAL_FILE,
                offset: offsets[1] as u64,
                what: "the record there is cut short or fails its checksum".into(),
                missing: 2,
                later: 3,
                first_later: 3,
                last_later: 5,
                evidence: Evidence::Synced,
            }
        );
        let refusal = damage.refusal();
        assert!(
            refusal.contains(&format!("wal.log is damaged at byte {}", offsets[1])),
            "{refusal}"
        );
        assert!(refusal.contains("--accept-log-damage"), "{refusal}");
    }

    #[test]
    fn a_first_record_whose_length_changed_is_damage_at_byte_0() {
        let (dir, mut wal) = fresh();
        synced_log(&mut wal, 4);
        edit(dir.path(), WAL_FILE, |b| b[1] ^= 0x10);
        let found = read(dir.path(), 0);
        assert!(found.records.is_empty());
        let damage = found.damage.expect("damage");
        assert_eq!((damage.file, damage.offset), (WAL_FILE, 0));
        assert_eq!(
            (damage.missing, damage.first_later, damage.later),
            (1, 2, 3)
        );
    }

    #[test]
    fn a_hole_in_the_unsynced_tail_is_a_torn_tail_not_damage() {
        let (dir, mut wal) = fresh();
        synced_log(&mut wal, 1);
        // Three records written while none of them was synced: a power
        // loss may keep the later ones' pages and lose the first's.
        let second = wal.len() as usize;
        for i in 2..=4 {
            log(&mut wal, i, &[put(&format!("k{i}"), "v")]);
        }
        edit(dir.path(), WAL_FILE, |b| {
            b[second..second + HEADER].fill(0);
        });
        let found = read(dir.path(), 0);
        assert_eq!(
            (lsns(&found), found.damage, found.torn_tail),
            (vec![1], None, 2)
        );
    }

    #[test]
    fn a_record_that_passes_its_checksum_but_does_not_decode_is_damage() {
        let (dir, mut wal) = fresh();
        synced_log(&mut wal, 1);
        wal.record.push(9); // an unknown op tag
        wal.ops = 1;
        wal.write(2).expect("write");
        let found = read(dir.path(), 0);
        assert_eq!(lsns(&found), vec![1]);
        let damage = found.damage.expect("damage");
        assert_eq!(damage.evidence, Evidence::Undecodable);
        assert!(damage.what.contains("cannot be decoded"), "{damage:?}");
    }

    #[test]
    fn a_gap_between_the_data_file_and_synced_records_is_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        Wal::create(dir.path()).expect("create");
        // The data file held up to 6 when this log started.
        let mut wal = Wal::start(dir.path(), 7).expect("start");
        log(&mut wal, 1, &[put("a", "1")]);
        // Opened as if the data file held only up to 3.
        let damage = read(dir.path(), 3).damage.expect("a gap");
        assert_eq!((damage.missing, damage.first_later), (4, 7));
        assert_eq!(damage.evidence, Evidence::Synced);
    }

    /// A record as formats 2 and 3 wrote it (no synced lsn).
    fn v3_record(lsn: u64, key: &str) -> Vec<u8> {
        let mut payload = vec![OP_PUT];
        push_bytes(&mut payload, key.as_bytes());
        push_bytes(&mut payload, b"1");
        let mut checked = lsn.to_le_bytes().to_vec();
        checked.extend_from_slice(&lsn.to_le_bytes()); // the revision
        checked.extend_from_slice(&payload);
        let mut record = (payload.len() as u64).to_le_bytes().to_vec();
        record.extend_from_slice(&crc32fast::hash(&checked).to_le_bytes());
        record.extend_from_slice(&checked);
        record
    }

    #[test]
    fn an_older_layout_reads_and_any_record_after_a_bad_one_is_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let records: Vec<Vec<u8>> = (1..=3).map(|i| v3_record(i, &format!("k{i}"))).collect();
        let mut bytes = records.concat();
        bytes.extend_from_slice(&[0; 64]);
        std::fs::write(dir.path().join(WAL_FILE), &bytes).expect("write");
        let found = read_after(dir.path(), 0, Layout::V3)
            .expect("read")
            .expect("exists");
        assert_eq!((lsns(&found), found.damage), (vec![1, 2, 3], None));
        assert_eq!(found.records[1].ops, vec![put("k2", "1")]);
        assert_eq!(found.records[1].synced, None);
        bytes[records[0].len() + 30] ^= 0x01;
        std::fs::write(dir.path().join(WAL_FILE), &bytes).expect("write");
        let found = read_after(dir.path(), 0, Layout::V3)
            .expect("read")
            .expect("exists");
        let damage = found.damage.expect("damage");
        assert_eq!((damage.missing, damage.evidence), (2, Evidence::Unknown));
    }
}
