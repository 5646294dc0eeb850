//! Runs every vector case against a [`Target`] and collects a [`Report`] of
//! every failing step, so that each runner is: build a target, [`run_all`],
//! [`Report::assert_clean`].

use std::fmt;

use serde_json::Value;

use crate::compare::same;
use crate::coverage;
use crate::normalise::normalise;
use crate::vectors::{Expect, Loaded, Step, load_all};

/// Something the vectors run against: a `State`, the engine over the worker
/// protocol, over HTTP, an SDK...
///
/// Only tests drive targets, on whatever runtime they choose, so the futures
/// carry no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait Target {
    /// Names the target in the report ("memory store via State").
    fn name(&self) -> String;

    /// Empties the store: every case starts from an empty one. `Err` says
    /// why it could not; the case is then reported as failed and skipped.
    async fn reset(&mut self) -> Result<(), String>;

    /// Runs `state::<call>` with `args` as given (wrong types included) and
    /// returns its result, a missing item as `null`, or the error code.
    async fn call(&mut self, call: &str, args: &Value) -> Result<Value, String>;

    /// Why this target cannot express a step at all (HTTP has no way to send
    /// a key that is a number), or `None`. Such a step is skipped and counted
    /// only when it expects an error (errors change nothing); a step
    /// expecting a result cannot be skipped and fails.
    fn inexpressible(&self, _call: &str, _args: &Value) -> Option<String> {
        None
    }

    /// The SDK normalisation of a successful result. A target may check more
    /// of its own wire first, then delegate to [`normalise`].
    fn normalise(&self, call: &str, result: Value) -> Result<Value, String> {
        normalise(call, result)
    }
}

/// One failing step (or a case that could not start: `step` is `None`).
#[derive(Debug, Clone)]
pub struct Failure {
    pub file: String,
    pub case: String,
    pub step: Option<usize>,
    pub call: String,
    pub args: Value,
    pub detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            Some(step) => write!(
                f,
                "{} / {} / step {step} {} {}: {}",
                self.file, self.case, self.call, self.args, self.detail
            ),
            None => write!(f, "{} / {}: {}", self.file, self.case, self.detail),
        }
    }
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    pub target: String,
    pub files: usize,
    pub cases: usize,
    /// Steps run (skipped ones not counted).
    pub steps: usize,
    /// Steps the target cannot express, each with where and why.
    pub skipped: Vec<String>,
    pub failures: Vec<Failure>,
    /// Problems of the vector files themselves (see `vectors::load_all`).
    pub load_problems: Vec<String>,
    /// What the vectors leave untested (see `coverage::gaps`).
    pub gaps: Vec<String>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.failures.is_empty()
            && self.load_problems.is_empty()
            && self.gaps.is_empty()
            && self.steps > 0
    }

    /// Prints the counts (and skipped steps), then panics listing every
    /// problem unless the run is clean.
    pub fn assert_clean(&self) {
        eprintln!("{self}");
        assert!(self.is_clean(), "{}", self.problems());
    }

    fn problems(&self) -> String {
        let mut out = format!("conformance on {} is not clean:\n", self.target);
        let sections = [
            ("vector files", &self.load_problems),
            ("coverage", &self.gaps),
        ];
        for (title, lines) in sections {
            if !lines.is_empty() {
                out += &format!(
                    "{} {title} problems:\n  {}\n",
                    lines.len(),
                    lines.join("\n  ")
                );
            }
        }
        if !self.failures.is_empty() {
            let lines: Vec<String> = self.failures.iter().map(ToString::to_string).collect();
            out += &format!("{} failing steps:\n  {}\n", lines.len(), lines.join("\n  "));
        }
        if self.steps == 0 {
            out += "no step ran\n";
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conformance on {}: {} files, {} cases, {} steps run, {} failing",
            self.target,
            self.files,
            self.cases,
            self.steps,
            self.failures.len()
        )?;
        if !self.skipped.is_empty() {
            write!(
                f,
                "; {} skipped as inexpressible:\n  {}",
                self.skipped.len(),
                self.skipped.join("\n  ")
            )?;
        }
        Ok(())
    }
}

/// Runs every case of every vector file against `target`, each from an
/// empty store, and reports every failing step.
pub async fn run_all<T: Target>(target: &mut T) -> Report {
    let mut report = Report {
        target: target.name(),
        ..Report::default()
    };
    let files = match load_all() {
        Ok(files) => files,
        Err(problems) => {
            report.load_problems = problems;
            return report;
        }
    };
    report.files = files.len();
    report.gaps = coverage::gaps(&files);
    for Loaded { file, vectors } in &files {
        for case in &vectors.cases {
            report.cases += 1;
            let failure = |step: Option<(usize, &Step)>, detail: String| Failure {
                file: file.clone(),
                case: case.name.clone(),
                step: step.map(|(index, _)| index),
                call: step.map(|(_, s)| s.call.clone()).unwrap_or_default(),
                args: step.map(|(_, s)| s.args.clone()).unwrap_or_default(),
                detail,
            };
            if let Err(why) = target.reset().await {
                let detail = format!("could not start from an empty store: {why}");
                report.failures.push(failure(None, detail));
                continue;
            }
            for (index, step) in case.steps.iter().enumerate() {
                if let Some(why) = target.inexpressible(&step.call, &step.args) {
                    if let Expect::Error(_) = step.expect {
                        let at = failure(Some((index, step)), why);
                        report.skipped.push(at.to_string());
                    } else {
                        let detail = format!("cannot skip a step expecting a result ({why})");
                        report.failures.push(failure(Some((index, step)), detail));
                    }
                    continue;
                }
                report.steps += 1;
                let actual = target.call(&step.call, &step.args).await;
                if let Some(detail) = mismatch(target, step, actual) {
                    report.failures.push(failure(Some((index, step)), detail));
                }
            }
        }
    }
    report
}

/// How `actual` differs from what `step` expects, or `None` when it matches.
fn mismatch<T: Target>(target: &T, step: &Step, actual: Result<Value, String>) -> Option<String> {
    match (&step.expect, actual) {
        (Expect::Result(want), Ok(raw)) => match target.normalise(&step.call, raw) {
            Ok(got) if same(&got, want) => None,
            Ok(got) => Some(format!("expected result {want}, got result {got}")),
            Err(why) => Some(format!(
                "expected result {want}, got a malformed result: {why}"
            )),
        },
        (Expect::Error(want), Err(code)) if *want == code => None,
        (Expect::Error(want), Err(code)) => {
            Some(format!("expected error {want}, got error {code}"))
        }
        (Expect::Error(want), Ok(got)) => Some(format!("expected error {want}, got result {got}")),
        (Expect::Result(want), Err(code)) => {
            Some(format!("expected result {want}, got error {code}"))
        }
    }
}
