//! The servers a bench starts for itself: a statewell engine (`statewell
//! serve`, found by `engine_binary`) or a `redis-server`, each on a free
//! loopback port and a temporary directory, and what `/proc` says about them.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// The `statewell` executable to start engines with: `explicit` (from
/// `--engine-bin` or `STATEWELL_BIN`), else `statewell` in the directory of
/// the running executable — where cargo puts both binaries of one target dir
/// (`target/release/statewell-bench` next to `target/release/statewell`).
/// A missing file is an error that says how to get one, never a silent
/// fallback to whatever `statewell` is on the PATH.
pub fn engine_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    let path = match explicit {
        Some(path) => path.to_owned(),
        None => std::env::current_exe()
            .context("cannot find the bench's own executable")?
            .with_file_name(format!("statewell{}", std::env::consts::EXE_SUFFIX)),
    };
    if !path.is_file() {
        let how = if explicit.is_some() {
            "check --engine-bin / STATEWELL_BIN"
        } else {
            "build it in the same target dir (`cargo build --release -p statewell`), \
             or name one with --engine-bin PATH or STATEWELL_BIN"
        };
        bail!("no statewell engine binary at {}: {how}", path.display());
    }
    Ok(path)
}

/// A server process this bench started; stopped (SIGTERM, then SIGKILL)
/// when dropped.
pub struct Server {
    child: Option<Child>,
    pub addr: String,
    /// Spawn → first line `listening on ...` (statewell only).
    pub started_in: Duration,
}

impl Server {
    /// Starts `ENGINE serve` on `data` (created when missing), on a free
    /// loopback port.
    pub fn statewell(
        engine: &Path,
        data: &Path,
        durability: &str,
        extra: &[String],
    ) -> Result<Server> {
        Server::statewell_on(engine, "127.0.0.1:0", data, durability, extra)
    }

    /// Starts `ENGINE serve` listening on `listen` (e.g. the address of an
    /// engine stopped before, to restart it where its clients reconnect).
    pub fn statewell_on(
        engine: &Path,
        listen: &str,
        data: &Path,
        durability: &str,
        extra: &[String],
    ) -> Result<Server> {
        let began = Instant::now();
        let mut child = Command::new(engine)
            .arg("serve")
            .args(["--listen", listen, "--durability", durability, "--data"])
            .arg(data)
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start `{} serve`", engine.display()))?;
        let stdout = child.stdout.take().context("no stdout from the engine")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            // Keep draining so the engine never blocks on a full pipe.
            for _ in lines {}
        });
        let mut server = Server {
            child: Some(child),
            addr: String::new(),
            started_in: Duration::ZERO,
        };
        let first = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(Some(Ok(line))) => line,
            _ => bail!("the engine did not print `listening on ...` (see its log above)"),
        };
        server.started_in = began.elapsed();
        server.addr = first
            .strip_prefix("listening on ")
            .ok_or_else(|| anyhow!("unexpected first line from the engine: {first}"))?
            .trim()
            .to_owned();
        Ok(server)
    }

    /// Starts `redis-server` persisting to an append-only file in `dir`
    /// with the given `appendfsync` policy (`always` or `everysec`).
    pub fn redis(binary: &Path, dir: &Path, appendfsync: &str) -> Result<Server> {
        let port = free_port()?;
        std::fs::create_dir_all(dir)?;
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            .args(["--appendonly", "yes", "--appendfsync", appendfsync])
            .args(["--save", "", "--daemonize", "no", "--protected-mode", "yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (scripts/install-redis.sh installs it)",
                    binary.display()
                )
            })?;
        Ok(Server {
            child: Some(child),
            addr: format!("127.0.0.1:{port}"),
            started_in: Duration::ZERO,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// SIGTERM, then wait (SIGKILL after 30 s): a clean stop syncs. The
    /// exit status, `None` when the server had been stopped already.
    pub fn stop(&mut self) -> Result<Option<ExitStatus>> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the server did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and wait for the process to be gone: nothing of the engine
    /// runs on, only what it had synced survives.
    pub fn kill(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        child.kill().context("cannot SIGKILL the server")?;
        child.wait().context("cannot wait for the killed server")?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// CPU time (user + system) a process has used, in seconds.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces), 1-based from
    // field 3: utime is field 14, stime field 15.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports these in USER_HZ, 100 on every mainstream platform.
    Some((utime + stime) / 100.0)
}

/// Resident memory of a process, in bytes (`VmRSS`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Open file descriptors of a process (entries of `/proc/PID/fd`).
pub fn open_fds(pid: u32) -> Option<u64> {
    let entries = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(entries.count() as u64)
}

/// Bytes allocated on disk under a directory (what `du` reports).
pub fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_bytes(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// Fetches `http://ADDR/metrics` with a bare HTTP/1.0 request (no client
/// library needed for one GET).
pub fn fetch_metrics(addr: &str, token: Option<&str>) -> Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n{auth}\r\n"
    )?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_cpu_and_memory() {
        assert!(cpu_seconds(None).is_some());
        assert!(rss_bytes(std::process::id()).is_some_and(|b| b > 0));
        // stdin, stdout and stderr at least.
        assert!(open_fds(std::process::id()).is_some_and(|n| n >= 3));
    }

    #[test]
    fn counts_disk_bytes_of_a_directory() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("f"), vec![1u8; 10_000]).expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/g"), vec![1u8; 5_000]).expect("write");
        assert!(disk_bytes(dir.path()) >= 15_000);
    }
}
