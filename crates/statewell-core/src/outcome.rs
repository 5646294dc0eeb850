//! What a set and an update answer: the value before and after (and the
//! ops an update skipped), as values or as the store's JSON text.

use serde::Serialize;
use serde_json::Value;

use crate::RawJson;
use crate::update::OpError;

/// Result of `set`: the value before (null when the key was new) and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetOutcome {
    pub old_value: Option<Value>,
    pub new_value: Value,
    pub version: u64,
}

/// [`SetOutcome`] with both values as compact JSON text (see
/// [`crate::Store::set_raw`]), for a caller that only passes them on.
#[derive(Debug, Clone)]
pub struct RawSetOutcome {
    pub old_value: Option<RawJson>,
    pub new_value: RawJson,
    pub version: u64,
}

/// Result of `update`. `new_value` is `None` only when nothing was written to
/// a missing key (an empty op list). `errors` lists the ops that were skipped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdateOutcome {
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub errors: Vec<OpError>,
    pub version: Option<u64>,
}

/// [`UpdateOutcome`] with both values as compact JSON text (see
/// [`crate::Store::update_raw`]), for a caller that only passes them on.
#[derive(Debug, Clone)]
pub struct RawUpdateOutcome {
    pub old_value: Option<RawJson>,
    pub new_value: Option<RawJson>,
    pub errors: Vec<OpError>,
    pub version: Option<u64>,
}
