//! Test-only failures of a data directory's log files: a test arms a plan
//! for a directory ([`arm`]); the [`LogFile`](crate::logfile::LogFile)s
//! opened in it then fail the operations the plan names, at the points it
//! names (the n-th write of a record, the n-th sync...).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// An operation on a log file that a plan can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Point {
    /// Writing a record.
    Record,
    /// Writing zeros: ahead of the records, or over a withdrawn one.
    Zeros,
    /// `fdatasync`.
    Sync,
}

/// One planned failure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fault {
    pub point: Point,
    /// Operations at `point` that succeed first.
    pub skip: u64,
    /// How many of the following ones fail (`u64::MAX`: all of them).
    pub times: u64,
    /// The error they fail with (`libc` errno: 5 is EIO, 28 is ENOSPC).
    pub errno: i32,
    /// A failing write writes half its bytes first.
    pub partial: bool,
}

/// The faults armed for one directory, and how many operations each point
/// has seen.
#[derive(Debug)]
pub(crate) struct Plan {
    dir: PathBuf,
    state: Mutex<(Vec<Fault>, [u64; 3])>,
}

impl Plan {
    /// Counts an operation at `point`; returns the fault it meets, if any.
    pub(crate) fn take(&self, point: Point) -> Option<Fault> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (faults, seen) = &mut *state;
        let n = &mut seen[point as usize];
        *n += 1;
        let n = *n;
        let fault = faults
            .iter_mut()
            .find(|f| f.point == point && n > f.skip && f.times > 0)?;
        fault.times -= 1;
        Some(*fault)
    }

    /// No more failures: the disk works again.
    pub(crate) fn disarm(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clear();
    }
}

static PLANS: Mutex<Vec<Arc<Plan>>> = Mutex::new(Vec::new());

/// Arms `faults` for the log files opened in `dir` from now on.
pub(crate) fn arm(dir: &Path, faults: Vec<Fault>) -> Arc<Plan> {
    let plan = Arc::new(Plan {
        dir: dir.to_owned(),
        state: Mutex::new((faults, [0; 3])),
    });
    let mut plans = PLANS.lock().unwrap_or_else(PoisonError::into_inner);
    plans.retain(|p| p.dir != dir);
    plans.push(Arc::clone(&plan));
    plan
}

/// The plan armed for the directory holding `file`.
pub(crate) fn plan_for(file: &Path) -> Option<Arc<Plan>> {
    let dir = file.parent()?;
    PLANS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|plan| plan.dir == dir)
        .cloned()
}
