//! `statewell export` and `statewell import` through the real binary: a
//! round trip between two engines, and what an import does with a line it
//! cannot store.

mod common;

use common::Engine;
use serde_json::{Value, json};

/// More than two of export's pages (100 items each), so paging is crossed.
const ORDERS: usize = 250;

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect()
}

#[test]
fn export_then_import_moves_every_item_to_another_engine() {
    let source = Engine::start(&[]);
    let odd_values = [
        ("ключ", json!("unicode key")),
        ("with space\nand newline", json!(null)),
        (
            "nested",
            json!({"a": [1, 2.5, {"b": true}], "s": "\"quoted\""}),
        ),
        ("number", json!(-12)),
    ];
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = source.client().await;
        for n in 0..ORDERS {
            let key = format!("o-{n:04}");
            let value = json!({"n": n, "status": "new"});
            client.set("orders", &key, value).await.expect("set");
        }
        for (key, value) in &odd_values {
            client.set("users", key, value.clone()).await.expect("set");
        }
    });

    let all = source.cli(&["export", "--all"]);
    assert!(all.status.success(), "{}", all.stderr);
    // Not a terminal: no progress, nothing on stderr.
    assert_eq!(all.stderr, "");
    let exported = lines(&all.stdout);
    assert_eq!(exported.len(), ORDERS + odd_values.len());
    assert_eq!(
        exported[0],
        json!({"group": "orders", "key": "o-0000", "value": {"n": 0, "status": "new"}})
    );
    let users = lines(&source.cli(&["export", "users"]).stdout);
    assert_eq!(users.len(), odd_values.len());
    assert!(users.iter().all(|line| line["group"] == "users"));

    // Into an engine of another kind, then out again: the same lines.
    let target = Engine::start(&["--store", "memory"]);
    let imported = target.cli_with_input(&["import"], all.stdout.clone());
    assert!(imported.status.success(), "{}", imported.stderr);
    assert_eq!(imported.stdout, "");
    assert_eq!(imported.stderr, "");
    let again = target.cli(&["export", "--all"]);
    assert_eq!(again.stdout, all.stdout);
    let value = target.cli(&["get", "users", "nested"]);
    assert_eq!(
        serde_json::from_str::<Value>(&value.stdout).expect("JSON"),
        odd_values[2].1
    );
}

#[test]
fn import_stops_at_a_bad_line_and_names_it() {
    let engine = Engine::start(&["--store", "memory"]);
    let input = [
        r#"{"group":"g","key":"a","value":1}"#,
        r#"{"group":"g","key":"b","value":2}"#,
        "",
        r#"{"group":"g","key":"c","value":3}"#,
        r#"{"group":"g","key":"d"}"#,
        r#"{"group":"g","key":"e","value":5}"#,
    ]
    .join("\n");
    let done = engine.cli_with_input(&["import"], input);
    done.assert_failed(2, "error: invalid_line: line 5: ");
    assert!(
        done.stderr.contains("missing field `value`"),
        "{}",
        done.stderr
    );
    assert_eq!(done.stderr.lines().count(), 1, "{}", done.stderr);
    // Every line before the bad one was stored; none after it.
    let keys: Vec<Value> = lines(&engine.cli(&["export", "g"]).stdout)
        .into_iter()
        .map(|line| line["key"].clone())
        .collect();
    assert_eq!(keys, vec![json!("a"), json!("b"), json!("c")]);
}

#[test]
fn import_names_the_line_the_engine_refuses() {
    let engine = Engine::start(&["--store", "memory", "--max-value-bytes", "64"]);
    let big = "x".repeat(100);
    let input = format!(
        "{}\n{}\n",
        r#"{"group":"g","key":"a","value":1}"#,
        json!({"group": "g", "key": "big", "value": big})
    );
    let done = engine.cli_with_input(&["import"], input);
    done.assert_failed(4, "error: value_too_large: line 2: ");
}

#[test]
fn the_last_line_for_an_item_wins() {
    let engine = Engine::start(&["--store", "memory"]);
    let input: String = (1..=200)
        .map(|n| {
            format!(
                "{}\n",
                json!({"group": "g", "key": format!("k{}", n % 3), "value": n})
            )
        })
        .collect();
    let done = engine.cli_with_input(&["import"], input);
    assert!(done.status.success(), "{}", done.stderr);
    for (key, last) in [("k0", 198), ("k1", 199), ("k2", 200)] {
        let got = engine.cli(&["get", "g", key]);
        assert_eq!(got.stdout.trim(), last.to_string(), "{key}");
    }
}

#[test]
fn export_needs_groups_or_all() {
    let engine = Engine::start(&["--store", "memory"]);
    assert_eq!(engine.cli(&["export"]).status.code(), Some(2));
    assert_eq!(engine.cli(&["export", "g", "--all"]).status.code(), Some(2));
    let empty = engine.cli(&["export", "nothing-here"]);
    assert!(empty.status.success(), "{}", empty.stderr);
    assert_eq!(empty.stdout, "");
}
