//! The vectors against a [`State`] (any store behind it), with each step's
//! `args` parsed the way the worker protocol parses a `data` payload: a
//! payload serde refuses is `deserialization_error`, a refused argument is
//! the `StateError` code.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use statewell_core::update::UpdateOp;
use statewell_core::{
    Condition, Mutation, OpOutcome, PageRequest, State, StateError, TxOp, WriteOptions,
};

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

/// A write's optional condition and idempotency key.
#[derive(Deserialize)]
struct OptionArgs {
    if_version: Option<u64>,
    if_absent: Option<bool>,
    idempotency_key: Option<String>,
}

impl OptionArgs {
    fn options(self) -> WriteOptions {
        WriteOptions {
            condition: Condition {
                if_version: self.if_version,
                if_absent: self.if_absent.unwrap_or(false),
            },
            idempotency_key: self.idempotency_key,
        }
    }
}

#[derive(Deserialize)]
struct ConditionArgs {
    if_version: Option<u64>,
    if_absent: Option<bool>,
}

impl ConditionArgs {
    fn condition(&self) -> Condition {
        Condition {
            if_version: self.if_version,
            if_absent: self.if_absent.unwrap_or(false),
        }
    }
}

/// One op of a transaction, as the wire gives it.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum WireOp {
    Set {
        scope: String,
        key: String,
        value: Value,
        #[serde(flatten)]
        condition: ConditionArgs,
    },
    Update {
        scope: String,
        key: String,
        ops: Vec<UpdateOp>,
        #[serde(flatten)]
        condition: ConditionArgs,
    },
    Delete {
        scope: String,
        key: String,
        #[serde(flatten)]
        condition: ConditionArgs,
    },
    Check {
        scope: String,
        key: String,
        #[serde(flatten)]
        condition: ConditionArgs,
    },
}

#[derive(Deserialize)]
struct TransactionArgs {
    ops: Value,
    idempotency_key: Option<String>,
}

/// A transaction's ops, each with the name of its kind (its result shape),
/// or `invalid_argument` as the engine refuses them.
fn transaction_ops(ops: &Value) -> Result<Vec<(TxOp, &'static str)>, String> {
    let invalid = || "invalid_argument".to_owned();
    let items = ops.as_array().ok_or_else(invalid)?;
    items
        .iter()
        .map(|item| {
            let op = WireOp::deserialize(item).map_err(|_| invalid())?;
            Ok(match op {
                WireOp::Set {
                    scope,
                    key,
                    value,
                    condition,
                } => (
                    TxOp::Write {
                        mutation: Mutation::Set {
                            group: scope,
                            key,
                            value,
                        },
                        condition: condition.condition(),
                    },
                    "set",
                ),
                WireOp::Update {
                    scope,
                    key,
                    ops,
                    condition,
                } => (
                    TxOp::Write {
                        mutation: Mutation::Update {
                            group: scope,
                            key,
                            ops,
                        },
                        condition: condition.condition(),
                    },
                    "update",
                ),
                WireOp::Delete {
                    scope,
                    key,
                    condition,
                } => (
                    TxOp::Write {
                        mutation: Mutation::Delete { group: scope, key },
                        condition: condition.condition(),
                    },
                    "delete",
                ),
                WireOp::Check {
                    scope,
                    key,
                    condition,
                } => {
                    let condition = condition.condition();
                    if condition.is_none() {
                        return Err(invalid());
                    }
                    (
                        TxOp::Check {
                            group: scope,
                            key,
                            condition,
                        },
                        "check",
                    )
                }
            })
        })
        .collect()
}

/// One op's result as the wire shapes it.
fn op_result(kind: &str, result: &OpOutcome) -> Value {
    match kind {
        "delete" => json!({"old_value": result.old_value, "version": result.version}),
        "check" => json!({"version": result.version}),
        _ => json!({"old_value": result.old_value, "new_value": result.new_value,
                    "version": result.version}),
    }
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
        let options = match call {
            "set" | "update" | "delete" | "clear" => parse::<OptionArgs>(args)?.options(),
            _ => WriteOptions::default(),
        };
        if !options.is_plain() {
            return with_options(state, call, args, options).await;
        }
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
            "get_item" => {
                let a: ItemArgs = parse(args)?;
                let found = state.get_item(&a.scope, &a.key).await.map_err(code)?;
                let Some(item) = found else {
                    return Ok(Value::Null);
                };
                let value: Value = serde_json::from_str(item.value.get())
                    .map_err(|e| format!("stored text is not JSON: {e}"))?;
                Ok(json!({"key": a.key, "value": value, "version": item.version}))
            }
            "transaction" => {
                let a: TransactionArgs = parse(args)?;
                let (ops, kinds): (Vec<_>, Vec<_>) = transaction_ops(&a.ops)?.into_iter().unzip();
                let outcome = state
                    .transaction(ops, a.idempotency_key)
                    .await
                    .map_err(code)?;
                let results: Vec<Value> = kinds
                    .iter()
                    .zip(&outcome.results)
                    .map(|(kind, result)| op_result(kind, result))
                    .collect();
                Ok(json!({ "results": results }))
            }
            other => Err(format!("unknown call `{other}`")),
        }
    }
}

/// A set, update, delete or clear with a condition or an idempotency key.
async fn with_options(
    state: &State,
    call: &str,
    args: &Value,
    options: WriteOptions,
) -> Result<Value, String> {
    if call == "clear" {
        let a: ScopeArgs = parse(args)?;
        let deleted = state
            .clear_with(&a.scope, options.idempotency_key)
            .await
            .map_err(code)?;
        return Ok(json!({ "deleted": deleted }));
    }
    let mutation = match call {
        "set" => {
            let a: SetArgs = parse(args)?;
            Mutation::Set {
                group: a.scope,
                key: a.key,
                value: a.value,
            }
        }
        "update" => {
            let a: UpdateArgs = parse(args)?;
            Mutation::Update {
                group: a.scope,
                key: a.key,
                ops: a.ops,
            }
        }
        _ => {
            let a: ItemArgs = parse(args)?;
            Mutation::Delete {
                group: a.scope,
                key: a.key,
            }
        }
    };
    let (result, _) = state.write_with(mutation, options).await.map_err(code)?;
    Ok(match call {
        "delete" => result.old_value.unwrap_or(Value::Null),
        "update" => json!({"old_value": result.old_value, "new_value": result.new_value,
                           "errors": to_json(&result.errors)?}),
        _ => json!({"old_value": result.old_value, "new_value": result.new_value}),
    })
}
