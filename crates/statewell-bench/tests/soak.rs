//! `statewell-soak` end to end, in a few seconds: real engines started,
//! SIGTERMed, SIGKILLed and started again by the soak. Latency and memory
//! are not judged here (no timed assertions: their tolerances are opened
//! wide); what is asserted is what must hold whatever the machine does —
//! restarts of both kinds, every tracked key read back, no failed request,
//! and a failing verdict when an engine forgets acknowledged writes.
//!
//! The engine is the `statewell` binary of this target dir, found next to
//! the soak's own executable (`cargo build -p statewell`).

use std::process::{Command, Output};

use serde_json::Value;

/// A short soak: two intervals of 2 s with one restart (SIGTERM) between
/// them, then the SIGKILL before the read-back.
const SHORT: &[&str] = &[
    "--duration",
    "4s",
    "--interval",
    "2s",
    "--restart-every",
    "2s",
    "--warmup",
    "0s",
    "--keys",
    "500",
    "--groups",
    "5",
    "--tracked",
    "64",
    "--p99-tolerance",
    "100000",
    "--rss-tolerance",
    "100000",
];

/// `statewell-soak` with none of the engine's settings from the
/// developer's environment, plus `env`.
fn soak(args: &[&str], env: &[(&str, &str)]) -> (Output, Option<Value>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("soak.json");
    let mut command = Command::new(env!("CARGO_BIN_EXE_statewell-soak"));
    command.env("RUST_LOG", "warn");
    for var in ["STATEWELL_BIN", "STATEWELL_STORE", "STATEWELL_DURABILITY"] {
        command.env_remove(var);
    }
    let out = command
        .args(args)
        .arg("--json")
        .arg(&json)
        .envs(env.iter().copied())
        .output()
        .expect("run statewell-soak");
    let report = std::fs::read_to_string(&json)
        .ok()
        .map(|text| serde_json::from_str(&text).expect("--json is JSON"));
    (out, report)
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn show(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_short_soak_with_both_restarts_reads_back_every_acknowledged_write() {
    let (out, report) = soak(SHORT, &[]);
    assert!(out.status.success(), "{}", show(&out));
    let report = report.expect("a report");
    assert_eq!(report["passed"], true);
    let signals: Vec<&str> = report["restarts"]
        .as_array()
        .expect("restarts")
        .iter()
        .map(|r| r["signal"].as_str().expect("a signal"))
        .collect();
    assert_eq!(signals, ["SIGTERM", "SIGKILL"]);
    assert_eq!(report["restarts"][0]["exit_code"], 0);

    let intervals = report["intervals"].as_array().expect("intervals");
    assert_eq!(intervals.len(), 2);
    assert!(intervals[0]["restart"].is_null());
    assert_eq!(intervals[1]["restart"]["signal"], "SIGTERM");
    for kind in ["set", "get", "update", "delete", "list"] {
        let answered: u64 = intervals.iter().map(|i| n(&i["by_op"][kind])).sum();
        assert!(answered > 0, "no {kind} answered: {}", show(&out));
    }
    for interval in intervals {
        assert_eq!(n(&interval["errors"]), 0, "{interval}");
        assert!(n(&interval["rss_max_bytes"]) > 0, "{interval}");
        assert!(n(&interval["fds_max"]) > 0, "{interval}");
    }

    let tracked = &report["tracked"];
    assert_eq!(n(&tracked["keys"]), 64);
    assert_eq!(n(&tracked["read_back"]), 64);
    assert_eq!(n(&tracked["mismatches"]), 0, "{tracked}");
    assert!(n(&tracked["acknowledged_writes"]) > 0, "{tracked}");
    let checks = report["checks"].as_array().expect("checks");
    assert!(checks.iter().all(|c| c["passed"] == true), "{checks:?}");
}

#[test]
fn an_engine_that_forgets_acknowledged_writes_fails_the_soak() {
    // The memory store keeps nothing across a restart.
    let (out, report) = soak(SHORT, &[("STATEWELL_STORE", "memory")]);
    assert!(!out.status.success(), "{}", show(&out));
    let report = report.expect("a report, written before failing");
    assert_eq!(report["passed"], false);
    assert!(n(&report["tracked"]["mismatches"]) > 0, "{}", show(&out));
    let failed: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["what"].as_str().expect("what"))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].starts_with("acknowledged writes of tracked keys missing"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("found (absent), expected"), "{stdout}");
    assert!(stdout.trim_end().ends_with("FAIL"), "{stdout}");
}

#[test]
fn bad_flags_are_refused_before_any_engine_starts() {
    for (args, says) in [
        (&["--interval", "500ms"][..], "--interval"),
        (&["--duration", "30s", "--interval", "30s"], "two intervals"),
        (&["--restart-every", "45s"], "--restart-every"),
        (&["--groups", "0"], "--groups"),
        (&["--rss-tolerance=nan"], "--rss-tolerance"),
        (&["--connections", "0"], "--connections"),
    ] {
        let (out, report) = soak(args, &[]);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("engine binary"), "{args:?}: {stderr}");
        assert!(report.is_none());
    }
}
