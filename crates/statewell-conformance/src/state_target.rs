//! The vectors against a [`State`] (any store behind it), with each step's
//! `args` parsed the way the worker protocol parses a `data` payload: a
//! payload serde refuses is `deserialization_error`, a refused argument is
//! the `StateError` code.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use statewell_core::update::UpdateOp;
use statewell_core::{PageRequest, State, StateError};

use crate::driver::Target;

/// A [`Target`] over a `State`; `reset` replaces it with a fresh one from
/// `make` (a new, empty store).
pub struct StateTarget<F: FnMut() -> State> {
    name: String,
    make: F,
    state: State,
}

impl<F: FnMut() -> State> StateTarget<F> {
    pub fn new(name: &str, mut make: F) -> Self {
        let state = make();
        StateTarget {
            name: name.to_owned(),
            make,
            state,
        }
    }
}

// Argument shapes, as the wire's `data` payloads.
#[derive(Deserialize)]
struct ItemArgs {
    scope: String,
    key: String,
}

#[derive(Deserialize)]
struct SetArgs {
    scope: String,
    key: String,
    #[serde(alias = "data")]
    value: Value,
}

#[derive(Deserialize)]
struct UpdateArgs {
    scope: String,
    key: String,
    ops: Vec<UpdateOp>,
}

#[derive(Deserialize)]
struct ScopeArgs {
    scope: String,
}

#[derive(Deserialize)]
struct ListItemsArgs {
    scope: String,
    prefix: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

fn parse<T: DeserializeOwned>(args: &Value) -> Result<T, String> {
    T::deserialize(args).map_err(|_| "deserialization_error".to_owned())
}

fn code(error: StateError) -> String {
    error.code().as_str().to_owned()
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, String> {
    serde_json::to_value(value).map_err(|e| format!("unserialisable result: {e}"))
}

impl<F: FnMut() -> State> Target for StateTarget<F> {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn reset(&mut self) -> Result<(), String> {
        self.state = (self.make)();
        Ok(())
    }

    async fn call(&mut self, call: &str, args: &Value) -> Result<Value, String> {
        let state = &self.state;
        match call {
            "set" => {
                let a: SetArgs = parse(args)?;
                let out = state.set(&a.scope, &a.key, a.value).await.map_err(code)?;
                Ok(json!({"old_value": out.old_value, "new_value": out.new_value}))
            }
            "get" => {
                let a: ItemArgs = parse(args)?;
                let found = state.get(&a.scope, &a.key).await.map_err(code)?;
                Ok(found.map(|v| v.value).unwrap_or(Value::Null))
            }
            "delete" => {
                let a: ItemArgs = parse(args)?;
                let removed = state.delete(&a.scope, &a.key).await.map_err(code)?;
                Ok(removed.unwrap_or(Value::Null))
            }
            "update" => {
                let a: UpdateArgs = parse(args)?;
                let out = state.update(&a.scope, &a.key, a.ops).await.map_err(code)?;
                // Errors keep their messages: the shared normalisation checks them.
                Ok(
                    json!({"old_value": out.old_value, "new_value": out.new_value,
                    "errors": to_json(&out.errors)?}),
                )
            }
            "list" => {
                let a: ScopeArgs = parse(args)?;
                Ok(Value::Array(state.list(&a.scope).await.map_err(code)?))
            }
            "list_items" => {
                let a: ListItemsArgs = parse(args)?;
                let request = PageRequest {
                    prefix: a.prefix,
                    after: a.after,
                    limit: a.limit,
                };
                let page = state.list_items(&a.scope, &request).await.map_err(code)?;
                to_json(&page)
            }
            "clear" => {
                let a: ScopeArgs = parse(args)?;
                Ok(json!({"deleted": state.clear(&a.scope).await.map_err(code)?}))
            }
            "list_groups" => Ok(json!({"groups": state.list_groups().await.map_err(code)?})),
            other => Err(format!("unknown call `{other}`")),
        }
    }
}
