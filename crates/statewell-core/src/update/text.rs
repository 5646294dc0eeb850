//! An increment applied to a value's stored text, without parsing the value.
//!
//! The common update is one increment of a counter in an object. Parsing the
//! stored object, adding, and printing it back costs far more than the sum:
//! for a 200-byte object most of an update's work on the commit thread. When
//! the stored text is an object written as the printer writes it, with the
//! field holding a number, the new text is the old one with that number
//! replaced — which is what printing the changed value gives, since the rest
//! of the object reads and prints back unchanged (fields keep their order).
//! Everything else (a missing field, another type, a repeated field name, an
//! overflow, several ops) is left to the parsed path, which gives every
//! result and every error.

use serde_json::Number;

use super::{UpdateOp, number};
use crate::printed::{printed_object_end, printed_value_end};

/// `stored` (the compact JSON text of a stored value) with `ops` applied,
/// when they are one increment or decrement of a number held in a
/// top-level field of an object whose field names appear once each and
/// hold no escape; `None` means "apply the ops to the parsed value".
///
/// Nested objects keep their text as it is: where one repeats a key (text
/// that `compact_json` keeps, see there), this text keeps both occurrences
/// where printing the parsed value would keep the last; JSON readers read
/// both as the same value.
pub fn apply_to_text(stored: &str, ops: &[UpdateOp]) -> Option<String> {
    let [op] = ops else {
        return None;
    };
    let (path, by, negate) = match op {
        UpdateOp::Increment { path, by } => (path, by, false),
        UpdateOp::Decrement { path, by } => (path, by, true),
        _ => return None,
    };
    // The same checks as the parsed path (depth, forbidden names).
    let [field] = path.checked_segments().ok()? else {
        return None;
    };
    let mut names = Vec::with_capacity(16);
    let mut number_at = None;
    let end = printed_object_end(stored, 0, |name, at| {
        let end = printed_value_end(stored, at)?;
        if name == field.as_str() {
            number_at = Some((at, end));
        }
        names.push(name);
        Some(end)
    })?;
    if end != stored.len() {
        return None;
    }
    // A repeated name: which occurrence the parsed value keeps, and where
    // it prints it, is the parsed path's business.
    names.sort_unstable();
    if names.windows(2).any(|pair| pair[0] == pair[1]) {
        return None;
    }
    let (at, end) = number_at?;
    let old = stored.get(at..end)?;
    if !matches!(old.as_bytes().first(), Some(b'-' | b'0'..=b'9')) {
        return None;
    }
    let current: Number = serde_json::from_str(old).ok()?;
    let sum = number::add(Some(&current), by, negate)?;
    let printed = serde_json::to_string(&sum).ok()?;
    Some([&stored[..at], printed.as_str(), &stored[end..]].concat())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::update::apply_ops;

    fn increment(path: Value, by: Value) -> Vec<UpdateOp> {
        serde_json::from_value(json!([{"type": "increment", "path": path, "by": by}]))
            .expect("test ops")
    }

    /// What the parsed path stores: parse, apply, print.
    fn through_the_value(stored: &str, ops: &[UpdateOp]) -> (String, usize) {
        let value: Value = serde_json::from_str(stored).expect("stored JSON");
        let (after, errors) = apply_ops(Some(value), ops).expect("within the limits");
        (
            serde_json::to_string(&after).expect("printable"),
            errors.len(),
        )
    }

    #[test]
    fn replaces_the_number_and_nothing_else() {
        let stored = r#"{"name":"n","count":41,"tags":["a"],"nested":{"count":1}}"#;
        let ops = increment(json!("count"), json!(1));
        let text = apply_to_text(stored, &ops).expect("a counter");
        assert_eq!(
            text,
            r#"{"name":"n","count":42,"tags":["a"],"nested":{"count":1}}"#
        );
        assert_eq!(text, through_the_value(stored, &ops).0);
        let ops: Vec<UpdateOp> =
            serde_json::from_value(json!([{"type": "decrement", "path": ["count"], "by": 0.5}]))
                .expect("test ops");
        let text = apply_to_text(stored, &ops).expect("a counter");
        assert_eq!(text, through_the_value(stored, &ops).0);
    }

    #[test]
    fn leaves_everything_else_to_the_parsed_path() {
        let one = increment(json!("n"), json!(1));
        for stored in [
            r#"{"m":1}"#,                    // missing field
            r#"{"n":"1"}"#,                  // not a number
            r#"{"n":null}"#,                 // null counts as missing
            r#"{"n":1,"n":2}"#,              // repeated name
            r#"{"n":1,"m":{},"m":2}"#,       // repeated elsewhere
            r#"{"n":18446744073709551615}"#, // overflow
            r#"{"n": 1}"#,                   // not compact
            r#"{"\u006e":1}"#,               // escaped name
            "[1]",
            "7",
        ] {
            assert_eq!(apply_to_text(stored, &one), None, "{stored}");
        }
        let stored = r#"{"n":1}"#;
        let nested = increment(json!(["a", "n"]), json!(1));
        let forbidden = increment(json!("__proto__"), json!(1));
        let two: Vec<UpdateOp> = [one.clone(), one.clone()].concat();
        let set: Vec<UpdateOp> =
            serde_json::from_value(json!([{"type": "set", "path": "n", "value": 2}]))
                .expect("test ops");
        for ops in [nested, forbidden, two, set] {
            assert_eq!(apply_to_text(stored, &ops), None, "{ops:?}");
        }
    }

    fn stored_object() -> impl Strategy<Value = String> {
        let number = prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
        ];
        let other = prop_oneof![
            Just(json!(null)),
            Just(json!("s\"\n")),
            Just(json!([1, {"count": 2}])),
            Just(json!({"a": {"b": 1.5}})),
        ];
        let field = prop_oneof![
            3 => ("[a-c]", number.clone()),
            1 => ("count|[a-c]", other),
            1 => (Just("count".to_owned()), number),
        ];
        prop::collection::vec(field, 0..6).prop_map(|fields| {
            let object: serde_json::Map<String, Value> = fields.into_iter().collect();
            serde_json::to_string(&Value::Object(object)).expect("printable")
        })
    }

    proptest! {
        /// Wherever the text path answers, it gives the parsed path's text.
        #[test]
        fn agrees_with_the_parsed_path(
            stored in stored_object(),
            path in prop_oneof![Just("count"), Just("a"), Just("z")],
            by in prop_oneof![
                any::<i64>().prop_map(Value::from),
                Just(json!(u64::MAX)),
                (-10.0f64..10.0).prop_map(Value::from),
            ],
            negate in any::<bool>(),
        ) {
            let kind = if negate { "decrement" } else { "increment" };
            let ops: Vec<UpdateOp> =
                serde_json::from_value(json!([{"type": kind, "path": path, "by": by}]))
                    .expect("test ops");
            if let Some(text) = apply_to_text(&stored, &ops) {
                let (parsed, errors) = through_the_value(&stored, &ops);
                prop_assert_eq!(errors, 0, "{}", stored);
                prop_assert_eq!(text, parsed, "{}", stored);
            }
        }
    }
}
