//! The table of HTTP routes, and [`all`]: it with the tables of the modules
//! that keep their own. The router is built from them and the OpenAPI
//! document is generated from them, so the two cannot drift apart; the auth
//! layer reads their `public` flags.

use axum::routing::on;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::openapi::{self, error_response, json_body, json_response};
use super::route::{Route, Verb};
use super::{state_routes, system_routes, txn_routes, watch_routes, workers_routes};
use crate::app::AppState;

const GROUP_ITEMS: &str = "/v1/groups/{group}/items";
const ITEM: &str = "/v1/groups/{group}/items/{key}";

pub static ROUTES: &[Route] = &[
    Route {
        verb: Verb::Get,
        path: "/v1/groups",
        operation_id: "listGroups",
        public: false,
        handler: |m| on(m, state_routes::list_groups),
        doc: || {
            json!({
                "summary": "List the groups that hold at least one item",
                "responses": {
                    "200": json_response("Sorted group names", json!({"$ref": "#/components/schemas/Groups"})),
                    "500": error_response("The store failed"),
                }
            })
        },
    },
    Route {
        verb: Verb::Get,
        path: "/v1/groups/{group}",
        operation_id: "groupSize",
        public: false,
        handler: |m| on(m, state_routes::group_size),
        doc: || {
            json!({
                "summary": "How many items a group holds",
                "description": "`items` is 0 for a group that holds nothing.",
                "responses": {
                    "200": json_response("The count", json!({"$ref": "#/components/schemas/GroupSize"})),
                    "400": error_response("Invalid group (`invalid_argument`)"),
                    "500": error_response("The store failed"),
                }
            })
        },
    },
    Route {
        verb: Verb::Delete,
        path: "/v1/groups/{group}",
        operation_id: "clearGroup",
        public: false,
        handler: |m| on(m, state_routes::clear_group),
        doc: || {
            json!({
                "summary": "Remove every item of a group at once (state.clear)",
                "responses": {
                    "200": json_response("How many items were removed", json!({"$ref": "#/components/schemas/Cleared"})),
                    "400": error_response("Invalid group (`invalid_argument`)"),
                    "500": error_response("The store failed"),
                }
            })
        },
    },
    Route {
        verb: Verb::Get,
        path: "/v1/groups/{group}/values",
        operation_id: "listValues",
        public: false,
        handler: |m| on(m, state_routes::list_values),
        doc: || {
            json!({
                "summary": "All values of a group, in key order (state.list)",
                "description": "`[]` for an unknown group. Use `/items` for keys, versions and pages.",
                "responses": {
                    "200": json_response("The values", json!({"type": "array", "items": {}})),
                    "400": error_response("Invalid group (`invalid_argument`)"),
                    "500": error_response("The store failed"),
                }
            })
        },
    },
    Route {
        verb: Verb::Get,
        path: GROUP_ITEMS,
        operation_id: "listItems",
        public: false,
        handler: |m| on(m, state_routes::list_items),
        doc: || {
            json!({
                "summary": "A page of items (key, value, version) in key order (state::list_items)",
                "description": "Pass the previous page's `next` as `after` to get the following page; `next` is null on the last page. Unknown query parameters are refused.",
                "parameters": [
                    {"name": "prefix", "in": "query", "required": false, "schema": {"type": "string"},
                     "description": "Only keys starting with this"},
                    {"name": "after", "in": "query", "required": false, "schema": {"type": "string"},
                     "description": "Only keys strictly after this one (the cursor)"},
                    {"name": "limit", "in": "query", "required": false,
                     "schema": {"type": "integer", "minimum": 1},
                     "description": "Page size; at most the engine's page limit (1000), which is also the default"},
                ],
                "responses": {
                    "200": json_response("One page", json!({"$ref": "#/components/schemas/Page"})),
                    "400": error_response("Invalid group or query (`invalid_argument`)"),
                    "500": error_response("The store failed"),
                }
            })
        },
    },
    Route {
        verb: Verb::Get,
        path: ITEM,
        operation_id: "getItem",
        public: false,
        handler: |m| on(m, state_routes::get_item),
        doc: || {
            json!({
                "summary": "Read one item (state.get)",
                "description": "The body is the stored JSON value itself (which may be `null`); its version is in the `ETag` header. `If-None-Match: \"N\"` answers 304 while the version is N.",
                "parameters": [
                    {"name": "If-None-Match", "in": "header", "required": false, "schema": {"type": "string"},
                     "description": "Entity tags (`\"N\"`): 304 when one is the current version"},
                ],
                "responses": {
                    "304": {
                        "description": "Unchanged since the version named in If-None-Match (no body)",
                        "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
                    },
                    "200": {
                        "description": "The value",
                        "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
                        "content": {"application/json": {"schema": {}}},
                    },
                    "400": error_response("Invalid group or key (`invalid_argument`)"),
                    "404": error_response("No such item (`not_found`)"),
                    "500": error_response("The store failed"),
                }
            })
        },
    },
    Route {
        verb: Verb::Put,
        path: ITEM,
        operation_id: "setItem",
        public: false,
        handler: |m| on(m, state_routes::put_item),
        doc: || {
            json!({
                "summary": "Store a value (state.set)",
                "description": "The body is the JSON value to store, any JSON. The `Content-Type` is not checked.",
                "requestBody": json_body("The value", json!({})),
                "parameters": write_headers(),
                "responses": {
                    "412": error_response("If-Match or If-None-Match failed (`conflict`, with `current_version`)"),
                    "422": error_response("The idempotency key came with another request (`idempotency_mismatch`)"),
                    "200": set_response("Replaced an existing item"),
                    "201": set_response("Created the item"),
                    "400": error_response("Invalid group or key (`invalid_argument`), body not JSON (`invalid_json`)"),
                    "413": error_response("Value over 1 MiB (`value_too_large`) or body over the engine's limit (`body_too_large`)"),
                    "500": error_response("The store failed"),
                }
            })
        },
    },
    Route {
        verb: Verb::Patch,
        path: ITEM,
        operation_id: "updateItem",
        public: false,
        handler: |m| on(m, state_routes::update_item),
        doc: || {
            json!({
                "summary": "Apply update ops atomically (state.update)",
                "description": "Ops apply in order; an op that fails is skipped and reported in `errors`, the others still apply. A missing item starts from `{}`. An empty op list changes nothing.",
                "requestBody": json_body("The ops", json!({"$ref": "#/components/schemas/UpdateRequest"})),
                "parameters": write_headers(),
                "responses": {
                    "412": error_response("If-Match or If-None-Match failed (`conflict`, with `current_version`)"),
                    "422": error_response("The idempotency key came with another request (`idempotency_mismatch`)"),
                    "200": {
                        "description": "Before and after, and the ops that were skipped",
                        "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UpdateResult"}}},
                    },
                    "400": error_response("Invalid group or key, or removes that would move too many fields (`invalid_argument`), body not JSON (`invalid_json`), unknown op or missing field (`deserialization_error`)"),
                    "413": error_response("Result over 1 MiB (`value_too_large`) or body over the engine's limit (`body_too_large`)"),
                    "500": error_response("The store failed"),
                }
            })
        },
    },
    Route {
        verb: Verb::Delete,
        path: ITEM,
        operation_id: "deleteItem",
        public: false,
        handler: |m| on(m, state_routes::delete_item),
        doc: || {
            json!({
                "summary": "Remove one item (state.delete)",
                "parameters": write_headers(),
                "responses": {
                    "412": error_response("If-Match or If-None-Match failed (`conflict`, with `current_version`)"),
                    "422": error_response("The idempotency key came with another request (`idempotency_mismatch`)"),
                    "200": json_response("The value it held", json!({})),
                    "400": error_response("Invalid group or key (`invalid_argument`)"),
                    "404": error_response("No such item (`not_found`)"),
                    "500": error_response("The store failed"),
                }
            })
        },
    },
    Route {
        verb: Verb::Get,
        path: "/v1/openapi.json",
        operation_id: "openapi",
        public: false,
        handler: |m| on(m, openapi_json),
        doc: || {
            json!({
                "summary": "This document",
                "responses": {"200": json_response("OpenAPI 3.1", json!({"type": "object"}))}
            })
        },
    },
    Route {
        verb: Verb::Get,
        path: "/healthz",
        operation_id: "health",
        public: true,
        handler: |m| on(m, system_routes::healthz),
        doc: || {
            json!({
                "summary": "Liveness and readiness: the store answers a read",
                "description": "Open without a token.",
                "responses": {
                    "200": json_response("Healthy", json!({"$ref": "#/components/schemas/Health"})),
                    "503": json_response("The store did not answer", json!({"$ref": "#/components/schemas/Health"})),
                }
            })
        },
    },
    Route {
        verb: Verb::Get,
        path: "/metrics",
        operation_id: "metrics",
        public: false,
        handler: |m| on(m, system_routes::metrics),
        doc: || {
            json!({
                "summary": "Prometheus metrics (text format 0.0.4)",
                "responses": {
                    "200": {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}
                }
            })
        },
    },
];

/// The headers of a conditional or idempotent write (see `conditions`).
fn write_headers() -> Value {
    json!([
        {"name": "If-Match", "in": "header", "required": false, "schema": {"type": "string"},
         "description": "`\"N\"`: apply only if the item's version is N (else 412 `conflict`)"},
        {"name": "If-None-Match", "in": "header", "required": false, "schema": {"type": "string", "enum": ["*"]},
         "description": "`*`: apply only if the item does not exist (else 412 `conflict`)"},
        {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 256},
         "description": "A repeat within the retention window answers the first result and applies nothing"},
    ])
}

fn set_response(description: &str) -> Value {
    json!({
        "description": description,
        "headers": {"ETag": {"$ref": "#/components/headers/ETag"}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SetResult"}}},
    })
}

/// `GET /v1/openapi.json` → the OpenAPI 3.1 document, generated from the
/// tables the router is built from.
async fn openapi_json() -> Json<Value> {
    Json(openapi::document(all()))
}

/// Every route: this table, then the tables of the modules that keep their
/// own (the change feed, the workers, transactions).
pub fn all() -> impl Iterator<Item = &'static Route> {
    ROUTES
        .iter()
        .chain(watch_routes::ROUTES)
        .chain(workers_routes::ROUTES)
        .chain(txn_routes::ROUTES)
}

/// Every route on one router.
pub fn router() -> Router<AppState> {
    all().fold(Router::new(), |router, route| {
        // Routes sharing a path are merged by axum into one method router.
        router.route(route.path, (route.handler)(route.verb.filter()))
    })
}

/// When `method path` would match a route but for an empty `{param}`
/// segment (`/v1/groups//items/k`), the name of that parameter. axum never
/// matches a parameter to an empty segment; this lets the fallback answer
/// `invalid_argument` like the worker protocol does for an empty scope.
pub fn empty_param(method: &str, path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    all()
        .filter(|route| route.verb.as_openapi().eq_ignore_ascii_case(method))
        .find_map(|route| {
            let pattern: Vec<&'static str> = route.path.split('/').collect();
            if pattern.len() != segments.len() {
                return None;
            }
            let mut empty = None;
            for (want, got) in pattern.iter().zip(&segments) {
                match want.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(param) if got.is_empty() => empty = empty.or(Some(param)),
                    Some(_) => {}
                    None if want == got => {}
                    None => return None,
                }
            }
            empty
        })
}

/// Whether `path` is a public route (served without a token).
pub fn is_public(path: &str) -> bool {
    all().any(|r| r.public && r.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_routes_are_literal_paths() {
        // `is_public` compares paths literally; a parameter would never match.
        for route in all().filter(|r| r.public) {
            assert!(!route.path.contains('{'), "{}", route.path);
        }
        assert!(is_public("/healthz"));
        assert!(!is_public("/metrics"));
        assert!(!is_public("/v1/groups"));
    }

    #[test]
    fn empty_parameters_are_recognised() {
        assert_eq!(empty_param("GET", "/v1/groups//items/k"), Some("group"));
        assert_eq!(empty_param("PUT", "/v1/groups/g/items/"), Some("key"));
        assert_eq!(empty_param("DELETE", "/v1/groups/"), Some("group"));
        assert_eq!(empty_param("GET", "/v1/groups//values"), Some("group"));
        assert_eq!(empty_param("GET", "/v1/groups/g/items/k"), None);
        assert_eq!(empty_param("POST", "/v1/groups//items/k"), None);
        assert_eq!(empty_param("GET", "/v1/nothing//x"), None);
    }

    #[test]
    fn method_and_path_pairs_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for route in all() {
            assert!(
                seen.insert((route.verb, route.path)),
                "{:?} {}",
                route.verb,
                route.path
            );
        }
    }

    #[test]
    fn every_route_is_documented_once_and_nothing_else() {
        let doc = openapi::document(all());
        let paths = doc["paths"].as_object().expect("paths is an object");
        let mut documented = Vec::new();
        for (path, item) in paths {
            for method in item.as_object().expect("path item is an object").keys() {
                documented.push(format!("{method} {path}"));
            }
        }
        let mut routed: Vec<String> = all()
            .map(|r| format!("{} {}", r.verb.as_openapi(), r.path))
            .collect();
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed);
    }

    #[test]
    fn path_parameters_are_declared_and_public_routes_need_no_token() {
        let doc = openapi::document(all());
        let get_item = &doc["paths"]["/v1/groups/{group}/items/{key}"]["get"];
        let names: Vec<&str> = get_item["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(names, ["group", "key"]);
        assert!(get_item["responses"]["401"].is_object());
        assert_eq!(doc["paths"]["/healthz"]["get"]["security"], json!([]));
        assert!(doc["paths"]["/healthz"]["get"]["responses"]["401"].is_null());
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc = openapi::document(all());
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"").skip(1) {
            let target = reference.split('"').next().unwrap_or_default();
            let pointer = target.trim_start_matches('#');
            assert!(doc.pointer(pointer).is_some(), "dangling $ref {target}");
        }
    }
}
