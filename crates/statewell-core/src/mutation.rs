//! The pure part of a write: given what an item holds now, what it holds
//! after a mutation. Every backend calls [`apply_mutation`] inside its own
//! atomic section, so the semantics live in one place.

use serde_json::Value;

use crate::update::{OpError, UpdateOp, apply_ops};
use crate::{ChangeEvent, EventKind, Limits, StateError};

/// A write to one item.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    Set {
        group: String,
        key: String,
        value: Value,
    },
    Delete {
        group: String,
        key: String,
    },
    Update {
        group: String,
        key: String,
        ops: Vec<UpdateOp>,
    },
}

impl Mutation {
    pub fn group(&self) -> &str {
        match self {
            Mutation::Set { group, .. }
            | Mutation::Delete { group, .. }
            | Mutation::Update { group, .. } => group,
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Mutation::Set { key, .. }
            | Mutation::Delete { key, .. }
            | Mutation::Update { key, .. } => key,
        }
    }
}

/// What applying a mutation to an item's current value gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The item after the mutation; `None` when it is absent.
    pub after: Option<Value>,
    /// False when nothing is to be written (deleting a missing key, an update
    /// with no ops): no revision is consumed and no event is raised.
    pub changed: bool,
    /// Update ops that failed and were skipped.
    pub op_errors: Vec<OpError>,
}

/// Computes the effect of `mutation` on an item holding `current`.
///
/// Refuses (changing nothing) a result larger than `limits.max_value_bytes`.
pub fn apply_mutation(
    current: Option<&Value>,
    mutation: &Mutation,
    limits: &Limits,
) -> Result<Applied, StateError> {
    let applied = apply_mutation_unsized(current, mutation)?;
    if applied.changed
        && let Some(after) = &applied.after
    {
        limits.check_value(after)?;
    }
    Ok(applied)
}

/// [`apply_mutation`] without the size limit, for a backend that encodes the
/// result anyway: it checks the encoding's length
/// ([`Limits::check_value_len`]) before storing a changed value, rather
/// than encode it twice. Refuses an update that would do too much work
/// ([`apply_ops`]).
pub fn apply_mutation_unsized(
    current: Option<&Value>,
    mutation: &Mutation,
) -> Result<Applied, StateError> {
    Ok(match mutation {
        Mutation::Set { value, .. } => Applied {
            after: Some(value.clone()),
            changed: true,
            op_errors: Vec::new(),
        },
        Mutation::Delete { .. } => Applied {
            after: None,
            changed: current.is_some(),
            op_errors: Vec::new(),
        },
        Mutation::Update { .. } => apply_mutation_owned(current.cloned(), mutation)?,
    })
}

/// [`apply_mutation_unsized`] taking the current value, for a caller that
/// has no use for it afterwards: an update then changes it in place
/// instead of changing a copy.
pub fn apply_mutation_owned(
    current: Option<Value>,
    mutation: &Mutation,
) -> Result<Applied, StateError> {
    let Mutation::Update { ops, .. } = mutation else {
        return apply_mutation_unsized(current.as_ref(), mutation);
    };
    let existed = current.is_some();
    if ops.is_empty() {
        // statewell: an empty op list changes nothing and creates nothing.
        return Ok(Applied {
            after: current,
            changed: false,
            op_errors: Vec::new(),
        });
    }
    let (after, op_errors) = apply_ops(current, ops)?;
    // An existing item whose every op failed is left alone: no revision, no
    // event (and `after` is the value as it was: a failing op changes
    // nothing). A missing key is created (with `{}` when no op produced a
    // value), as updating a missing key always does.
    Ok(Applied {
        after: Some(after),
        changed: !(existed && op_errors.len() == ops.len()),
        op_errors,
    })
}

/// The result of a write as a backend reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct MutationOutcome {
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    /// The revision the write committed at; `None` when nothing was written.
    pub version: Option<u64>,
    pub op_errors: Vec<OpError>,
}

/// The event for a committed change of one item, or `None` when the change
/// was from absent to absent.
pub fn change_event(
    group: &str,
    key: &str,
    old_value: Option<Value>,
    new_value: Option<Value>,
    revision: u64,
) -> Option<ChangeEvent> {
    let kind = match (&old_value, &new_value) {
        (None, None) => return None,
        (None, Some(_)) => EventKind::Created,
        (Some(_), Some(_)) => EventKind::Updated,
        (Some(_), None) => EventKind::Deleted,
    };
    Some(ChangeEvent {
        kind,
        group: group.to_owned(),
        key: key.to_owned(),
        old_value,
        new_value,
        revision,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn update(ops: serde_json::Value) -> Mutation {
        Mutation::Update {
            group: "g".to_owned(),
            key: "k".to_owned(),
            ops: serde_json::from_value(ops).unwrap_or_else(|e| panic!("test ops: {e}")),
        }
    }

    #[test]
    fn an_update_whose_every_op_fails_changes_an_existing_item_not() -> Result<(), StateError> {
        let current = json!({"n": "x"});
        let mutation = update(json!([{"type": "increment", "path": "n", "by": 1}]));
        let applied = apply_mutation(Some(&current), &mutation, &Limits::default())?;
        assert!(!applied.changed);
        assert_eq!(applied.after, Some(current));
        assert_eq!(applied.op_errors.len(), 1);
        Ok(())
    }

    #[test]
    fn an_update_whose_every_op_fails_still_creates_a_missing_key() -> Result<(), StateError> {
        let mutation = update(json!([{"type": "merge", "value": 1}]));
        let applied = apply_mutation(None, &mutation, &Limits::default())?;
        assert!(applied.changed);
        assert_eq!(applied.after, Some(json!({})));
        Ok(())
    }

    #[test]
    fn an_update_producing_a_too_large_value_is_refused() {
        let limits = Limits {
            max_value_bytes: 16,
            ..Limits::default()
        };
        let mutation = update(json!([{"type": "set", "path": "a", "value": "0123456789abcdef"}]));
        let result = apply_mutation(None, &mutation, &limits);
        assert!(matches!(result, Err(StateError::ValueTooLarge { .. })));
    }
}
