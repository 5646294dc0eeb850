//! `statewell-bench` end to end: it drives a real engine (one it starts, or
//! one given by `--url`) and, with `--compare-redis`, a real redis-server.
//! Figures are not asserted (no timed assertions): only that every request
//! completed without error and that the counts add up.
//!
//! The engines are the `statewell` binary of this target dir, which the
//! bench finds next to its own executable: `cargo nextest run --workspace`
//! (or `cargo build -p statewell`) builds it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use statewell_bench::servers::Server;

/// `statewell-bench`, with none of the variables it reads from the
/// environment: a developer's shell must not point the tests elsewhere, and
/// the engines must be found the default way.
fn bench_command() -> Command {
    bench_command_at(Path::new(env!("CARGO_BIN_EXE_statewell-bench")))
}

/// `bench_command` of a copy of the bench at `program`.
fn bench_command_at(program: &Path) -> Command {
    let mut command = Command::new(program);
    command.env("RUST_LOG", "warn");
    for var in ["STATEWELL_BIN", "STATEWELL_URL", "STATEWELL_TOKEN"] {
        command.env_remove(var);
    }
    command
}

fn bench(args: &[&str], json: &Path) -> std::process::Output {
    bench_command()
        .args(args)
        .arg("--json")
        .arg(json)
        .output()
        .expect("run statewell-bench")
}

/// The engine binary the bench finds by default: `statewell` next to it.
fn engine_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_statewell-bench")).with_file_name("statewell");
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build -p statewell` (or the whole workspace's tests)",
        path.display()
    );
    path
}

/// An engine on a fresh temporary data directory, stopped when dropped
/// (the directory with it).
fn engine() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::statewell(&engine_binary(), &dir.path().join("data"), "always", &[])
        .expect("start an engine");
    (server, dir)
}

fn run_ok(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("out.json");
    let out = bench(args, &json);
    assert!(
        out.status.success(),
        "bench {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&json).expect("bench wrote --json");
    serde_json::from_str(&text).expect("--json is JSON")
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Checks one run: `ops` requests, none failed, the kinds add up.
fn check_run(run: &Value, ops: u64) -> [u64; 3] {
    assert_eq!(n(&run["ops"]), ops, "{run}");
    assert_eq!(n(&run["errors"]), 0, "{run}");
    assert_eq!(n(&run["missing"]), 0, "{run}");
    let kinds = ["set", "get", "update"].map(|k| {
        let c = &run["by_kind"][k];
        assert_eq!(n(&c["errors"]), 0, "{run}");
        n(&c["ops"])
    });
    assert_eq!(kinds.iter().sum::<u64>(), ops, "kinds add up: {run}");
    assert!(
        run["ops_per_sec"].as_f64().is_some_and(|r| r > 0.0),
        "{run}"
    );
    let l = &run["latency"];
    assert!(
        n(&l["p50_us"]) <= n(&l["p99_us"]) && n(&l["p99_us"]) <= n(&l["max_us"]),
        "{run}"
    );
    kinds
}

#[test]
fn each_operation_completes_without_error_against_a_running_engine() {
    let (engine, _dir) = engine();
    let url = engine.ws_url();
    for (op, index) in [("set", 0), ("get", 1), ("update", 2)] {
        let out = run_ok(&[
            "--url", &url, "--op", op, "--ops", "2000", "--keys", "300", "--warmup", "0",
        ]);
        let runs = out["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 1);
        let kinds = check_run(&runs[0], 2000);
        assert_eq!(kinds[index], 2000, "only {op} ran: {kinds:?}");
        assert_eq!(runs[0]["op"], op);
        // The engine's /metrics were read around the run: writes were
        // committed in batches of at least one.
        if op != "get" {
            assert!(n(&runs[0]["commits"]) > 0, "{}", runs[0]);
            let batch = runs[0]["mean_commit_batch"].as_f64().expect("mean batch");
            assert!(batch >= 1.0, "{}", runs[0]);
        }
    }
}

#[test]
fn mixed_load_on_its_own_engine_adds_up_in_both_shapes() {
    let out = run_ok(&[
        "--op", "mixed", "--ops", "2000", "--keys", "500", "--groups", "3", "--warmup", "0",
        "--shape", "both",
    ]);
    let runs = out["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2, "one run per shape");
    let layouts: Vec<(u64, u64)> = runs
        .iter()
        .map(|r| (n(&r["connections"]), n(&r["in_flight_per_connection"])))
        .collect();
    assert_eq!(layouts, [(4, 16), (64, 1)]);
    for run in runs {
        let [set, get, update] = check_run(run, 2000);
        // 30/50/20 of 2000 draws: each kind is well represented.
        assert!(
            set > 300 && get > 600 && update > 150,
            "{set} {get} {update}"
        );
    }
}

#[tokio::test]
async fn update_increments_reach_the_engine() {
    // 1 key, 500 increments: the stored counter must have moved by 500.
    let (engine, _dir) = engine();
    let url = engine.ws_url();
    let bench_url = url.clone();
    tokio::task::spawn_blocking(move || {
        run_ok(&[
            "--url", &bench_url, "--op", "update", "--ops", "500", "--keys", "1", "--warmup", "0",
        ])
    })
    .await
    .expect("the bench ran");
    let client = statewell_client::Client::connect(&url, None)
        .await
        .expect("connect to the engine");
    let value = client
        .get("bench-0", "k000000000")
        .await
        .expect("get")
        .expect("the bench stored the key");
    // The preload stored count 0, then 500 increments.
    assert_eq!(value["count"], 500, "{value}");
}

#[test]
fn a_missing_engine_binary_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("out.json");
    let nowhere = dir.path().join("no-such-statewell");
    let nowhere = nowhere.to_str().expect("utf-8 path");
    // Named by the flag, then by the environment.
    let by_flag = bench(&["--engine-bin", nowhere, "--ops", "10"], &json);
    let by_env = bench_command()
        .env("STATEWELL_BIN", nowhere)
        .args(["--ops", "10"])
        .output()
        .expect("run statewell-bench");
    for out in [by_flag, by_env] {
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("no statewell engine binary at {nowhere}")),
            "{err}"
        );
    }
    // By default: a bench copied where no `statewell` lies next to it.
    let lone = dir.path().join("statewell-bench");
    std::fs::copy(env!("CARGO_BIN_EXE_statewell-bench"), &lone).expect("copy the bench");
    let out = bench_command_at(&lone)
        .args(["--ops", "10"])
        .output()
        .expect("run the copied bench");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let expected = dir.path().join("statewell");
    assert!(
        err.contains(&format!(
            "no statewell engine binary at {}",
            expected.display()
        )) && err.contains("--engine-bin"),
        "{err}"
    );
    assert!(!json.exists(), "no figures without an engine");
}

#[test]
fn bad_flags_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("out.json");
    for (args, needle) in [
        (
            &["--concurrency", "10", "--connections", "4"][..],
            "multiple of --connections",
        ),
        (
            &[
                "--concurrency",
                "18446744073709551615",
                "--connections",
                "1",
            ][..],
            "at most",
        ),
        (&["--keys", "0"][..], "--keys"),
        (&["--duration", "soon"][..], "not a duration"),
        (&["--durability", "never"][..], "--durability"),
    ] {
        let out = bench(args, &json);
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

fn redis_server() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install-redis.sh");
    let out = Command::new("bash")
        .arg(script)
        .output()
        .expect("run scripts/install-redis.sh");
    assert!(
        out.status.success(),
        "install-redis.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

#[test]
fn compare_redis_measures_every_configuration_and_prints_ratios() {
    let redis = redis_server();
    let redis = redis.to_str().expect("utf-8 path");
    let out = run_ok(&[
        "--compare-redis",
        "--redis-server",
        redis,
        "--ops",
        "500",
        "--keys",
        "200",
        "--warmup",
        "0",
        "--shape",
        "a",
        "--compare-ops",
        "set,get,update",
    ]);
    let runs = out["runs"].as_array().expect("runs");
    let targets: Vec<&str> = runs
        .iter()
        .map(|r| r["target"].as_str().expect("target"))
        .collect();
    for t in [
        "statewell (always)",
        "statewell (batched)",
        "redis (always)",
        "redis (everysec)",
    ] {
        assert_eq!(
            targets.iter().filter(|x| **x == t).count(),
            3,
            "{t}: {targets:?}"
        );
    }
    for run in runs {
        check_run(run, 500);
    }
    let table = out["table"].as_array().expect("table");
    // 3 ops × 2 pairs (always vs always, batched vs everysec).
    assert_eq!(table.len(), 6);
    for row in table {
        assert!(row["ratio"].as_f64().is_some_and(|r| r > 0.0), "{row}");
    }
}

/// The processes `pid`'s threads started.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|child| child.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// `found()` once it is `Some`; panics if it is not within a minute (the
/// deadline only keeps a broken build from hanging the suite).
fn eventually<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = found() {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A bench stopped by SIGTERM while it measures stops the engine it
/// started, rather than leaving it running on its temporary directory.
#[cfg(target_os = "linux")]
#[test]
fn a_bench_stopped_by_a_signal_stops_the_engine_it_started() {
    let mut bench = bench_command()
        .args(["--op", "get", "--duration", "10m", "--keys", "100"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start statewell-bench");
    let engine = eventually("the bench's engine", || {
        children(bench.id()).first().copied()
    });
    let sent = Command::new("kill")
        .args(["-TERM", &bench.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = eventually("the bench to exit", || bench.try_wait().expect("wait"));
    assert!(!status.success(), "a stopped bench reports failure");
    assert!(
        !Path::new(&format!("/proc/{engine}")).exists(),
        "the engine (pid {engine}) is still running after its bench stopped"
    );
}
