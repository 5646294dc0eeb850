//! Conditional writes and transactions: what a store applies as one whole
//! ([`crate::Store::transaction`]) and the pure part of it
//! ([`plan_transaction`]: given how to read the items, what every op
//! answers and what every item holds afterwards), which each store runs
//! inside its own atomic section, so the semantics live in one place.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::update::OpError;
use crate::{Limits, Mutation, StateError, apply_mutation};

/// Most operations one transaction may hold.
pub const MAX_TRANSACTION_OPS: usize = 1000;

/// What an item must be for a write to apply: at version `if_version`, or
/// absent (`if_absent`). Both unset: no condition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_version: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub if_absent: bool,
}

impl Condition {
    pub fn is_none(&self) -> bool {
        self.if_version.is_none() && !self.if_absent
    }

    /// Whether an item at `current` (its version; `None`: missing) meets it.
    pub fn holds(&self, current: Option<u64>) -> bool {
        let version_ok = self.if_version.is_none_or(|wanted| current == Some(wanted));
        let absent_ok = !self.if_absent || current.is_none();
        version_ok && absent_ok
    }
}

/// One operation of a [`WriteRequest`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum TxOp {
    /// A set, update or delete, applied only if `condition` holds.
    Write {
        #[serde(serialize_with = "serialize_mutation")]
        mutation: Mutation,
        condition: Condition,
    },
    /// Only asserts `condition`; writes nothing.
    Check {
        group: String,
        key: String,
        condition: Condition,
    },
    /// Removes every item of a group (only ever alone in a request: what an
    /// idempotent `clear` sends).
    Clear { group: String },
}

fn serialize_mutation<S: serde::Serializer>(m: &Mutation, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut st = s.serialize_struct("Mutation", 4)?;
    st.serialize_field("group", m.group())?;
    st.serialize_field("key", m.key())?;
    match m {
        Mutation::Set { value, .. } => st.serialize_field("set", value)?,
        Mutation::Update { ops, .. } => st.serialize_field("update", ops)?,
        Mutation::Delete { .. } => st.serialize_field("delete", &true)?,
    }
    st.end()
}

/// How [`WriteRequest::ops`] are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxMode {
    /// One conditional or idempotent write: an update's failing ops are
    /// skipped and reported, as for a plain update; a conflict names no op.
    Single,
    /// A transaction: an update op that fails fails the whole request, and a
    /// conflict names the op (`op_index`).
    Transaction,
}

/// A request's idempotency key and the hash of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub key: String,
    /// Hex SHA-256 of the request (see `State`): the same key with another
    /// request is refused.
    pub request_hash: String,
}

/// Everything a store applies as one whole, atomically with respect to
/// every other operation: a backend with a server-side script (Redis) runs
/// it as one script.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteRequest {
    pub ops: Vec<TxOp>,
    pub mode: TxMode,
    pub idempotency: Option<Idempotency>,
}

/// What one op of a request did. `version` is the revision that wrote the
/// item (the request's revision for a write; the current version for a
/// check), `None` when the item is missing and nothing was written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpOutcome {
    #[serde(default)]
    pub old_value: Option<Value>,
    #[serde(default)]
    pub new_value: Option<Value>,
    #[serde(default)]
    pub version: Option<u64>,
    /// Update ops skipped ([`TxMode::Single`] only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<OpError>,
    /// Items a clear removed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub removed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a [`WriteRequest`] answered: one [`OpOutcome`] per op, in order.
/// Remembered as it is for an idempotency key, and answered again for a
/// repeat of it (`replayed` then set; it is not remembered).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TxOutcome {
    pub results: Vec<OpOutcome>,
    /// The revision the request committed at; `None` when it wrote nothing.
    #[serde(default)]
    pub revision: Option<u64>,
    #[serde(skip)]
    pub replayed: bool,
}

/// One item a planned request changes: what it held before the request and
/// what it holds after (`None`: absent).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedChange {
    pub group: String,
    pub key: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// The effect of a request's ops (without a `Clear`, which a store applies
/// itself): each op's outcome (a write's `version` is still to be stamped
/// with the request's revision: see `written`) and every item it changed,
/// in the order each was first touched — one event each.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub results: Vec<OpOutcome>,
    /// Per op: whether it wrote (its `version` is the request's revision).
    pub written: Vec<bool>,
    pub changes: Vec<PlannedChange>,
}

impl Plan {
    /// The outcome once the request committed at `revision` (`None`: it
    /// changed nothing).
    pub fn outcome(self, revision: Option<u64>) -> TxOutcome {
        let mut results = self.results;
        for (result, written) in results.iter_mut().zip(self.written) {
            if written {
                result.version = revision;
            }
        }
        TxOutcome {
            results,
            revision,
            replayed: false,
        }
    }
}

/// An item as seen while a request is planned: before the request, or as
/// an earlier op of it left it.
struct Seen {
    value: Option<Value>,
    /// `None` when missing, or written by this request (see `written`).
    version: Option<u64>,
    written: bool,
}

/// Plans `ops` against the items `read` returns (value and version, `None`
/// when missing), each read at most once: every condition is checked as
/// the request's earlier ops left the item, and nothing is returned to
/// write unless every op succeeds. A failed condition is
/// [`StateError::Conflict`]; a transaction's update op that fails is
/// [`StateError::UpdateFailed`].
///
/// `next_revision` is the revision the request will commit at: an op that
/// checks an item this request already wrote sees it at that version.
pub fn plan_transaction(
    ops: &[TxOp],
    mode: TxMode,
    limits: &Limits,
    next_revision: u64,
    mut read: impl FnMut(&str, &str) -> Result<Option<(Value, u64)>, StateError>,
) -> Result<Plan, StateError> {
    let mut seen: HashMap<(String, String), Seen> = HashMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    let mut befores: Vec<Option<Value>> = Vec::new();
    let mut results = Vec::with_capacity(ops.len());
    let mut written = Vec::with_capacity(ops.len());
    for (op_index, op) in ops.iter().enumerate() {
        let (group, key, condition) = match op {
            TxOp::Write {
                mutation,
                condition,
            } => (mutation.group(), mutation.key(), *condition),
            TxOp::Check {
                group,
                key,
                condition,
            } => (group.as_str(), key.as_str(), *condition),
            TxOp::Clear { .. } => {
                return Err(StateError::invalid(
                    "ops",
                    "a clear cannot be part of a transaction",
                ));
            }
        };
        let id = (group.to_owned(), key.to_owned());
        if !seen.contains_key(&id) {
            let found = read(group, key)?;
            let (value, version) = match found {
                Some((value, version)) => (Some(value), Some(version)),
                None => (None, None),
            };
            befores.push(value.clone());
            seen.insert(
                id.clone(),
                Seen {
                    value,
                    version,
                    written: false,
                },
            );
            order.push(id.clone());
        }
        let Some(item) = seen.get_mut(&id) else {
            return Err(StateError::Storage(
                "internal: an item seen was lost".into(),
            ));
        };
        let current_version = match item.written {
            true => item.value.as_ref().map(|_| next_revision),
            false => item.version,
        };
        if !condition.holds(current_version) {
            return Err(StateError::Conflict {
                op_index: (mode == TxMode::Transaction).then_some(op_index),
                current_version,
            });
        }
        let TxOp::Write { mutation, .. } = op else {
            results.push(OpOutcome {
                version: current_version,
                ..OpOutcome::default()
            });
            written.push(false);
            continue;
        };
        let applied = apply_mutation(item.value.as_ref(), mutation, limits)?;
        if mode == TxMode::Transaction && !applied.op_errors.is_empty() {
            return Err(StateError::UpdateFailed {
                op_index,
                errors: applied.op_errors,
            });
        }
        let old_value = item.value.clone();
        results.push(OpOutcome {
            old_value,
            new_value: applied.after.clone(),
            version: if applied.changed {
                None
            } else {
                current_version
            },
            errors: applied.op_errors,
            removed: 0,
        });
        written.push(applied.changed);
        if applied.changed {
            item.value = applied.after;
            item.written = true;
        }
    }
    let mut changes = Vec::new();
    for (id, before) in order.into_iter().zip(befores) {
        let Some(item) = seen.remove(&id) else {
            continue;
        };
        // Written back to what it was (a set then a delete of a missing
        // item) is still a change unless it is absent both times.
        if item.written && !(before.is_none() && item.value.is_none()) {
            changes.push(PlannedChange {
                group: id.0,
                key: id.1,
                before,
                after: item.value,
            });
        }
    }
    Ok(Plan {
        results,
        written,
        changes,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn set(key: &str, value: Value, condition: Condition) -> TxOp {
        TxOp::Write {
            mutation: Mutation::Set {
                group: "g".into(),
                key: key.into(),
                value,
            },
            condition,
        }
    }

    fn store(key: &str) -> Result<Option<(Value, u64)>, StateError> {
        Ok((key == "a").then(|| (json!(1), 7)))
    }

    #[test]
    fn a_failed_condition_names_the_op_and_the_current_version() {
        let ops = [
            set("a", json!(2), Condition::default()),
            set(
                "a",
                json!(3),
                Condition {
                    if_version: Some(7),
                    if_absent: false,
                },
            ),
        ];
        let err = plan_transaction(&ops, TxMode::Transaction, &Limits::default(), 8, |_, k| {
            store(k)
        })
        .expect_err("the first op wrote the item: its version is the request's");
        assert!(matches!(
            err,
            StateError::Conflict {
                op_index: Some(1),
                current_version: Some(8)
            }
        ));
    }

    #[test]
    fn a_plan_changes_each_item_once_in_first_touch_order() -> Result<(), StateError> {
        let absent = Condition {
            if_version: None,
            if_absent: true,
        };
        let ops = [
            set("b", json!(1), absent),
            set("a", json!(2), Condition::default()),
            set("b", json!(3), Condition::default()),
            TxOp::Check {
                group: "g".into(),
                key: "a".into(),
                condition: Condition {
                    if_version: Some(9),
                    if_absent: false,
                },
            },
        ];
        let plan = plan_transaction(&ops, TxMode::Transaction, &Limits::default(), 9, |_, k| {
            store(k)
        })?;
        let keys: Vec<_> = plan.changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(plan.changes[0].after, Some(json!(3)));
        let outcome = plan.outcome(Some(9));
        assert_eq!(outcome.results[2].old_value, Some(json!(1)));
        assert_eq!(outcome.results[3].version, Some(9));
        Ok(())
    }
}
