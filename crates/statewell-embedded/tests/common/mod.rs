//! Helpers shared by the embedded store's tests.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use statewell_core::{Mutation, Store};
use statewell_embedded::{Durability, EmbeddedOptions, EmbeddedStore};

pub fn open(dir: &Path) -> EmbeddedStore {
    EmbeddedStore::open(dir, EmbeddedOptions::default()).expect("open the data directory")
}

pub fn open_batched(dir: &Path, interval: Duration) -> EmbeddedStore {
    let options = EmbeddedOptions {
        durability: Durability::Batched { interval },
        ..Default::default()
    };
    EmbeddedStore::open(dir, options).expect("open the data directory")
}

pub fn set(group: &str, key: &str, value: Value) -> Mutation {
    Mutation::Set {
        group: group.into(),
        key: key.into(),
        value,
    }
}

pub fn delete(group: &str, key: &str) -> Mutation {
    Mutation::Delete {
        group: group.into(),
        key: key.into(),
    }
}

pub async fn value(store: &dyn Store, group: &str, key: &str) -> Option<Value> {
    store
        .get(group, key)
        .await
        .expect("get succeeds")
        .map(|v| v.value)
}

/// A command that re-runs this test binary as a child process, running only
/// the entry `name`: a helper that does nothing unless `env` is set. Those
/// entries are `#[ignore]`d, so that a plain run of the suite neither runs
/// them nor counts them as tests; `--ignored` runs `name` here all the same.
pub fn child(name: &str, env: &[(&str, String)]) -> std::process::Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = std::process::Command::new(exe);
    command
        .args([
            "--ignored",
            "--exact",
            name,
            "--nocapture",
            "--test-threads=1",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

const MARK: &str = "@@ ";

/// Writes one line to the real stdout (not the test harness's capture) and
/// flushes it, so that a parent reading the pipe sees it at once. The mark
/// lets [`heard`] find it after whatever the harness printed on that line
/// (`test name ... `).
pub fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{MARK}{line}").expect("stdout is open");
    out.flush().expect("stdout is open");
}

/// Lines a child said with [`say`], in order, until its stdout closes.
pub fn heard(stdout: std::process::ChildStdout) -> impl Iterator<Item = String> {
    use std::io::BufRead;
    std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| line.find(MARK).map(|at| line[at + MARK.len()..].to_owned()))
}
