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
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use statewell_core::store::MemoryStore;
use statewell_core::{Limits, State, Store};
use statewell_embedded::{Durability, EmbeddedOptions, EmbeddedStore};
use statewell_server::{About, AppState, ServerConfig};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::duration::parse_duration;
use crate::signals::Signals;

/// Largest `--max-value-bytes` accepted: beyond this a single value would
/// dominate memory and frame buffers.
const MAX_VALUE_BYTES_CEILING: usize = 64 * 1024 * 1024;

/// Room for the frame envelope around the largest value.
const FRAME_ENVELOPE_BYTES: usize = 1024 * 1024;

/// How long shutdown waits for in-flight work before closing anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on: IP:PORT or HOST:PORT (`localhost:49134`);
    /// port 0 picks a free port.
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

    /// Also accept the token as `?access_token=TOKEN` in the URL of a
    /// WebSocket upgrade (`/`, `/otel`), for clients that cannot send a
    /// header, such as the iii engine's state `bridge`. Off by default:
    /// URLs end up in logs (docs/WITH-III.md).
    #[arg(
        long,
        env = "STATEWELL_TOKEN_IN_QUERY",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    token_in_query: bool,

    /// Log filter (e.g. `info`, `debug`, `statewell_server=debug`); defaults
    /// to RUST_LOG, else `info`.
    #[arg(long, env = "STATEWELL_LOG")]
    log: Option<String>,

    /// How log lines are written to stderr: `text` for people, `json` (one
    /// JSON object per line) for log collectors.
    #[arg(long, env = "STATEWELL_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,

    /// Threads serving sockets and requests (1 to 1024). Default: one less
    /// than the available cores (at least 1), leaving a core to the
    /// embedded store's commit and sync threads.
    #[arg(long, env = "STATEWELL_WORKER_THREADS", value_parser = parse_worker_threads)]
    worker_threads: Option<usize>,

    /// Write-ahead log size (bytes) at which the embedded store checkpoints
    /// its data file and starts the log over (64 KiB to 1 GiB). Smaller:
    /// shorter checkpoint pauses and replays, more page writes.
    #[arg(long, env = "STATEWELL_CHECKPOINT_BYTES", default_value_t = statewell_embedded::DEFAULT_CHECKPOINT_BYTES, value_parser = parse_checkpoint_bytes)]
    checkpoint_bytes: u64,

    /// Open a data directory whose write-ahead log is damaged (a synced
    /// record is missing or unreadable while later ones are there), which
    /// is otherwise refused: the records from the damage on are dropped, a
    /// copy of the log is kept (`wal.log.damaged`) and what was dropped is
    /// logged at ERROR. A recovery step, deliberately without an
    /// environment variable, so that it is never left on by accident.
    #[arg(long)]
    accept_log_damage: bool,

    /// Largest value accepted, as compact JSON, in bytes.
    #[arg(long, env = "STATEWELL_MAX_VALUE_BYTES", default_value_t = Limits::default().max_value_bytes, value_parser = parse_max_value_bytes)]
    max_value_bytes: usize,

    /// How long an idempotency key is remembered: a repeat within it gets
    /// the first result (1s to 30 days, e.g. 24h). At most 100,000 keys
    /// are kept, the oldest forgotten first.
    #[arg(long, env = "STATEWELL_IDEMPOTENCY_RETENTION", default_value = "24h", value_parser = parse_retention)]
    idempotency_retention: Duration,

    #[command(flatten)]
    engine: EngineArgs,

    #[command(flatten)]
    connections: ConnectionArgs,
}

/// Limits on connections and on what clients may hold (`ServerConfig`).
/// The defaults here must match `ServerConfig::default()` (a unit test checks).
#[derive(clap::Args, Debug)]
struct ConnectionArgs {
    /// Open connections, HTTP and WebSocket together (1 to 1000000); beyond
    /// this, new connections wait to be accepted until one closes. Keep it
    /// below the open-files limit (`ulimit -n`).
    #[arg(long, env = "STATEWELL_MAX_CONNECTIONS", default_value = "1000", value_parser = parse_max_connections)]
    max_connections: usize,

    /// How long a client may take to send an HTTP request's head; also how
    /// long an idle keep-alive connection stays open (10ms to 3600s).
    #[arg(long, env = "STATEWELL_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_client_timeout)]
    header_read_timeout: Duration,

    /// How long a client may take to send an HTTP request's whole body
    /// (10ms to 3600s); a late one gets 408 `request_timeout`.
    #[arg(long, env = "STATEWELL_BODY_READ_TIMEOUT", default_value = "30s", value_parser = parse_client_timeout)]
    body_read_timeout: Duration,

    /// How long a write to a client may stay blocked because it reads
    /// nothing before its connection is closed (10ms to 3600s).
    #[arg(long, env = "STATEWELL_WRITE_TIMEOUT", default_value = "30s", value_parser = parse_client_timeout)]
    write_timeout: Duration,

    /// Bytes of WebSocket frames built and not yet written, across all
    /// connections, at which the engine stops reading requests until
    /// clients have read their replies (1 MiB to 64 GiB).
    #[arg(long, env = "STATEWELL_MAX_REPLY_BYTES_IN_FLIGHT", default_value = "268435456", value_parser = parse_reply_bytes)]
    max_reply_bytes_in_flight: usize,

    /// On SIGTERM/SIGINT, how long connections may take to finish what they
    /// are doing before the engine stops anyway (0s to 3600s).
    #[arg(long, env = "STATEWELL_DRAIN_TIMEOUT", default_value = "10s", value_parser = parse_drain_timeout)]
    drain_timeout: Duration,
}

/// Settings of functions and triggers between workers (`ServerConfig`).
/// The defaults here must match `ServerConfig::default()` (a unit test checks).
#[derive(clap::Args, Debug)]
struct EngineArgs {
    /// How long a call to a worker's function (and one trigger attempt) may
    /// take before it fails with `invocation_timeout` (10ms to 3600s).
    #[arg(long, env = "STATEWELL_INVOCATION_TIMEOUT", default_value = "30s", value_parser = parse_invocation_timeout)]
    invocation_timeout: Duration,

    /// How often a failing or timed-out trigger handler is retried (0 to 100).
    #[arg(long, env = "STATEWELL_TRIGGER_RETRIES", default_value = "3", value_parser = parse_trigger_retries)]
    trigger_retries: u32,

    /// Delay before the first retry of a trigger handler, doubling each time
    /// (1ms to 10s).
    #[arg(long, env = "STATEWELL_TRIGGER_RETRY_BACKOFF", default_value = "100ms", value_parser = parse_retry_backoff)]
    trigger_retry_backoff: Duration,

    /// How long a disconnected worker's triggers keep collecting events,
    /// waiting for it to reconnect (0s to 3600s).
    #[arg(long, env = "STATEWELL_RECONNECT_GRACE", default_value = "10s", value_parser = parse_reconnect_grace)]
    reconnect_grace: Duration,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// An IP address as is, or a host name resolved now (so a name that does not
/// resolve fails before anything starts). Of a name's addresses the first
/// IPv4 one is taken: `localhost` then means 127.0.0.1, which clients that
/// resolve `localhost` reach too.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let usage = || {
        format!(
            "expected IP:PORT or HOST:PORT (e.g. 127.0.0.1:49134, localhost:49134, or port 0 for a free port), got {text:?}"
        )
    };
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let (host, port) = text.rsplit_once(':').ok_or_else(usage)?;
    let port: u16 = port.parse().map_err(|_| usage())?;
    if host.is_empty() {
        return Err(usage());
    }
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map_err(|e| format!("cannot resolve {host:?}: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|addr| addr.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("{host:?} resolves to no address"))
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

/// Below a second a retry could not make use of it; past 30 days the
/// table would hold keys nobody retries.
fn parse_retention(text: &str) -> Result<Duration, String> {
    parse_duration(
        text,
        Duration::from_secs(1),
        Duration::from_secs(30 * 24 * 3600),
    )
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    parse_duration(text, Duration::from_millis(1), Duration::from_secs(60))
}

/// Below 10ms every call over a real socket would time out; above an hour a
/// stuck worker would hold callers (and its trigger's queue) for too long.
fn parse_invocation_timeout(text: &str) -> Result<Duration, String> {
    parse_duration(text, Duration::from_millis(10), Duration::from_secs(3600))
}

/// The engine caps the doubling backoff at 10s, so a larger start is moot.
fn parse_retry_backoff(text: &str) -> Result<Duration, String> {
    parse_duration(text, Duration::from_millis(1), Duration::from_secs(10))
}

/// `0s` drops a disconnected worker's triggers at once.
fn parse_reconnect_grace(text: &str) -> Result<Duration, String> {
    parse_duration(text, Duration::ZERO, Duration::from_secs(3600))
}

/// Below 10ms a client on a real network could not send a request in time.
fn parse_client_timeout(text: &str) -> Result<Duration, String> {
    parse_duration(text, Duration::from_millis(10), Duration::from_secs(3600))
}

/// `0s` stops at once, cutting off whatever is in flight.
fn parse_drain_timeout(text: &str) -> Result<Duration, String> {
    parse_duration(text, Duration::ZERO, Duration::from_secs(3600))
}

/// A whole number of `what` within `range`.
fn parse_number<T>(text: &str, range: RangeInclusive<T>, what: &str) -> Result<T, String>
where
    T: FromStr + PartialOrd + std::fmt::Display,
{
    let n: T = text
        .parse()
        .map_err(|_| format!("expected a number of {what}, got {text:?}"))?;
    if !range.contains(&n) {
        return Err(format!(
            "must be between {} and {}, got {n}",
            range.start(),
            range.end()
        ));
    }
    Ok(n)
}

fn parse_max_connections(text: &str) -> Result<usize, String> {
    parse_number(text, 1..=1_000_000, "connections")
}

/// Below 1 MiB one large value's reply would stop every connection; the
/// ceiling only guards against typos.
fn parse_reply_bytes(text: &str) -> Result<usize, String> {
    let n: u64 = parse_number(text, (1 << 20)..=(64 << 30), "bytes")?;
    usize::try_from(n).map_err(|_| format!("{n} bytes do not fit this machine's memory"))
}

/// Retries of one event delay every later event of its trigger: keep it small.
const MAX_TRIGGER_RETRIES: u32 = 100;

fn parse_worker_threads(text: &str) -> Result<usize, String> {
    parse_number(text, 1..=1024, "threads")
}

/// One reactor thread per core but one: measured on 2 cores, 1 reactor
/// thread served 20% more gets in shape (a) (345k -> 415k/s, 3.5 -> 2.4 us
/// of CPU each) and as many durable sets as 2, because the commit and sync
/// threads no longer fight the reactors for the cores (run 4 in
/// docs/performance-history.md; two worker threads were checked again before
/// runs 8 and 14).
fn default_worker_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(1)
        .max(1)
}

fn parse_trigger_retries(text: &str) -> Result<u32, String> {
    let n: u32 = text
        .parse()
        .map_err(|_| format!("expected a whole number of retries, got {text:?}"))?;
    if n > MAX_TRIGGER_RETRIES {
        return Err(format!(
            "must be between 0 and {MAX_TRIGGER_RETRIES}, got {n}"
        ));
    }
    Ok(n)
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

/// Below 64 KiB the store would checkpoint every few batches; above 1 GiB
/// a crash would leave minutes of log to replay.
fn parse_checkpoint_bytes(text: &str) -> Result<u64, String> {
    parse_number(text, (64 << 10)..=(1 << 30), "bytes")
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
    if let Err(e) = init_logging(args.log.as_deref(), args.log_format) {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    let format = args.log_format;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.worker_threads.unwrap_or_else(default_worker_threads))
        .enable_all()
        .thread_name("statewell")
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return fatal(
                format,
                anyhow::Error::from(e).context("cannot start the runtime"),
            );
        }
    };
    let outcome = runtime.block_on(serve(args));
    // Tasks still running (connections past the drain timeout) are dropped
    // here; none of them holds an acknowledged but unsynced write. Dropping
    // them releases their handles on the store, so it can close below.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match outcome.and_then(close) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fatal(format, e),
    }
}

/// The error that stops the engine: one `error: ...` line for people, or
/// with `--log-format json` an ERROR log line, so that every line a
/// collector reads is JSON.
fn fatal(format: LogFormat, error: anyhow::Error) -> ExitCode {
    match format {
        LogFormat::Text => eprintln!("error: {error:#}"),
        LogFormat::Json => tracing::error!(error = format!("{error:#}"), "the engine stopped"),
    }
    ExitCode::FAILURE
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

fn init_logging(flag: Option<&str>, format: LogFormat) -> anyhow::Result<()> {
    let filter = match flag {
        Some(directives) => EnvFilter::try_new(directives)
            .with_context(|| format!("invalid --log {directives:?}"))?,
        None => match std::env::var("RUST_LOG") {
            Ok(directives) if !directives.is_empty() => EnvFilter::try_new(&directives)
                .with_context(|| format!("invalid RUST_LOG {directives:?}"))?,
            _ => EnvFilter::new("info"),
        },
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        // One object per line: `{"timestamp","level","fields":{"message",...},"target"}`.
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    }
    .map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}

/// Runs the engine until a signal; returns the embedded store (if that is the
/// one in use) for the caller to close once every task is gone.
async fn serve(args: ServeArgs) -> anyhow::Result<Option<Arc<EmbeddedStore>>> {
    // Not clap's `requires`: that would also refuse STATEWELL_TOKEN_IN_QUERY=false.
    if args.token_in_query && args.token.is_none() {
        bail!(
            "--token-in-query (STATEWELL_TOKEN_IN_QUERY) needs --token (STATEWELL_TOKEN): \
             without a token there is nothing to accept in the URL"
        );
    }
    let limits = Limits {
        max_value_bytes: args.max_value_bytes,
        idempotency_retention: args.idempotency_retention,
        ..Limits::default()
    };
    let (store, embedded) = open_store(&args, limits).await?;
    let state = State::new(store, limits);
    let config = ServerConfig {
        token: args.token.clone(),
        token_in_query: args.token_in_query,
        max_frame_bytes: ServerConfig::default()
            .max_frame_bytes
            .max(args.max_value_bytes + FRAME_ENVELOPE_BYTES),
        invocation_timeout: args.engine.invocation_timeout,
        trigger_max_retries: args.engine.trigger_retries,
        trigger_retry_backoff: args.engine.trigger_retry_backoff,
        reconnect_grace: args.engine.reconnect_grace,
        shutdown_drain_timeout: args.connections.drain_timeout,
        max_connections: args.connections.max_connections,
        header_read_timeout: args.connections.header_read_timeout,
        body_read_timeout: args.connections.body_read_timeout,
        write_timeout: args.connections.write_timeout,
        max_reply_bytes_in_flight: args.connections.max_reply_bytes_in_flight,
        about: about(&args),
        ..ServerConfig::default()
    };
    let app = AppState::new(state.clone(), config);

    // Before the address is announced: a signal sent right after the
    // `listening on` line must already mean "shut down in order".
    let signals = Signals::install().context("cannot handle SIGINT/SIGTERM")?;
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
    // Every setting as the engine took it (the worker threads as the
    // runtime counts them), so that a log shows what a run was serving with.
    tracing::info!(
        %addr,
        store = %args.store,
        data = %args.data.display(),
        durability = ?args.durability,
        sync_interval = ?args.sync_interval,
        checkpoint_bytes = args.checkpoint_bytes,
        accept_log_damage = args.accept_log_damage,
        max_value_bytes = args.max_value_bytes,
        worker_threads = tokio::runtime::Handle::current().metrics().num_workers(),
        auth = args.token.is_some(),
        token_in_query = args.token_in_query,
        invocation_timeout = ?args.engine.invocation_timeout,
        trigger_retries = args.engine.trigger_retries,
        trigger_retry_backoff = ?args.engine.trigger_retry_backoff,
        reconnect_grace = ?args.engine.reconnect_grace,
        max_connections = args.connections.max_connections,
        header_read_timeout = ?args.connections.header_read_timeout,
        body_read_timeout = ?args.connections.body_read_timeout,
        write_timeout = ?args.connections.write_timeout,
        max_reply_bytes_in_flight = args.connections.max_reply_bytes_in_flight,
        drain_timeout = ?args.connections.drain_timeout,
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

/// How the store was opened, as `engine::info` reports it.
fn about(args: &ServeArgs) -> About {
    match args.store {
        StoreKind::Embedded => About {
            store: Some(args.store.to_string()),
            // Absolute, so the answer means the same wherever it is read;
            // the store has created the directory by now.
            data_dir: Some(
                std::fs::canonicalize(&args.data)
                    .unwrap_or_else(|_| args.data.clone())
                    .display()
                    .to_string(),
            ),
            durability: Some(match args.durability {
                DurabilityMode::Always => "always".to_owned(),
                DurabilityMode::Batched => format!(
                    "batched (synced every {})",
                    humantime::format_duration(args.sync_interval)
                ),
            }),
        },
        StoreKind::Memory => About {
            store: Some("memory".to_owned()),
            data_dir: None,
            durability: Some("none (lost on exit)".to_owned()),
        },
        // A URL may carry a password: only the kind is told.
        StoreKind::Redis(_) => About {
            store: Some("redis".to_owned()),
            ..About::default()
        },
    }
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
                checkpoint_bytes: args.checkpoint_bytes,
                accept_log_damage: args.accept_log_damage,
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
    fn intervals_are_durations_within_bounds() {
        assert_eq!(parse_interval("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_interval("1m"), Ok(Duration::from_secs(60)));
        for bad in ["", "ms", "100", "0ms", "61s", "10m", "-1s", "soon"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_idempotency_retention_takes_hours_and_is_bounded() {
        assert_eq!(parse_retention("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_retention("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_retention("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_retention("7d"), Ok(Duration::from_secs(7 * 86_400)));
        for bad in ["0s", "999ms", "721h", "31d", "h", ""] {
            assert!(parse_retention(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn engine_settings_are_bounded() {
        assert_eq!(parse_invocation_timeout("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(
            parse_invocation_timeout("10ms"),
            Ok(Duration::from_millis(10))
        );
        assert_eq!(parse_invocation_timeout("5m"), Ok(Duration::from_secs(300)));
        for bad in ["0s", "9ms", "3601s", "2h", "-1s", ""] {
            assert!(parse_invocation_timeout(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_reconnect_grace("0s"), Ok(Duration::ZERO));
        assert!(parse_reconnect_grace("3601s").is_err());
        assert_eq!(parse_retry_backoff("1ms"), Ok(Duration::from_millis(1)));
        assert!(parse_retry_backoff("0ms").is_err());
        assert!(parse_retry_backoff("11s").is_err());
        assert_eq!(parse_trigger_retries("0"), Ok(0));
        assert_eq!(parse_trigger_retries("100"), Ok(100));
        for bad in ["101", "-1", "x", "1.5", ""] {
            assert!(parse_trigger_retries(bad).is_err(), "{bad}");
        }
        let message = parse_invocation_timeout("0s").err().unwrap_or_default();
        assert!(message.contains("between 10ms and 1h"), "{message}");
    }

    /// The flags' defaults are written as text for `--help`; they must be
    /// the engine's own defaults.
    #[test]
    fn flag_defaults_are_the_server_defaults() {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            engine: EngineArgs,
            #[command(flatten)]
            connections: ConnectionArgs,
        }
        let parsed = Wrapper::try_parse_from(["serve"]).map_err(|e| e.to_string());
        let Wrapper {
            engine,
            connections,
        } = match parsed {
            Ok(wrapper) => wrapper,
            Err(e) => panic!("defaults do not parse: {e}"),
        };
        let defaults = ServerConfig::default();
        assert_eq!(engine.invocation_timeout, defaults.invocation_timeout);
        assert_eq!(engine.trigger_retries, defaults.trigger_max_retries);
        assert_eq!(engine.trigger_retry_backoff, defaults.trigger_retry_backoff);
        assert_eq!(engine.reconnect_grace, defaults.reconnect_grace);
        assert_eq!(connections.max_connections, defaults.max_connections);
        assert_eq!(
            connections.header_read_timeout,
            defaults.header_read_timeout
        );
        assert_eq!(connections.body_read_timeout, defaults.body_read_timeout);
        assert_eq!(connections.write_timeout, defaults.write_timeout);
        assert_eq!(
            connections.max_reply_bytes_in_flight,
            defaults.max_reply_bytes_in_flight
        );
        assert_eq!(connections.drain_timeout, defaults.shutdown_drain_timeout);
    }

    #[test]
    fn connection_limits_are_bounded() {
        assert_eq!(parse_max_connections("1"), Ok(1));
        for bad in ["0", "-1", "x", "1000001", ""] {
            assert!(parse_max_connections(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_reply_bytes("1048576"), Ok(1 << 20));
        for bad in ["1048575", "0", "x", "68719476737"] {
            assert!(parse_reply_bytes(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_client_timeout("10ms"), Ok(Duration::from_millis(10)));
        for bad in ["9ms", "0s", "3601s"] {
            assert!(parse_client_timeout(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_drain_timeout("0s"), Ok(Duration::ZERO));
        assert!(parse_drain_timeout("3601s").is_err());
    }

    #[test]
    fn listen_takes_an_ip_or_a_host_name() {
        assert_eq!(
            parse_listen("127.0.0.1:0"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 0)))
        );
        assert_eq!(
            parse_listen("[::1]:80"),
            Ok(SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 80)))
        );
        let localhost = parse_listen("localhost:49134").map(|a| (a.ip().is_loopback(), a.port()));
        assert_eq!(localhost, Ok((true, 49134)));
        for bad in [
            "",
            "localhost",
            ":80",
            "localhost:x",
            "localhost:65536",
            "1.2.3.4",
        ] {
            assert!(parse_listen(bad).is_err(), "{bad}");
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
    fn worker_threads_is_bounded() {
        assert_eq!(parse_worker_threads("3"), Ok(3));
        for bad in ["", "x", "0", "-1", "1025"] {
            assert!(parse_worker_threads(bad).is_err(), "{bad}");
        }
        assert!(default_worker_threads() >= 1);
    }

    #[test]
    fn checkpoint_bytes_is_bounded() {
        assert_eq!(parse_checkpoint_bytes("1048576"), Ok(1 << 20));
        for bad in ["", "x", "-1", "0", "65535", "1073741825"] {
            assert!(parse_checkpoint_bytes(bad).is_err(), "{bad}");
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
