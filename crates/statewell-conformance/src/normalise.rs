//! From a call's result as a target got it to the SDK-normalised form the
//! vectors expect (`conformance/README.md`, "Results" and "Comparing").
//!
//! A target hands over the result with a missing item already as `null`
//! (the wire omits `result`; HTTP answers 404). What stays for every target:
//! update errors reduced to `{op_index, code}` once their message is checked,
//! `errors: []` added when absent, item versions checked and dropped.

use serde_json::{Value, json};

/// Normalises `result` of `call`. `Err` says why the result breaks the
/// protocol (an op error without a message, an item without a version, ...).
pub fn normalise(call: &str, result: Value) -> Result<Value, String> {
    match call {
        "update" => update(result),
        "list_items" => list_items(result),
        "get_item" if result.is_null() => Ok(result),
        "get_item" => drop_version(result),
        "transaction" => transaction(result),
        _ => Ok(result),
    }
}

fn update(mut result: Value) -> Result<Value, String> {
    let Value::Object(fields) = &mut result else {
        return Err(format!("an update result must be an object, got {result}"));
    };
    // The wire omits `errors` when every op applied.
    let errors = fields.entry("errors").or_insert_with(|| json!([]));
    let Value::Array(errors) = errors else {
        return Err(format!("`errors` must be an array, got {errors}"));
    };
    for error in errors {
        // The message is for people: only required to say something.
        let has_message = error
            .get("message")
            .and_then(Value::as_str)
            .is_some_and(|m| !m.is_empty());
        if !has_message {
            return Err(format!("op error without a message: {error}"));
        }
        *error = json!({"op_index": error["op_index"], "code": error["code"]});
    }
    Ok(result)
}

/// Drops an object's `version` after checking its kind: null (a check of
/// a missing item, a write that changed nothing) or a non-negative integer.
fn drop_version(mut result: Value) -> Result<Value, String> {
    let Value::Object(fields) = &mut result else {
        return Err(format!("expected an object, got {result}"));
    };
    match fields.remove("version") {
        Some(version) if version.is_u64() || version.is_null() => Ok(result),
        other => Err(format!(
            "`version` must be a non-negative integer or null, got {other:?}"
        )),
    }
}

fn transaction(mut result: Value) -> Result<Value, String> {
    let Some(results) = result.get_mut("results").and_then(Value::as_array_mut) else {
        return Err(format!(
            "a transaction result needs `results`, got {result}"
        ));
    };
    for one in results.iter_mut() {
        *one = drop_version(one.take())?;
    }
    Ok(result)
}

fn list_items(mut result: Value) -> Result<Value, String> {
    let Some(items) = result.get_mut("items").and_then(Value::as_array_mut) else {
        return Err(format!("a list_items result needs `items`, got {result}"));
    };
    for item in items {
        let Value::Object(fields) = item else {
            return Err(format!("an item must be an object, got {item}"));
        };
        // Stores number revisions their own ways: only its kind is checked.
        match fields.remove("version") {
            Some(version) if version.is_u64() => {}
            other => {
                return Err(format!(
                    "an item's `version` must be a non-negative integer, got {other:?}"
                ));
            }
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::normalise;
    use serde_json::json;

    #[test]
    fn update_errors_are_reduced_and_added_when_absent() {
        let wire = json!({"old_value": null, "new_value": 1});
        assert_eq!(
            normalise("update", wire),
            Ok(json!({"old_value": null, "new_value": 1, "errors": []}))
        );
        let wire = json!({"old_value": 1, "new_value": 1, "errors": [
            {"op_index": 0, "code": "set.target_not_object", "message": "no", "doc_url": "x"}]});
        assert_eq!(
            normalise("update", wire),
            Ok(json!({"old_value": 1, "new_value": 1, "errors": [
                {"op_index": 0, "code": "set.target_not_object"}]}))
        );
    }

    #[test]
    fn op_errors_without_a_message_are_refused() {
        for error in [
            json!({"op_index": 0, "code": "c"}),
            json!({"op_index": 0, "code": "c", "message": ""}),
            json!({"op_index": 0, "code": "c", "message": 5}),
        ] {
            let wire = json!({"old_value": null, "new_value": 1, "errors": [error]});
            let refused = normalise("update", wire).expect_err("no message");
            assert!(refused.contains("without a message"), "{refused}");
        }
        assert!(normalise("update", json!({"errors": {}})).is_err());
        assert!(normalise("update", json!(null)).is_err());
    }

    #[test]
    fn item_versions_are_checked_then_dropped() {
        let wire = json!({"items": [{"key": "a", "value": 1, "version": 7}], "next": "a"});
        assert_eq!(
            normalise("list_items", wire),
            Ok(json!({"items": [{"key": "a", "value": 1}], "next": "a"}))
        );
        for version in [json!(null), json!(-1), json!("7"), json!(1.5)] {
            let wire =
                json!({"items": [{"key": "a", "value": 1, "version": version}], "next": null});
            assert!(normalise("list_items", wire).is_err(), "{version}");
        }
        let wire = json!({"items": [{"key": "a", "value": 1}], "next": null});
        assert!(normalise("list_items", wire).is_err());
        assert!(normalise("list_items", json!({"next": null})).is_err());
    }

    #[test]
    fn other_results_pass_unchanged() {
        let value = json!({"b": 1, "a": [null]});
        for call in ["set", "get", "delete", "list", "clear", "list_groups"] {
            assert_eq!(normalise(call, value.clone()), Ok(value.clone()));
        }
    }
}
