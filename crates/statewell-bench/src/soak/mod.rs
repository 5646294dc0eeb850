//! `statewell-soak`: a bounded run of mixed load against an engine it
//! starts itself, restarting the engine at intervals (SIGTERM and SIGKILL
//! in turn, same data directory and port), with a table of memory, open
//! files and latency per interval and a verdict at the end: the last
//! interval against the first, and every acknowledged write of the tracked
//! keys present after the last restart.
//!
//! Layout: `load` drives the engine and keeps the tracked keys' model
//! (`tracked`), `engine` stops and starts it, `figures` holds an interval's
//! figures and prints its row, `verdict` judges the run.

mod engine;
mod figures;
mod load;
mod tracked;
mod verdict;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use statewell_client::Client;

use crate::runner::Target;
use crate::servers::{disk_bytes, open_fds, rss_bytes};
use crate::workload::Shape;
use crate::{measure, parse_duration, until_signal, write_json};
use engine::{Engine, Signal};
use figures::{IntervalFigures, Restart, Samples};
use load::{Load, LoadConfig, TRACKED_SCOPE, TaskOutcome, Window};
use verdict::{Check, Tolerance, TrackedSummary};

/// Mixed load against an engine restarted at intervals; a verdict on its
/// memory, open files, latency and acknowledged writes at the end.
#[derive(clap::Parser, Debug)]
#[command(name = "statewell-soak", version)]
pub struct SoakArgs {
    /// The `statewell` executable to soak (default: `statewell` in the
    /// directory of this executable, i.e. the same target dir).
    #[arg(long, env = "STATEWELL_BIN")]
    engine_bin: Option<PathBuf>,
    /// How long to measure, e.g. 10m, 90s (after the warm-up).
    #[arg(long, value_parser = parse_duration, default_value = "10m")]
    duration: Duration,
    /// Length of one interval of the table.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    interval: Duration,
    /// Restart the engine this often (a multiple of --interval; the
    /// restart opens an interval, whose figures include its replay). 0 for
    /// never. With the defaults neither the first nor the last interval
    /// opens with a restart.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    restart_every: Duration,
    /// Load before the first interval, not measured.
    #[arg(long, value_parser = parse_duration, default_value = "15s")]
    warmup: Duration,
    /// Connections to the engine.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Requests in flight per connection (one task each).
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Requests per second over all connections; 0 for as fast as the
    /// engine answers.
    #[arg(long, default_value_t = 2_000)]
    rate: u64,
    /// Keys of the working set (all stored before the warm-up).
    #[arg(long, default_value_t = 5_000)]
    keys: u64,
    /// Groups the working set is spread over (a list reads one group).
    #[arg(long, default_value_t = 50)]
    groups: u32,
    /// Size in bytes of each working-set value.
    #[arg(long, default_value_t = 200)]
    value_size: usize,
    /// Keys whose every acknowledged write is checked (each written by one
    /// task only).
    #[arg(long, default_value_t = 256)]
    tracked: u64,
    /// Resident memory of the last interval may exceed the first's by this
    /// many percent (or by 8 MiB, whichever is more).
    #[arg(long, default_value_t = 25.0)]
    rss_tolerance: f64,
    /// p99 latency of the last interval may exceed the first's by this many
    /// percent (or by 1 ms, whichever is more). The default allows 3×: a
    /// shared VM's latency swings 2–4× from one minute to the next, while a
    /// latency that grows with the run (its log, its restarts) keeps growing.
    #[arg(long, default_value_t = 200.0)]
    p99_tolerance: f64,
    /// Open file descriptors of the last interval may exceed the first's
    /// by this many.
    #[arg(long, default_value_t = 8)]
    fd_tolerance: u64,
    /// Seed of the request mix (runs are repeatable in what they send).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write every figure and the verdict as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// How often `/proc` is read for the engine's memory and open files.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

impl SoakArgs {
    fn validate(&self) -> Result<()> {
        if self.interval < Duration::from_secs(1) {
            bail!("--interval must be at least 1s");
        }
        if self.duration < 2 * self.interval {
            bail!(
                "--duration must hold at least two intervals (the first and the last are compared)"
            );
        }
        let interval = self.interval.as_millis();
        let every = self.restart_every.as_millis();
        if !every.is_multiple_of(interval) {
            bail!("--restart-every must be 0 or a multiple of --interval");
        }
        if !(1..=1024).contains(&self.connections) || !(1..=64).contains(&self.in_flight) {
            bail!("--connections must be between 1 and 1024, --in-flight between 1 and 64");
        }
        if self.rate > 10_000_000 {
            bail!("--rate must be at most 10000000 (0 for unpaced)");
        }
        if !(1..=10_000_000).contains(&self.keys) {
            bail!("--keys must be between 1 and 10000000");
        }
        if self.groups == 0 || u64::from(self.groups) > self.keys {
            bail!("--groups must be between 1 and --keys");
        }
        if self.value_size > 1 << 20 {
            bail!("--value-size must be at most 1 MiB (the engine's value limit)");
        }
        if self.tracked > 1_000_000 {
            bail!("--tracked must be at most 1000000");
        }
        for (name, pct) in [
            ("--rss-tolerance", self.rss_tolerance),
            ("--p99-tolerance", self.p99_tolerance),
        ] {
            if !pct.is_finite() || !(0.0..=100_000.0).contains(&pct) {
                bail!("{name} must be a percentage between 0 and 100000");
            }
        }
        Ok(())
    }

    fn intervals(&self) -> usize {
        (self.duration.as_millis() / self.interval.as_millis()) as usize
    }

    /// Intervals between restarts (0: none).
    fn restart_period(&self) -> usize {
        (self.restart_every.as_millis() / self.interval.as_millis()) as usize
    }

    fn tolerance(&self) -> Tolerance {
        Tolerance {
            rss_pct: self.rss_tolerance,
            p99_pct: self.p99_tolerance,
            fds: self.fd_tolerance,
        }
    }

    fn shape(&self) -> Shape {
        Shape {
            keys: self.keys,
            groups: self.groups,
            value_size: self.value_size,
        }
    }
}

pub fn run(args: SoakArgs) -> ExitCode {
    match run_checked(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("soak failed: see the verdict above");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(passed)`; `Err` when the soak could not run to its end.
fn run_checked(args: &SoakArgs) -> Result<bool> {
    args.validate()?;
    let binary = crate::servers::engine_binary(args.engine_bin.as_deref())?;
    eprintln!("engine binary: {}", binary.display());
    // One thread, as the bench: the other core is the engine's.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(until_signal(soak(args, &binary)))?;
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    Ok(report["passed"].as_bool().unwrap_or(false))
}

async fn soak(args: &SoakArgs, binary: &std::path::Path) -> Result<serde_json::Value> {
    let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
    let data = dir.path().join("data");
    let mut engine = Engine::start(binary, &data)?;
    let url = engine.url();
    let shape = args.shape();
    let target = Target::Statewell {
        url: url.clone(),
        token: None,
    };
    measure::preload(&target, &shape, 0, shape.keys).await?;

    let config = LoadConfig {
        url,
        connections: args.connections,
        in_flight: args.in_flight,
        rate: args.rate,
        shape,
        tracked: args.tracked,
        seed: args.seed,
    };
    let rate = match args.rate {
        0 => "unpaced".to_owned(),
        r => format!("{r} requests/s"),
    };
    println!(
        "soak: {} s in {} intervals of {} s, a restart every {}; {} connections × {} in flight, {rate}; {} keys in {} groups, {} B values, {} tracked keys",
        args.duration.as_secs_f64(),
        args.intervals(),
        args.interval.as_secs_f64(),
        match args.restart_period() {
            0 => "never".to_owned(),
            n => format!("{} s", n as f64 * args.interval.as_secs_f64()),
        },
        args.connections,
        args.in_flight,
        args.keys,
        args.groups,
        args.value_size,
        args.tracked,
    );
    let load = Load::start(&config)?;
    tokio::time::sleep(args.warmup).await;
    let warmup = load.take_window();
    let (mut load, mut intervals, mut restarts) = (Some(load), Vec::new(), Vec::new());
    let mut stop_signal = Signal::Term;
    let mut restart_at_start: Option<Restart> = None;
    let mut outcomes = Vec::new();
    let began = Instant::now();
    println!("{}", figures::HEADER);
    let count = args.intervals();
    for index in 1..=count {
        let opened = began.elapsed();
        let end = began + args.interval * index as u32;
        let mut samples = Samples::default();
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            tokio::time::sleep((end - now).min(SAMPLE_EVERY)).await;
            let pid = engine.pid();
            samples.add(pid.and_then(rss_bytes), pid.and_then(open_fds));
        }
        let mut window = match load.as_ref() {
            Some(load) => load.take_window(),
            None => Window::new(),
        };
        if index == count {
            // Answers that were in flight at the end belong to the last
            // interval.
            if let Some(running) = load.take() {
                let (rest, done) = running.finish().await?;
                window.merge(&rest);
                outcomes = done;
            }
        }
        let figures = IntervalFigures::new(
            index,
            began.elapsed().as_secs_f64(),
            (began.elapsed() - opened).as_secs_f64(),
            &window,
            samples,
            disk_bytes(&data),
            restart_at_start.take(),
        );
        println!("{}", figures::row(&figures));
        for e in &window.error_examples {
            println!("       error: {e}");
        }
        intervals.push(figures);
        let period = args.restart_period();
        if index < count && period > 0 && index.is_multiple_of(period) {
            let restart = engine.restart(stop_signal).await?;
            restarts.push(restart.clone());
            restart_at_start = Some(restart);
            stop_signal = match stop_signal {
                Signal::Term => Signal::Kill,
                Signal::Kill => Signal::Term,
            };
        }
    }

    // The read-back follows a SIGKILL: the case where only what the engine
    // had synced survives.
    let last = engine.restart(Signal::Kill).await?;
    println!(
        "last restart: SIGKILL, serving again in {:.2} s; reading back the tracked keys",
        last.serving_after_s
    );
    restarts.push(last);
    let tracked = read_back(&engine.url(), outcomes).await?;
    engine.stop().await?;

    let checks = verdict::checks(&intervals, &restarts, &tracked, &args.tolerance());
    print_summary(&warmup, &restarts, &tracked);
    verdict::print(&checks);
    let passed = checks.iter().all(|c: &Check| c.passed);
    println!("{}", if passed { "PASS" } else { "FAIL" });
    Ok(serde_json::json!({
        "passed": passed,
        "settings": {
            "duration_s": args.duration.as_secs_f64(),
            "interval_s": args.interval.as_secs_f64(),
            "restart_every_s": args.restart_every.as_secs_f64(),
            "warmup_s": args.warmup.as_secs_f64(),
            "connections": args.connections,
            "in_flight": args.in_flight,
            "rate": args.rate,
            "keys": args.keys,
            "groups": args.groups,
            "value_size": args.value_size,
            "tracked": args.tracked,
            "tolerance": args.tolerance(),
        },
        "intervals": intervals,
        "restarts": restarts,
        "tracked": tracked,
        "checks": checks,
        "machine": measure::machine(),
    }))
}

/// Reads every tracked key from a fresh connection and checks it against
/// what its owner's writes left.
async fn read_back(url: &str, outcomes: Vec<TaskOutcome>) -> Result<TrackedSummary> {
    let client = Client::connect(url, None)
        .await
        .context("cannot connect to the restarted engine")?;
    let mut summary = TrackedSummary::default();
    for mut outcome in outcomes {
        summary.reads_checked += outcome.reads_checked;
        summary.mismatches += outcome.mismatches;
        summary
            .examples
            .extend(outcome.examples.iter().map(ToString::to_string));
        for key in &mut outcome.tracked {
            summary.keys += 1;
            summary.acknowledged_writes += key.acknowledged;
            let found = client
                .get(TRACKED_SCOPE, &key.key)
                .await
                .with_context(|| format!("cannot read back tracked key {}", key.key))?;
            summary.read_back += 1;
            summary.reads_checked += 1;
            if let Err(mismatch) = key.observe(found) {
                summary.mismatches += 1;
                summary.examples.push(mismatch.to_string());
            }
        }
    }
    summary.examples.truncate(20);
    Ok(summary)
}

fn print_summary(warmup: &Window, restarts: &[Restart], tracked: &TrackedSummary) {
    let serving: Vec<f64> = restarts.iter().map(|r| r.serving_after_s).collect();
    let most = serving.iter().copied().fold(0.0, f64::max);
    println!(
        "warm-up: {} requests (not counted); restarts: {} (SIGTERM {}, SIGKILL {}), serving again within {most:.2} s of the signal",
        warmup.ops.total(),
        restarts.len(),
        restarts.iter().filter(|r| r.signal == "SIGTERM").count(),
        restarts.iter().filter(|r| r.signal == "SIGKILL").count(),
    );
    println!(
        "tracked keys: {} read back after the last restart, {} acknowledged writes, {} reads checked, {} mismatches",
        tracked.read_back, tracked.acknowledged_writes, tracked.reads_checked, tracked.mismatches
    );
    for e in &tracked.examples {
        println!("  {e}");
    }
}
