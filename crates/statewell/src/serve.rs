//! `statewell serve`: opens the store, binds the port, serves the worker
//! WebSocket and HTTP until SIGINT/SIGTERM, then shuts down in order.
//!
//! Shutdown order matters for durability: stop accepting, let in-flight
//! requests finish, sync the store, and drop it (closing its files) before the
//! process exits. A write is acknowledged only after the store says it is
//! durable, so a kill at any point loses nothing acknowledged; the orderly
//! path additionally leaves nothing half-done.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use statewell_core::store::MemoryStore;
use statewell_core::{Limits, State, Store};
use statewell_embedded::{Durability, EmbeddedOptions, EmbeddedStore};
use statewell_server::{AppState, ServerConfig};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// Largest `--max-value-bytes` accepted: beyond this a single value would
/// dominate memory and frame buffers.
const MAX_VALUE_BYTES_CEILING: usize = 64 * 1024 * 1024;

/// Room for the frame envelope around the largest value.
const FRAME_ENVELOPE_BYTES: usize = 1024 * 1024;

/// How long shutdown waits for in-flight work before closing anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (IP:PORT); port 0 picks a free port.
    #[arg(long, env = "STATEWELL_LISTEN", default_value = "127.0.0.1:49134", value_parser = parse_listen)]
    listen: SocketAddr,

    /// Data directory of the embedded store (created when missing).
    #[arg(long, env = "STATEWELL_DATA", default_value = "./.statewell")]
    data: PathBuf,

    /// Where state lives: `embedded` (on disk, the default), `memory`
    /// (lost on exit) or `redis://HOST:PORT`.
    #[arg(long, env = "STATEWELL_STORE", default_value = "embedded", value_parser = parse_store)]
    store: StoreKind,

    /// `always`: a write is acknowledged once synced to disk. `batched`:
    /// syncs every --sync-interval; a crash may lose the last interval.
    #[arg(
        long,
        env = "STATEWELL_DURABILITY",
        value_enum,
        default_value = "always"
    )]
    durability: DurabilityMode,

    /// Sync interval of `--durability batched` (e.g. 100ms, 1s).
    #[arg(long, env = "STATEWELL_SYNC_INTERVAL", default_value = "100ms", value_parser = parse_interval)]
    sync_interval: Duration,

    /// Require `Authorization: Bearer TOKEN` on every request and WebSocket.
    #[arg(long, env = "STATEWELL_TOKEN", hide_env_values = true, value_parser = parse_token)]
    token: Option<String>,

    /// Log filter (e.g. `info`, `debug`, `statewell_server=debug`); defaults
    /// to RUST_LOG, else `info`.
    #[arg(long, env = "STATEWELL_LOG")]
    log: Option<String>,

    /// Largest value accepted, as compact JSON, in bytes.
    #[arg(long, env = "STATEWELL_MAX_VALUE_BYTES", default_value_t = Limits::default().max_value_bytes, value_parser = parse_max_value_bytes)]
    max_value_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum StoreKind {
    Embedded,
    Memory,
    Redis(String),
}

impl std::fmt::Display for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreKind::Embedded => f.write_str("embedded"),
            StoreKind::Memory => f.write_str("memory"),
            StoreKind::Redis(url) => f.write_str(url),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DurabilityMode {
    Always,
    Batched,
}

fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("expected IP:PORT (e.g. 127.0.0.1:49134, or port 0 for a free port), got {text:?}")
    })
}

fn parse_store(text: &str) -> Result<StoreKind, String> {
    match text {
        "embedded" => Ok(StoreKind::Embedded),
        "memory" => Ok(StoreKind::Memory),
        url if url.starts_with("redis://") || url.starts_with("rediss://") => {
            Ok(StoreKind::Redis(url.to_owned()))
        }
        other => Err(format!(
            "expected embedded, memory or redis://HOST:PORT, got {other:?}"
        )),
    }
}

/// Accepts a whole number followed by `ms` or `s`.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let bad = || format!("expected a duration such as 100ms or 1s, got {text:?}");
    let (digits, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map(|at| text.split_at(at))
        .ok_or_else(bad)?;
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let interval = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        _ => return Err(bad()),
    };
    if interval < Duration::from_millis(1) || interval > Duration::from_secs(60) {
        return Err(format!("must be between 1ms and 60s, got {text:?}"));
    }
    Ok(interval)
}

/// A token travels in an HTTP header, so it must be visible ASCII.
fn parse_token(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("must not be empty (omit --token to disable auth)".into());
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be visible ASCII characters without spaces".into());
    }
    Ok(text.to_owned())
}

fn parse_max_value_bytes(text: &str) -> Result<usize, String> {
    let n: usize = text
        .parse()
        .map_err(|_| format!("expected a number of bytes, got {text:?}"))?;
    if n == 0 || n > MAX_VALUE_BYTES_CEILING {
        return Err(format!(
            "must be between 1 and {MAX_VALUE_BYTES_CEILING}, got {n}"
        ));
    }
    Ok(n)
}

pub fn run(args: ServeArgs) -> ExitCode {
    if let Err(e) = init_logging(args.log.as_deref()) {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("statewell")
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(serve(args));
    // Tasks still running (connections past the drain timeout) are dropped
    // here; none of them holds an acknowledged but unsynced write. Dropping
    // them releases their handles on the store, so it can close below.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match outcome.and_then(close) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Closes the embedded store: its commit loop commits what is queued, syncs,
/// and releases the data directory's lock before the process exits.
fn close(store: Option<Arc<EmbeddedStore>>) -> anyhow::Result<()> {
    if let Some(store) = store {
        match Arc::try_unwrap(store) {
            Ok(store) => store.close().context("closing the store failed")?,
            // Everything acknowledged was synced already; the OS releases
            // the lock at exit.
            Err(_) => {
                tracing::warn!("the store is still referenced at exit; not closed explicitly")
            }
        }
    }
    tracing::info!("stopped");
    Ok(())
}

fn init_logging(flag: Option<&str>) -> anyhow::Result<()> {
    let filter = match flag {
        Some(directives) => EnvFilter::try_new(directives)
            .with_context(|| format!("invalid --log {directives:?}"))?,
        None => match std::env::var("RUST_LOG") {
            Ok(directives) if !directives.is_empty() => EnvFilter::try_new(&directives)
                .with_context(|| format!("invalid RUST_LOG {directives:?}"))?,
            _ => EnvFilter::new("info"),
        },
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}

/// Runs the engine until a signal; returns the embedded store (if that is the
/// one in use) for the caller to close once every task is gone.
async fn serve(args: ServeArgs) -> anyhow::Result<Option<Arc<EmbeddedStore>>> {
    let limits = Limits {
        max_value_bytes: args.max_value_bytes,
        ..Limits::default()
    };
    let (store, embedded) = open_store(&args, limits).await?;
    let state = State::new(store, limits);
    let config = ServerConfig {
        token: args.token.clone(),
        max_frame_bytes: ServerConfig::default()
            .max_frame_bytes
            .max(args.max_value_bytes + FRAME_ENVELOPE_BYTES),
        ..ServerConfig::default()
    };
    let app = AppState::new(state.clone(), config);

    let signals = Signals::install()?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    announce(addr)?;
    if !addr.ip().is_loopback() && args.token.is_none() {
        tracing::warn!(%addr, "listening beyond loopback without --token: anyone who reaches this port can read and write all state");
    }
    tracing::info!(
        %addr,
        store = %args.store,
        durability = ?args.durability,
        auth = args.token.is_some(),
        "engine started"
    );

    statewell_server::serve(listener, app, shutdown_signal(signals))
        .await
        .context("the server failed")?;

    tracing::info!("stopped accepting; syncing the store");
    tokio::time::timeout(DRAIN_TIMEOUT, state.sync())
        .await
        .context("the final sync timed out")?
        .context("the final sync failed")?;
    // Dropping the last handle closes the store (and its files) before exit.
    drop(state);
    Ok(embedded)
}

/// The first stdout line, which scripts and tests wait for.
fn announce(addr: SocketAddr) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {addr}")
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")
}

/// Opens the store `--store` names. The embedded one is also returned by its
/// own type, so that shutdown can close it and report a failed last sync.
async fn open_store(
    args: &ServeArgs,
    limits: Limits,
) -> anyhow::Result<(Arc<dyn Store>, Option<Arc<EmbeddedStore>>)> {
    match &args.store {
        StoreKind::Memory => Ok((Arc::new(MemoryStore::new(limits)), None)),
        StoreKind::Redis(url) => bail!("the redis store ({url}) is not supported yet"),
        StoreKind::Embedded => {
            let durability = match args.durability {
                DurabilityMode::Always => Durability::Always,
                DurabilityMode::Batched => Durability::Batched {
                    interval: args.sync_interval,
                },
            };
            // The embedded crate asks for `..Default::default()` so fields it
            // adds later keep this compiling.
            #[allow(clippy::needless_update)]
            let options = EmbeddedOptions {
                durability,
                limits,
                ..EmbeddedOptions::default()
            };
            let dir = args.data.clone();
            // Opening reads and may repair the file: keep it off the reactor.
            let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(&dir, options))
                .await
                .context("opening the store panicked")??;
            tracing::info!(data = %args.data.display(), "opened the embedded store");
            let store = Arc::new(store);
            Ok((store.clone(), Some(store)))
        }
    }
}

/// SIGINT and SIGTERM handlers. Installed before the address is announced:
/// a signal sent right after the `listening on` line must already mean
/// "shut down in order", not the default "die now".
#[cfg(unix)]
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> anyhow::Result<Signals> {
        Ok(Signals)
    }

    async fn next(&mut self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    }
}

/// Resolves on the first SIGINT or SIGTERM. A second signal during the
/// orderly shutdown exits at once (acknowledged writes are already durable).
async fn shutdown_signal(mut signals: Signals) {
    let name = signals.next().await;
    tracing::info!(signal = name, "shutting down");
    tokio::spawn(async move {
        let name = signals.next().await;
        tracing::warn!(signal = name, "second signal: exiting now");
        std::process::exit(1);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_take_ms_or_s_within_bounds() {
        assert_eq!(parse_interval("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        for bad in ["", "ms", "100", "1.5s", "0ms", "61s", "10m"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stores_are_named_or_redis_urls() {
        assert_eq!(parse_store("memory"), Ok(StoreKind::Memory));
        assert_eq!(
            parse_store("redis://127.0.0.1:6379"),
            Ok(StoreKind::Redis("redis://127.0.0.1:6379".into()))
        );
        assert!(parse_store("rocksdb").is_err());
    }

    #[test]
    fn tokens_must_fit_a_header() {
        assert!(parse_token("s3cret-Token_1").is_ok());
        for bad in ["", "with space", "tab\t", "é"] {
            assert!(parse_token(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn max_value_bytes_is_bounded() {
        assert_eq!(parse_max_value_bytes("1024"), Ok(1024));
        for bad in ["0", "-1", "x", "999999999999"] {
            assert!(parse_max_value_bytes(bad).is_err(), "{bad}");
        }
    }
}
