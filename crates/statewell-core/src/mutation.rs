//! The pure part of a write: given what an item holds now, what it holds
//! after a mutation. Every backend calls [`apply_mutation`] inside its own
//! atomic section, so the semantics live in one place.

use serde_json::Value;

use crate::update::{OpError, UpdateOp, apply_ops};
use crate::{ChangeEvent, EventKind, Limits, StateError};

/// A write to one item.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    Set { group: String, key: String, value: Value },
    Delete { group: String, key: String },
    Update { group: String, key: String, ops: Vec<UpdateOp> },
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
            Mutation::Set { key, .. } | Mutation::Delete { key, .. } | Mutation::Update { key, .. } => {
                key
            }
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
    match mutation {
        Mutation::Set { value, .. } => {
            limits.check_value(value)?;
            Ok(Applied {
                after: Some(value.clone()),
                changed: true,
                op_errors: Vec::new(),
            })
        }
        Mutation::Delete { .. } => Ok(Applied {
            after: None,
            changed: current.is_some(),
            op_errors: Vec::new(),
        }),
        Mutation::Update { ops, .. } => {
            if ops.is_empty() {
                // statewell: an empty op list changes nothing and creates nothing.
                return Ok(Applied {
                    after: current.cloned(),
                    changed: false,
                    op_errors: Vec::new(),
                });
            }
            let (after, op_errors) = apply_ops(current, ops);
            limits.check_value(&after)?;
            Ok(Applied {
                after: Some(after),
                changed: true,
                op_errors,
            })
        }
    }
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
