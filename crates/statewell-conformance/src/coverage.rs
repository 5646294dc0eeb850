//! What the vectors as a whole must cover: every call, and every op error
//! code PROTOCOL.md and docs/update-ops.md define (README: "Every op error
//! code appears in at least one vector").

use std::collections::BTreeSet;

use serde_json::Value;

use crate::vectors::{CALLS, Expect, Loaded};

/// Every op error code: `<op>.<own code>` and `<op>.path.<path code>`.
pub fn every_op_error_code() -> BTreeSet<String> {
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

/// What the vectors leave untested: calls no step makes, op error codes no
/// update result expects. Empty when the vectors cover everything.
pub fn gaps(files: &[Loaded]) -> Vec<String> {
    let mut calls = BTreeSet::new();
    let mut codes = BTreeSet::new();
    for step in files
        .iter()
        .flat_map(|f| &f.vectors.cases)
        .flat_map(|c| &c.steps)
    {
        calls.insert(step.call.as_str());
        if let (Expect::Result(result), "update") = (&step.expect, step.call.as_str()) {
            let errors = result.get("errors").and_then(Value::as_array);
            for error in errors.into_iter().flatten() {
                if let Some(code) = error.get("code").and_then(Value::as_str) {
                    codes.insert(code.to_owned());
                }
            }
        }
    }
    let mut gaps: Vec<String> = CALLS
        .iter()
        .filter(|call| !calls.contains(**call))
        .map(|call| format!("no vector calls `{call}`"))
        .collect();
    gaps.extend(
        every_op_error_code()
            .difference(&codes)
            .map(|code| format!("no vector expects the op error `{code}`")),
    );
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::load_all;

    #[test]
    fn the_repository_vectors_cover_every_call_and_op_error_code() {
        let files = load_all().unwrap_or_else(|problems| panic!("{problems:#?}"));
        assert_eq!(gaps(&files), Vec::<String>::new());
    }

    #[test]
    fn a_missing_call_or_code_is_a_gap() {
        let mut files = load_all().unwrap_or_else(|problems| panic!("{problems:#?}"));
        for file in &mut files {
            for case in &mut file.vectors.cases {
                case.steps.retain(|s| s.call != "list_groups");
                for step in &mut case.steps {
                    if let Expect::Result(result) = &mut step.expect
                        && let Some(errors) = result.get_mut("errors")
                    {
                        errors.as_array_mut().into_iter().flatten().for_each(|e| {
                            if e["code"] == "remove.target_not_object" {
                                e["code"] = "something.else".into();
                            }
                        });
                    }
                }
            }
        }
        assert_eq!(
            gaps(&files),
            vec![
                "no vector calls `list_groups`".to_owned(),
                "no vector expects the op error `remove.target_not_object`".to_owned(),
            ]
        );
    }
}
