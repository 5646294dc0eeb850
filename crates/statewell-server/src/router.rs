//! The router that puts every layer on one port (`listen` serves it).

use std::sync::Arc;

use axum::Router;

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
