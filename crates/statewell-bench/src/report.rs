//! The figures of a run, as printed and as written with `--json`.

use std::time::Duration;

use serde::Serialize;

use crate::runner::{KindCounts, Stats};
use crate::workload::OpChoice;

#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ByKind {
    pub set: KindCounts,
    pub get: KindCounts,
    pub update: KindCounts,
    pub transaction: KindCounts,
}

/// One measured run: one target, one operation, one shape.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    /// e.g. `statewell (always)`, `redis (everysec)`.
    pub target: String,
    pub op: OpChoice,
    pub connections: usize,
    pub in_flight_per_connection: usize,
    pub keys: u64,
    pub value_size: usize,
    /// Items stored when the run started.
    pub items_stored: u64,
    pub ops: u64,
    pub errors: u64,
    /// Gets that found nothing although every key was preloaded.
    pub missing: u64,
    pub by_kind: ByKind,
    pub seconds: f64,
    pub ops_per_sec: f64,
    pub latency: Latency,
    /// CPU used by the server / by this generator during the run, as % of
    /// one core (both share the same machine).
    pub server_cpu_pct: Option<f64>,
    pub generator_cpu_pct: Option<f64>,
    /// CPU time per request, in µs: steadier than ops/s on a shared machine
    /// (other processes take cycles away, not add them to a request).
    pub server_cpu_us_per_op: Option<f64>,
    pub generator_cpu_us_per_op: Option<f64>,
    /// statewell only, from `/metrics` around the run: commits made, the
    /// mean number of writes each carried, and the syncs to disk (in
    /// `always` mode one sync covers the commits made while the one before
    /// it ran).
    pub commits: Option<u64>,
    pub mean_commit_batch: Option<f64>,
    pub syncs: Option<u64>,
}

/// An engine's commit figures from its `/metrics`: totals so far, or (see
/// [`CommitCounters::since`]) what one run added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitCounters {
    pub commits: u64,
    /// `None` from an engine that does not report syncs.
    pub syncs: Option<u64>,
    /// Writes that succeeded.
    pub writes: u64,
}

impl CommitCounters {
    /// What happened between `before` and these counters.
    pub fn since(&self, before: &CommitCounters) -> CommitCounters {
        CommitCounters {
            commits: self.commits.saturating_sub(before.commits),
            syncs: self
                .syncs
                .zip(before.syncs)
                .map(|(now, then)| now.saturating_sub(then)),
            writes: self.writes.saturating_sub(before.writes),
        }
    }
}

pub struct RunInfo<'a> {
    pub target: &'a str,
    pub op: OpChoice,
    pub connections: usize,
    pub in_flight: usize,
    pub keys: u64,
    pub value_size: usize,
    pub items_stored: u64,
    pub elapsed: Duration,
    pub server_cpu: Option<f64>,
    pub generator_cpu: Option<f64>,
    /// What the engine counted during the run.
    pub commits: Option<CommitCounters>,
}

impl RunResult {
    pub fn new(info: RunInfo<'_>, stats: &Stats) -> RunResult {
        let h = &stats.latency_us;
        let [set, get, update, transaction] = stats.kinds;
        let ops = set.ops + get.ops + update.ops + transaction.ops;
        let seconds = info.elapsed.as_secs_f64();
        let pct = |cpu: Option<f64>| cpu.map(|c| 100.0 * c / seconds.max(1e-9));
        let per_op = |cpu: Option<f64>| cpu.filter(|_| ops > 0).map(|c| c * 1e6 / ops as f64);
        RunResult {
            target: info.target.to_owned(),
            op: info.op,
            connections: info.connections,
            in_flight_per_connection: info.in_flight,
            keys: info.keys,
            value_size: info.value_size,
            items_stored: info.items_stored,
            ops,
            errors: set.errors + get.errors + update.errors + transaction.errors,
            missing: set.missing + get.missing + update.missing + transaction.missing,
            by_kind: ByKind {
                set,
                get,
                update,
                transaction,
            },
            seconds,
            ops_per_sec: ops as f64 / seconds.max(1e-9),
            latency: Latency {
                p50_us: h.value_at_quantile(0.5),
                p90_us: h.value_at_quantile(0.9),
                p99_us: h.value_at_quantile(0.99),
                p999_us: h.value_at_quantile(0.999),
                max_us: h.max(),
                mean_us: h.mean(),
            },
            server_cpu_pct: pct(info.server_cpu),
            generator_cpu_pct: pct(info.generator_cpu),
            server_cpu_us_per_op: per_op(info.server_cpu),
            generator_cpu_us_per_op: per_op(info.generator_cpu),
            commits: info.commits.map(|c| c.commits),
            mean_commit_batch: info
                .commits
                .and_then(|c| (c.commits > 0).then(|| c.writes as f64 / c.commits as f64)),
            syncs: info.commits.and_then(|c| c.syncs),
        }
    }

    /// The human summary of one run.
    pub fn print(&self) {
        let l = &self.latency;
        println!(
            "{} {}: {} ops in {:.2} s = {} ops/s  ({} conn × {} in flight, {} keys, {} B values)",
            self.target,
            self.op,
            self.ops,
            self.seconds,
            rate(self.ops_per_sec),
            self.connections,
            self.in_flight_per_connection,
            self.keys,
            self.value_size,
        );
        println!(
            "  latency p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            ms(l.p50_us),
            ms(l.p90_us),
            ms(l.p99_us),
            ms(l.p999_us),
            ms(l.max_us)
        );
        let cpu = |c: Option<f64>, per_op: Option<f64>| match (c, per_op) {
            (Some(c), Some(u)) => format!("{c:.0}% ({u:.1} µs/op)"),
            (Some(c), None) => format!("{c:.0}%"),
            _ => "-".to_owned(),
        };
        let syncs = match self.syncs {
            Some(s) => format!(", syncs {s}"),
            None => String::new(),
        };
        let batches = match (self.commits, self.mean_commit_batch) {
            (Some(c), Some(b)) => format!("  commits {c} (mean {b:.1} writes each){syncs}"),
            _ => String::new(),
        };
        println!(
            "  errors {}  missing {}  cpu: server {}  generator {}{batches}",
            self.errors,
            self.missing,
            cpu(self.server_cpu_pct, self.server_cpu_us_per_op),
            cpu(self.generator_cpu_pct, self.generator_cpu_us_per_op)
        );
    }
}

/// `123456.0` → `123.5k`.
pub fn rate(per_sec: f64) -> String {
    if per_sec >= 1000.0 {
        format!("{:.1}k", per_sec / 1000.0)
    } else {
        format!("{per_sec:.0}")
    }
}

/// Microseconds as milliseconds, 2 decimals.
pub fn ms(us: u64) -> String {
    format!("{:.2}ms", us as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_adds_up_the_kinds_and_reads_the_histogram() {
        let mut stats = Stats::new();
        for us in 1..=1000u64 {
            stats.latency_us.record(us).expect("in range");
        }
        stats.kinds[0].ops = 600;
        stats.kinds[1].ops = 400;
        stats.kinds[1].missing = 2;
        stats.kinds[0].errors = 1;
        let r = RunResult::new(
            RunInfo {
                target: "t",
                op: OpChoice::Mixed,
                connections: 1,
                in_flight: 1,
                keys: 10,
                value_size: 200,
                items_stored: 10,
                elapsed: Duration::from_secs(2),
                server_cpu: Some(1.0),
                generator_cpu: None,
                commits: Some(CommitCounters {
                    commits: 4,
                    syncs: Some(3),
                    writes: 10,
                }),
            },
            &stats,
        );
        assert_eq!(r.ops, 1000);
        assert_eq!(r.errors, 1);
        assert_eq!(r.missing, 2);
        assert_eq!(r.ops_per_sec, 500.0);
        assert!((495..=505).contains(&r.latency.p50_us));
        assert_eq!(r.latency.max_us, 1000);
        assert_eq!(r.server_cpu_pct, Some(50.0));
        assert_eq!(r.mean_commit_batch, Some(2.5));
        assert_eq!(r.syncs, Some(3));
        assert_eq!(r.server_cpu_us_per_op, Some(1000.0));
    }

    #[test]
    fn formats_rates_and_times() {
        assert_eq!(rate(123_456.0), "123.5k");
        assert_eq!(rate(999.0), "999");
        assert_eq!(ms(1500), "1.50ms");
    }
}
