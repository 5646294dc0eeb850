//! What one HTTP route is: its method and path, the handler that serves it,
//! and the part of the OpenAPI document that describes it. The table of
//! every route is `routes.rs`.

use axum::routing::{MethodFilter, MethodRouter};
use serde_json::Value;

use crate::app::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    Put,
    Patch,
    Delete,
    Post,
}

impl Verb {
    pub fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Put => MethodFilter::PUT,
            Verb::Patch => MethodFilter::PATCH,
            Verb::Delete => MethodFilter::DELETE,
            Verb::Post => MethodFilter::POST,
        }
    }

    /// The method as OpenAPI spells it (lowercase).
    pub fn as_openapi(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Put => "put",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::Post => "post",
        }
    }
}

pub struct Route {
    pub verb: Verb,
    /// The path in axum's and OpenAPI's shared syntax (`{group}`).
    pub path: &'static str,
    pub operation_id: &'static str,
    /// Served without a token even when one is configured.
    pub public: bool,
    /// The handler, registered for `verb` only.
    pub handler: fn(MethodFilter) -> MethodRouter<AppState>,
    /// The OpenAPI operation object, without what the generator adds
    /// (operationId, path parameters, security, the 401 response).
    pub doc: fn() -> Value,
}
