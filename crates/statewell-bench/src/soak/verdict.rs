//! The soak's verdict: the last interval against the first (memory, open
//! files, p99 latency, each within a stated tolerance), no failed request
//! while the engine was up, every SIGTERM a clean exit, and every tracked
//! key holding its last acknowledged write.

use serde::Serialize;

use super::figures::{IntervalFigures, Restart, mib, ms};

/// How far the last interval may drift from the first.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Tolerance {
    /// Resident memory may grow by this many percent of the first
    /// interval's, or by [`RSS_FLOOR`], whichever is more.
    pub rss_pct: f64,
    /// p99 latency may grow by this many percent, or by [`P99_FLOOR_US`].
    pub p99_pct: f64,
    /// Open file descriptors may grow by this many.
    pub fds: u64,
}

/// The least memory growth allowed: a few allocator arenas' worth, which a
/// percentage of a small engine's RSS would not cover.
pub const RSS_FLOOR: u64 = 8 << 20;

/// The least p99 growth allowed: below a millisecond, one scheduling delay
/// on a busy machine is the whole difference.
pub const P99_FLOOR_US: u64 = 1_000;

/// What the read-backs of the tracked keys found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TrackedSummary {
    pub keys: u64,
    /// Writes to tracked keys the engine acknowledged.
    pub acknowledged_writes: u64,
    /// Reads of a tracked key checked against its owner's writes, during
    /// the run (after each reconnect among them) and after the last restart.
    pub reads_checked: u64,
    /// Keys read back after the last restart.
    pub read_back: u64,
    pub mismatches: u64,
    /// The first few, described.
    pub examples: Vec<String>,
}

/// One line of the verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub what: String,
    pub found: String,
    pub allowed: String,
    pub passed: bool,
}

/// Every check of a finished run.
pub fn checks(
    intervals: &[IntervalFigures],
    restarts: &[Restart],
    tracked: &TrackedSummary,
    tolerance: &Tolerance,
) -> Vec<Check> {
    let mut checks = Vec::new();
    match (intervals.first(), intervals.last()) {
        (Some(first), Some(last)) if intervals.len() >= 2 => {
            checks.push(grown(
                "resident memory (max of the interval)",
                first.rss_max_bytes,
                last.rss_max_bytes,
                allowance(first.rss_max_bytes, tolerance.rss_pct, RSS_FLOOR),
                |b| format!("{:.1} MiB", mib(b)),
            ));
            checks.push(grown(
                "open file descriptors (max of the interval)",
                first.fds_max,
                last.fds_max,
                Some(tolerance.fds),
                |n| n.to_string(),
            ));
            let p99 = |f: &IntervalFigures| (f.ops > 0).then_some(f.p99_us);
            checks.push(grown(
                "p99 latency",
                p99(first),
                p99(last),
                allowance(p99(first), tolerance.p99_pct, P99_FLOOR_US),
                |us| format!("{:.2} ms", ms(us)),
            ));
        }
        _ => checks.push(Check {
            what: "intervals to compare".into(),
            found: intervals.len().to_string(),
            allowed: "at least 2".into(),
            passed: false,
        }),
    }
    let errors: u64 = intervals.iter().map(|f| f.errors).sum();
    checks.push(Check {
        what: "error answers and timeouts".into(),
        found: errors.to_string(),
        allowed: "0".into(),
        passed: errors == 0,
    });
    let sigterms: Vec<&Restart> = restarts.iter().filter(|r| r.signal == "SIGTERM").collect();
    let unclean = sigterms
        .iter()
        .filter(|r| !r.clean || r.exit_code != Some(0))
        .count();
    checks.push(Check {
        what: "SIGTERMs not ending in exit 0 within 30 s".into(),
        found: format!("{unclean} of {}", sigterms.len()),
        allowed: "0".into(),
        passed: unclean == 0,
    });
    checks.push(Check {
        what: "tracked keys read back after the last restart".into(),
        found: format!("{} of {}", tracked.read_back, tracked.keys),
        allowed: "all".into(),
        passed: tracked.read_back == tracked.keys,
    });
    checks.push(Check {
        what: format!(
            "acknowledged writes of tracked keys missing ({} writes, {} reads checked)",
            tracked.acknowledged_writes, tracked.reads_checked
        ),
        found: tracked.mismatches.to_string(),
        allowed: "0".into(),
        passed: tracked.mismatches == 0,
    });
    checks
}

/// `first` grown by `pct` percent, or by `floor`, whichever is more.
fn allowance(first: Option<u64>, pct: f64, floor: u64) -> Option<u64> {
    let by_pct = (first? as f64 * pct / 100.0).round() as u64;
    Some(by_pct.max(floor))
}

/// Whether `last` stayed within `first` + `allowed`; a figure not measured
/// in either interval fails (the run cannot vouch for it).
fn grown(
    what: &str,
    first: Option<u64>,
    last: Option<u64>,
    allowed: Option<u64>,
    show: impl Fn(u64) -> String,
) -> Check {
    match (first, last, allowed) {
        (Some(first), Some(last), Some(allowed)) => {
            let limit = first.saturating_add(allowed);
            Check {
                what: what.to_owned(),
                found: format!("first {}, last {}", show(first), show(last)),
                allowed: format!("at most {} (+{})", show(limit), show(allowed)),
                passed: last <= limit,
            }
        }
        _ => Check {
            what: what.to_owned(),
            found: "not measured".into(),
            allowed: "a figure in the first and the last interval".into(),
            passed: false,
        },
    }
}

/// The verdict as printed.
pub fn print(checks: &[Check]) {
    println!("verdict (last interval against the first):");
    for c in checks {
        let mark = if c.passed { "ok  " } else { "FAIL" };
        println!("  {mark} {}: {}; allowed {}", c.what, c.found, c.allowed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOLERANCE: Tolerance = Tolerance {
        rss_pct: 25.0,
        p99_pct: 100.0,
        fds: 8,
    };

    fn interval(rss_mib: u64, fds: u64, p99_us: u64) -> IntervalFigures {
        IntervalFigures {
            ops: 1000,
            rss_max_bytes: Some(rss_mib << 20),
            fds_max: Some(fds),
            p99_us,
            ..IntervalFigures::default()
        }
    }

    fn tracked(keys: u64, mismatches: u64) -> TrackedSummary {
        TrackedSummary {
            keys,
            read_back: keys,
            mismatches,
            ..TrackedSummary::default()
        }
    }

    fn failed(checks: &[Check]) -> Vec<&str> {
        checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.what.as_str())
            .collect()
    }

    fn run(first: IntervalFigures, last: IntervalFigures) -> Vec<Check> {
        let middle = interval(500, 500, 500_000);
        checks(&[first, middle, last], &[], &tracked(10, 0), &TOLERANCE)
    }

    #[test]
    fn a_run_whose_end_matches_its_start_passes() {
        // The middle interval is far off: only the first and last count.
        let all = run(interval(100, 20, 2_000), interval(125, 28, 4_000));
        assert_eq!(failed(&all), Vec::<&str>::new(), "{all:#?}");
    }

    #[test]
    fn growth_past_each_tolerance_fails_that_check_alone() {
        let memory = run(interval(100, 20, 2_000), interval(126, 20, 2_000));
        assert_eq!(failed(&memory), ["resident memory (max of the interval)"]);
        let fds = run(interval(100, 20, 2_000), interval(100, 29, 2_000));
        assert_eq!(
            failed(&fds),
            ["open file descriptors (max of the interval)"]
        );
        let p99 = run(interval(100, 20, 2_000), interval(100, 20, 4_001));
        assert_eq!(failed(&p99), ["p99 latency"]);
    }

    #[test]
    fn small_figures_get_the_floors() {
        // 10 MiB + 25% would allow 2.5 MiB; the floor allows 8.
        let all = run(interval(10, 20, 200), interval(18, 20, 1_200));
        assert_eq!(failed(&all), Vec::<&str>::new(), "{all:#?}");
        let all = run(interval(10, 20, 200), interval(19, 20, 1_201));
        assert_eq!(
            failed(&all),
            ["resident memory (max of the interval)", "p99 latency"]
        );
    }

    #[test]
    fn shrinking_is_fine() {
        let all = run(interval(200, 30, 9_000), interval(20, 10, 100));
        assert_eq!(failed(&all), Vec::<&str>::new(), "{all:#?}");
    }

    #[test]
    fn a_figure_missing_from_either_end_fails() {
        let mut blind = interval(100, 20, 2_000);
        blind.rss_max_bytes = None;
        blind.ops = 0;
        let all = run(interval(100, 20, 2_000), blind);
        assert_eq!(
            failed(&all),
            ["resident memory (max of the interval)", "p99 latency"]
        );
        let one = checks(&[interval(1, 1, 1)], &[], &tracked(1, 0), &TOLERANCE);
        assert_eq!(failed(&one), ["intervals to compare"]);
    }

    #[test]
    fn errors_lost_writes_and_unclean_stops_fail() {
        let mut last = interval(100, 20, 2_000);
        last.errors = 1;
        let restarts = [
            Restart {
                signal: "SIGTERM",
                stopped_in_s: 31.0,
                serving_after_s: 31.5,
                exit_code: None,
                clean: false,
            },
            Restart {
                signal: "SIGKILL",
                stopped_in_s: 0.0,
                serving_after_s: 0.2,
                exit_code: None,
                clean: true,
            },
        ];
        let mut summary = tracked(10, 2);
        summary.read_back = 9;
        let all = checks(
            &[interval(100, 20, 2_000), last],
            &restarts,
            &summary,
            &TOLERANCE,
        );
        let failed = failed(&all);
        assert_eq!(failed.len(), 4, "{all:#?}");
        assert_eq!(failed[0], "error answers and timeouts");
        assert_eq!(failed[1], "SIGTERMs not ending in exit 0 within 30 s");
        assert_eq!(failed[2], "tracked keys read back after the last restart");
        assert!(failed[3].starts_with("acknowledged writes of tracked keys missing"));
    }
}
