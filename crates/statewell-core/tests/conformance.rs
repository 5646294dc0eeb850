//! Runs every conformance vector (`conformance/*.json` at the repository
//! root) against a `MemoryStore` through `State`, parsing each step's `args`
//! the way the wire does: a payload serde refuses is `deserialization_error`,
//! a refused argument is the `StateError` code. `conformance/README.md` is the
//! normative description of the format and of how results are compared.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use statewell_core::update::UpdateOp;
use statewell_core::{Limits, PageRequest, State, StateError, store::MemoryStore};

const CALLS: [&str; 8] = [
    "set",
    "get",
    "delete",
    "update",
    "list",
    "list_items",
    "clear",
    "list_groups",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VectorFile {
    name: String,
    description: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    call: String,
    args: Value,
    expect: Map<String, Value>,
}

/// What a step expects: exactly one of `result` or `error`.
enum Expect {
    Result(Value),
    Error(String),
}

impl Expect {
    fn from_map(map: &Map<String, Value>) -> Result<Expect, String> {
        match (map.len(), map.get("result"), map.get("error")) {
            (1, Some(result), None) => Ok(Expect::Result(result.clone())),
            (1, None, Some(Value::String(code))) => Ok(Expect::Error(code.clone())),
            _ => Err(format!(
                "`expect` must be {{\"result\": ...}} or {{\"error\": \"<code>\"}}, got {}",
                Value::Object(map.clone())
            )),
        }
    }
}

// Argument shapes, as the wire's `data` payloads.
#[derive(Deserialize)]
struct ItemArgs {
    scope: String,
    key: String,
}

#[derive(Deserialize)]
struct SetArgs {
    scope: String,
    key: String,
    #[serde(alias = "data")]
    value: Value,
}

#[derive(Deserialize)]
struct UpdateArgs {
    scope: String,
    key: String,
    ops: Vec<UpdateOp>,
}

#[derive(Deserialize)]
struct ScopeArgs {
    scope: String,
}

#[derive(Deserialize)]
struct ListItemsArgs {
    scope: String,
    prefix: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

/// A failed call, reduced to its code, as clients compare it.
type Code = String;

fn parse<T: DeserializeOwned>(args: &Value) -> Result<T, Code> {
    serde_json::from_value(args.clone()).map_err(|_| "deserialization_error".to_owned())
}

fn code(error: StateError) -> Code {
    error.code().as_str().to_owned()
}

/// Runs one call and returns its SDK-normalised result.
async fn call(state: &State, name: &str, args: &Value) -> Result<Value, Code> {
    match name {
        "set" => {
            let a: SetArgs = parse(args)?;
            let out = state.set(&a.scope, &a.key, a.value).await.map_err(code)?;
            Ok(json!({"old_value": out.old_value, "new_value": out.new_value}))
        }
        "get" => {
            let a: ItemArgs = parse(args)?;
            let found = state.get(&a.scope, &a.key).await.map_err(code)?;
            Ok(found.map(|v| v.value).unwrap_or(Value::Null))
        }
        "delete" => {
            let a: ItemArgs = parse(args)?;
            let removed = state.delete(&a.scope, &a.key).await.map_err(code)?;
            Ok(removed.unwrap_or(Value::Null))
        }
        "update" => {
            let a: UpdateArgs = parse(args)?;
            let out = state.update(&a.scope, &a.key, a.ops).await.map_err(code)?;
            let errors: Vec<Value> = out
                .errors
                .iter()
                .map(|e| {
                    // The message is for people: only required to say something.
                    assert!(!e.message.is_empty(), "op error {} has no message", e.code);
                    json!({"op_index": e.op_index, "code": e.code})
                })
                .collect();
            Ok(json!({"old_value": out.old_value, "new_value": out.new_value, "errors": errors}))
        }
        "list" => {
            let a: ScopeArgs = parse(args)?;
            Ok(Value::Array(state.list(&a.scope).await.map_err(code)?))
        }
        "list_items" => {
            let a: ListItemsArgs = parse(args)?;
            let request = PageRequest {
                prefix: a.prefix,
                after: a.after,
                limit: a.limit,
            };
            let page = state.list_items(&a.scope, &request).await.map_err(code)?;
            // Versions are not compared: each store numbers revisions its own way.
            let items: Vec<Value> = page
                .items
                .into_iter()
                .map(|item| json!({"key": item.key, "value": item.value}))
                .collect();
            Ok(json!({"items": items, "next": page.next}))
        }
        "clear" => {
            let a: ScopeArgs = parse(args)?;
            Ok(json!({"deleted": state.clear(&a.scope).await.map_err(code)?}))
        }
        "list_groups" => Ok(json!({"groups": state.list_groups().await.map_err(code)?})),
        other => panic!("unknown call `{other}` (vectors are checked before running)"),
    }
}

/// Equality as README.md defines it: objects regardless of key order, numbers
/// by value, integers exactly.
fn same(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => {
            let int = |n: &serde_json::Number| {
                n.as_i64()
                    .map(i128::from)
                    .or_else(|| n.as_u64().map(i128::from))
            };
            match (int(a), int(b)) {
                (Some(x), Some(y)) => x == y,
                _ => a.as_f64() == b.as_f64(),
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, x)| b.get(k).is_some_and(|y| same(x, y)))
        }
        _ => actual == expected,
    }
}

fn vector_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance")
}

fn vector_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(vector_dir())
        .unwrap_or_else(|e| panic!("reading {}: {e}", vector_dir().display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> VectorFile {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every op error code PROTOCOL.md and docs/update-ops.md define; each must be
/// exercised by at least one vector.
fn every_op_error_code() -> BTreeSet<String> {
    let path_codes = [
        "too_deep",
        "empty_segment",
        "segment_too_long",
        "proto_polluted",
    ];
    let own: [(&str, &[&str]); 6] = [
        ("set", &["target_not_object"]),
        (
            "merge",
            &[
                "target_not_object",
                "value.not_an_object",
                "value.too_deep",
                "value.too_many_keys",
                "value.proto_polluted",
            ],
        ),
        (
            "increment",
            &["not_number", "overflow", "target_not_object"],
        ),
        (
            "decrement",
            &["not_number", "overflow", "target_not_object"],
        ),
        ("append", &["type_mismatch", "target_not_object"]),
        ("remove", &["target_not_object"]),
    ];
    let mut codes = BTreeSet::new();
    for (op, suffixes) in own {
        for suffix in suffixes {
            codes.insert(format!("{op}.{suffix}"));
        }
        for suffix in path_codes {
            codes.insert(format!("{op}.path.{suffix}"));
        }
    }
    codes
}

/// Op error codes a vector expects, found anywhere in an update result.
fn expected_op_codes(expected: &Value, into: &mut BTreeSet<String>) {
    if let Some(errors) = expected.get("errors").and_then(Value::as_array) {
        for e in errors {
            if let Some(code) = e.get("code").and_then(Value::as_str) {
                into.insert(code.to_owned());
            }
        }
    }
}

#[tokio::test]
async fn every_conformance_vector_passes_on_the_memory_store() {
    let files = vector_files();
    assert!(
        !files.is_empty(),
        "no vectors in {}",
        vector_dir().display()
    );
    let mut failures = Vec::new();
    let mut calls_seen = BTreeSet::new();
    let mut codes_seen = BTreeSet::new();
    let mut cases = 0;
    let mut steps = 0;
    for path in &files {
        let file = load(path);
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let file_name = file_name.unwrap_or_default();
        assert!(
            !file.name.is_empty() && !file.description.is_empty(),
            "{file_name}: name and description"
        );
        let mut names = BTreeSet::new();
        for case in &file.cases {
            assert!(
                names.insert(&case.name),
                "{file_name}: duplicate case name {}",
                case.name
            );
            // Each case starts from an empty store.
            let state = State::new(Arc::new(MemoryStore::default()), Limits::default());
            cases += 1;
            for (index, step) in case.steps.iter().enumerate() {
                steps += 1;
                let at = format!("{file_name} / {} / step {index} ({})", case.name, step.call);
                assert!(CALLS.contains(&step.call.as_str()), "{at}: unknown call");
                let expect = Expect::from_map(&step.expect).unwrap_or_else(|e| panic!("{at}: {e}"));
                calls_seen.insert(step.call.clone());
                let actual = call(&state, &step.call, &step.args).await;
                match (&expect, &actual) {
                    (Expect::Result(want), Ok(got)) if same(got, want) => {
                        expected_op_codes(want, &mut codes_seen);
                    }
                    (Expect::Error(want), Err(got)) if want == got => {}
                    (Expect::Result(want), _) => {
                        failures.push(format!("{at}: expected result {want}, got {actual:?}"))
                    }
                    (Expect::Error(want), _) => {
                        failures.push(format!("{at}: expected error {want}, got {actual:?}"))
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing steps:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "conformance: {} files, {cases} cases, {steps} steps",
        files.len()
    );
    let missing_calls: Vec<_> = CALLS.iter().filter(|c| !calls_seen.contains(**c)).collect();
    assert!(
        missing_calls.is_empty(),
        "calls without a vector: {missing_calls:?}"
    );
    let missing_codes: Vec<_> = every_op_error_code()
        .difference(&codes_seen)
        .cloned()
        .collect();
    assert!(
        missing_codes.is_empty(),
        "op error codes without a vector: {missing_codes:?}"
    );
}

#[test]
fn same_compares_numbers_by_value_and_integers_exactly() {
    assert!(same(&json!(3), &json!(3.0)));
    assert!(same(&json!({"a": 1, "b": 2}), &json!({"b": 2, "a": 1})));
    assert!(!same(
        &json!(9223372036854775808u64),
        &json!(9223372036854775807i64)
    ));
    assert!(!same(&json!([1, 2]), &json!([2, 1])));
    assert!(!same(&json!({"a": 1}), &json!({"a": 1, "b": null})));
    assert!(!same(&json!(null), &json!({})));
}
