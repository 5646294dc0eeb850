//! The OpenAPI 3.1 document served at `/v1/openapi.json`, generated from
//! the route tables (`routes.rs` lists them): each route contributes its
//! operation; path parameters, security and the 401 response are added
//! here, uniformly. The helpers a route's documentation is written with are
//! here too.

use serde_json::{Map, Value, json};

use super::route::Route;

pub fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

pub fn error_response(description: &str) -> Value {
    json_response(description, json!({"$ref": "#/components/schemas/Error"}))
}

pub fn json_body(description: &str, schema: Value) -> Value {
    json!({"description": description, "required": true,
           "content": {"application/json": {"schema": schema}}})
}

/// The names of the `{param}` segments of a path, in order.
pub fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

fn path_param(name: &str) -> Value {
    let what = match name {
        "group" => "The group id",
        "key" => "The item key",
        _ => "A path parameter",
    };
    json!({
        "name": name, "in": "path", "required": true, "schema": {"type": "string", "minLength": 1},
        "description": format!("{what}, percent-encoded: any characters, `/` as `%2F` (at most 1 KiB once decoded)"),
    })
}

/// The document of `routes`.
pub fn document<'r>(routes: impl IntoIterator<Item = &'r Route>) -> Value {
    let mut paths = Map::new();
    for route in routes {
        let mut op = match (route.doc)() {
            Value::Object(op) => op,
            // Every doc in the table is written as an object literal.
            other => Map::from_iter([("description".to_owned(), other)]),
        };
        op.insert("operationId".into(), route.operation_id.into());
        let mut params: Vec<Value> = path_params(route.path)
            .into_iter()
            .map(path_param)
            .collect();
        if let Some(Value::Array(query)) = op.remove("parameters") {
            params.extend(query);
        }
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if route.public {
            op.insert("security".into(), json!([]));
        } else if let Some(Value::Object(responses)) = op.get_mut("responses") {
            responses.insert(
                "401".into(),
                error_response("Missing or wrong bearer token (`unauthorized`)"),
            );
        }
        let item = paths
            .entry(route.path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(route.verb.as_openapi().into(), Value::Object(op));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "statewell HTTP API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Durable key-value state in groups. Groups and keys are percent-encoded path segments; values are JSON bodies; every error is `{\"error\":{\"code\",\"message\"}}`. The worker WebSocket (iii worker protocol) is served at `/` on the same port.",
        },
        "servers": [{"url": "http://127.0.0.1:49134"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": components(),
    })
}

fn components() -> Value {
    json!({
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer",
                           "description": "Required on every route but /healthz when the engine runs with --token"},
        },
        "headers": {
            "ETag": {"description": "The item's version, as a quoted decimal number", "schema": {"type": "string"}},
        },
        "schemas": {
            "Error": {
                "type": "object", "required": ["error"],
                "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "description": "Stable machine code", "examples": ["not_found"]},
                        "message": {"type": "string"},
                        "current_version": {"type": ["integer", "null"], "minimum": 0,
                                            "description": "`conflict`: the item's version now, null when it is missing"},
                        "op_index": {"type": "integer", "minimum": 0,
                                     "description": "`conflict` in a transaction, `update_failed`: the op that failed"},
                        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/OpError"},
                                   "description": "`update_failed`: why the op failed"},
                    },
                }},
            },
            "Groups": {
                "type": "object", "required": ["groups"],
                "properties": {"groups": {"type": "array", "items": {"type": "string"}}},
            },
            "GroupSize": {
                "type": "object", "required": ["group", "items"],
                "properties": {"group": {"type": "string"}, "items": {"type": "integer", "minimum": 0}},
            },
            "Cleared": {
                "type": "object", "required": ["deleted"],
                "properties": {"deleted": {"type": "integer", "minimum": 0}},
            },
            "Item": {
                "type": "object", "required": ["key", "value", "version"],
                "properties": {"key": {"type": "string"}, "value": {}, "version": {"type": "integer"}},
            },
            "Page": {
                "type": "object", "required": ["items", "next"],
                "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                    "next": {"type": ["string", "null"], "description": "Cursor for the next page (pass as `after`); null on the last page"},
                },
            },
            "SetResult": {
                "type": "object", "required": ["old_value", "new_value"],
                "properties": {"old_value": {"description": "null when the item was new"}, "new_value": {}},
            },
            "UpdateOp": {
                "type": "object", "required": ["type"],
                "description": "One update op, tagged by `type`; see docs/PROTOCOL.md for the semantics",
                "properties": {
                    "type": {"enum": ["set", "merge", "increment", "decrement", "append", "remove"]},
                    "path": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                             "description": "A string is one literal top-level field (\"\" = the whole value); an array is a nested path"},
                    "value": {},
                    "by": {"type": "number"},
                },
            },
            "UpdateRequest": {
                "type": "object", "required": ["ops"],
                "properties": {"ops": {"type": "array", "items": {"$ref": "#/components/schemas/UpdateOp"}}},
            },
            "OpError": {
                "type": "object", "required": ["op_index", "code", "message"],
                "properties": {
                    "op_index": {"type": "integer"}, "code": {"type": "string"},
                    "message": {"type": "string"}, "doc_url": {"type": "string"},
                },
            },
            "UpdateResult": {
                "type": "object", "required": ["old_value", "new_value", "errors"],
                "properties": {
                    "old_value": {}, "new_value": {},
                    "errors": {"type": "array", "items": {"$ref": "#/components/schemas/OpError"}},
                },
            },
            "TransactionOp": {
                "type": "object", "required": ["type", "key"],
                "description": "One op of a transaction; see docs/PROTOCOL.md, `state::transaction`",
                "properties": {
                    "type": {"enum": ["set", "update", "delete", "check"]},
                    "scope": {"type": "string", "minLength": 1}, "group": {"type": "string", "minLength": 1, "description": "The same as `scope`"},
                    "key": {"type": "string", "minLength": 1},
                    "value": {"description": "`set`: the value"},
                    "ops": {"type": "array", "items": {"$ref": "#/components/schemas/UpdateOp"}, "description": "`update`: its ops"},
                    "if_version": {"type": ["integer", "null"], "minimum": 0},
                    "if_absent": {"type": ["boolean", "null"]},
                },
            },
            "TransactionRequest": {
                "type": "object", "required": ["ops"],
                "properties": {"ops": {"type": "array", "maxItems": 1000, "items": {"$ref": "#/components/schemas/TransactionOp"}}},
            },
            "TransactionResult": {
                "type": "object", "required": ["results"],
                "properties": {"results": {"type": "array", "items": {
                    "type": "object", "required": ["version"],
                    "description": "A set's or update's `{old_value, new_value, version}`, a delete's `{old_value, version}`, a check's `{version}`",
                    "properties": {
                        "old_value": {}, "new_value": {},
                        "version": {"type": ["integer", "null"], "minimum": 0},
                    },
                }}},
            },
            "Health": {
                "type": "object", "required": ["status"],
                "properties": {"status": {"enum": ["ok", "unavailable"]},
                               "error": {"$ref": "#/components/schemas/Error/properties/error"}},
            },
        },
    })
}
