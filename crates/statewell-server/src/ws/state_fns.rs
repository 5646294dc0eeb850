//! The `state::*` functions: arguments from a frame's `data`, a call on
//! [`statewell_core::State`], and the exact result shapes of PROTOCOL.md.

use std::time::Instant;

use serde_json::{Map, Value, json};
use statewell_core::{PageRequest, State, StateError, UpdateOp};

use super::frame::{ErrorBody, type_name};
use crate::metrics::Metrics;

/// The built-in state functions, by wire id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFn {
    Set,
    Get,
    Delete,
    Update,
    List,
    ListGroups,
    Clear,
    ListItems,
}

impl StateFn {
    pub fn from_id(function_id: &str) -> Option<StateFn> {
        Some(match function_id {
            "state::set" => StateFn::Set,
            "state::get" => StateFn::Get,
            "state::delete" => StateFn::Delete,
            "state::update" => StateFn::Update,
            "state::list" => StateFn::List,
            "state::list_groups" => StateFn::ListGroups,
            "state::clear" => StateFn::Clear,
            "state::list_items" => StateFn::ListItems,
            _ => return None,
        })
    }

    pub fn id(self) -> &'static str {
        match self {
            StateFn::Set => "state::set",
            StateFn::Get => "state::get",
            StateFn::Delete => "state::delete",
            StateFn::Update => "state::update",
            StateFn::List => "state::list",
            StateFn::ListGroups => "state::list_groups",
            StateFn::Clear => "state::clear",
            StateFn::ListItems => "state::list_items",
        }
    }

    /// The operation name used in metrics.
    pub fn kind(self) -> &'static str {
        match self {
            StateFn::Set => "set",
            StateFn::Get => "get",
            StateFn::Delete => "delete",
            StateFn::Update => "update",
            StateFn::List => "list",
            StateFn::ListGroups => "list_groups",
            StateFn::Clear => "clear",
            StateFn::ListItems => "list_items",
        }
    }
}

/// Runs one state function and records it in the metrics. `Ok(None)` means
/// "nothing": the reply omits `result`.
pub async fn call(
    state: &State,
    metrics: &Metrics,
    function: StateFn,
    data: Value,
) -> Result<Option<Value>, ErrorBody> {
    let started = Instant::now();
    let outcome = run(state, function, data).await;
    let label = match &outcome {
        Ok(_) => "ok",
        Err(error) => error.code(),
    };
    metrics.record_op(function.kind(), label, started.elapsed());
    outcome
}

async fn run(state: &State, function: StateFn, data: Value) -> Result<Option<Value>, ErrorBody> {
    let mut args = Args::new(function, data)?;
    match function {
        StateFn::Set => {
            let (scope, key) = args.item()?;
            // `data` is accepted as an alias of `value` (older clients).
            let value = match args.take("value") {
                Some(value) => value,
                None => args.take("data").ok_or_else(|| args.missing("value"))?,
            };
            let outcome = state.set(&scope, &key, value).await.map_err(state_error)?;
            Ok(Some(old_new(outcome.old_value, Some(outcome.new_value))))
        }
        StateFn::Get => {
            let (scope, key) = args.item()?;
            let found = state.get(&scope, &key).await.map_err(state_error)?;
            Ok(found.map(|item| item.value))
        }
        StateFn::Delete => {
            let (scope, key) = args.item()?;
            state.delete(&scope, &key).await.map_err(state_error)
        }
        StateFn::Update => {
            let (scope, key) = args.item()?;
            let ops = args.take("ops").ok_or_else(|| args.missing("ops"))?;
            let ops: Vec<UpdateOp> =
                serde_json::from_value(ops).map_err(|e| args.invalid("ops", e))?;
            let outcome = state.update(&scope, &key, ops).await.map_err(state_error)?;
            let mut result = old_new(outcome.old_value, outcome.new_value);
            if !outcome.errors.is_empty() {
                if let Value::Object(map) = &mut result {
                    map.insert("errors".to_owned(), json!(outcome.errors));
                }
            }
            Ok(Some(result))
        }
        StateFn::List => {
            let scope = args.name("scope")?;
            let values = state.list(&scope).await.map_err(state_error)?;
            Ok(Some(Value::Array(values)))
        }
        StateFn::ListGroups => {
            let groups = state.list_groups().await.map_err(state_error)?;
            Ok(Some(json!({ "groups": groups })))
        }
        StateFn::Clear => {
            let scope = args.name("scope")?;
            let deleted = state.clear(&scope).await.map_err(state_error)?;
            Ok(Some(json!({ "deleted": deleted })))
        }
        StateFn::ListItems => {
            let scope = args.name("scope")?;
            let page = PageRequest {
                prefix: args.optional_string("prefix")?,
                after: args.optional_string("after")?,
                limit: args.optional_usize("limit")?,
            };
            let page = state.list_items(&scope, &page).await.map_err(state_error)?;
            Ok(Some(json!({ "items": page.items, "next": page.next })))
        }
    }
}

fn old_new(old_value: Option<Value>, new_value: Option<Value>) -> Value {
    let mut map = Map::with_capacity(2);
    map.insert("old_value".to_owned(), old_value.unwrap_or(Value::Null));
    map.insert("new_value".to_owned(), new_value.unwrap_or(Value::Null));
    Value::Object(map)
}

/// The core names the item's parts `group`/`key`; the wire says `scope`/`key`.
fn state_error(error: StateError) -> ErrorBody {
    let message = match &error {
        StateError::InvalidArgument { field, reason } => {
            let field = if *field == "group" { "scope" } else { field };
            format!("invalid {field}: {reason}")
        }
        other => other.to_string(),
    };
    ErrorBody::new(error.code().as_str(), message)
}

/// A function's `data` object, taken apart field by field with messages in
/// the style of serde's (`missing field \`key\``).
struct Args {
    function: StateFn,
    map: Map<String, Value>,
}

impl Args {
    fn new(function: StateFn, data: Value) -> Result<Args, ErrorBody> {
        match data {
            Value::Object(map) => Ok(Args { function, map }),
            // No `data` at all reads as an empty object: the first required
            // field is then reported missing.
            Value::Null => Ok(Args {
                function,
                map: Map::new(),
            }),
            other => Err(ErrorBody::deserialization(
                function.id(),
                format!("invalid type: {}, expected an object", type_name(&other)),
            )),
        }
    }

    fn take(&mut self, field: &str) -> Option<Value> {
        self.map.remove(field)
    }

    fn missing(&self, field: &str) -> ErrorBody {
        ErrorBody::deserialization(self.function.id(), format!("missing field `{field}`"))
    }

    fn invalid(&self, field: &str, error: impl std::fmt::Display) -> ErrorBody {
        ErrorBody::deserialization(self.function.id(), format!("field `{field}`: {error}"))
    }

    fn string(&mut self, field: &str) -> Result<String, ErrorBody> {
        match self.take(field) {
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(self.wrong_type(field, &other, "a string")),
            None => Err(self.missing(field)),
        }
    }

    fn optional_string(&mut self, field: &str) -> Result<Option<String>, ErrorBody> {
        match self.take(field) {
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Null) | None => Ok(None),
            Some(other) => Err(self.wrong_type(field, &other, "a string")),
        }
    }

    fn optional_usize(&mut self, field: &str) -> Result<Option<usize>, ErrorBody> {
        match self.take(field) {
            Some(Value::Null) | None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64().and_then(|n| usize::try_from(n).ok()) {
                Some(n) => Ok(Some(n)),
                None => Err(self.invalid(
                    field,
                    format!("invalid value: {n}, expected a non-negative integer"),
                )),
            },
            Some(other) => Err(self.wrong_type(field, &other, "a non-negative integer")),
        }
    }

    fn wrong_type(&self, field: &str, value: &Value, expected: &str) -> ErrorBody {
        self.invalid(
            field,
            format!("invalid type: {}, expected {expected}", type_name(value)),
        )
    }

    /// A required, non-empty name (`scope` or `key`).
    fn name(&mut self, field: &'static str) -> Result<String, ErrorBody> {
        let name = self.string(field)?;
        if name.is_empty() {
            return Err(ErrorBody::new(
                "invalid_argument",
                format!("invalid {field}: must not be empty"),
            ));
        }
        Ok(name)
    }

    fn item(&mut self) -> Result<(String, String), ErrorBody> {
        let scope = self.name("scope")?;
        let key = self.name("key")?;
        Ok((scope, key))
    }
}
