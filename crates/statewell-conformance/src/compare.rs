//! Equality of a normalised result and an expected one, as
//! `conformance/README.md` ("Comparing") defines it.

use serde_json::{Number, Value};

/// Objects compare as maps (key order ignored), arrays in order, numbers by
/// value (`3` equals `3.0`) but integers exactly (no rounding through `f64`).
pub fn same(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => same_number(a, b),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, x)| b.get(k).is_some_and(|y| same(x, y)))
        }
        _ => actual == expected,
    }
}

fn same_number(a: &Number, b: &Number) -> bool {
    // Every JSON integer serde_json keeps exactly fits an i128.
    let int = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a.as_f64() == b.as_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::same;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value_and_integers_exactly() {
        assert!(same(&json!(3), &json!(3.0)));
        assert!(same(&json!(-2), &json!(-2.0)));
        assert!(!same(&json!(3), &json!(3.5)));
        assert!(!same(
            &json!(9223372036854775808u64),
            &json!(9223372036854775807i64)
        ));
        assert!(same(
            &json!(18446744073709551615u64),
            &json!(18446744073709551615u64)
        ));
        assert!(!same(&json!(i64::MIN), &json!(i64::MIN + 1)));
    }

    #[test]
    fn objects_compare_as_maps_and_arrays_in_order() {
        assert!(same(
            &json!({"a": 3, "b": [1.0]}),
            &json!({"b": [1], "a": 3.0})
        ));
        assert!(!same(&json!({"a": 1}), &json!({"a": 1, "b": null})));
        assert!(!same(&json!({"a": 1, "b": 2}), &json!({"a": 1})));
        assert!(!same(&json!({"a": 1}), &json!({"b": 1})));
        assert!(!same(&json!([1, 2]), &json!([2, 1])));
        assert!(!same(&json!([1]), &json!([1, 1])));
    }

    #[test]
    fn kinds_never_mix() {
        assert!(!same(&json!(null), &json!({})));
        assert!(!same(&json!(null), &json!(0)));
        assert!(!same(&json!("1"), &json!(1)));
        assert!(!same(&json!(false), &json!(0)));
        assert!(!same(&json!([]), &json!({})));
    }
}
