//! The accept loop: every TCP connection of the port, HTTP and WebSocket.
//!
//! `axum::serve` has no header read timeout and no connection limit, and its
//! graceful shutdown waits for every connection however long a client takes
//! (one holding a half-sent request kept the engine, and its data
//! directory's lock, alive for minutes). So the engine accepts connections
//! itself and hands each to hyper's HTTP/1 server:
//! - **A limit on open connections** (`max_connections`): a connection takes
//!   a slot before it is accepted, so beyond the limit new connections wait
//!   in the kernel's accept queue until one closes. An upgraded WebSocket
//!   keeps its slot (a [`ConnectionSlot`] in the request's extensions, taken
//!   by the upgrade handler), so workers are within the limit: every open
//!   socket costs a file descriptor and memory alike.
//! - **Read timeouts**: the request head must arrive within
//!   `header_read_timeout` (this also closes an idle keep-alive connection);
//!   the body is timed where it is read (`http::extract`).
//! - **A write timeout** on every socket ([`TimedWrites`]): a peer that reads
//!   nothing for `write_timeout` is cut off.
//! - **A bounded drain**: on shutdown the listener closes, every HTTP
//!   connection finishes its current request and closes, WebSockets drain
//!   (`shutdown.rs`), and [`serve`] returns once all are closed or after
//!   `shutdown_drain_timeout`, whichever comes first.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_service::Service;

use crate::AppState;
use crate::shutdown::ConnectionGuard;
use crate::timed_io::TimedWrites;

/// A connection's hold on the engine: its place within `max_connections`
/// and its part in the shutdown drain (a [`ConnectionGuard`]), released when
/// the last holder drops it — the HTTP connection, and the WebSocket it was
/// upgraded to, if any.
#[derive(Clone)]
pub struct ConnectionSlot {
    _held: Arc<(OwnedSemaphorePermit, ConnectionGuard)>,
}

/// The open connections of the port, within `max_connections`, and their
/// figures for `/metrics`.
#[derive(Debug)]
pub struct Connections {
    slots: Arc<Semaphore>,
    limit: usize,
    /// The most connections open at once since start.
    peak: AtomicUsize,
}

impl Connections {
    pub fn new(limit: usize) -> Self {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        Connections {
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            peak: AtomicUsize::new(0),
        }
    }

    /// Waits for a free place.
    async fn take(&self) -> OwnedSemaphorePermit {
        let permit = Arc::clone(&self.slots).acquire_owned().await;
        let Ok(permit) = permit else {
            // The semaphore is never closed; should it be, wait for shutdown.
            return std::future::pending().await;
        };
        self.peak.fetch_max(self.open(), Ordering::Relaxed);
        permit
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.limit - self.slots.available_permits()
    }

    /// Appends the connection series in Prometheus text format.
    pub fn render_prometheus(&self, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "# HELP statewell_connections_open Open connections, HTTP and WebSocket.\n\
             # TYPE statewell_connections_open gauge\n\
             statewell_connections_open {}\n\
             # HELP statewell_connections_open_max The highest statewell_connections_open since start.\n\
             # TYPE statewell_connections_open_max gauge\n\
             statewell_connections_open_max {}\n\
             # HELP statewell_connections_limit Open connections beyond which new ones wait to be accepted (--max-connections).\n\
             # TYPE statewell_connections_limit gauge\n\
             statewell_connections_limit {}",
            self.open(),
            self.peak.load(Ordering::Relaxed),
            self.limit
        );
    }
}

/// How long to wait before accepting again after an error that is not about
/// one connection (out of file descriptors, say): trying again at once would
/// spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves until `shutdown` resolves, then stops accepting, lets every
/// connection finish (at most `shutdown_drain_timeout`), and returns.
pub async fn serve(
    listener: TcpListener,
    app: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = crate::router(app.clone());
    let connections = Arc::clone(&app.connections);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(app.config.header_read_timeout);
    tokio::pin!(shutdown);
    let mut accept_errors = AcceptErrors::default();
    loop {
        let place = tokio::select! {
            biased;
            () = &mut shutdown => break,
            place = connections.take() => place,
        };
        let tcp = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => {
                    accept_errors.succeeded();
                    tcp
                }
                Err(error) => {
                    accept_errors.failed(error).await;
                    continue;
                }
            },
        };
        let slot = ConnectionSlot {
            _held: Arc::new((place, app.shutdown.track())),
        };
        spawn_connection(tcp, slot, &http, router.clone(), &app);
    }
    // Closing the listener refuses new connections from here on.
    drop(listener);
    app.shutdown.begin();
    // Every connection holds its guard until it closes, WebSockets included.
    let drain = app.config.shutdown_drain_timeout;
    if tokio::time::timeout(drain, app.shutdown.connections_closed())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.open(),
            "connections still open after the drain timeout; closing anyway"
        );
    }
    Ok(())
}

fn spawn_connection(
    tcp: TcpStream,
    slot: ConnectionSlot,
    http: &hyper::server::conn::http1::Builder,
    router: Router,
    app: &AppState,
) {
    // Replies are small frames written as they complete: don't let Nagle's
    // algorithm hold them back.
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
    let io = TokioIo::new(TimedWrites::new(tcp, app.config.write_timeout));
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        // The WebSocket handler takes the slot along when it upgrades.
        request.extensions_mut().insert(slot.clone());
        let mut router = router.clone();
        router.call(request)
    });
    let connection = http.serve_connection(io, service).with_upgrades();
    let shutdown = app.shutdown.clone();
    tokio::spawn(async move {
        tokio::pin!(connection);
        let outcome = tokio::select! {
            outcome = connection.as_mut() => outcome,
            () = shutdown.wait() => {
                // Finish the request in progress, then close; an idle
                // connection closes at once.
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(error) = outcome {
            // Timeouts, resets and malformed requests: the client's doing.
            tracing::debug!(%error, "HTTP connection ended with an error");
        }
    });
}

/// Errors of `accept`. Those of one connection (reset before it was
/// accepted) are skipped; others (no file descriptors left) pause accepting
/// for a moment, logged once per incident.
#[derive(Default)]
struct AcceptErrors {
    failures: u64,
}

impl AcceptErrors {
    async fn failed(&mut self, error: std::io::Error) {
        use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
        if matches!(
            error.kind(),
            ConnectionAborted | ConnectionRefused | ConnectionReset
        ) {
            return;
        }
        if self.failures == 0 {
            tracing::error!(%error, "cannot accept connections; retrying until it works");
        }
        self.failures += 1;
        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
    }

    fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(failures = self.failures, "accepting connections again");
            self.failures = 0;
        }
    }
}
