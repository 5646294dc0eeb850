//! Applying one op to a value. Every op first checks everything it needs on
//! the unchanged value (path, target types, arithmetic) and only then writes,
//! so a failing op leaves the value exactly as it was.

use serde_json::{Map, Number, Value};

use super::limits::{MAX_MERGE_DEPTH, MAX_MERGE_KEYS, MAX_VALUE_DEPTH, is_forbidden_key};
use super::path::Display;
use super::remove::{Moves, TooManyMoves, remove_siblings};
use super::{Path, UpdateOp, number};

/// Why one op was skipped: a code suffix (the op name is put in front) and a
/// message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) suffix: &'static str,
    pub(crate) message: String,
}

impl Failure {
    fn new(suffix: &'static str, message: String) -> Self {
        Failure { suffix, message }
    }
}

/// Why [`apply_op`] stopped: the op is skipped, or the whole update is
/// refused (it would move too many fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    Skip(Failure),
    TooManyMoves,
}

impl From<Failure> for Stop {
    fn from(failure: Failure) -> Self {
        Stop::Skip(failure)
    }
}

impl From<TooManyMoves> for Stop {
    fn from(_: TooManyMoves) -> Self {
        Stop::TooManyMoves
    }
}

/// Applies `op` to `root` (`None`: the key holds nothing yet); a remove
/// spends from `moves`.
pub(crate) fn apply_op(
    root: &mut Option<Value>,
    op: &UpdateOp,
    moves: &mut Moves,
) -> Result<(), Stop> {
    let root_path = Path::root();
    let path = op.path().unwrap_or(&root_path);
    let segments = path
        .checked_segments()
        .map_err(|issue| Failure::new(issue.code_suffix(), issue.message()))?;
    match op {
        UpdateOp::Set { value, .. } => {
            check_value_depth(segments.len(), value)?;
            locate(root.as_ref(), segments)?;
            *slot_mut(root, segments)? = value.clone();
        }
        UpdateOp::Increment { by, .. } => add(root, segments, by, false)?,
        UpdateOp::Decrement { by, .. } => add(root, segments, by, true)?,
        UpdateOp::Append { value, .. } => {
            // The value may land inside a new or existing array: one level more.
            check_value_depth(segments.len() + 1, value)?;
            append(root, segments, value)?;
        }
        UpdateOp::Merge { value, .. } => merge(root, segments, value)?,
        // Removing the whole value leaves null: the key stays.
        UpdateOp::Remove { .. } if segments.is_empty() => *root = Some(Value::Null),
        UpdateOp::Remove { .. } => {
            let failures = remove_siblings(root, std::slice::from_ref(op), moves)?;
            if let Some((_, failure)) = failures.into_iter().next() {
                return Err(Stop::Skip(failure));
            }
        }
    }
    Ok(())
}

/// Refuses a value that, placed `above` levels down, would nest deeper than
/// `MAX_VALUE_DEPTH`. The stored value was within the limit before (set
/// values are parsed under the same bound), so checking what an op adds
/// keeps the whole value within it.
fn check_value_depth(above: usize, value: &Value) -> Result<(), Failure> {
    let allowed = MAX_VALUE_DEPTH.saturating_sub(above);
    if exceeds_depth(value, allowed) {
        return Err(Failure::new(
            "value.too_deep",
            format!(
                "Value would leave the item nested more than {MAX_VALUE_DEPTH} \
                 levels deep ({above} of them above it: the path, and the array \
                 an appended value goes into)."
            ),
        ));
    }
    Ok(())
}

/// Whether `value` nests more than `allowed` levels. Stops descending once
/// the answer is known, so the recursion is at most `allowed + 1` deep.
fn exceeds_depth(value: &Value, allowed: usize) -> bool {
    let children: Box<dyn Iterator<Item = &Value>> = match value {
        Value::Object(map) => Box::new(map.values()),
        Value::Array(items) => Box::new(items.iter()),
        _ => return false,
    };
    match allowed.checked_sub(1) {
        None => true,
        Some(left) => children.into_iter().any(|child| exceeds_depth(child, left)),
    }
}

fn add(
    root: &mut Option<Value>,
    segments: &[String],
    by: &Number,
    negate: bool,
) -> Result<(), Failure> {
    let current = match present(locate(root.as_ref(), segments)?) {
        None => None,
        Some(Value::Number(n)) => Some(n),
        Some(other) => {
            return Err(Failure::new(
                "not_number",
                format!(
                    "Expected number at path {}, got {}.",
                    Display(segments),
                    type_name(other)
                ),
            ));
        }
    };
    let Some(result) = number::add(current, by, negate) else {
        let verb = if negate {
            "Decrementing"
        } else {
            "Incrementing"
        };
        let from = current.map_or_else(|| "a missing field".to_owned(), Number::to_string);
        return Err(Failure::new(
            "overflow",
            format!(
                "{verb} {from} by {by} at path {} leaves the number range \
                 (integers: {} to {}; floats: finite).",
                Display(segments),
                i64::MIN,
                u64::MAX
            ),
        ));
    };
    *slot_mut(root, segments)? = Value::Number(result);
    Ok(())
}

fn append(root: &mut Option<Value>, segments: &[String], value: &Value) -> Result<(), Failure> {
    let replacement = match present(locate(root.as_ref(), segments)?) {
        // A missing field becomes the string itself, or a one-element array.
        None => match value {
            Value::String(_) => value.clone(),
            _ => Value::Array(vec![value.clone()]),
        },
        Some(Value::Array(_)) => {
            if let Value::Array(items) = slot_mut(root, segments)? {
                items.push(value.clone());
            }
            return Ok(());
        }
        Some(Value::String(_)) => match value {
            Value::String(tail) => {
                // In place: copying the string for each append would cost
                // its whole length every time.
                if let Value::String(current) = slot_mut(root, segments)? {
                    current.push_str(tail);
                }
                return Ok(());
            }
            other => {
                return Err(Failure::new(
                    "type_mismatch",
                    format!(
                        "Cannot append {} to the string at path {}.",
                        type_name(other),
                        Display(segments)
                    ),
                ));
            }
        },
        Some(other) => {
            return Err(Failure::new(
                "type_mismatch",
                format!(
                    "Expected array, string, null, or missing field at path {}, got {}.",
                    Display(segments),
                    type_name(other)
                ),
            ));
        }
    };
    *slot_mut(root, segments)? = replacement;
    Ok(())
}

fn merge(root: &mut Option<Value>, segments: &[String], value: &Value) -> Result<(), Failure> {
    let Value::Object(fields) = value else {
        return Err(Failure::new(
            "value.not_an_object",
            format!("Expected object as merge value, got {}.", type_name(value)),
        ));
    };
    check_merge_value(fields)?;
    match present(locate(root.as_ref(), segments)?) {
        None | Some(Value::Object(_)) => {}
        Some(other) => {
            return Err(Failure::new(
                "target_not_object",
                format!(
                    "Expected object at path {} to merge into, got {}.",
                    Display(segments),
                    type_name(other)
                ),
            ));
        }
    }
    let slot = slot_mut(root, segments)?;
    if !slot.is_object() {
        // Missing or null: merging into nothing gives the merge value.
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(target) = slot {
        for (key, field) in fields {
            // An existing key keeps its place; a new one goes last.
            target.insert(key.clone(), field.clone());
        }
    }
    Ok(())
}

fn check_merge_value(fields: &Map<String, Value>) -> Result<(), Failure> {
    if fields.len() > MAX_MERGE_KEYS {
        return Err(Failure::new(
            "value.too_many_keys",
            format!(
                "Merge value has {} keys, more than the limit of {MAX_MERGE_KEYS}.",
                fields.len()
            ),
        ));
    }
    let mut scan = Scan::default();
    for (key, field) in fields {
        scan.key(key);
        scan.value(field, 2);
    }
    if scan.too_deep {
        return Err(Failure::new(
            "value.too_deep",
            format!("Merge value is nested more than {MAX_MERGE_DEPTH} levels deep."),
        ));
    }
    if let Some(key) = scan.forbidden {
        return Err(Failure::new(
            "value.proto_polluted",
            format!("Merge value contains the key '{key}', which is not allowed."),
        ));
    }
    Ok(())
}

/// One walk over a merge value: how deep it goes and whether any object in it
/// carries a forbidden key.
#[derive(Default)]
struct Scan {
    too_deep: bool,
    forbidden: Option<String>,
}

impl Scan {
    fn key(&mut self, key: &str) {
        if self.forbidden.is_none() && is_forbidden_key(key) {
            self.forbidden = Some(key.to_owned());
        }
    }

    /// `level`: the nesting level `value` occupies if it is an object or an
    /// array (the merge object itself is level 1, its container fields 2).
    fn value(&mut self, value: &Value, level: usize) {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Object(map) => {
                for key in map.keys() {
                    self.key(key);
                }
                Box::new(map.values())
            }
            Value::Array(items) => Box::new(items.iter()),
            _ => return,
        };
        if level > MAX_MERGE_DEPTH {
            self.too_deep = true;
            return;
        }
        for child in children {
            if self.too_deep {
                return;
            }
            self.value(child, level + 1);
        }
    }
}

/// The value at `segments` without changing anything: `Ok(None)` when some
/// part of the path is missing (or null, which counts as missing), an error
/// when a part that must hold fields holds something else.
pub(super) fn locate<'a>(
    root: Option<&'a Value>,
    segments: &[String],
) -> Result<Option<&'a Value>, Failure> {
    let mut current = root;
    for (depth, segment) in segments.iter().enumerate() {
        current = match current {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(map)) => map.get(segment),
            Some(other) => return Err(not_object(segments, depth, other)),
        };
    }
    Ok(current)
}

/// The slot at `segments`, creating missing (or null) objects on the way and
/// a null leaf. Callers [`locate`] first, so the error here cannot happen; it
/// is returned rather than assumed so that no input can cause a panic.
pub(super) fn slot_mut<'a>(
    root: &'a mut Option<Value>,
    segments: &[String],
) -> Result<&'a mut Value, Failure> {
    let mut current = root.get_or_insert(Value::Null);
    for (depth, segment) in segments.iter().enumerate() {
        if current.is_null() {
            *current = Value::Object(Map::new());
        }
        match current {
            Value::Object(map) => current = map.entry(segment.clone()).or_insert(Value::Null),
            other => return Err(not_object(segments, depth, other)),
        }
    }
    Ok(current)
}

/// A present value, with null counting as missing.
fn present(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

fn not_object(segments: &[String], depth: usize, found: &Value) -> Failure {
    Failure::new(
        "target_not_object",
        format!(
            "Cannot reach path {}: the value at {} is {}, not an object.",
            Display(segments),
            Display(&segments[..depth]),
            type_name(found)
        ),
    )
}

pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
