//! `statewell-bench --compare-redis`: the same load against statewell
//! (durability `always`, then `batched`) and `redis-server` (appendfsync
//! `always`, then `everysec`), all on the same machine, each cell measured
//! right after its counterpart; then one table with the ratio per operation.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use crate::BenchArgs;
use crate::measure;
use crate::report::{RunResult, ms, rate};
use crate::resp::RespConn;
use crate::runner::{Layout, Target};
use crate::servers::Server;
use crate::workload::{OpChoice, Shape};

/// One server configuration of the comparison.
enum Config {
    /// An engine this bench starts with this durability.
    Engine(&'static str),
    /// The engine at `--url`.
    Url,
    /// redis-server with this `appendfsync`.
    Redis(&'static str),
}

impl Config {
    fn label(&self) -> String {
        match self {
            Config::Engine(d) => format!("statewell ({d})"),
            Config::Url => "statewell".to_owned(),
            Config::Redis(p) => format!("redis ({p})"),
        }
    }
}

pub async fn run(args: &BenchArgs, layouts: &[(String, Layout)]) -> Result<serde_json::Value> {
    let configs = match args.url {
        Some(_) => vec![
            Config::Url,
            Config::Redis("always"),
            Config::Redis("everysec"),
        ],
        None => vec![
            Config::Engine("always"),
            Config::Engine("batched"),
            Config::Redis("always"),
            Config::Redis("everysec"),
        ],
    };
    let shape = args.shape_of_keys();
    let mut runs: Vec<RunResult> = Vec::new();
    let mut metrics = serde_json::Map::new();
    // Every server runs for the whole comparison and the cells are measured
    // side by side (statewell, then Redis, for the same operation and shape),
    // so a slow minute of a shared machine or disk hits both sides of a ratio
    // alike. An idle server costs nothing meanwhile.
    let dir = tempfile::tempdir()?;
    let mut started = Vec::with_capacity(configs.len());
    for (i, config) in configs.iter().enumerate() {
        let (target, server) = start(args, config, &dir.path().join(i.to_string())).await?;
        measure::preload(&target, &shape, 0, shape.keys).await?;
        started.push((config.label(), target, server));
    }
    for (_, layout) in layouts {
        for &op in &args.compare_ops {
            for (label, target, server) in &started {
                let server_pid = server.as_ref().and_then(Server::pid);
                let plan = args.plan(label, target, server_pid, layout, op, &shape);
                let result = measure::run(&plan).await?;
                result.print();
                runs.push(result);
            }
        }
    }
    for ((label, _, server), config) in started.into_iter().zip(&configs) {
        if let (Config::Engine(_), Some(server)) = (config, &server)
            && let Some(lines) = measure::engine_metrics(&server.addr)
        {
            measure::print_metrics(&lines);
            metrics.insert(label.clone(), json!(lines));
        }
        if let Some(mut server) = server {
            server.stop()?;
        }
    }
    let pairs: Vec<(String, String)> = match args.url {
        Some(_) => vec![
            ("statewell".into(), "redis (always)".into()),
            ("statewell".into(), "redis (everysec)".into()),
        ],
        None => vec![
            ("statewell (always)".into(), "redis (always)".into()),
            ("statewell (batched)".into(), "redis (everysec)".into()),
        ],
    };
    let table = table(&runs, layouts, &args.compare_ops, &pairs, &shape);
    Ok(json!({
        "runs": runs,
        "table": table,
        "engine_metrics": metrics,
        "machine": measure::machine(),
    }))
}

async fn start(
    args: &BenchArgs,
    config: &Config,
    dir: &std::path::Path,
) -> Result<(Target, Option<Server>)> {
    Ok(match config {
        Config::Url => (
            Target::Statewell {
                url: args.url.clone().unwrap_or_default(),
                token: args.token.clone(),
            },
            None,
        ),
        Config::Engine(durability) => {
            let server =
                Server::statewell(&args.engine_bin()?, &dir.join("data"), durability, &[])?;
            (
                Target::Statewell {
                    url: server.ws_url(),
                    token: None,
                },
                Some(server),
            )
        }
        Config::Redis(policy) => {
            let server = Server::redis(&args.redis_server, &dir.join("redis"), policy)?;
            wait_for_redis(&server.addr).await?;
            (
                Target::Redis {
                    addr: server.addr.clone(),
                },
                Some(server),
            )
        }
    })
}

/// redis-server binds a moment after it starts: retry PING for 10 s.
async fn wait_for_redis(addr: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let probe = Shape {
        keys: 1,
        groups: 1,
        value_size: 1,
    };
    loop {
        let attempt = async {
            let mut conn = RespConn::connect(addr, probe.clone()).await?;
            conn.command(&["PING"]).await
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(e).context("redis-server did not answer PING within 10 s");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Prints, per layout, one row per operation: each pair of columns is a
/// statewell configuration next to the Redis one it is held against.
fn table(
    runs: &[RunResult],
    layouts: &[(String, Layout)],
    ops: &[OpChoice],
    pairs: &[(String, String)],
    shape: &Shape,
) -> Vec<serde_json::Value> {
    let find = |label: &str, layout: &Layout, op: OpChoice| {
        runs.iter().find(|r| {
            r.target == label
                && r.op == op
                && r.connections == layout.connections
                && r.in_flight_per_connection == layout.in_flight
        })
    };
    let cell = |r: Option<&RunResult>| {
        r.map_or("-".to_owned(), |r| {
            format!("{}/s p99 {}", rate(r.ops_per_sec), ms(r.latency.p99_us))
        })
    };
    let mut rows = Vec::new();
    for (name, layout) in layouts {
        println!();
        println!(
            "shape {name}: {} keys, {}-byte values",
            shape.keys, shape.value_size
        );
        let mut header = format!("{:<8}", "op");
        for (s, r) in pairs {
            header.push_str(&format!("| {s:<24}{r:<24}{:>7} ", "ratio"));
        }
        println!("{header}");
        for &op in ops {
            let mut line = format!("{:<8}", op.to_string());
            for (s, r) in pairs {
                let (a, b) = (find(s, layout, op), find(r, layout, op));
                let ratio = match (a, b) {
                    (Some(a), Some(b)) if b.ops_per_sec > 0.0 => {
                        Some(a.ops_per_sec / b.ops_per_sec)
                    }
                    _ => None,
                };
                let ratio_text = ratio.map_or("-".to_owned(), |x| format!("{x:.2}×"));
                line.push_str(&format!(
                    "| {:<24}{:<24}{:>7} ",
                    cell(a),
                    cell(b),
                    ratio_text
                ));
                rows.push(json!({
                    "shape": name,
                    "op": op,
                    "statewell": s,
                    "redis": r,
                    "statewell_ops_per_sec": a.map(|x| x.ops_per_sec),
                    "redis_ops_per_sec": b.map(|x| x.ops_per_sec),
                    "statewell_p99_us": a.map(|x| x.latency.p99_us),
                    "redis_p99_us": b.map(|x| x.latency.p99_us),
                    "ratio": ratio,
                }));
            }
            println!("{line}");
        }
    }
    rows
}
