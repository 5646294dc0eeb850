//! Starts the real `statewell` binary for end-to-end tests.
//!
//! Each test file includes this with `mod common;`. Not every file uses every
//! helper, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running engine on a free loopback port, killed when dropped.
pub struct Engine {
    pub child: Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// The data directory (kept alive by `_dir` when the engine made it).
    pub data: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Engine {
    /// An engine on a fresh temporary data directory with extra `serve` flags.
    pub fn start(extra: &[&str]) -> Engine {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let mut engine = Engine::start_on(&data, extra);
        engine._dir = Some(dir);
        engine
    }

    /// An engine on the given data directory (for restart tests).
    pub fn start_on(data: &Path, extra: &[&str]) -> Engine {
        let mut child = Command::new(env!("CARGO_BIN_EXE_statewell"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn statewell");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .expect("engine printed nothing")
            .expect("read stdout");
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_owned();
        // Keep draining stdout so the engine never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Engine {
            child,
            addr,
            data: data.to_owned(),
            _dir: None,
        }
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`"TERM"`, `"KILL"`, `"INT"`) and waits for the exit.
    pub fn signal_and_wait(&mut self, signal: &str) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
        self.child.wait().expect("wait for engine")
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
