//! The load generator of statewell (`statewell-bench`): drives an engine over
//! the worker protocol, side by side with `redis-server` on request, and
//! measures the scaling figures.
//!
//! Layout: `workload` draws requests, `ws` and `resp` put them on the wire
//! (statewell, Redis), `runner` keeps K in flight per connection and times
//! replies, `measure` runs one preload/warm-up/measure sequence with a
//! progress bar, `compare` and `scaling` orchestrate servers (`servers`,
//! which also finds the engine binary), `report` prints and serialises the
//! figures. `main.rs` only parses the flags; the integration tests use
//! `servers` to start engines of their own. `soak` is the second tool,
//! `statewell-soak` (`src/bin/statewell-soak.rs`): long mixed load with
//! restarts, judged at the end.

mod compare;
mod measure;
mod report;
mod resp;
mod runner;
mod scaling;
pub mod servers;
pub mod soak;
mod workload;
mod ws;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::signal::unix::{SignalKind, signal};

use measure::{Amount, Plan};
use report::RunResult;
use runner::{Layout, Target};
use workload::{OpChoice, Shape};

/// How a reply ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Error,
    /// No result: a missing key (statewell omits `result`, Redis says nil).
    Missing,
}

/// One reply, mapped back to the request number it answers.
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    pub id: u64,
    pub outcome: Outcome,
}

/// The two load shapes of the performance targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ShapeChoice {
    /// 64 requests in flight over 4 connections (16 pipelined on each).
    A,
    /// 64 connections with 1 request in flight each.
    B,
    /// Both, one after the other.
    Both,
}

/// Drive a running engine (or engines it starts) with load and print figures.
#[derive(clap::Parser, Debug)]
#[command(name = "statewell-bench", version)]
pub struct BenchArgs {
    /// A running engine to drive (e.g. ws://127.0.0.1:49134/); without it,
    /// the bench starts its own engine on a temporary data directory.
    #[arg(long, env = "STATEWELL_URL")]
    url: Option<String>,
    /// Bearer token for `--url`.
    #[arg(long, env = "STATEWELL_TOKEN")]
    token: Option<String>,
    /// The `statewell` executable the bench starts engines with (default:
    /// `statewell` in the directory of this executable, i.e. the same
    /// target dir). Not used with `--url`.
    #[arg(long, env = "STATEWELL_BIN")]
    engine_bin: Option<PathBuf>,
    /// Durability of the engine the bench starts (`always` syncs before
    /// every acknowledgement, `batched` syncs in the background).
    #[arg(long, default_value = "always")]
    durability: String,
    /// The operation: set, get, update (increment one field), mixed
    /// (50% get / 30% set / 20% update).
    #[arg(long, value_enum, default_value = "set")]
    op: OpChoice,
    /// Total operations to measure (default: run for --duration).
    #[arg(long, conflicts_with = "duration")]
    ops: Option<u64>,
    /// How long to measure, e.g. 10s, 500ms, 2m (default 10s).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Requests in flight in total, spread evenly over the connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Connections (WebSockets, or Redis connections).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// A preset of --concurrency/--connections: a = 64 over 4, b = 64 × 1.
    #[arg(long, value_enum)]
    shape: Option<ShapeChoice>,
    /// Size of the key space (every key is stored before measuring).
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// Groups (scopes / Redis hashes) the keys are spread over.
    #[arg(long, default_value_t = 1)]
    groups: u32,
    /// Size in bytes of each JSON value written.
    #[arg(long, default_value_t = 200)]
    value_size: usize,
    /// Warm-up before measuring (not counted), e.g. 1s; 0 for none.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    warmup: Duration,
    /// Do not store the key space first (gets then find nothing).
    #[arg(long)]
    no_preload: bool,
    /// Write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also run the same load against redis-server (appendfsync always,
    /// then everysec) and print one comparison table.
    #[arg(long)]
    compare_redis: bool,
    /// Operations the comparison measures.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "set,get,update,transaction"
    )]
    compare_ops: Vec<OpChoice>,
    /// The redis-server executable for --compare-redis.
    #[arg(long, default_value = "redis-server")]
    redis_server: PathBuf,
    /// Measure the scaling figures: latency with --keys vs --scale-items
    /// stored, start-up time, memory and disk per item.
    #[arg(long, conflicts_with_all = ["compare_redis", "url"])]
    scaling: bool,
    /// Items stored for the large point of --scaling.
    #[arg(long, default_value_t = 1_000_000)]
    scale_items: u64,
    /// Generator threads (1 leaves the other core to the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seed of the request generator (runs are repeatable).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Most requests in flight (and connections) a run may ask for: far past what
/// one machine drives usefully, and small enough for every size derived from it.
const MAX_CONCURRENCY: usize = 65_536;

/// The duration syntax every flag of `statewell` shares (humantime's):
/// `10s`, `500ms`, `2m`, `1.5s`, `1h 30m`; a bare `0` is zero.
fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration, e.g. 10s, 500ms, 2m ({e})"))?;
    // Far past any useful run, and small enough for every figure derived from it.
    if duration > Duration::from_secs(10_000_000) {
        return Err(format!("`{text}` is longer than 10000000s"));
    }
    Ok(duration)
}

impl BenchArgs {
    fn layouts(&self) -> Result<Vec<(String, Layout)>> {
        let a = || {
            (
                "(a) 64 in flight over 4 connections".to_owned(),
                Layout {
                    connections: 4,
                    in_flight: 16,
                },
            )
        };
        let b = || {
            (
                "(b) 64 connections × 1 in flight".to_owned(),
                Layout {
                    connections: 64,
                    in_flight: 1,
                },
            )
        };
        Ok(match self.shape {
            Some(ShapeChoice::A) => vec![a()],
            Some(ShapeChoice::B) => vec![b()],
            Some(ShapeChoice::Both) => vec![a(), b()],
            None => {
                if self.connections == 0 || self.concurrency == 0 {
                    bail!("--connections and --concurrency must be at least 1");
                }
                // Each connection sizes its tables by its share of requests in
                // flight: an unbounded flag overflowed that arithmetic.
                if self.concurrency > MAX_CONCURRENCY || self.connections > MAX_CONCURRENCY {
                    bail!("--connections and --concurrency must be at most {MAX_CONCURRENCY}");
                }
                if !self.concurrency.is_multiple_of(self.connections) {
                    bail!(
                        "--concurrency ({}) must be a multiple of --connections ({})",
                        self.concurrency,
                        self.connections
                    );
                }
                let in_flight = self.concurrency / self.connections;
                vec![(
                    format!(
                        "{} in flight over {} connections",
                        self.concurrency, self.connections
                    ),
                    Layout {
                        connections: self.connections,
                        in_flight,
                    },
                )]
            }
        })
    }

    fn validate(&self) -> Result<()> {
        if self.keys == 0 {
            bail!("--keys must be at least 1");
        }
        if self.groups == 0 || u64::from(self.groups) > self.keys {
            bail!("--groups must be between 1 and --keys");
        }
        if self.value_size > 1 << 20 {
            bail!("--value-size must be at most 1 MiB (the engine's value limit)");
        }
        if self.threads == 0 || self.threads > 64 {
            bail!("--threads must be between 1 and 64");
        }
        if !matches!(self.durability.as_str(), "always" | "batched") {
            bail!("--durability must be `always` or `batched`");
        }
        if self.ops == Some(0) {
            bail!("--ops must be at least 1");
        }
        if self.scaling && self.scale_items < self.keys {
            bail!("--scale-items must be at least --keys");
        }
        Ok(())
    }

    /// The engine binary to start, checked to exist: a bench that would
    /// start engines fails before it starts anything when there is none.
    fn engine_bin(&self) -> Result<PathBuf> {
        servers::engine_binary(self.engine_bin.as_deref())
    }

    fn shape_of_keys(&self) -> Shape {
        Shape {
            keys: self.keys,
            groups: self.groups,
            value_size: self.value_size,
        }
    }

    /// One measured cell — an operation on one server with one layout, over
    /// the whole key space of `shape` — with these arguments' warm-up, amount
    /// and seed.
    fn plan<'a>(
        &self,
        label: &'a str,
        target: &'a Target,
        server_pid: Option<u32>,
        layout: &Layout,
        choice: OpChoice,
        shape: &Shape,
    ) -> Plan<'a> {
        Plan {
            label,
            target,
            server_pid,
            layout: layout.clone(),
            choice,
            shape: shape.clone(),
            items_stored: shape.keys,
            warmup: self.warmup,
            amount: self.amount(),
            seed: self.seed,
        }
    }

    fn amount(&self) -> Amount {
        match (self.ops, self.duration) {
            (Some(n), _) => Amount::Ops(n),
            (None, Some(d)) => Amount::Time(d),
            (None, None) => Amount::Time(Duration::from_secs(10)),
        }
    }
}

pub fn run(args: BenchArgs) -> ExitCode {
    match run_checked(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_checked(args: BenchArgs) -> Result<()> {
    args.validate()?;
    let layouts = args.layouts()?;
    if args.url.is_none() {
        let engine = args.engine_bin()?;
        eprintln!("engine binary: {}", engine.display());
    }
    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    let output = runtime.block_on(until_signal(async {
        if args.compare_redis {
            compare::run(&args, &layouts).await
        } else if args.scaling {
            scaling::run(&args, &layouts[0].1).await
        } else {
            single(&args, &layouts).await
        }
    }))?;
    if let Some(path) = &args.json {
        write_json(path, &output)?;
    }
    failures(&output, !args.no_preload)
}

/// Runs `work` to its end, or until SIGTERM or SIGINT. Stopped by a signal,
/// `work` is dropped, and with it the engines and redis-servers it started
/// (killed and waited for) and their temporary directories: by default the
/// signal would end this process alone and leave them running.
async fn until_signal<T>(work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let signal = tokio::select! {
        output = work => return output,
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    bail!("stopped by {signal}; the servers it started are stopped")
}

/// Writes the figures of `--json`.
fn write_json(path: &std::path::Path, output: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(output)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

/// Fails the command (after the figures are out) when any request failed,
/// or when a get missed an item although every key was stored first.
fn failures(output: &serde_json::Value, count_missing: bool) -> Result<()> {
    let sum = |field: &str| -> u64 {
        output["runs"]
            .as_array()
            .map(|runs| runs.iter().filter_map(|r| r[field].as_u64()).sum())
            .unwrap_or(0)
    };
    let errors = sum("errors");
    let missing = if count_missing { sum("missing") } else { 0 };
    if errors > 0 || missing > 0 {
        bail!("{errors} requests failed and {missing} gets found nothing");
    }
    Ok(())
}

/// A plain run (no `--compare-redis`, no `--scaling`): one engine, one operation, each layout.
async fn single(args: &BenchArgs, layouts: &[(String, Layout)]) -> Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let (target, server) = match &args.url {
        Some(url) => (
            Target::Statewell {
                url: url.clone(),
                token: args.token.clone(),
            },
            None,
        ),
        None => {
            let server = servers::Server::statewell(
                &args.engine_bin()?,
                &dir.path().join("data"),
                &args.durability,
                &[],
            )?;
            let target = Target::Statewell {
                url: server.ws_url(),
                token: None,
            };
            (target, Some(server))
        }
    };
    let label = match &server {
        Some(_) => format!("statewell ({})", args.durability),
        None => "statewell".to_owned(),
    };
    let pid = server.as_ref().and_then(servers::Server::pid);
    let shape = args.shape_of_keys();
    if !args.no_preload {
        measure::preload(&target, &shape, 0, shape.keys).await?;
    }
    let mut runs: Vec<RunResult> = Vec::new();
    for (_, layout) in layouts {
        let plan = Plan {
            items_stored: if args.no_preload { 0 } else { shape.keys },
            ..args.plan(&label, &target, pid, layout, args.op, &shape)
        };
        let result = measure::run(&plan).await?;
        result.print();
        runs.push(result);
    }
    let metrics = server.as_ref().map(|s| measure::engine_metrics(&s.addr));
    if let Some(Some(lines)) = &metrics {
        measure::print_metrics(lines);
    }
    Ok(serde_json::json!({
        "runs": runs,
        "engine_metrics": metrics.flatten(),
        "machine": measure::machine(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_the_usual_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1e300s").is_err());
        assert!(parse_duration("200d").is_err());
        // A number needs its unit: `3` could mean seconds or milliseconds.
        assert!(parse_duration("3").is_err());
    }
}
