//! The shared application state and the router that puts the layers on one port.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use statewell_core::State;
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// Settings of the protocol layer (the store's own settings live with the store).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// When set, every HTTP request and WebSocket upgrade must carry
    /// `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Largest WebSocket frame or HTTP body accepted, in bytes.
    pub max_frame_bytes: usize,
    /// How long a forwarded function invocation may take before the caller
    /// gets an error.
    pub invocation_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            token: None,
            // A value may be 1 MiB of JSON; leave room for the envelope.
            max_frame_bytes: 2 * 1024 * 1024,
            invocation_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub state: State,
    pub config: Arc<ServerConfig>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(state: State, config: ServerConfig) -> Self {
        AppState {
            state,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
        }
    }
}

/// All routes of the engine on one router.
pub fn router(app: AppState) -> Router {
    Router::new()
        .merge(crate::ws::routes())
        .nest("/v1", crate::http::routes())
        .merge(crate::metrics::routes())
        .with_state(app)
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish, and returns.
pub async fn serve(
    listener: TcpListener,
    app: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await
}
