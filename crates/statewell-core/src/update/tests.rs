//! Unit tests of every op and every error code, through `apply_ops` with ops
//! parsed from JSON exactly as the wire sends them.

use serde_json::{Value, json};

use super::*;

fn ops(json: Value) -> Vec<UpdateOp> {
    serde_json::from_value(json).unwrap_or_else(|e| panic!("test ops must parse: {e}"))
}

/// Applies ops to `current` and returns the value and the error codes.
fn run(current: Option<Value>, list: Value) -> (Value, Vec<(usize, String)>) {
    let (value, errors) = apply_ops(current, &ops(list)).unwrap_or_else(|e| panic!("refused: {e}"));
    for e in &errors {
        assert!(!e.message.is_empty(), "every error has a message");
    }
    let codes = errors.into_iter().map(|e| (e.op_index, e.code)).collect();
    (value, codes)
}

fn ok(current: Option<Value>, list: Value) -> Value {
    let (value, codes) = run(current, list);
    assert!(codes.is_empty(), "unexpected errors: {codes:?}");
    value
}

/// Runs one op expected to fail: returns its code and checks nothing changed.
fn fails(current: Value, op: Value) -> String {
    let (value, mut codes) = run(Some(current.clone()), json!([op]));
    assert_eq!(value, current, "a failing op leaves the value unchanged");
    assert_eq!(codes.len(), 1, "{codes:?}");
    codes.remove(0).1
}

// ---- set ----

#[test]
fn set_a_field_on_a_missing_key_starts_from_an_empty_object() {
    assert_eq!(
        ok(None, json!([{"type":"set","path":"a","value":1}])),
        json!({"a":1})
    );
}

#[test]
fn set_string_path_is_one_literal_field() {
    let out = ok(
        Some(json!({"a":{"b":1}})),
        json!([{"type":"set","path":"a.b","value":2}]),
    );
    assert_eq!(out, json!({"a":{"b":1},"a.b":2}));
}

#[test]
fn set_nested_path_creates_intermediate_objects() {
    let out = ok(
        Some(json!({"x":0})),
        json!([{"type":"set","path":["a","b","c"],"value":true}]),
    );
    assert_eq!(out, json!({"x":0,"a":{"b":{"c":true}}}));
}

#[test]
fn set_root_replaces_the_whole_value() {
    assert_eq!(
        ok(
            Some(json!({"a":1})),
            json!([{"type":"set","path":"","value":[1]}])
        ),
        json!([1])
    );
    assert_eq!(
        ok(None, json!([{"type":"set","path":[],"value":5}])),
        json!(5)
    );
}

#[test]
fn set_through_null_replaces_it_with_an_object() {
    let out = ok(
        Some(json!({"a":null})),
        json!([{"type":"set","path":["a","b"],"value":1}]),
    );
    assert_eq!(out, json!({"a":{"b":1}}));
    assert_eq!(
        ok(
            Some(Value::Null),
            json!([{"type":"set","path":"a","value":1}])
        ),
        json!({"a":1})
    );
}

#[test]
fn set_on_a_scalar_or_array_is_target_not_object() {
    assert_eq!(
        fails(json!(5), json!({"type":"set","path":"x","value":1})),
        "set.target_not_object"
    );
    assert_eq!(
        fails(
            json!({"a":[1]}),
            json!({"type":"set","path":["a","0"],"value":1})
        ),
        "set.target_not_object"
    );
    assert_eq!(
        fails(
            json!({"a":"s"}),
            json!({"type":"set","path":["a","b","c"],"value":1})
        ),
        "set.target_not_object"
    );
}

#[test]
fn set_keeps_field_order() -> Result<(), serde_json::Error> {
    let out = ok(
        Some(json!({"z":1,"a":2,"m":3})),
        json!([{"type":"set","path":"a","value":9},{"type":"set","path":"b","value":0}]),
    );
    assert_eq!(serde_json::to_string(&out)?, r#"{"z":1,"a":9,"m":3,"b":0}"#);
    Ok(())
}

// ---- merge ----

#[test]
fn merge_is_shallow_and_keeps_existing_order() -> Result<(), serde_json::Error> {
    let out = ok(
        Some(json!({"b":1,"a":{"x":1},"c":3})),
        json!([{"type":"merge","value":{"a":{"y":2},"d":4,"b":5}}]),
    );
    assert_eq!(
        serde_json::to_string(&out)?,
        r#"{"b":5,"a":{"y":2},"c":3,"d":4}"#
    );
    Ok(())
}

#[test]
fn merge_on_a_missing_key_or_path() {
    assert_eq!(
        ok(None, json!([{"type":"merge","value":{"a":1}}])),
        json!({"a":1})
    );
    assert_eq!(
        ok(
            None,
            json!([{"type":"merge","path":["a","b"],"value":{"c":1}}])
        ),
        json!({"a":{"b":{"c":1}}})
    );
    assert_eq!(
        ok(
            Some(json!({"a":null})),
            json!([{"type":"merge","path":"a","value":{"c":1}}])
        ),
        json!({"a":{"c":1}})
    );
}

#[test]
fn merge_value_checks() {
    let cur = json!({"a":1});
    assert_eq!(
        fails(cur.clone(), json!({"type":"merge","value":[1]})),
        "merge.value.not_an_object"
    );
    assert_eq!(
        fails(cur.clone(), json!({"type":"merge","value":null})),
        "merge.value.not_an_object"
    );
    assert_eq!(
        fails(
            cur.clone(),
            json!({"type":"merge","value":{"__proto__":{"x":1}}})
        ),
        "merge.value.proto_polluted"
    );
    assert_eq!(
        fails(
            cur.clone(),
            json!({"type":"merge","value":{"a":[{"constructor":1}]}})
        ),
        "merge.value.proto_polluted"
    );
    let many: serde_json::Map<String, Value> = (0..=MAX_MERGE_KEYS)
        .map(|i| (format!("k{i}"), json!(i)))
        .collect();
    assert_eq!(
        fails(cur.clone(), json!({"type":"merge","value":many})),
        "merge.value.too_many_keys"
    );
    let enough: serde_json::Map<String, Value> = (0..MAX_MERGE_KEYS)
        .map(|i| (format!("k{i}"), json!(i)))
        .collect();
    assert_eq!(
        ok(None, json!([{"type":"merge","value":enough}]))
            .as_object()
            .map(|m| m.len()),
        Some(MAX_MERGE_KEYS)
    );
}

/// An object nested `levels` deep: `{"n":{"n":...{}}}` (`{}` is 1 level).
fn nested(levels: usize) -> Value {
    (1..levels).fold(json!({}), |inner, _| json!({ "n": inner }))
}

#[test]
fn merge_depth_limit() {
    assert_eq!(
        ok(
            None,
            json!([{"type":"merge","value":nested(MAX_MERGE_DEPTH)}])
        ),
        nested(MAX_MERGE_DEPTH)
    );
    assert_eq!(
        fails(
            json!({}),
            json!({"type":"merge","value":nested(MAX_MERGE_DEPTH + 1)})
        ),
        "merge.value.too_deep"
    );
    // Arrays count as levels too.
    let with_array = json!({"a":[nested(MAX_MERGE_DEPTH - 1)]});
    assert_eq!(
        fails(json!({}), json!({"type":"merge","value":with_array})),
        "merge.value.too_deep"
    );
}

#[test]
fn merge_into_a_non_object_is_target_not_object() {
    assert_eq!(
        fails(
            json!({"a":5}),
            json!({"type":"merge","path":"a","value":{"b":1}})
        ),
        "merge.target_not_object"
    );
    assert_eq!(
        fails(json!([1]), json!({"type":"merge","value":{"b":1}})),
        "merge.target_not_object"
    );
}

// ---- increment / decrement ----

#[test]
fn increment_and_decrement_a_missing_field() {
    assert_eq!(
        ok(None, json!([{"type":"increment","path":"n","by":3}])),
        json!({"n":3})
    );
    assert_eq!(
        ok(None, json!([{"type":"decrement","path":"n","by":3}])),
        json!({"n":-3})
    );
    assert_eq!(
        ok(
            Some(json!({"n":null})),
            json!([{"type":"increment","path":"n","by":2}])
        ),
        json!({"n":2})
    );
}

#[test]
fn increment_root_of_a_missing_key_starts_from_zero() {
    assert_eq!(
        ok(None, json!([{"type":"increment","path":"","by":1}])),
        json!(1)
    );
    assert_eq!(
        ok(None, json!([{"type":"decrement","path":[],"by":1}])),
        json!(-1)
    );
}

#[test]
fn increment_floats() {
    assert_eq!(
        ok(
            Some(json!({"n":1.5})),
            json!([{"type":"increment","path":"n","by":1}])
        ),
        json!({"n":2.5})
    );
    assert_eq!(
        ok(
            Some(json!({"n":1})),
            json!([{"type":"increment","path":"n","by":1.5}])
        ),
        json!({"n":2.5})
    );
    assert_eq!(
        ok(
            Some(json!({"n":1})),
            json!([{"type":"decrement","path":"n","by":0.5}])
        ),
        json!({"n":0.5})
    );
}

#[test]
fn increment_past_i64_max_stays_exact() -> Result<(), serde_json::Error> {
    let out = ok(
        Some(json!({"n":i64::MAX})),
        json!([{"type":"increment","path":"n","by":1}]),
    );
    assert_eq!(serde_json::to_string(&out)?, r#"{"n":9223372036854775808}"#);
    let out = ok(
        Some(json!({"n":u64::MAX - 1})),
        json!([{"type":"increment","path":"n","by":1}]),
    );
    assert_eq!(out, json!({"n":u64::MAX}));
    Ok(())
}

#[test]
fn overflow_is_an_error_and_changes_nothing() {
    assert_eq!(
        fails(
            json!({"n":u64::MAX}),
            json!({"type":"increment","path":"n","by":1})
        ),
        "increment.overflow"
    );
    assert_eq!(
        fails(
            json!({"n":i64::MIN}),
            json!({"type":"decrement","path":"n","by":1})
        ),
        "decrement.overflow"
    );
    assert_eq!(
        fails(
            json!({"n":1e308}),
            json!({"type":"increment","path":"n","by":1e308})
        ),
        "increment.overflow"
    );
    assert_eq!(
        fails(
            json!({}),
            json!({"type":"decrement","path":"n","by":u64::MAX})
        ),
        "decrement.overflow"
    );
}

#[test]
fn increment_a_non_number_is_not_number() {
    for cur in [
        json!({"n":"x"}),
        json!({"n":true}),
        json!({"n":[1]}),
        json!({"n":{}}),
    ] {
        assert_eq!(
            fails(cur.clone(), json!({"type":"increment","path":"n","by":1})),
            "increment.not_number"
        );
        assert_eq!(
            fails(cur, json!({"type":"decrement","path":"n","by":1})),
            "decrement.not_number"
        );
    }
    assert_eq!(
        fails(json!({"a":1}), json!({"type":"increment","path":"","by":1})),
        "increment.not_number"
    );
}

#[test]
fn not_number_message_names_path_and_type() {
    let (_, errors) = apply_ops(
        Some(json!({"name":"x"})),
        &ops(json!([{"type":"increment","path":"name","by":1}])),
    )
    .unwrap_or_else(|e| panic!("refused: {e}"));
    assert_eq!(
        errors.first().map(|e| e.message.as_str()),
        Some("Expected number at path 'name', got string.")
    );
}

#[test]
fn increment_through_a_scalar_is_target_not_object() {
    assert_eq!(
        fails(json!(5), json!({"type":"increment","path":"n","by":1})),
        "increment.target_not_object"
    );
    assert_eq!(
        fails(
            json!({"a":1}),
            json!({"type":"decrement","path":["a","n"],"by":1})
        ),
        "decrement.target_not_object"
    );
}

// ---- append ----

#[test]
fn append_to_missing_fields_and_keys() {
    assert_eq!(
        ok(None, json!([{"type":"append","path":"a","value":1}])),
        json!({"a":[1]})
    );
    assert_eq!(
        ok(None, json!([{"type":"append","path":"a","value":{"k":1}}])),
        json!({"a":[{"k":1}]})
    );
    assert_eq!(
        ok(None, json!([{"type":"append","path":"a","value":"s"}])),
        json!({"a":"s"})
    );
    assert_eq!(
        ok(None, json!([{"type":"append","path":["a","b"],"value":1}])),
        json!({"a":{"b":[1]}})
    );
    assert_eq!(ok(None, json!([{"type":"append","value":1}])), json!([1]));
    assert_eq!(
        ok(None, json!([{"type":"append","path":"a","value":[1,2]}])),
        json!({"a":[[1,2]]})
    );
}

#[test]
fn append_to_arrays_strings_and_null() {
    assert_eq!(
        ok(
            Some(json!({"a":[1]})),
            json!([{"type":"append","path":"a","value":2}])
        ),
        json!({"a":[1,2]})
    );
    assert_eq!(
        ok(
            Some(json!({"a":"ab"})),
            json!([{"type":"append","path":"a","value":"cd"}])
        ),
        json!({"a":"abcd"})
    );
    assert_eq!(
        ok(
            Some(json!({"a":null})),
            json!([{"type":"append","path":"a","value":1}])
        ),
        json!({"a":[1]})
    );
    assert_eq!(
        ok(Some(json!([0])), json!([{"type":"append","value":1}])),
        json!([0, 1])
    );
}

#[test]
fn append_type_errors() {
    assert_eq!(
        fails(
            json!({"a":"ab"}),
            json!({"type":"append","path":"a","value":1})
        ),
        "append.type_mismatch"
    );
    assert_eq!(
        fails(
            json!({"a":5}),
            json!({"type":"append","path":"a","value":1})
        ),
        "append.type_mismatch"
    );
    assert_eq!(
        fails(
            json!({"a":{}}),
            json!({"type":"append","path":"a","value":1})
        ),
        "append.type_mismatch"
    );
    assert_eq!(
        fails(json!({"a":1}), json!({"type":"append","value":1})),
        "append.type_mismatch"
    );
    assert_eq!(
        fails(json!(5), json!({"type":"append","path":"a","value":1})),
        "append.target_not_object"
    );
    assert_eq!(
        fails(
            json!({"a":[]}),
            json!({"type":"append","path":["a","b"],"value":1})
        ),
        "append.target_not_object"
    );
}

// ---- remove ----

#[test]
fn remove_fields_keeping_order() -> Result<(), serde_json::Error> {
    let out = ok(
        Some(json!({"c":1,"b":2,"a":3})),
        json!([{"type":"remove","path":"b"}]),
    );
    assert_eq!(serde_json::to_string(&out)?, r#"{"c":1,"a":3}"#);
    let out = ok(
        Some(json!({"a":{"b":1,"c":2}})),
        json!([{"type":"remove","path":["a","b"]}]),
    );
    assert_eq!(out, json!({"a":{"c":2}}));
    assert_eq!(
        ok(
            Some(json!({"a":null})),
            json!([{"type":"remove","path":"a"}])
        ),
        json!({})
    );
    Ok(())
}

#[test]
fn remove_missing_is_no_change_and_creates_nothing() {
    assert_eq!(
        ok(Some(json!({"a":1})), json!([{"type":"remove","path":"x"}])),
        json!({"a":1})
    );
    assert_eq!(
        ok(
            Some(json!({"a":1})),
            json!([{"type":"remove","path":["x","y"]}])
        ),
        json!({"a":1})
    );
    assert_eq!(ok(None, json!([{"type":"remove","path":"x"}])), json!({}));
}

#[test]
fn remove_root_leaves_null() {
    assert_eq!(
        ok(Some(json!({"a":1})), json!([{"type":"remove","path":""}])),
        Value::Null
    );
    assert_eq!(ok(None, json!([{"type":"remove","path":""}])), Value::Null);
}

#[test]
fn remove_through_a_scalar_is_target_not_object() {
    assert_eq!(
        fails(json!(5), json!({"type":"remove","path":"a"})),
        "remove.target_not_object"
    );
    assert_eq!(
        fails(json!({"a":1}), json!({"type":"remove","path":["a","b"]})),
        "remove.target_not_object"
    );
}

// ---- paths, for every op ----

#[test]
fn path_errors_carry_the_op_name() {
    let long = "s".repeat(MAX_SEGMENT_BYTES + 1);
    let deep = vec!["d"; MAX_PATH_DEPTH + 1];
    let cases = [
        (json!("__proto__"), "path.proto_polluted"),
        (json!(["a", "constructor"]), "path.proto_polluted"),
        (json!(["prototype"]), "path.proto_polluted"),
        (json!(["a", ""]), "path.empty_segment"),
        (json!(long), "path.segment_too_long"),
        (json!(deep), "path.too_deep"),
    ];
    let bodies = [
        ("set", json!({"value":1})),
        ("merge", json!({"value":{"x":1}})),
        ("increment", json!({"by":1})),
        ("decrement", json!({"by":1})),
        ("append", json!({"value":1})),
        ("remove", json!({})),
    ];
    for (path, suffix) in &cases {
        for (name, body) in &bodies {
            let mut op = body.clone();
            op["type"] = json!(name);
            op["path"] = path.clone();
            assert_eq!(fails(json!({"a":{}}), op), format!("{name}.{suffix}"));
        }
    }
}

// ---- several ops ----

#[test]
fn ops_apply_in_order_and_failures_are_skipped() {
    let (value, codes) = run(
        Some(json!({"name":"x","n":1})),
        json!([
            {"type":"increment","path":"n","by":1},
            {"type":"increment","path":"name","by":1},
            {"type":"set","path":"done","value":true},
            {"type":"merge","value":7},
            {"type":"increment","path":"n","by":10}
        ]),
    );
    assert_eq!(value, json!({"name":"x","n":12,"done":true}));
    assert_eq!(
        codes,
        vec![
            (1, "increment.not_number".to_owned()),
            (3, "merge.value.not_an_object".to_owned())
        ]
    );
}

#[test]
fn later_ops_see_earlier_results() {
    let out = ok(
        None,
        json!([
            {"type":"increment","path":"","by":5},
            {"type":"increment","path":"","by":1}
        ]),
    );
    assert_eq!(out, json!(6));
    let (out, codes) = run(
        None,
        json!([
            {"type":"set","path":"a","value":1},
            {"type":"increment","path":"","by":1}
        ]),
    );
    assert_eq!(out, json!({"a":1}));
    assert_eq!(codes, vec![(1, "increment.not_number".to_owned())]);
}

#[test]
fn a_missing_key_with_only_failing_ops_becomes_an_empty_object() {
    let (out, codes) = run(
        None,
        json!([{"type":"merge","value":1},{"type":"set","path":"__proto__","value":1}]),
    );
    assert_eq!(out, json!({}));
    assert_eq!(codes.len(), 2);
}

// ---- parsing ----

#[test]
fn malformed_ops_fail_to_parse() {
    let bad = [
        json!([{"type":"bogus","path":"a"}]),
        json!([{"type":"increment","path":"a"}]),
        json!([{"type":"increment","path":"a","by":"1"}]),
        json!([{"type":"increment","by":1}]),
        json!([{"type":"set","value":1}]),
        json!([{"type":"remove"}]),
        json!([{"type":"set","path":"a"}]),
        json!([{"type":"set","path":7,"value":1}]),
        json!([{"path":"a","value":1}]),
        json!({"type":"set","path":"a","value":1}),
    ];
    for list in bad {
        assert!(
            serde_json::from_value::<Vec<UpdateOp>>(list.clone()).is_err(),
            "{list}"
        );
    }
}

#[test]
fn ops_round_trip_through_json() -> Result<(), serde_json::Error> {
    let list = json!([
        {"type":"set","path":["a","b"],"value":1},
        {"type":"merge","value":{"x":1}},
        {"type":"increment","path":"n","by":1.5},
        {"type":"append","path":"l","value":"s"},
        {"type":"remove","path":""}
    ]);
    let parsed: Vec<UpdateOp> = serde_json::from_value(list.clone())?;
    assert_eq!(serde_json::to_value(&parsed)?, list);
    Ok(())
}
