//! `deploy/statewell.service`, the systemd unit of docs/DEPLOY.md: systemd
//! itself accepts it (`systemd-analyze verify`, where it is installed), and
//! the engine accepts the settings it passes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Engine, finish, statewell};

fn unit_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/statewell.service")
}

fn unit() -> String {
    std::fs::read_to_string(unit_path()).expect("read deploy/statewell.service")
}

/// The values of every `Key=` line of the unit, in order.
fn values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    let prefix = format!("{key}=");
    unit.lines()
        .filter_map(|line| line.strip_prefix(prefix.as_str()))
        .collect()
}

#[test]
fn systemd_accepts_the_unit() {
    let version = Command::new("systemd-analyze").arg("--version").output();
    if !version.is_ok_and(|out| out.status.success()) {
        // Printed, so a run without systemd says what it did not check.
        println!("skipped: systemd-analyze is not installed (Debian: apt-get install systemd)");
        return;
    }
    // The unit names the installed binary; verify checks that ExecStart is
    // executable, so point it at the one under test.
    let unit = unit().replace(
        "ExecStart=/usr/local/bin/statewell",
        &format!("ExecStart={}", env!("CARGO_BIN_EXE_statewell")),
    );
    assert!(
        unit.contains(env!("CARGO_BIN_EXE_statewell")),
        "ExecStart moved"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("statewell.service");
    std::fs::write(&file, unit).expect("write the unit");
    let verified = Command::new("systemd-analyze")
        .args(["verify", "--man=no", "--recursive-errors=no"])
        .arg(&file)
        .output()
        .expect("run systemd-analyze");
    // verify exits 0 for an unknown key or a bad value, which it only
    // prints ("Unknown key ..., ignoring"): anything printed is a failure.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(verified.status.success(), "{said}");
    assert_eq!(said.trim(), "", "systemd-analyze verify complained");
}

#[test]
fn the_unit_is_hardened_and_keeps_its_data_in_its_state_directory() {
    let unit = unit();
    for setting in [
        "DynamicUser=yes",
        "StateDirectory=statewell",
        "Environment=STATEWELL_DATA=/var/lib/statewell",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "KillSignal=SIGTERM",
    ] {
        assert!(
            unit.lines().any(|line| line == setting),
            "missing {setting}"
        );
    }
}

/// Every `Environment=` of the unit names a variable `serve` reads, and
/// `serve` starts with their values (the address and the data directory
/// swapped for the test's own).
#[test]
fn the_engine_takes_the_units_settings() {
    let unit = unit();
    let mut help = statewell();
    help.args(["serve", "--help"]);
    let help = finish(help, std::time::Duration::from_secs(30)).stdout;
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut env = Vec::new();
    for assignment in values(&unit, "Environment") {
        let (name, value) = assignment.split_once('=').expect("NAME=value");
        assert!(
            help.contains(&format!("[env: {name}")),
            "serve does not read {name}"
        );
        let value = match name {
            "STATEWELL_DATA" => data.to_str().expect("UTF-8 path").to_owned(),
            "STATEWELL_LISTEN" => "127.0.0.1:0".to_owned(),
            _ => value.to_owned(),
        };
        env.push((name.to_owned(), value));
    }
    assert!(!env.is_empty());
    let mut serve = statewell();
    serve.arg("serve").envs(env.iter().map(|(n, v)| (n, v)));
    let engine = Engine::from_command(serve, &data);
    assert!(engine.addr.starts_with("127.0.0.1:"), "{}", engine.addr);
    assert!(
        data.join("FORMAT").exists(),
        "the data directory was not used"
    );
}
