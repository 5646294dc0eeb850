//! The engine under soak: one `statewell serve` at a time on the same data
//! directory and port, stopped by SIGTERM or SIGKILL and started again.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::figures::Restart;
use crate::servers::Server;

/// How the engine is stopped before a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// An orderly stop: drain, sync, exit 0.
    Term,
    /// Killed outright: only what was synced survives.
    Kill,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Term => "SIGTERM",
            Signal::Kill => "SIGKILL",
        }
    }
}

/// The soak measures acknowledged writes surviving a kill: only `always`
/// promises that.
const DURABILITY: &str = "always";

pub struct Engine {
    server: Option<Server>,
    binary: PathBuf,
    data: PathBuf,
    addr: String,
}

impl Engine {
    pub fn start(binary: &Path, data: &Path) -> Result<Engine> {
        let addr = format!("127.0.0.1:{}", port_outside_ephemeral_range()?);
        let server = Server::statewell_on(binary, &addr, data, DURABILITY, &[])?;
        Ok(Engine {
            server: Some(server),
            binary: binary.to_owned(),
            data: data.to_owned(),
            addr,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().and_then(Server::pid)
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Stops the engine with `signal`, waits for it to be gone, and starts
    /// it again on the same port and data directory.
    pub async fn restart(&mut self, signal: Signal) -> Result<Restart> {
        let mut old = self.server.take().context("no engine is running")?;
        let (binary, data, addr) = (self.binary.clone(), self.data.clone(), self.addr.clone());
        // Waiting for a process is blocking: off the thread the load runs on.
        let (server, restart) = tokio::task::spawn_blocking(move || -> Result<_> {
            let began = Instant::now();
            let (exit_code, clean) = match signal {
                Signal::Term => match old.stop() {
                    Ok(status) => (status.and_then(|s| s.code()), true),
                    // Killed after 30 s: not clean, but gone.
                    Err(_) => (None, false),
                },
                Signal::Kill => {
                    old.kill()?;
                    (None, true)
                }
            };
            let stopped_in_s = began.elapsed().as_secs_f64();
            let server = Server::statewell_on(&binary, &addr, &data, DURABILITY, &[])
                .with_context(|| format!("cannot restart the engine after {}", signal.name()))?;
            let restart = Restart {
                signal: signal.name(),
                stopped_in_s,
                serving_after_s: began.elapsed().as_secs_f64(),
                exit_code,
                clean,
            };
            Ok((server, restart))
        })
        .await
        .context("the restart panicked")??;
        self.server = Some(server);
        Ok(restart)
    }

    /// SIGTERM, and wait for the exit.
    pub async fn stop(mut self) -> Result<()> {
        let Some(mut server) = self.server.take() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || server.stop())
            .await
            .context("the stop panicked")??;
        Ok(())
    }
}

/// A free loopback port below the kernel's range of ephemeral ports. The
/// load's clients keep connecting while the engine restarts; were the
/// engine's port in that range, one of those attempts could be given the
/// same port as its own source and connect to itself, holding the port
/// the engine is about to listen on again.
fn port_outside_ephemeral_range() -> Result<u16> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .context("cannot read the ephemeral port range")?;
    let low: u16 = range
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .context("unreadable ephemeral port range")?;
    // Start somewhere different each run, so that soaks on one machine
    // do not all try the same ports.
    let span = low.saturating_sub(10_000).max(1);
    let start = 10_000 + (std::process::id() as u16 % span);
    for offset in 0..span {
        let port = 10_000 + (start - 10_000 + offset) % span;
        if port >= low {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free loopback port below the ephemeral range (from {low})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_free_and_below_the_ephemeral_range() {
        let port = port_outside_ephemeral_range().expect("a port");
        let range =
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").expect("the range");
        let low: u16 = range
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a number");
        assert!(port < low);
        TcpListener::bind(("127.0.0.1", port)).expect("still free");
    }
}
