//! Starts the real statewell binary for the Rust compatibility tests, the way
//! `compat/node` and `compat/python` do: `$STATEWELL_BIN` (default
//! `<repo>/target/debug/statewell`) on a free loopback port with a temporary
//! data directory, read from its `listening on ADDR` line.
//!
//! An engine can be killed (SIGKILL, as a crash) and started again on the
//! same port and data, which is what the bridge's reconnect test needs: the
//! iii engine's `bridge_url` is fixed, so statewell must come back where it was.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running statewell engine, killed when dropped.
pub struct Engine {
    child: Option<Child>,
    /// `127.0.0.1:PORT`, kept across restarts.
    pub addr: String,
    extra: Vec<String>,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

fn binary() -> PathBuf {
    match std::env::var_os("STATEWELL_BIN") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/statewell"),
    }
}

/// Spawns `statewell serve` and returns it with the address it announced.
fn spawn(listen: &str, data: &PathBuf, extra: &[String]) -> (Child, String) {
    let bin = binary();
    let mut child = Command::new(&bin)
        .arg("serve")
        .args(["--listen", listen, "--data"])
        .arg(data)
        .args(extra)
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e} (run `cargo build --bins` at the repository root or set STATEWELL_BIN)",
                bin.display()
            )
        });
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = match lines.next() {
        Some(Ok(line)) => line,
        other => panic!("the engine exited before listening: {other:?}"),
    };
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from the engine: {first}"))
        .to_owned();
    // Keep draining stdout so the engine never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

impl Engine {
    /// An engine on a free port and a fresh data directory, with extra
    /// `serve` flags (e.g. `--token`).
    pub fn start(extra: &[&str]) -> Engine {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (child, addr) = spawn("127.0.0.1:0", &data, &extra);
        Engine {
            child: Some(child),
            addr,
            extra,
            data,
            _dir: dir,
        }
    }

    /// The URL a `bridge_url` would hold: `ws://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Kills the engine with SIGKILL, as a crash would, and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the engine again on the same port, data and flags.
    pub fn restart(&mut self) {
        self.kill();
        let (child, addr) = spawn(&self.addr, &self.data, &self.extra);
        assert_eq!(addr, self.addr, "the engine came back on another address");
        self.child = Some(child);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `check` until it returns `Some`, at most `attempts` times 50 ms
/// apart; panics naming `what` when it never does (a test never hangs).
pub async fn eventually<T, F, Fut>(what: &str, attempts: u32, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..attempts {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting for {what}");
}
