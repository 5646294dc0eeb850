//! HTTP JSON under `/v1/` (and the change feed as server-sent events),
//! plus `/healthz` and `/metrics`.
//!
//! Every route is declared once, in [`routes::ROUTES`] or in the table of
//! the module that serves it (see [`routes::all`]); the router and the
//! OpenAPI document are both built from those tables. Errors always have the
//! shape `{"error":{"code","message"}}` (see [`error::ApiError`]).

mod conditions;
pub(crate) mod error;
mod extract;
mod openapi;
mod route;
mod routes;
mod state_routes;
mod system_routes;
mod txn_routes;
mod watch_routes;
mod workers_routes;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;

pub(crate) use error::ApiError;
pub(crate) use routes::is_public;

use crate::app::AppState;

/// Every HTTP route (`/v1/...`, `/healthz`, `/metrics`), with full paths.
pub fn routes() -> Router<AppState> {
    routes::router()
}

/// Answer for a path no route matches, in the API's error shape. A path
/// that only misses because a group or key is empty is a bad argument.
pub async fn route_not_found(req: Request) -> ApiError {
    if let Some(param) = routes::empty_param(req.method().as_str(), req.uri().path()) {
        let field = if param == "key" { "key" } else { "group" };
        return ApiError::from(statewell_core::StateError::invalid(
            field,
            "must not be empty",
        ));
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        format!("no route for {} {}", req.method(), req.uri().path()),
    )
}

/// Answer for a known path with a method it does not serve.
pub async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}
