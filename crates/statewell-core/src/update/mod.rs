//! Atomic update operations (`state::update`): set, merge, increment,
//! decrement, append and remove at a path, with the semantics and error codes
//! recorded in PROTOCOL.md (statewell column of its edge-case table).
//!
//! The rules, in short (docs/update-ops.md has the full table):
//! - A path string is ONE literal top-level field; `""` (or `[]`, or no path
//!   for merge/append) is the whole value; an array of strings is a nested
//!   path, for every op. Missing intermediate objects are created; a null one
//!   counts as missing; anything else in the way is `<op>.target_not_object`.
//! - A missing key starts from `{}`, except that ops on the whole value see
//!   nothing there (increment `""` gives `by`, append gives `[v]`). If no op
//!   produced a value (all failed), the key is created holding `{}`.
//! - Ops apply in order; a failing op changes nothing and is reported with its
//!   index, the others still apply.
//! - Integers stay exact over i64 ∪ u64; leaving that range is
//!   `increment.overflow` / `decrement.overflow`, never a wrap or a float.
//! - Work grows with the request, not with the stored value: consecutive
//!   removes from one object move its fields once, strings grow in place,
//!   and an update whose removes would move more than `MAX_UPDATE_MOVES`
//!   fields is refused whole (`invalid_argument`).

mod apply;
mod limits;
mod number;
mod path;
mod remove;
mod text;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use crate::StateError;
use apply::{Failure, Stop};
use remove::{Moves, remove_siblings, sibling_run};

pub use limits::{
    FORBIDDEN_KEYS, MAX_MERGE_DEPTH, MAX_MERGE_KEYS, MAX_PATH_DEPTH, MAX_SEGMENT_BYTES,
    MAX_UPDATE_MOVES, MAX_VALUE_DEPTH,
};
pub use path::Path;
pub use text::apply_to_text;

/// One op of `state::update`, as it travels on the wire (tagged by `type`).
/// An unknown `type`, a missing required field (`path` of set, increment,
/// decrement and remove; `value`; `by`) or a `by` that is not a number fails
/// deserialization, so the whole call is refused before anything changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum UpdateOp {
    Set {
        path: Path,
        value: Value,
    },
    Merge {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<Path>,
        value: Value,
    },
    Increment {
        path: Path,
        by: Number,
    },
    Decrement {
        path: Path,
        by: Number,
    },
    Append {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<Path>,
        value: Value,
    },
    Remove {
        path: Path,
    },
}

impl UpdateOp {
    /// The op's wire name, which is also the first part of its error codes.
    pub fn name(&self) -> &'static str {
        match self {
            UpdateOp::Set { .. } => "set",
            UpdateOp::Merge { .. } => "merge",
            UpdateOp::Increment { .. } => "increment",
            UpdateOp::Decrement { .. } => "decrement",
            UpdateOp::Append { .. } => "append",
            UpdateOp::Remove { .. } => "remove",
        }
    }

    /// The path given, `None` for merge/append without one (the whole value).
    pub fn path(&self) -> Option<&Path> {
        match self {
            UpdateOp::Set { path, .. }
            | UpdateOp::Increment { path, .. }
            | UpdateOp::Decrement { path, .. }
            | UpdateOp::Remove { path } => Some(path),
            UpdateOp::Merge { path, .. } | UpdateOp::Append { path, .. } => path.as_ref(),
        }
    }
}

/// One op that failed and was skipped; the others still applied.
/// `code` is `<op>.<reason>` (e.g. `increment.not_number`); `message` is for
/// people and may change; `doc_url` is omitted when there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpError {
    pub op_index: usize,
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_url: Option<String>,
}

/// Applies `ops` in order to `current` (`None`: the key is missing) and
/// returns the resulting value and the errors of the ops that were skipped.
/// Takes the value: a caller that still needs the value before clones it
/// (an op that fails leaves the value as it was, so with every op failed
/// the result is the value unchanged).
///
/// Refuses the whole update (`invalid_argument`; what was applied so far
/// is dropped with the value taken) when its removes would move more than
/// [`MAX_UPDATE_MOVES`] fields.
pub fn apply_ops(
    current: Option<Value>,
    ops: &[UpdateOp],
) -> Result<(Value, Vec<OpError>), StateError> {
    let mut root = current;
    let mut errors = Vec::new();
    let mut moves = Moves::new();
    let mut next = 0;
    while let Some(op) = ops.get(next) {
        let run = sibling_run(&ops[next..]);
        if run > 1 {
            let removes = &ops[next..next + run];
            let failures =
                remove_siblings(&mut root, removes, &mut moves).map_err(|_| too_many_moves())?;
            for (offset, failure) in failures {
                errors.push(op_error(next + offset, op, failure));
            }
            next += run;
            continue;
        }
        match apply::apply_op(&mut root, op, &mut moves) {
            Ok(()) => {}
            Err(Stop::Skip(failure)) => errors.push(op_error(next, op, failure)),
            Err(Stop::TooManyMoves) => return Err(too_many_moves()),
        }
        next += 1;
    }
    // Updating a missing key creates it; with no value produced, it is `{}`.
    Ok((root.unwrap_or_else(|| Value::Object(Map::new())), errors))
}

/// The error reported for op `op_index` (`op` is of the same type).
fn op_error(op_index: usize, op: &UpdateOp, failure: Failure) -> OpError {
    OpError {
        op_index,
        code: format!("{}.{}", op.name(), failure.suffix),
        message: failure.message,
        doc_url: None,
    }
}

fn too_many_moves() -> StateError {
    StateError::invalid(
        "ops",
        format!(
            "the removes of this update would move more than {MAX_UPDATE_MOVES} fields \
             (removing a field moves the fields after it; consecutive removes from one \
             object move them once): put them next to each other or split the update"
        ),
    )
}

#[cfg(test)]
mod tests;
