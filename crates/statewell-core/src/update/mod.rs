//! Atomic update operations (`state::update`): set, merge, increment,
//! decrement, append and remove at a path, with the exact semantics and error
//! codes recorded in PROTOCOL.md.
//!
//! PLACEHOLDER: the op semantics are being written; see the ops work item.

use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

/// Where an op applies. A string is ONE literal top-level field (`"a.b"` is
/// the field named `a.b`); `""` is the whole value; an array is a nested path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Path {
    Field(String),
    Nested(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum UpdateOp {
    Set { path: Path, value: Value },
    Merge {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<Path>,
        value: Value,
    },
    Increment { path: Path, by: Number },
    Decrement { path: Path, by: Number },
    Append {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<Path>,
        value: Value,
    },
    Remove { path: Path },
}

/// One op that failed and was skipped; the others still applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpError {
    pub op_index: usize,
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_url: Option<String>,
}

/// Applies `ops` in order to `current` (`None`: the key is missing) and
/// returns the resulting value and the errors of the ops that were skipped.
pub fn apply_ops(current: Option<&Value>, ops: &[UpdateOp]) -> (Value, Vec<OpError>) {
    let _ = ops;
    (current.cloned().unwrap_or(Value::Object(Default::default())), Vec::new())
}
