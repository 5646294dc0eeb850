//! The log files' reads and writes go through [`LogFile`], so that tests
//! can make chosen writes and syncs fail (see `faults`). Outside tests it
//! is the `File` alone: each method is the one call it wraps.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// One log file, open for reading and writing.
#[derive(Debug)]
pub(crate) struct LogFile {
    file: File,
    #[cfg(test)]
    faults: Option<std::sync::Arc<crate::faults::Plan>>,
}

impl LogFile {
    /// Opens `path`, creating it when missing.
    pub(crate) fn open(path: &Path) -> io::Result<LogFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(LogFile {
            file,
            #[cfg(test)]
            faults: crate::faults::plan_for(path),
        })
    }

    /// Writes a record (or part of one) at `at`.
    #[inline]
    pub(crate) fn write_record(&self, bytes: &[u8], at: u64) -> io::Result<()> {
        #[cfg(test)]
        self.fault(crate::faults::Point::Record, bytes, at)?;
        self.file.write_all_at(bytes, at)
    }

    /// Writes `len` zeros at `at`: ahead of the records (see
    /// `Wal::fill_to`), or over a record withdrawn (see `publish`).
    pub(crate) fn write_zeros(&self, at: u64, len: u64) -> io::Result<()> {
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        #[cfg(test)]
        self.fault(
            crate::faults::Point::Zeros,
            &ZEROS[..len.min(ZEROS.len() as u64) as usize],
            at,
        )?;
        let end = at + len;
        let mut at = at;
        while at < end {
            let n = (end - at).min(ZEROS.len() as u64) as usize;
            self.file.write_all_at(&ZEROS[..n], at)?;
            at += n as u64;
        }
        Ok(())
    }

    /// `fdatasync`: what is written is durable.
    #[inline]
    pub(crate) fn sync_data(&self) -> io::Result<()> {
        #[cfg(test)]
        self.fault(crate::faults::Point::Sync, &[], 0)?;
        self.file.sync_data()
    }

    /// Empties the file and makes that durable.
    pub(crate) fn empty(&self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.sync_all()
    }

    /// The failure a test planned for this operation, if any; a write
    /// planned to fail part way writes its first half first, as a disk
    /// that fills up in the middle of it would.
    #[cfg(test)]
    fn fault(&self, point: crate::faults::Point, bytes: &[u8], at: u64) -> io::Result<()> {
        let Some(fault) = self.faults.as_ref().and_then(|plan| plan.take(point)) else {
            return Ok(());
        };
        if fault.partial && bytes.len() > 1 {
            self.file.write_all_at(&bytes[..bytes.len() / 2], at)?;
        }
        Err(io::Error::from_raw_os_error(fault.errno))
    }
}

#[cfg(test)]
impl From<File> for LogFile {
    fn from(file: File) -> Self {
        LogFile { file, faults: None }
    }
}
