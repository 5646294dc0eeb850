//! Counters for `/metrics` (Prometheus text format 0.0.4).
//!
//! [`Metrics::record_op`] is on the hot path of every state operation, over
//! both protocols, hundreds of thousands of times a second: it touches three
//! relaxed atomics in fixed arrays and never locks or allocates. Labels are
//! indices into fixed tables; anything outside them counts as `other`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use statewell_core::StoreStats;

/// Operation kinds with their own series (the worker protocol's `state::*` names).
const KINDS: [&str; 11] = [
    "set",
    "get",
    "get_item",
    "transaction",
    "delete",
    "update",
    "list",
    "list_items",
    "clear",
    "list_groups",
    "other",
];

/// Outcomes: `ok` or a stable error code.
const OUTCOMES: [&str; 14] = [
    "ok",
    "invalid_argument",
    "value_too_large",
    "storage_error",
    "unavailable",
    "data_directory",
    "deserialization_error",
    "function_not_found",
    "timeout",
    "not_found",
    "conflict",
    "update_failed",
    "idempotency_mismatch",
    "other",
];

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

fn kind_index(kind: &str) -> usize {
    KINDS
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(KINDS.len() - 1)
}

fn outcome_index(outcome: &str) -> usize {
    OUTCOMES
        .iter()
        .position(|o| *o == outcome)
        .unwrap_or(OUTCOMES.len() - 1)
}

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
    /// `[kind][outcome]` → operations counted.
    ops: [[AtomicU64; OUTCOMES.len()]; KINDS.len()],
    latency: [Histogram; KINDS.len()],
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
    /// Records one state operation: `kind` is the operation (`set`, `get`, ...),
    /// `outcome` is `ok` or an error code.
    pub fn record_op(&self, kind: &'static str, outcome: &str, elapsed: Duration) {
        let k = kind_index(kind);
        self.ops[k][outcome_index(outcome)].fetch_add(1, Ordering::Relaxed);
        self.latency[k].observe(elapsed);
    }

    pub fn worker_connected(&self) {
        self.workers.fetch_add(1, Ordering::Relaxed);
    }

    pub fn worker_disconnected(&self) {
        self.workers.fetch_sub(1, Ordering::Relaxed);
    }

    /// Operations of `kind` with `outcome` counted so far (for tests and the CLI).
    pub fn ops_count(&self, kind: &str, outcome: &str) -> u64 {
        self.ops[kind_index(kind)][outcome_index(outcome)].load(Ordering::Relaxed)
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
        for (k, kind) in KINDS.iter().enumerate() {
            for (o, outcome) in OUTCOMES.iter().enumerate() {
                let n = self.ops[k][o].load(Ordering::Relaxed);
                // Always show the `ok` series of every real kind so dashboards
                // see zeros; other combinations appear once they happen.
                let always = o == 0 && k != KINDS.len() - 1;
                if n > 0 || always {
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
        for (k, kind) in KINDS.iter().enumerate() {
            let histogram = &self.latency[k];
            let counts: Vec<u64> = histogram
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect();
            let total: u64 = counts.iter().sum();
            if total == 0 && k == KINDS.len() - 1 {
                continue;
            }
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
    fn counts_by_kind_and_outcome_and_unknown_labels_fold_into_other() {
        let m = Metrics::default();
        m.record_op("set", "ok", Duration::from_micros(10));
        m.record_op("set", "ok", Duration::from_micros(10));
        m.record_op("get", "invalid_argument", Duration::from_micros(10));
        m.record_op("frobnicate", "weird_code", Duration::from_micros(10));
        assert_eq!(m.ops_count("set", "ok"), 2);
        assert_eq!(m.ops_count("get", "invalid_argument"), 1);
        assert_eq!(m.ops_count("get", "ok"), 0);
        assert_eq!(m.ops_count("other", "other"), 1);
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_inclusive() {
        let m = Metrics::default();
        m.record_op("get", "ok", Duration::from_micros(50)); // exactly the first bound
        m.record_op("get", "ok", Duration::from_micros(700)); // in (0.0005, 0.001]
        m.record_op("get", "ok", Duration::from_secs(3)); // past the last bound
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
