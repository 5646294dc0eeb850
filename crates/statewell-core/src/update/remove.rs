//! `remove` ops on fields. Removing a field keeps the order of the others,
//! so every field after it moves up one place: the cost grows with the
//! object, not with the request. Consecutive removes from one object are
//! therefore applied together, moving its fields once; and the fields the
//! removes of one update move are counted against [`MAX_UPDATE_MOVES`], so
//! that removes interleaved with other ops cannot hold the commit thread.

use std::collections::HashSet;

use serde_json::Value;

use super::UpdateOp;
use super::apply::{Failure, locate, slot_mut};
use super::limits::MAX_UPDATE_MOVES;

/// What is left of the fields one update may move.
pub(crate) struct Moves {
    left: usize,
}

/// The update would move more than [`MAX_UPDATE_MOVES`] fields: the whole
/// update is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooManyMoves;

impl Moves {
    pub(crate) fn new() -> Self {
        Moves {
            left: MAX_UPDATE_MOVES,
        }
    }

    fn spend(&mut self, count: usize) -> Result<(), TooManyMoves> {
        self.left = self.left.checked_sub(count).ok_or(TooManyMoves)?;
        Ok(())
    }
}

/// The segments of `op` when it removes a field (not the whole value) and
/// its path passes the checks; anything else goes op by op.
fn field_removal(op: &UpdateOp) -> Option<&[String]> {
    match op {
        UpdateOp::Remove { path } => path.checked_segments().ok().filter(|s| !s.is_empty()),
        _ => None,
    }
}

/// How many ops at the start of `ops` remove fields of one object (their
/// paths differ only in the last segment); 0 when the first op does not
/// remove a field.
pub(crate) fn sibling_run(ops: &[UpdateOp]) -> usize {
    let Some((_, parent)) = ops
        .first()
        .and_then(field_removal)
        .and_then(<[_]>::split_last)
    else {
        return 0;
    };
    ops.iter()
        .take_while(|op| {
            field_removal(op)
                .and_then(<[_]>::split_last)
                .is_some_and(|(_, other)| other == parent)
        })
        .count()
}

/// Applies a [`sibling_run`] as the ops one after the other would: removing
/// a field changes neither its object nor whether a sibling is there, so
/// each op is checked on the value as it was, and the object then loses all
/// the fields found in one pass. Returns the failed ops (offset in `ops`,
/// why): a path through something that is not an object; a missing field is
/// no failure and nothing is created.
pub(crate) fn remove_siblings(
    root: &mut Option<Value>,
    ops: &[UpdateOp],
    moves: &mut Moves,
) -> Result<Vec<(usize, Failure)>, TooManyMoves> {
    let mut failures = Vec::new();
    let mut doomed = HashSet::new();
    let mut parent_path: &[String] = &[];
    for (offset, op) in ops.iter().enumerate() {
        let Some(segments) = field_removal(op) else {
            continue;
        };
        let Some((last, parent)) = segments.split_last() else {
            continue;
        };
        parent_path = parent;
        match locate(root.as_ref(), segments) {
            Err(failure) => failures.push((offset, failure)),
            Ok(None) => {}
            Ok(Some(_)) => {
                doomed.insert(last.as_str());
            }
        }
    }
    if doomed.is_empty() {
        return Ok(failures);
    }
    // A field was found, so its object is there: this creates nothing.
    if let Ok(Value::Object(parent)) = slot_mut(root, parent_path) {
        moves.spend(parent.len())?;
        if doomed.len() == 1
            && let Some(only) = doomed.iter().next()
        {
            // One field: no need to rebuild the object's index.
            parent.shift_remove(*only);
        } else {
            parent.retain(|name, _| !doomed.contains(name.as_str()));
        }
    }
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use crate::ErrorCode;
    use crate::update::{MAX_UPDATE_MOVES, OpError, UpdateOp, apply_ops};

    fn ops(list: Vec<Value>) -> Vec<UpdateOp> {
        serde_json::from_value(Value::Array(list)).expect("test ops")
    }

    /// An object of `fields` numbers named `f0`, `f1`, ...
    fn wide(fields: usize) -> Value {
        Value::Object(
            (0..fields)
                .map(|i| (format!("f{i}"), Value::from(i)))
                .collect::<Map<_, _>>(),
        )
    }

    #[test]
    fn many_removes_from_one_object_keep_the_order_of_the_rest() {
        let removes = (0..40_000)
            .map(|i| json!({"type": "remove", "path": format!("f{}", 2 * i)}))
            .collect();
        let (after, errors) = apply_ops(Some(wide(80_000)), &ops(removes)).expect("one pass");
        assert_eq!(errors, []);
        let names: Vec<String> = after
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let expected: Vec<String> = (0..40_000).map(|i| format!("f{}", 2 * i + 1)).collect();
        assert!(names == expected, "order kept");
    }

    /// `rounds` times: remove a field of a `fields`-wide object, then set
    /// another one (so each remove moves the whole object again).
    fn interleaved(fields: usize, rounds: usize) -> Result<Value, crate::StateError> {
        let list = (0..rounds)
            .flat_map(|i| {
                [
                    json!({"type": "remove", "path": format!("f{i}")}),
                    json!({"type": "set", "path": format!("g{i}"), "value": i}),
                ]
            })
            .collect();
        apply_ops(Some(wide(fields)), &ops(list)).map(|(value, _)| value)
    }

    #[test]
    fn removes_moving_more_than_the_bound_refuse_the_update() {
        let fields = 100_000;
        // Each round leaves the object as wide as it was.
        let rounds = MAX_UPDATE_MOVES / fields;
        let within = interleaved(fields, rounds).expect("exactly at the bound");
        assert_eq!(within.as_object().map(Map::len), Some(fields));
        let err = interleaved(fields, rounds + 1).expect_err("past the bound");
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
        assert!(err.to_string().contains("move more than"), "{err}");
    }

    fn start() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(json!(1)),
            Just(json!(null)),
            Just(json!("s")),
            Just(json!({"a": 1, "b": {"c": 2}, "c": null})),
        ];
        prop::collection::vec(("[a-d]", leaf), 0..5)
            .prop_map(|fields| Value::Object(fields.into_iter().collect()))
    }

    fn op() -> impl Strategy<Value = Value> {
        let path = prop_oneof![
            4 => "[a-e]".prop_map(Value::from),
            3 => ("[a-d]", "[a-c]").prop_map(|(a, b)| json!([a, b])),
            1 => ("[a-b]", "[b-c]", "[a-c]").prop_map(|(a, b, c)| json!([a, b, c])),
            1 => Just(json!("")),
            1 => Just(json!(["a", "__proto__"])),
        ];
        prop_oneof![
            6 => path.clone().prop_map(|path| json!({"type": "remove", "path": path})),
            1 => path.prop_map(|path| json!({"type": "set", "path": path, "value": 7})),
        ]
    }

    proptest! {
        /// Removes applied together give what they give one at a time:
        /// the same value, in the same order, and the same errors.
        #[test]
        fn together_is_one_at_a_time(current in start(), list in prop::collection::vec(op(), 0..12)) {
            let list = ops(list);
            let (together, errors) = apply_ops(Some(current.clone()), &list).expect("small");
            let mut value = current;
            let mut one_by_one = Vec::new();
            for (index, op) in list.iter().enumerate() {
                let (next, errors) = apply_ops(Some(value), std::slice::from_ref(op)).expect("small");
                value = next;
                one_by_one.extend(errors.into_iter().map(|e| OpError { op_index: index, ..e }));
            }
            prop_assert_eq!(serde_json::to_string(&together).ok(), serde_json::to_string(&value).ok());
            prop_assert_eq!(errors, one_by_one);
        }
    }
}
