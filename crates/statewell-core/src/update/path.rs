//! Paths of update ops: parsing from the wire and the checks every path must
//! pass before an op may touch the value.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::limits::{MAX_PATH_DEPTH, MAX_SEGMENT_BYTES, is_forbidden_key};

/// Where an op applies. A string is ONE literal top-level field (`"a.b"` is
/// the field named `a.b`); `""` is the whole value; an array is a nested path
/// (`[]` is the whole value too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Path {
    Field(String),
    Nested(Vec<String>),
}

impl Path {
    /// The whole value.
    pub fn root() -> Self {
        Path::Field(String::new())
    }

    /// The field names to walk, outermost first; empty for the whole value.
    pub fn segments(&self) -> &[String] {
        match self {
            Path::Field(name) if name.is_empty() => &[],
            Path::Field(name) => std::slice::from_ref(name),
            Path::Nested(segments) => segments,
        }
    }

    /// Checks the limits and the forbidden names; returns the segments to walk.
    pub(crate) fn checked_segments(&self) -> Result<&[String], PathIssue> {
        let segments = self.segments();
        if segments.len() > MAX_PATH_DEPTH {
            return Err(PathIssue::TooDeep {
                depth: segments.len(),
            });
        }
        for (index, segment) in segments.iter().enumerate() {
            if segment.is_empty() {
                return Err(PathIssue::EmptySegment { index });
            }
            if segment.len() > MAX_SEGMENT_BYTES {
                return Err(PathIssue::SegmentTooLong {
                    index,
                    bytes: segment.len(),
                });
            }
            if is_forbidden_key(segment) {
                return Err(PathIssue::ProtoPolluted {
                    segment: segment.clone(),
                });
            }
        }
        Ok(segments)
    }
}

/// How paths appear in error messages: segments joined by `.`, `''` for the
/// whole value. Only for humans: `"a.b"` and `["a","b"]` print alike.
pub(crate) struct Display<'a>(pub &'a [String]);

impl fmt::Display for Display<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}'", self.0.join("."))
    }
}

/// Why a path is refused; each maps to the code `<op>.path.<suffix>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathIssue {
    TooDeep { depth: usize },
    EmptySegment { index: usize },
    SegmentTooLong { index: usize, bytes: usize },
    ProtoPolluted { segment: String },
}

impl PathIssue {
    pub(crate) fn code_suffix(&self) -> &'static str {
        match self {
            PathIssue::TooDeep { .. } => "path.too_deep",
            PathIssue::EmptySegment { .. } => "path.empty_segment",
            PathIssue::SegmentTooLong { .. } => "path.segment_too_long",
            PathIssue::ProtoPolluted { .. } => "path.proto_polluted",
        }
    }

    pub(crate) fn message(&self) -> String {
        match self {
            PathIssue::TooDeep { depth } => {
                format!("Path has {depth} segments, more than the limit of {MAX_PATH_DEPTH}.")
            }
            PathIssue::EmptySegment { index } => format!("Path segment {index} is empty."),
            PathIssue::SegmentTooLong { index, bytes } => format!(
                "Path segment {index} is {bytes} bytes, more than the limit of {MAX_SEGMENT_BYTES}."
            ),
            PathIssue::ProtoPolluted { segment } => {
                format!("Path segment '{segment}' is not allowed.")
            }
        }
    }
}

// Hand-written so that a wrong path names what was expected instead of
// serde's "data did not match any variant of untagged enum".
impl<'de> Deserialize<'de> for Path {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PathVisitor;

        impl<'de> Visitor<'de> for PathVisitor {
            type Value = Path;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name (string) or a nested path (array of strings)")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Path, E> {
                Ok(Path::Field(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Path, E> {
                Ok(Path::Field(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Path, A::Error> {
                let mut segments = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(segment) = seq.next_element::<String>()? {
                    segments.push(segment);
                }
                Ok(Path::Nested(segments))
            }
        }

        deserializer.deserialize_any(PathVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Path, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn a_string_is_one_literal_field() -> Result<(), serde_json::Error> {
        let path = parse(r#""a.b""#)?;
        assert_eq!(path.segments(), ["a.b".to_owned()]);
        Ok(())
    }

    #[test]
    fn empty_string_and_empty_array_are_the_whole_value() -> Result<(), serde_json::Error> {
        assert!(parse(r#""""#)?.segments().is_empty());
        assert!(parse("[]")?.segments().is_empty());
        Ok(())
    }

    #[test]
    fn an_array_is_a_nested_path() -> Result<(), serde_json::Error> {
        let path = parse(r#"["a","b"]"#)?;
        assert_eq!(path.segments(), ["a".to_owned(), "b".to_owned()]);
        Ok(())
    }

    #[test]
    fn other_json_is_refused_with_a_clear_message() {
        for bad in ["1", "null", "true", "{}", r#"["a",1]"#] {
            let err = parse(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                err.contains("string") || err.contains("invalid type"),
                "{bad}: {err}"
            );
        }
        let err = parse("7").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.contains("a field name (string) or a nested path"),
            "{err}"
        );
    }

    #[test]
    fn checks_refuse_bad_segments() {
        let deep = Path::Nested(vec!["x".to_owned(); MAX_PATH_DEPTH + 1]);
        assert_eq!(
            deep.checked_segments().err().map(|e| e.code_suffix()),
            Some("path.too_deep")
        );
        let at_limit = Path::Nested(vec!["x".to_owned(); MAX_PATH_DEPTH]);
        assert!(at_limit.checked_segments().is_ok());

        let empty = Path::Nested(vec!["a".to_owned(), String::new()]);
        assert_eq!(
            empty.checked_segments().err().map(|e| e.code_suffix()),
            Some("path.empty_segment")
        );

        let long = Path::Field("y".repeat(MAX_SEGMENT_BYTES + 1));
        assert_eq!(
            long.checked_segments().err().map(|e| e.code_suffix()),
            Some("path.segment_too_long")
        );
        assert!(
            Path::Field("y".repeat(MAX_SEGMENT_BYTES))
                .checked_segments()
                .is_ok()
        );

        for name in ["__proto__", "constructor", "prototype"] {
            let nested = Path::Nested(vec!["a".to_owned(), name.to_owned()]);
            assert_eq!(
                nested.checked_segments().err().map(|e| e.code_suffix()),
                Some("path.proto_polluted")
            );
            assert_eq!(
                Path::Field(name.to_owned())
                    .checked_segments()
                    .err()
                    .map(|e| e.code_suffix()),
                Some("path.proto_polluted")
            );
        }
    }

    #[test]
    fn display_joins_segments() {
        let segments = ["a".to_owned(), "b".to_owned()];
        assert_eq!(Display(&segments).to_string(), "'a.b'");
        assert_eq!(Display(&[]).to_string(), "''");
    }
}
