//! The driver catches what it must: a target that answers wrongly in any of
//! the ways the README rules out fails the run, with the step named. The
//! targets here are the memory store through `State` with one fault added.

use std::sync::Arc;

use serde_json::{Value, json};
use statewell_conformance::{Report, StateTarget, Target, run_all};
use statewell_core::store::MemoryStore;
use statewell_core::{Limits, State};

fn memory() -> State {
    State::new(Arc::new(MemoryStore::default()), Limits::default())
}

/// The memory store with `fault` applied to every result and error.
struct Faulty<F> {
    inner: StateTarget<fn() -> State>,
    fault: F,
    skip: Option<fn(&str, &Value) -> Option<String>>,
}

type Outcome = Result<Value, String>;

impl<F: FnMut(&str, &Value, Outcome) -> Outcome> Faulty<F> {
    fn new(fault: F) -> Self {
        Faulty {
            inner: StateTarget::new("memory", memory as fn() -> State),
            fault,
            skip: None,
        }
    }
}

impl<F: FnMut(&str, &Value, Outcome) -> Outcome> Target for Faulty<F> {
    fn name(&self) -> String {
        "faulty memory store".into()
    }

    async fn reset(&mut self) -> Result<(), String> {
        self.inner.reset().await
    }

    async fn call(&mut self, call: &str, args: &Value) -> Outcome {
        let outcome = self.inner.call(call, args).await;
        (self.fault)(call, args, outcome)
    }

    fn inexpressible(&self, call: &str, args: &Value) -> Option<String> {
        self.skip.and_then(|skip| skip(call, args))
    }
}

async fn failures<F: FnMut(&str, &Value, Outcome) -> Outcome>(fault: F) -> Report {
    run_all(&mut Faulty::new(fault)).await
}

#[tokio::test]
async fn the_memory_store_is_clean() {
    let report = run_all(&mut StateTarget::new("memory store via State", memory)).await;
    report.assert_clean();
    assert!(report.steps > 300 && report.cases > 100, "{report}");
    assert!(report.skipped.is_empty());
}

#[tokio::test]
async fn a_changed_result_fails_its_step_with_file_case_and_step_named() {
    let report = failures(|call, args, outcome| match (call, outcome) {
        ("get", Ok(Value::Null)) if args["key"] == "missing" => Ok(json!(0)),
        (_, outcome) => outcome,
    })
    .await;
    assert!(!report.is_clean());
    assert!(!report.failures.is_empty());
    for failure in &report.failures {
        assert_eq!(failure.call, "get");
        assert_eq!(failure.args["key"], "missing");
        assert!(failure.step.is_some());
        assert!(failure.file.ends_with(".json"), "{failure}");
        assert!(!failure.case.is_empty());
        assert!(failure.detail.contains("got result 0"), "{failure}");
    }
}

#[tokio::test]
async fn every_failing_step_is_reported_not_only_the_first() {
    let report = failures(|call, _, outcome| match call {
        "clear" => Ok(json!({"deleted": -1})),
        _ => outcome,
    })
    .await;
    let clears = report.failures.iter().filter(|f| f.call == "clear").count();
    assert_eq!(clears, report.failures.len());
    assert!(clears > 3, "{clears} failures: {:?}", report.failures);
}

#[tokio::test]
async fn a_wrong_error_code_or_an_error_for_a_result_fails() {
    let report = failures(|call, _, outcome| match (call, outcome) {
        (_, Err(code)) if code == "invalid_argument" => Err("storage_error".into()),
        ("list", Ok(_)) => Err("unavailable".into()),
        (_, outcome) => outcome,
    })
    .await;
    let details: Vec<&str> = report.failures.iter().map(|f| f.detail.as_str()).collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("expected error invalid_argument, got error storage_error")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("expected result") && d.ends_with("got error unavailable")),
        "{details:?}"
    );
}

#[tokio::test]
async fn a_result_where_an_error_is_expected_fails() {
    let report = failures(|_, _, outcome| match outcome {
        Err(code) if code == "deserialization_error" => Ok(Value::Null),
        outcome => outcome,
    })
    .await;
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.detail == "expected error deserialization_error, got result null"),
        "{:?}",
        report.failures
    );
}

#[tokio::test]
async fn op_errors_without_messages_and_items_without_versions_fail() {
    let report = failures(|call, _, outcome| {
        let mut value = outcome?;
        match call {
            "update" => {
                for error in value["errors"].as_array_mut().into_iter().flatten() {
                    error["message"] = json!("");
                }
            }
            "list_items" => {
                for item in value["items"].as_array_mut().into_iter().flatten() {
                    item.as_object_mut().map(|i| i.remove("version"));
                }
            }
            _ => {}
        }
        Ok(value)
    })
    .await;
    let has = |call: &str, text: &str| {
        report
            .failures
            .iter()
            .any(|f| f.call == call && f.detail.contains(text))
    };
    assert!(has("update", "op error without a message"), "{report:?}");
    assert!(has("list_items", "`version` must be"), "{report:?}");
}

#[tokio::test]
async fn only_steps_expecting_an_error_may_be_skipped_and_they_are_counted() {
    let mut target = Faulty::new(|_: &str, _: &Value, outcome: Outcome| outcome);
    target.skip = Some(|call, args| {
        (call == "get" && !args["key"].is_string()).then(|| "a key that is not a string".into())
    });
    let report = run_all(&mut target).await;
    report.assert_clean();
    assert!(!report.skipped.is_empty());
    assert!(
        report
            .skipped
            .iter()
            .all(|s| s.contains("a key that is not a string"))
    );

    // Skipping a step that expects a result is a failure, not a skip; the
    // `list` steps that expect an error are still skipped.
    target.skip = Some(|call, _| (call == "list").then(|| "no lists here".into()));
    let report = run_all(&mut target).await;
    assert!(!report.skipped.is_empty());
    assert!(
        report.skipped.iter().all(|s| s.contains(" list ")),
        "{:?}",
        report.skipped
    );
    assert!(!report.failures.is_empty());
    assert!(
        report
            .failures
            .iter()
            .all(|f| f.call == "list" && f.detail.contains("cannot skip a step expecting a result"))
    );
}

#[tokio::test]
async fn a_store_that_cannot_be_emptied_fails_every_case() {
    struct Stuck;
    impl Target for Stuck {
        fn name(&self) -> String {
            "stuck".into()
        }
        async fn reset(&mut self) -> Result<(), String> {
            Err("the store is read-only".into())
        }
        async fn call(&mut self, _: &str, _: &Value) -> Outcome {
            Err("unreachable: no case starts".into())
        }
    }
    let report = run_all(&mut Stuck).await;
    assert!(!report.is_clean());
    assert_eq!(report.steps, 0);
    assert_eq!(report.failures.len(), report.cases);
    assert!(
        report
            .failures
            .iter()
            .all(|f| f.step.is_none() && f.detail.contains("the store is read-only"))
    );
}
