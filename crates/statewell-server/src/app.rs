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

/// All routes of the engine on one router: the worker WebSocket, then every
/// HTTP route from the HTTP route table. Unknown routes and methods answer in
/// the API's error shape; bodies are bounded by `max_frame_bytes`; the token
/// guard wraps everything (it exempts the public routes itself).
pub fn router(app: AppState) -> Router {
    let guard = Arc::new(crate::auth::TokenGuard::new(app.config.token.as_deref()));
    let body_limit = app.config.max_frame_bytes;
    Router::new()
        .merge(crate::ws::routes())
        .merge(crate::http::routes())
        .fallback(crate::http::route_not_found)
        .method_not_allowed_fallback(crate::http::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            guard,
            crate::auth::require_token,
        ))
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
