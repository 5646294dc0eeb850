//! Counters for `/metrics` (Prometheus text format 0.0.4).
//!
//! [`Metrics::record_op`] is on the hot path of every state operation, over
//! both protocols, hundreds of thousands of times a second: it touches three
//! relaxed atomics in fixed arrays and never locks or allocates. The arrays
//! are indexed by [`StateFn`] and [`Outcome`], so every state function and
//! every error code has its series.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use statewell_core::{ErrorCode, StoreStats};
use strum::{EnumCount, IntoEnumIterator};

use crate::state_fn::StateFn;

/// How a state operation ended, as metrics count it (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Refused with this code (by the core, or by the protocol layer with a
    /// core code, such as an empty scope).
    Failed(ErrorCode),
    /// The request's arguments could not be read: `deserialization_error`.
    Unreadable,
}

/// One slot per [`Outcome`]: `ok`, each error code, `deserialization_error`.
const OUTCOMES: usize = ErrorCode::COUNT + 2;

impl Outcome {
    fn index(self) -> usize {
        match self {
            Outcome::Ok => 0,
            // An enum without explicit discriminants numbers its variants
            // 0..COUNT in declaration order.
            Outcome::Failed(code) => 1 + code as usize,
            Outcome::Unreadable => OUTCOMES - 1,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed(code) => code.as_str(),
            Outcome::Unreadable => "deserialization_error",
        }
    }

    /// Every outcome, in the order of their slots.
    fn all() -> impl Iterator<Item = Outcome> {
        std::iter::once(Outcome::Ok)
            .chain(ErrorCode::iter().map(Outcome::Failed))
            .chain(std::iter::once(Outcome::Unreadable))
    }
}

/// Upper bounds of the latency buckets, in nanoseconds: 50 µs to 1 s, the
/// span between an in-memory read and a slow disk sync under load.
const BUCKET_BOUNDS_NS: [u64; 14] = [
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
];

/// One latency histogram. Buckets are stored non-cumulative (one add per
/// observation) and summed when rendered; the count is the sum of buckets.
#[derive(Debug, Default)]
struct Histogram {
    /// One slot per bound plus the `+Inf` slot.
    buckets: [AtomicU64; BUCKET_BOUNDS_NS.len() + 1],
    sum_ns: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let slot = BUCKET_BOUNDS_NS
            .iter()
            .position(|bound| ns <= *bound)
            .unwrap_or(BUCKET_BOUNDS_NS.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

#[derive(Debug)]
pub struct Metrics {
    /// `[function][outcome]` → operations counted.
    ops: [[AtomicU64; OUTCOMES]; StateFn::COUNT],
    latency: [Histogram; StateFn::COUNT],
    workers: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            ops: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            latency: std::array::from_fn(|_| Histogram::default()),
            workers: AtomicI64::new(0),
        }
    }
}

impl Metrics {
    /// Records one state operation, over either protocol.
    pub fn record_op(&self, function: StateFn, outcome: Outcome, elapsed: Duration) {
        let f = function as usize;
        self.ops[f][outcome.index()].fetch_add(1, Ordering::Relaxed);
        self.latency[f].observe(elapsed);
    }

    pub fn worker_connected(&self) {
        self.workers.fetch_add(1, Ordering::Relaxed);
    }

    pub fn worker_disconnected(&self) {
        self.workers.fetch_sub(1, Ordering::Relaxed);
    }

    /// Operations of `function` with `outcome` counted so far.
    #[cfg(test)]
    fn ops_count(&self, function: StateFn, outcome: Outcome) -> u64 {
        self.ops[function as usize][outcome.index()].load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition of every series, with the store's figures.
    pub fn render(&self, store: &StoreStats) -> String {
        let mut out = String::with_capacity(8 * 1024);
        self.render_ops(&mut out);
        self.render_latency(&mut out);
        gauge(
            &mut out,
            "statewell_workers_connected",
            "Worker WebSocket connections open now.",
            self.workers.load(Ordering::Relaxed).max(0),
        );
        gauge(
            &mut out,
            "statewell_store_items",
            "Items stored, across all groups.",
            store.items,
        );
        gauge(
            &mut out,
            "statewell_store_bytes",
            "Bytes the store occupies (on disk for the embedded store).",
            store.bytes,
        );
        gauge(
            &mut out,
            "statewell_store_revision",
            "The newest committed revision.",
            store.revision,
        );
        gauge(
            &mut out,
            "statewell_commit_batch_size",
            "Mutations in the most recent commit batch (group commit).",
            store.last_batch_size,
        );
        gauge(
            &mut out,
            "statewell_idempotency_keys",
            "Idempotency keys remembered now (bounded; the oldest is forgotten first).",
            store.idempotency_keys,
        );
        // Writing to a String cannot fail; the results are ignored below for that reason.
        let _ = writeln!(
            out,
            "# HELP statewell_commits_total Commits (batches) since start.\n\
             # TYPE statewell_commits_total counter\n\
             statewell_commits_total {}",
            store.commits
        );
        let _ = writeln!(
            out,
            "# HELP statewell_syncs_total Syncs to disk since start (each covers every commit before it).\n\
             # TYPE statewell_syncs_total counter\n\
             statewell_syncs_total {}",
            store.syncs
        );
        out
    }

    fn render_ops(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP statewell_operations_total State operations handled, by kind and outcome.\n\
             # TYPE statewell_operations_total counter"
        );
        for function in StateFn::iter() {
            let kind = function.kind();
            for outcome in Outcome::all() {
                let n = self.ops[function as usize][outcome.index()].load(Ordering::Relaxed);
                // Always show the `ok` series of every function so dashboards
                // see zeros; other combinations appear once they happen.
                if n > 0 || outcome == Outcome::Ok {
                    let outcome = outcome.label();
                    let _ = writeln!(
                        out,
                        "statewell_operations_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}"
                    );
                }
            }
        }
    }

    fn render_latency(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP statewell_operation_duration_seconds Time to handle one state operation.\n\
             # TYPE statewell_operation_duration_seconds histogram"
        );
        for function in StateFn::iter() {
            let kind = function.kind();
            let histogram = &self.latency[function as usize];
            let counts: Vec<u64> = histogram
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect();
            let total: u64 = counts.iter().sum();
            let mut cumulative = 0;
            for (bound, count) in BUCKET_BOUNDS_NS.iter().zip(&counts) {
                cumulative += count;
                let le = *bound as f64 / 1e9;
                let _ = writeln!(
                    out,
                    "statewell_operation_duration_seconds_bucket{{kind=\"{kind}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "statewell_operation_duration_seconds_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {total}"
            );
            let sum = histogram.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "statewell_operation_duration_seconds_sum{{kind=\"{kind}\"}} {sum}\n\
                 statewell_operation_duration_seconds_count{{kind=\"{kind}\"}} {total}"
            );
        }
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_function_and_outcome() {
        let m = Metrics::default();
        let micros = Duration::from_micros(10);
        m.record_op(StateFn::Set, Outcome::Ok, micros);
        m.record_op(StateFn::Set, Outcome::Ok, micros);
        let invalid = Outcome::Failed(ErrorCode::InvalidArgument);
        m.record_op(StateFn::Get, invalid, micros);
        m.record_op(StateFn::ListGroups, Outcome::Unreadable, micros);
        assert_eq!(m.ops_count(StateFn::Set, Outcome::Ok), 2);
        assert_eq!(m.ops_count(StateFn::Get, invalid), 1);
        assert_eq!(m.ops_count(StateFn::Get, Outcome::Ok), 0);
        assert_eq!(m.ops_count(StateFn::ListGroups, Outcome::Unreadable), 1);
        let text = m.render(&StoreStats::default());
        for line in [
            "statewell_operations_total{kind=\"set\",outcome=\"ok\"} 2\n",
            "statewell_operations_total{kind=\"get\",outcome=\"invalid_argument\"} 1\n",
            "statewell_operations_total{kind=\"list_groups\",outcome=\"deserialization_error\"} 1\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn every_outcome_has_its_own_slot_and_label() {
        let outcomes: Vec<Outcome> = Outcome::all().collect();
        let slots: Vec<usize> = outcomes.iter().map(|o| o.index()).collect();
        assert_eq!(slots, (0..OUTCOMES).collect::<Vec<_>>());
        let mut labels: Vec<&str> = outcomes.iter().map(|o| o.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), OUTCOMES);
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_inclusive() {
        let m = Metrics::default();
        m.record_op(StateFn::Get, Outcome::Ok, Duration::from_micros(50)); // exactly the first bound
        m.record_op(StateFn::Get, Outcome::Ok, Duration::from_micros(700)); // in (0.0005, 0.001]
        m.record_op(StateFn::Get, Outcome::Ok, Duration::from_secs(3)); // past the last bound
        let text = m.render(&StoreStats::default());
        for (le, n) in [
            ("0.00005", 1),
            ("0.0005", 1),
            ("0.001", 2),
            ("1", 2),
            ("+Inf", 3),
        ] {
            let line = format!(
                "statewell_operation_duration_seconds_bucket{{kind=\"get\",le=\"{le}\"}} {n}\n"
            );
            assert!(text.contains(&line), "missing {line:?} in\n{text}");
        }
        assert!(text.contains("statewell_operation_duration_seconds_count{kind=\"get\"} 3\n"));
        assert!(text.contains("statewell_operation_duration_seconds_sum{kind=\"get\"} 3.00075\n"));
    }

    #[test]
    fn renders_gauges_and_store_figures() {
        let m = Metrics::default();
        m.worker_connected();
        m.worker_connected();
        m.worker_disconnected();
        let stats = StoreStats {
            items: 7,
            bytes: 4096,
            last_batch_size: 3,
            commits: 11,
            syncs: 5,
            revision: 42,
            idempotency_keys: 9,
        };
        let text = m.render(&stats);
        for line in [
            "statewell_workers_connected 1\n",
            "statewell_store_items 7\n",
            "statewell_store_bytes 4096\n",
            "statewell_commit_batch_size 3\n",
            "statewell_commits_total 11\n",
            "statewell_syncs_total 5\n",
            "statewell_store_revision 42\n",
            "statewell_idempotency_keys 9\n",
            "statewell_operations_total{kind=\"list_groups\",outcome=\"ok\"} 0\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        // Every series has HELP and TYPE lines, and no line is empty.
        assert!(text.lines().all(|l| !l.is_empty()));
    }
}
