//! The vector files: where they are, their types, and the structural checks
//! every file must pass before any runner uses it (`conformance/README.md`,
//! "Format").

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

/// Every `call` a step may name.
pub const CALLS: [&str; 10] = [
    "set",
    "get",
    "delete",
    "update",
    "list",
    "list_items",
    "clear",
    "list_groups",
    "get_item",
    "transaction",
];

/// One `conformance/<topic>.json` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorFile {
    pub name: String,
    pub description: String,
    pub cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub call: String,
    /// The `data` payload of `state::<call>`, passed through unchanged.
    pub args: Value,
    pub expect: Expect,
}

/// What a step expects: exactly one of `result` or `error`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Map<String, Value>")]
pub enum Expect {
    /// The SDK-normalised result.
    Result(Value),
    /// The error code; only the code is compared.
    Error(String),
}

impl TryFrom<Map<String, Value>> for Expect {
    type Error = String;

    fn try_from(map: Map<String, Value>) -> Result<Expect, String> {
        match (map.len(), map.get("result"), map.get("error")) {
            (1, Some(result), None) => Ok(Expect::Result(result.clone())),
            (1, None, Some(Value::String(code))) => Ok(Expect::Error(code.clone())),
            _ => Err(format!(
                "`expect` must be {{\"result\": ...}} or {{\"error\": \"<code>\"}}, got {}",
                Value::Object(map)
            )),
        }
    }
}

/// A loaded file and the name it is reported under (`basic.json`).
#[derive(Debug)]
pub struct Loaded {
    pub file: String,
    pub vectors: VectorFile,
}

/// `conformance/` at the repository root.
pub fn vector_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance")
}

/// Every `*.json` file of [`vector_dir`], in name order, loaded and checked.
/// `Err` lists every problem found (unreadable file, bad JSON, an unknown
/// field or call, a malformed `expect`, duplicate case names, no files).
pub fn load_all() -> Result<Vec<Loaded>, Vec<String>> {
    load_dir(&vector_dir())
}

/// [`load_all`] for another folder.
pub fn load_dir(dir: &Path) -> Result<Vec<Loaded>, Vec<String>> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| vec![format!("cannot read {}: {e}", dir.display())])?;
    let mut paths = Vec::new();
    let mut problems = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => paths.push(entry.path()),
            Err(e) => problems.push(format!("listing {}: {e}", dir.display())),
        }
    }
    paths.retain(|p| p.extension().is_some_and(|x| x == "json"));
    paths.sort();
    if paths.is_empty() {
        problems.push(format!("no *.json vectors in {}", dir.display()));
    }
    let mut loaded = Vec::new();
    for path in paths {
        match load_file(&path) {
            Ok(file) => loaded.push(file),
            Err(mut found) => problems.append(&mut found),
        }
    }
    if problems.is_empty() {
        Ok(loaded)
    } else {
        Err(problems)
    }
}

fn load_file(path: &Path) -> Result<Loaded, Vec<String>> {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{file}: {e}")])?;
    let vectors: VectorFile =
        serde_json::from_str(&text).map_err(|e| vec![format!("{file}: {e}")])?;
    let problems = check(&file, &vectors);
    if problems.is_empty() {
        Ok(Loaded { file, vectors })
    } else {
        Err(problems)
    }
}

/// What serde cannot check: non-empty names, unique case names, known calls.
fn check(file: &str, vectors: &VectorFile) -> Vec<String> {
    let mut problems = Vec::new();
    if vectors.name.is_empty() || vectors.description.is_empty() {
        problems.push(format!(
            "{file}: `name` and `description` must not be empty"
        ));
    }
    if vectors.cases.is_empty() {
        problems.push(format!("{file}: no cases"));
    }
    let mut names = BTreeSet::new();
    for case in &vectors.cases {
        if case.name.is_empty() {
            problems.push(format!("{file}: a case without a name"));
        }
        if !names.insert(case.name.as_str()) {
            problems.push(format!("{file}: duplicate case name {:?}", case.name));
        }
        for (index, step) in case.steps.iter().enumerate() {
            if !CALLS.contains(&step.call.as_str()) {
                problems.push(format!(
                    "{file} / {} / step {index}: unknown call {:?}",
                    case.name, step.call
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).expect("write a vector file");
    }

    #[test]
    fn the_repository_vectors_load() {
        let loaded = load_all().unwrap_or_else(|problems| panic!("{problems:#?}"));
        assert!(loaded.len() >= 10, "{} files", loaded.len());
        assert!(loaded.iter().all(|l| l.file.ends_with(".json")));
    }

    #[test]
    fn malformed_files_are_refused_with_every_problem_named() {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path();
        write(
            dir,
            "a.json",
            r#"{"name":"a","description":"d","cases":[
                {"name":"x","steps":[{"call":"get","args":{},"expect":{"result":1,"error":"e"}}]}]}"#,
        );
        write(
            dir,
            "b.json",
            r#"{"name":"b","description":"d","cases":[
                {"name":"x","steps":[{"call":"frob","args":{},"expect":{"error":"e"}}]},
                {"name":"x","steps":[]}]}"#,
        );
        write(
            dir,
            "c.json",
            r#"{"name":"c","description":"d","cases":[],"extra":1}"#,
        );
        write(dir, "ignored.txt", "not a vector");
        let problems = load_dir(dir).expect_err("three bad files");
        let text = problems.join("\n");
        assert!(
            text.contains("a.json") && text.contains("`expect` must be"),
            "{text}"
        );
        assert!(
            text.contains("b.json / x / step 0: unknown call \"frob\""),
            "{text}"
        );
        assert!(text.contains("b.json: duplicate case name \"x\""), "{text}");
        assert!(text.contains("c.json") && text.contains("extra"), "{text}");
        assert!(!text.contains("ignored.txt"), "{text}");
    }

    #[test]
    fn an_empty_folder_is_a_problem() {
        let temp = tempfile::tempdir().expect("temp dir");
        let problems = load_dir(temp.path()).expect_err("no files");
        assert!(problems[0].contains("no *.json vectors"), "{problems:?}");
    }
}
