//! `statewell-bench --scaling`: does a write cost the same with 10k items as
//! with 1M? Measures per-op latency at both sizes on one engine, then its
//! memory, its disk bytes per item, and how long a restart takes to serve.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::BenchArgs;
use crate::measure;
use crate::report::{RunResult, ms, rate};
use crate::runner::{self, Budget, Layout, Target};
use crate::servers::{Server, disk_bytes, rss_bytes};
use crate::workload::{OpChoice, OpKind, Shape};

pub async fn run(args: &BenchArgs, layout: &Layout) -> Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let engine = args.engine_bin()?;
    let mut server = Server::statewell(&engine, &data, &args.durability, &[])?;
    let label = format!("statewell ({})", args.durability);
    let target = Target::Statewell {
        url: server.ws_url(),
        token: None,
    };
    let small = args.shape_of_keys();
    let big = Shape {
        keys: args.scale_items,
        ..small.clone()
    };

    measure::preload(&target, &small, 0, small.keys).await?;
    let at_small = measure_ops(args, &label, &target, &server, layout, &small).await?;
    let began = Instant::now();
    measure::preload(&target, &big, small.keys, big.keys).await?;
    let preload_seconds = began.elapsed().as_secs_f64();
    let at_big = measure_ops(args, &label, &target, &server, layout, &big).await?;
    let rss = server.pid().and_then(rss_bytes);
    let metrics = measure::engine_metrics(&server.addr);
    server.stop()?;
    let disk = disk_bytes(&data);

    // Restart on the same data: time to the `listening` line, then to the
    // first answered get of a stored item.
    let began = Instant::now();
    let mut again = Server::statewell(&engine, &data, &args.durability, &[])?;
    let listening = again.started_in;
    first_get(&again, &small).await?;
    let serving = began.elapsed();
    let rss_restarted = again.pid().and_then(rss_bytes);
    again.stop()?;

    let items = big.keys;
    println!();
    println!(
        "scaling: {} vs {} items stored ({}), {} conn × {} in flight, {}-byte values",
        small.keys, big.keys, label, layout.connections, layout.in_flight, small.value_size
    );
    println!(
        "{:<8}| {:<30}| {:<30}| growth p50 / p99",
        "op",
        format!("{} items", small.keys),
        format!("{} items", big.keys)
    );
    let cell = |r: &RunResult| {
        format!(
            "{}/s p50 {} p99 {}",
            rate(r.ops_per_sec),
            ms(r.latency.p50_us),
            ms(r.latency.p99_us)
        )
    };
    let mut rows = Vec::new();
    for (a, b) in at_small.iter().zip(at_big.iter()) {
        let growth = |x: u64, y: u64| y as f64 / (x.max(1)) as f64;
        let g50 = growth(a.latency.p50_us, b.latency.p50_us);
        let g99 = growth(a.latency.p99_us, b.latency.p99_us);
        println!(
            "{:<8}| {:<30}| {:<30}| {g50:.2}× / {g99:.2}×",
            a.op.to_string(),
            cell(a),
            cell(b)
        );
        rows.push(json!({"op": a.op, "p50_growth": g50, "p99_growth": g99}));
    }
    println!(
        "preload of {} items: {:.1} s ({}/s)",
        big.keys - small.keys,
        preload_seconds,
        rate((big.keys - small.keys) as f64 / preload_seconds.max(1e-9))
    );
    let mib = |b: Option<u64>| {
        b.map_or("-".to_owned(), |b| {
            format!("{:.1} MiB", b as f64 / 1048576.0)
        })
    };
    println!("resident memory with {items} items: {}", mib(rss));
    println!(
        "resident memory right after restart: {}",
        mib(rss_restarted)
    );
    println!(
        "disk: {:.1} MiB = {:.0} bytes per item",
        disk as f64 / 1048576.0,
        disk as f64 / items as f64
    );
    println!(
        "restart with {items} items: listening after {:.3} s, serving after {:.3} s",
        listening.as_secs_f64(),
        serving.as_secs_f64()
    );
    if let Some(lines) = &metrics {
        measure::print_metrics(lines);
    }
    let runs: Vec<&RunResult> = at_small.iter().chain(at_big.iter()).collect();
    Ok(json!({
        "runs": runs,
        "growth": rows,
        "items": items,
        "preload_seconds": preload_seconds,
        "rss_bytes": rss,
        "rss_bytes_after_restart": rss_restarted,
        "disk_bytes": disk,
        "disk_bytes_per_item": disk as f64 / items as f64,
        "restart_listening_seconds": listening.as_secs_f64(),
        "restart_serving_seconds": serving.as_secs_f64(),
        "engine_metrics": metrics,
        "machine": measure::machine(),
    }))
}

/// Each operation of `--compare-ops` over the whole key space of `shape`.
async fn measure_ops(
    args: &BenchArgs,
    label: &str,
    target: &Target,
    server: &Server,
    layout: &Layout,
    shape: &Shape,
) -> Result<Vec<RunResult>> {
    let mut out = Vec::new();
    for &op in &args.compare_ops {
        let plan = args.plan(label, target, server.pid(), layout, op, shape);
        let result = measure::run(&plan).await?;
        result.print();
        out.push(result);
    }
    Ok(out)
}

/// Connects (retrying while the engine opens) and reads item 0 back.
async fn first_get(server: &Server, shape: &Shape) -> Result<()> {
    let target = Target::Statewell {
        url: server.ws_url(),
        token: None,
    };
    let one = Shape {
        keys: 1,
        ..shape.clone()
    };
    let layout = Layout {
        connections: 1,
        in_flight: 1,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let workers = loop {
        match runner::connect_all(&target, &layout, OpChoice::Get, &one, 0).await {
            Ok(w) => break w,
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    };
    let (_, stats) = runner::phase(workers, 1, Arc::new(Budget::ops(1)), false)
        .await
        .context("the restarted engine did not answer a get")?;
    let get = stats.kinds[OpKind::Get.index()];
    if get.ops != 1 || get.errors != 0 || get.missing != 0 {
        bail!("after the restart, item 0 could not be read back ({get:?})");
    }
    Ok(())
}
