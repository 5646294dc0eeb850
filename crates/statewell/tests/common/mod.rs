//! Starts the real `statewell` binary for end-to-end tests.
//!
//! Each test file includes this with `mod common;`. Not every file uses every
//! helper, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub mod raw_http;

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
        Engine::start_with_env(data, extra, &[])
    }

    /// An engine on `data` with extra flags and environment variables.
    pub fn start_with_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Engine {
        let mut command = statewell();
        command
            .envs(env.iter().copied())
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .stderr(Stdio::inherit());
        Engine::from_command(command, data)
    }

    /// An engine on a fresh data directory whose log (stderr, at the
    /// `warn` level unless `extra` says otherwise) is collected.
    pub fn start_logged(extra: &[&str]) -> (Engine, Logs) {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let mut command = statewell();
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .args(extra)
            .stderr(Stdio::piped());
        let mut engine = Engine::from_command(command, &data);
        engine._dir = Some(dir);
        let stderr = engine.child.stderr.take().expect("stderr");
        let logs = Logs::default();
        let collected = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
                collected.lines.lock().expect("logs").push(line);
            }
            collected
                .ended
                .store(true, std::sync::atomic::Ordering::SeqCst);
        });
        (engine, logs)
    }

    /// An engine started by `command`, a `serve` whose every flag (and
    /// where its stderr goes) the caller chose; `data` is its data directory.
    pub fn from_command(mut command: Command, data: &Path) -> Engine {
        let mut child = command
            .stdout(Stdio::piped())
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

/// The lines an engine logged so far.
#[derive(Clone, Default)]
pub struct Logs {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    ended: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Logs {
    /// Waits until the engine's stderr is closed (it exited): every line is
    /// in.
    pub fn wait_for_the_end(&self) {
        let started = std::time::Instant::now();
        while !self.ended.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "the engine's log never ended"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// The lines containing `text`.
    pub fn matching(&self, text: &str) -> Vec<String> {
        let lines = self.lines.lock().expect("logs");
        lines.iter().filter(|l| l.contains(text)).cloned().collect()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The engine binary, for runs that are not a started engine (CLI verbs,
/// `serve` with bad flags).
pub fn statewell() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_statewell"));
    command.env("RUST_LOG", "warn");
    // The verbs read these; a developer's shell must not leak into tests.
    for var in [
        "STATEWELL_URL",
        "STATEWELL_TOKEN",
        "STATEWELL_LISTEN",
        "STATEWELL_DATA",
        "STATEWELL_STORE",
        "STATEWELL_DURABILITY",
        "STATEWELL_SYNC_INTERVAL",
        "STATEWELL_LOG",
        "STATEWELL_MAX_VALUE_BYTES",
        "STATEWELL_WORKER_THREADS",
        "STATEWELL_CHECKPOINT_BYTES",
        "STATEWELL_MAX_CONNECTIONS",
        "STATEWELL_HEADER_READ_TIMEOUT",
        "STATEWELL_BODY_READ_TIMEOUT",
        "STATEWELL_WRITE_TIMEOUT",
        "STATEWELL_MAX_REPLY_BYTES_IN_FLIGHT",
        "STATEWELL_DRAIN_TIMEOUT",
        "STATEWELL_LOG_FORMAT",
        "STATEWELL_CONNECT_RETRY",
        "STATEWELL_TOKEN_IN_QUERY",
    ] {
        command.env_remove(var);
    }
    command
}

/// `program` run by `sh -c script`, as `$0`, with the environment
/// `statewell()` gives it: for limits only a shell sets (`ulimit`, `trap`).
pub fn statewell_command_via_shell(script: &str, program: &str) -> Command {
    let plain = statewell();
    let mut command = Command::new("sh");
    command.args(["-c", script, program]);
    for (name, value) in plain.get_envs() {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    command
}

/// A loopback port nothing listens on (bound, then released): for a verb
/// that must find no engine, or an engine started there later.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// What a finished process printed.
pub struct Finished {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// A verb's failure: exit status `exit` and one stderr line starting
    /// with `prefix` (`error: <code>: `).
    pub fn assert_failed(&self, exit: i32, prefix: &str) {
        assert_eq!(self.status.code(), Some(exit), "{}", self.stderr);
        assert!(self.stderr.starts_with(prefix), "{}", self.stderr);
        assert_eq!(self.stderr.trim_end().lines().count(), 1, "{}", self.stderr);
    }
}

/// Runs `command` to completion. A process still running after `limit` is a
/// hang (e.g. `serve` accepted flags it should have refused): it is killed
/// and the test fails, instead of the suite hanging.
pub fn finish(command: Command, limit: std::time::Duration) -> Finished {
    finish_with_input(command, Vec::new(), limit)
}

/// [`finish`] with `input` on the process's stdin (written by a thread of
/// its own, so a process that reads slowly cannot deadlock the test).
pub fn finish_with_input(
    mut command: Command,
    input: Vec<u8>,
    limit: std::time::Duration,
) -> Finished {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn statewell");
    let mut stdin = child.stdin.take().expect("stdin");
    // A process that exits early closes its stdin: a failed write is fine.
    std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    let started = std::time::Instant::now();
    loop {
        if child.try_wait().expect("poll child").is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect output");
            panic!(
                "still running after {limit:?}; stdout: {}; stderr: {}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("collect output");
    Finished {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl Engine {
    /// A client of the worker protocol connected to this engine.
    pub async fn client(&self) -> statewell_client::Client {
        statewell_client::Client::connect(&self.ws_url(), None)
            .await
            .expect("connect to the engine")
    }

    /// Runs a CLI verb against this engine: `statewell <args> --url ...`.
    pub fn cli(&self, args: &[&str]) -> Finished {
        let mut command = statewell();
        command.args(args).args(["--url", &self.ws_url()]);
        finish(command, std::time::Duration::from_secs(60))
    }

    /// [`Engine::cli`] with `input` on stdin.
    pub fn cli_with_input(&self, args: &[&str], input: impl Into<Vec<u8>>) -> Finished {
        let mut command = statewell();
        command.args(args).args(["--url", &self.ws_url()]);
        finish_with_input(command, input.into(), std::time::Duration::from_secs(120))
    }
}
