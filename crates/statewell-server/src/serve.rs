//! The router that puts every layer on one port, and serving it until
//! shutdown.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

use crate::app::AppState;
use crate::{auth, console, http, ws};

/// All routes of the engine on one router: the worker WebSocket, every HTTP
/// route from the HTTP route tables, and the console under `/ui/`. Unknown
/// routes and methods answer in the API's error shape; bodies are bounded by
/// `max_frame_bytes`; the token guard wraps everything but the console's
/// files (it exempts the public routes itself).
pub fn router(app: AppState) -> Router {
    let guard = Arc::new(auth::TokenGuard::new(
        app.config.token.as_deref(),
        app.config.token_in_query,
    ));
    let body_limit = app.config.max_frame_bytes;
    Router::new()
        .merge(ws::routes())
        .merge(http::routes())
        .fallback(http::route_not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            guard,
            auth::require_token,
        ))
        // The console's files hold no data: outside the token guard (the
        // console sends the token with every API call it makes).
        .merge(console::routes())
        .layer(axum::middleware::from_fn(console::redirect_browsers))
        .with_state(app)
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish, and returns.
///
/// WebSocket connections are not tracked by axum's graceful shutdown once
/// upgraded, so this also signals [`AppState::shutdown`] and waits (at most
/// `shutdown_drain_timeout`) for every worker connection to finish its
/// in-flight requests and close.
pub async fn serve(
    listener: TcpListener,
    app: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;

    let signal = app.shutdown.clone();
    let graceful = async move {
        shutdown.await;
        signal.begin();
    };
    // Replies are small frames written as they complete: don't let Nagle's
    // algorithm hold them back.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    let served = axum::serve(listener, router(app.clone()))
        .with_graceful_shutdown(graceful)
        .await;
    app.shutdown.begin();
    let drain = app.config.shutdown_drain_timeout;
    if tokio::time::timeout(drain, app.shutdown.connections_closed())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = app.shutdown.active_connections(),
            "worker connections still open after the drain timeout; closing anyway"
        );
    }
    served
}
