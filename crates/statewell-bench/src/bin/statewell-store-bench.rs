//! `statewell-store-bench`: the embedded store measured on its own, with no
//! engine, socket or protocol in front of it. A plain program that prints
//! figures. Run with:
//!
//!     cargo run --release -p statewell-bench --bin statewell-store-bench
//!
//! Env: `STATEWELL_BENCH_DIR` (where the data directories go; default: a
//! temporary directory), `STATEWELL_BENCH_SECS` (seconds per phase, default 3),
//! `STATEWELL_BENCH_BIG` (items of the large store, default 1,000,000).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use statewell_core::{Mutation, Path as OpPath, Store, UpdateOp};
use statewell_embedded::{Durability, EmbeddedOptions, EmbeddedStats, EmbeddedStore};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> Result<()> {
    let secs: u64 = env_or("STATEWELL_BENCH_SECS", 3);
    let big: u64 = env_or("STATEWELL_BENCH_BIG", 1_000_000);
    let phase = Duration::from_secs(secs);
    let base = match std::env::var("STATEWELL_BENCH_DIR") {
        Ok(dir) => tempfile::tempdir_in(dir)?,
        Err(_) => tempfile::tempdir()?,
    };
    println!(
        "statewell-store-bench: {secs} s per phase, data under {}",
        base.path().display()
    );
    println!("machine: {} cores, {}", cores(), cpu_model());

    let (median, p99) = fsync_latency(base.path())?;
    println!(
        "fsync latency: median {:.2} ms, p99 {:.2} ms  => at most ~{:.0} durable commits/s, so with 64 writers (one write in flight each) at most ~{:.0} durable sets/s",
        ms(median),
        ms(p99),
        1.0 / median.as_secs_f64(),
        64.0 / median.as_secs_f64()
    );

    // --- small store: 10k items, durability always ---
    let small_dir = base.path().join("small");
    load(&small_dir, 10_000).await?;
    let store = Arc::new(open(&small_dir, Durability::Always)?);
    println!("\n[always mode, 10,000 items]");
    report(
        "durable sets, 1 writer",
        &store,
        phase,
        1,
        set_random(10_000),
    )
    .await;
    report(
        "durable sets, 64 writers",
        &store,
        phase,
        64,
        set_random(10_000),
    )
    .await;
    report(
        "durable increments, 64 writers, one key",
        &store,
        phase,
        64,
        increment_one(),
    )
    .await;
    report(
        "durable increments, 64 writers, 64 keys",
        &store,
        phase,
        64,
        increment_own(),
    )
    .await;
    gets("gets, 1 task", &store, phase, 1, 10_000).await;
    gets("gets, 2 tasks", &store, phase, 2, 10_000).await;
    gets("gets, 64 tasks", &store, phase, 64, 10_000).await;
    let small_durable = report(
        "per-set cost, 64 writers (10k items)",
        &store,
        phase,
        64,
        set_random(10_000),
    )
    .await;
    drop(store);
    let store = Arc::new(open(&small_dir, batched())?);
    gets("(warm-up) gets, 2 tasks", &store, phase, 2, 10_000).await;
    let small_batched = report(
        "per-set cost, batched mode, 64 writers (10k items)",
        &store,
        phase,
        64,
        set_random(10_000),
    )
    .await;
    drop(store);

    // --- big store ---
    let big_dir = base.path().join("big");
    let started = Instant::now();
    load(&big_dir, big).await?;
    println!(
        "\nloaded {big} items in {:.1} s (batched mode, 64 writers)",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let store = Arc::new(open(&big_dir, Durability::Always)?);
    println!(
        "open of the {big}-item directory (integrity check included): {:.2} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "file size: {:.1} MiB",
        store.stats().bytes as f64 / (1024.0 * 1024.0)
    );
    println!("\n[always mode, {big} items]");
    // The reopened store's cache is cold: warm it the way the small store
    // was warmed by its earlier phases, so both sizes are compared warm.
    gets("(warm-up) gets, 2 tasks", &store, phase, 2, big).await;
    report(
        "(warm-up) durable sets, 64 writers",
        &store,
        phase,
        64,
        set_random(big),
    )
    .await;
    gets("gets, 2 tasks", &store, phase, 2, big).await;
    let big_durable = report(
        &format!("per-set cost, 64 writers ({big} items)"),
        &store,
        phase,
        64,
        set_random(big),
    )
    .await;
    drop(store);
    let store = Arc::new(open(&big_dir, batched())?);
    gets("(warm-up) gets, 2 tasks", &store, phase, 2, big).await;
    let big_batched = report(
        &format!("per-set cost, batched mode, 64 writers ({big} items)"),
        &store,
        phase,
        64,
        set_random(big),
    )
    .await;
    drop(store);

    println!("\nper-set cost growth 10k -> {big} items:");
    println!(
        "  always:  {:.1} us -> {:.1} us  ({:.2}x)",
        small_durable.per_op_us(),
        big_durable.per_op_us(),
        big_durable.per_op_us() / small_durable.per_op_us()
    );
    println!(
        "  batched: {:.1} us -> {:.1} us  ({:.2}x)",
        small_batched.per_op_us(),
        big_batched.per_op_us(),
        big_batched.per_op_us() / small_batched.per_op_us()
    );
    Ok(())
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn batched() -> Durability {
    Durability::Batched {
        interval: Duration::from_millis(100),
    }
}

fn open(dir: &Path, durability: Durability) -> Result<EmbeddedStore> {
    Ok(EmbeddedStore::open(
        dir,
        EmbeddedOptions {
            durability,
            ..Default::default()
        },
    )?)
}

fn value(i: u64) -> serde_json::Value {
    json!({"n": i, "name": "item", "tags": ["a", "b"], "ok": true})
}

fn key(i: u64) -> String {
    format!("key-{i:08}")
}

/// Fills `dir` with `count` items (batched mode: this is setup, not a figure).
async fn load(dir: &Path, count: u64) -> Result<()> {
    let store = Arc::new(open(dir, batched())?);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (store, next) = (store.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, statewell_core::StateError>(());
                }
                store.write(set(i)).await?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Arc::into_inner(store)
        .ok_or("store still shared")?
        .close()?;
    Ok(())
}

fn set(i: u64) -> Mutation {
    Mutation::Set {
        group: "bench".into(),
        key: key(i),
        value: value(i),
    }
}

type Gen = Arc<dyn Fn(u64, &mut u64) -> Mutation + Send + Sync>;

fn set_random(items: u64) -> Gen {
    Arc::new(move |_, rng| set(xorshift(rng) % items))
}

fn increment_one() -> Gen {
    Arc::new(|_, _| increment("hot".into()))
}

fn increment_own() -> Gen {
    Arc::new(|task, _| increment(format!("counter-{task}")))
}

fn increment(key: String) -> Mutation {
    Mutation::Update {
        group: "counters".into(),
        key,
        ops: vec![UpdateOp::Increment {
            path: OpPath::Field("n".into()),
            by: 1.into(),
        }],
    }
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

struct Figure {
    ops: u64,
    elapsed: Duration,
}

impl Figure {
    fn per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
    fn per_op_us(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e6 / self.ops.max(1) as f64
    }
}

/// Runs `tasks` writers for `phase`, each waiting for its write before the
/// next; prints throughput and the batch sizes the commit loop reached.
async fn report(
    name: &str,
    store: &Arc<EmbeddedStore>,
    phase: Duration,
    tasks: u64,
    make: Gen,
) -> Figure {
    let before = store.embedded_stats();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (store, stop, done, make) = (store.clone(), stop.clone(), done.clone(), make.clone());
        handles.push(tokio::spawn(async move {
            let mut rng = 0x9E37_79B9_7F4A_7C15 ^ (task + 1).wrapping_mul(0x2545_F491_4F6C_DD1D);
            while !stop.load(Ordering::Relaxed) {
                if let Err(err) = store.write(make(task, &mut rng)).await {
                    eprintln!("write failed: {err}");
                    return;
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(phase).await;
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        let _ = handle.await;
    }
    let figure = Figure {
        ops: done.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    };
    let after = store.embedded_stats();
    let (commits, commands) = batch_delta(&before, &after);
    println!(
        "  {name:<52} {:>10.0} ops/s  {:>8.1} us/op  batches: avg {:.1}, max {} (since open)",
        figure.per_sec(),
        figure.per_op_us(),
        commands as f64 / commits.max(1) as f64,
        after.max_batch_size
    );
    figure
}

fn batch_delta(before: &EmbeddedStats, after: &EmbeddedStats) -> (u64, u64) {
    (
        after.store.commits - before.store.commits,
        after.batched_commands - before.batched_commands,
    )
}

async fn gets(
    name: &str,
    store: &Arc<EmbeddedStore>,
    phase: Duration,
    tasks: u64,
    items: u64,
) -> Figure {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (store, stop, done) = (store.clone(), stop.clone(), done.clone());
        handles.push(tokio::spawn(async move {
            let mut rng = 0x2545_F491_4F6C_DD1D ^ (task + 1);
            let mut local = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Count in batches to keep the shared counter out of the figure.
                for _ in 0..256 {
                    let k = key(xorshift(&mut rng) % items);
                    match store.get("bench", &k).await {
                        Ok(Some(_)) => local += 1,
                        Ok(None) => panic!("{k} is missing"),
                        Err(err) => panic!("get failed: {err}"),
                    }
                }
                tokio::task::yield_now().await;
            }
            done.fetch_add(local, Ordering::Relaxed);
        }));
    }
    tokio::time::sleep(phase).await;
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        let _ = handle.await;
    }
    let figure = Figure {
        ops: done.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    };
    println!(
        "  {name:<52} {:>10.0} ops/s  {:>8.2} us/op",
        figure.per_sec(),
        figure.per_op_us()
    );
    figure
}

/// Median and p99 of `fsync` after a 4 KiB write, on the benchmark's disk.
fn fsync_latency(dir: &Path) -> Result<(Duration, Duration)> {
    let path: PathBuf = dir.join("fsync-probe");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    let mut samples = Vec::new();
    for _ in 0..200 {
        file.write_all(&[7u8; 4096])?;
        let started = Instant::now();
        file.sync_data()?;
        samples.push(started.elapsed());
    }
    std::fs::remove_file(&path)?;
    samples.sort();
    Ok((
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    ))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
