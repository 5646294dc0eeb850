//! The protocol layer's settings.

use std::time::Duration;

use crate::info::About;

/// Settings of the protocol layer (the store's own settings live with the store).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// When set, every HTTP request and WebSocket upgrade must carry
    /// `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// With `token`: a WebSocket upgrade (`/`, `/otel`) may instead carry
    /// the token as `?access_token=<token>`, for clients that cannot send a
    /// header (the iii engine's state `bridge`). URLs end up in logs.
    pub token_in_query: bool,
    /// Largest WebSocket frame or HTTP body accepted, in bytes.
    pub max_frame_bytes: usize,
    /// How long a forwarded function invocation may take before the caller
    /// gets an error.
    pub invocation_timeout: Duration,
    /// Requests one WebSocket connection may have in flight; beyond this the
    /// engine stops reading that socket until replies have been written.
    pub max_in_flight_per_connection: usize,
    /// Frames waiting to be written to one WebSocket; a worker that lets it
    /// overflow (it stopped reading) is disconnected.
    pub outgoing_queue_per_connection: usize,
    /// How often a failing or timed-out trigger handler is retried.
    pub trigger_max_retries: u32,
    /// Delay before the first retry of a trigger handler; doubles each time.
    pub trigger_retry_backoff: Duration,
    /// How long a disconnected worker's triggers keep collecting events,
    /// waiting for it to reconnect and register them again.
    pub reconnect_grace: Duration,
    /// On shutdown, how long connections (HTTP and WebSocket) may take to
    /// finish in-flight work before the engine stops anyway.
    pub shutdown_drain_timeout: Duration,
    /// Open connections, HTTP and WebSocket together; beyond this, new
    /// connections wait to be accepted until one closes.
    pub max_connections: usize,
    /// How long a client may take to send a request's head (also how long
    /// an idle keep-alive connection stays open).
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's whole body.
    pub body_read_timeout: Duration,
    /// How long a write to a client may stay blocked (it reads nothing)
    /// before its connection is closed.
    pub write_timeout: Duration,
    /// Bytes of frames built for WebSocket peers and not yet written, across
    /// all connections, at which the engine stops reading requests.
    pub max_reply_bytes_in_flight: usize,
    /// How the store was opened, for `engine::info` (see `info.rs`).
    pub about: About,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            token: None,
            token_in_query: false,
            // A value may be 1 MiB of JSON; leave room for the envelope.
            max_frame_bytes: 2 * 1024 * 1024,
            invocation_timeout: Duration::from_secs(30),
            max_in_flight_per_connection: 256,
            outgoing_queue_per_connection: 1024,
            trigger_max_retries: 3,
            trigger_retry_backoff: Duration::from_millis(100),
            reconnect_grace: Duration::from_secs(10),
            shutdown_drain_timeout: Duration::from_secs(10),
            // Below the common default of 1024 open files per process.
            max_connections: 1000,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_reply_bytes_in_flight: 256 * 1024 * 1024,
            about: About::default(),
        }
    }
}
