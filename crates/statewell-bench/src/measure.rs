//! One measurement: connect, warm up, measure (with a progress bar on a
//! terminal), and the bulk preload that comes before it.

use std::future::Future;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::report::{CommitCounters, RunInfo, RunResult};
use crate::runner::{self, Budget, Layout, Target};
use crate::servers::cpu_seconds;
use crate::workload::{OpChoice, Shape};

/// How much to measure.
#[derive(Clone, Copy, Debug)]
pub enum Amount {
    Ops(u64),
    Time(Duration),
}

pub struct Plan<'a> {
    pub label: &'a str,
    pub target: &'a Target,
    pub server_pid: Option<u32>,
    pub layout: Layout,
    pub choice: OpChoice,
    pub shape: Shape,
    pub items_stored: u64,
    pub warmup: Duration,
    pub amount: Amount,
    pub seed: u64,
}

/// Connections and in-flight depth of the preload: deep pipelines so the
/// engine commits big batches and 1M items load in seconds, not minutes.
const PRELOAD: Layout = Layout {
    connections: 4,
    in_flight: 256,
};

/// Stores items `from..to` (one set each), not measured.
pub async fn preload(target: &Target, shape: &Shape, from: u64, to: u64) -> Result<()> {
    if from >= to {
        return Ok(());
    }
    let workers = runner::connect_all(target, &PRELOAD, OpChoice::Set, shape, 0).await?;
    let budget = Arc::new(Budget::range(from, to));
    let label = format!("preload {}..{}", from, to);
    let began = Instant::now();
    let (_, stats) = with_progress(
        &label,
        budget.clone(),
        Some(to - from),
        runner::phase(workers, PRELOAD.in_flight, budget, true),
    )
    .await?;
    let errors: u64 = stats.kinds.iter().map(|k| k.errors).sum();
    if errors > 0 {
        bail!("{errors} of the preload's sets failed");
    }
    eprintln!(
        "preloaded {} items in {:.1} s",
        to - from,
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Warm-up, then the measured phase, on fresh connections.
pub async fn run(plan: &Plan<'_>) -> Result<RunResult> {
    let workers = runner::connect_all(
        plan.target,
        &plan.layout,
        plan.choice,
        &plan.shape,
        plan.seed,
    )
    .await?;
    let in_flight = plan.layout.in_flight;
    let workers = if plan.warmup.is_zero() {
        workers
    } else {
        let budget = Arc::new(Budget::duration(plan.warmup));
        runner::phase(workers, in_flight, budget, false).await?.0
    };
    let (budget, total) = match plan.amount {
        Amount::Ops(n) => (Budget::ops(n), Some(n)),
        Amount::Time(d) => (Budget::duration(d), None),
    };
    let budget = Arc::new(budget);
    let (http, token) = match plan.target {
        Target::Statewell { url, token } => (host_port(url), token.as_deref()),
        Target::Redis { .. } => (None, None),
    };
    let commits_before = http.as_deref().and_then(|a| commit_counters(a, token));
    let server_before = plan.server_pid.and_then(|p| cpu_seconds(Some(p)));
    let generator_before = cpu_seconds(None);
    let began = Instant::now();
    let label = format!("{} {}", plan.label, plan.choice);
    let phase = runner::phase(workers, in_flight, budget.clone(), false);
    let (_, stats) = match plan.amount {
        Amount::Time(d) => with_timed_progress(&label, d, phase).await?,
        Amount::Ops(_) => with_progress(&label, budget, total, phase).await?,
    };
    let elapsed = began.elapsed();
    let server_after = plan.server_pid.and_then(|p| cpu_seconds(Some(p)));
    let generator_after = cpu_seconds(None);
    let commits_after = http.as_deref().and_then(|a| commit_counters(a, token));
    let commits = match (commits_before, commits_after) {
        (Some(before), Some(after)) => Some(after.since(&before)),
        _ => None,
    };
    let delta = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
    Ok(RunResult::new(
        RunInfo {
            target: plan.label,
            op: plan.choice,
            connections: plan.layout.connections,
            in_flight,
            keys: plan.shape.keys,
            value_size: plan.shape.value_size,
            items_stored: plan.items_stored,
            elapsed,
            server_cpu: delta(server_before, server_after),
            generator_cpu: delta(generator_before, generator_after),
            commits,
        },
        &stats,
    ))
}

fn bar(label: &str, len: u64, template: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_message(label.to_owned());
    Some(bar)
}

/// Runs `work`, showing completed requests out of `total` on a terminal.
async fn with_progress<T>(
    label: &str,
    budget: Arc<Budget>,
    total: Option<u64>,
    work: impl Future<Output = T>,
) -> T {
    let Some(bar) = bar(
        label,
        total.unwrap_or(0),
        "{msg} [{bar:30}] {pos}/{len} ({per_sec}, {eta})",
    ) else {
        return work.await;
    };
    let ticker = {
        let bar = bar.clone();
        tokio::spawn(async move {
            loop {
                bar.set_position(budget.done.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let out = work.await;
    ticker.abort();
    bar.finish_and_clear();
    out
}

/// Runs `work` for about `d`, showing elapsed time on a terminal.
async fn with_timed_progress<T>(label: &str, d: Duration, work: impl Future<Output = T>) -> T {
    let Some(bar) = bar(
        label,
        d.as_millis() as u64,
        "{msg} [{bar:30}] {elapsed}/{duration}",
    ) else {
        return work.await;
    };
    let ticker = {
        let bar = bar.clone();
        let began = Instant::now();
        tokio::spawn(async move {
            loop {
                bar.set_position(began.elapsed().as_millis() as u64);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let out = work.await;
    ticker.abort();
    bar.finish_and_clear();
    out
}

/// The engine's commit-batch and sync figures from `/metrics` (the lines
/// whose name mentions a batch, a commit or a sync), to tell what bounds a
/// durable write.
pub fn engine_metrics(addr: &str) -> Option<Vec<String>> {
    let text = crate::servers::fetch_metrics(addr, None).ok()?;
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let name = l.split(['{', ' ']).next().unwrap_or("");
            ["batch", "commit", "sync"].iter().any(|w| name.contains(w))
                && !name.ends_with("_bucket")
        })
        .map(str::to_owned)
        .collect();
    Some(lines)
}

pub fn print_metrics(lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    println!("engine /metrics (commit batches):");
    for line in lines {
        println!("  {line}");
    }
}

/// `ws://HOST:PORT/...` → `HOST:PORT` (HTTP is served on the same port).
fn host_port(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("http://"))?;
    Some(rest.split('/').next()?.to_owned())
}

/// The engine's commit counters so far, from its `/metrics`.
fn commit_counters(addr: &str, token: Option<&str>) -> Option<CommitCounters> {
    let text = crate::servers::fetch_metrics(addr, token).ok()?;
    parse_commit_counters(&text)
}

fn parse_commit_counters(text: &str) -> Option<CommitCounters> {
    let mut commits = None;
    let mut syncs = None;
    let mut writes = 0u64;
    for line in text.lines() {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        match name {
            "statewell_commits_total" => commits = Some(value as u64),
            "statewell_syncs_total" => syncs = Some(value as u64),
            _ => {}
        }
        let write = ["set", "update", "delete"]
            .iter()
            .any(|k| name == format!("statewell_operations_total{{kind=\"{k}\",outcome=\"ok\"}}"));
        if write {
            writes += value as u64;
        }
    }
    Some(CommitCounters {
        commits: commits?,
        // Engines before the series was added do not report it.
        syncs,
        writes,
    })
}

/// What the figures were measured on.
pub fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    serde_json::json!({"cpu": cpu, "cores": cores})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_commits_and_writes_from_metrics() {
        let text = "# HELP x\nstatewell_operations_total{kind=\"set\",outcome=\"ok\"} 1100\n\
            statewell_operations_total{kind=\"get\",outcome=\"ok\"} 7\n\
            statewell_operations_total{kind=\"update\",outcome=\"ok\"} 10\n\
            statewell_operations_total{kind=\"set\",outcome=\"error\"} 3\n\
            statewell_commits_total 33\n";
        let expected = CommitCounters {
            commits: 33,
            syncs: None,
            writes: 1110,
        };
        assert_eq!(parse_commit_counters(text), Some(expected));
        let with_syncs = format!("{text}statewell_syncs_total 12\n");
        let counters = parse_commit_counters(&with_syncs).expect("counters");
        assert_eq!(counters.syncs, Some(12));
        let earlier = CommitCounters {
            commits: 30,
            syncs: Some(10),
            writes: 1000,
        };
        let run = CommitCounters {
            commits: 3,
            syncs: Some(2),
            writes: 110,
        };
        assert_eq!(counters.since(&earlier), run);
        assert_eq!(parse_commit_counters("nothing 1\n"), None);
    }

    #[test]
    fn http_address_of_an_engine_url() {
        assert_eq!(
            host_port("ws://127.0.0.1:5/").as_deref(),
            Some("127.0.0.1:5")
        );
        assert_eq!(host_port("ws://h:1").as_deref(), Some("h:1"));
        assert_eq!(host_port("redis://h:1"), None);
    }
}
