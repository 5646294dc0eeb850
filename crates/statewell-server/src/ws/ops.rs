//! Reading a `state::update`'s ops from the frame's text.
//!
//! Ops written compactly (what `JSON.stringify` sends) are taken apart by
//! one pass over the printed form ([`printed_ops`]), which leaves to
//! serde_json only the values it must build (`value`, a non-integer `by`, a
//! nested `path`): reading them through [`UpdateOp`]'s derived
//! `Deserialize` (an internally tagged enum, which buffers each op's fields
//! before it knows the variant) cost ~1,400 more instructions per update of
//! one increment, about 6% of the engine's work for it. Any other text
//! (spaces, escapes in names, anything unusual) goes to the derived reading,
//! whose result (or error message) is the answer.

// Every byte of the frame's text is read with `get`: text that ends early
// or is malformed is "not sure" (`None`), never an out-of-bounds panic.
#![deny(clippy::indexing_slicing)]

use serde_json::{Number, Value};
use statewell_core::{Path, UpdateOp, printed_object_end, printed_value_end};

/// The ops in `text` (a JSON array of ops), read as `serde_json::from_str`
/// reads them into `Vec<UpdateOp>`, with its errors.
pub fn ops_from_json(text: &str) -> Result<Vec<UpdateOp>, serde_json::Error> {
    match printed_ops(text) {
        Some(ops) => Ok(ops),
        None => serde_json::from_str(text),
    }
}

/// The kinds of op, as `type` names them.
enum Kind {
    Set,
    Merge,
    Increment,
    Decrement,
    Append,
    Remove,
}

/// The fields of one op as they are read.
#[derive(Default)]
struct OpFields {
    kind: Option<Kind>,
    /// Outer `None`: no `path`; inner `None`: `"path": null`.
    path: Option<Option<Path>>,
    value: Option<Value>,
    by: Option<Number>,
}

impl OpFields {
    /// The op, if it has the fields its kind needs.
    fn op(self) -> Option<UpdateOp> {
        let OpFields {
            kind,
            path,
            value,
            by,
        } = self;
        // A path that is required may not be null (`?` after `flatten`);
        // an optional one may.
        Some(match kind? {
            Kind::Set => UpdateOp::Set {
                path: path.flatten()?,
                value: value?,
            },
            Kind::Merge => UpdateOp::Merge {
                path: path.flatten(),
                value: value?,
            },
            Kind::Increment => UpdateOp::Increment {
                path: path.flatten()?,
                by: by?,
            },
            Kind::Decrement => UpdateOp::Decrement {
                path: path.flatten()?,
                by: by?,
            },
            Kind::Append => UpdateOp::Append {
                path: path.flatten(),
                value: value?,
            },
            Kind::Remove => UpdateOp::Remove {
                path: path.flatten()?,
            },
        })
    }

    /// Takes field `name`, whose value is the JSON text `raw`; `None` for a
    /// repeated field or a value of another type.
    fn read(&mut self, name: &str, raw: &str) -> Option<()> {
        match name {
            "type" if self.kind.is_none() => self.kind = Some(kind(raw)?),
            "path" if self.path.is_none() => {
                self.path = Some(match plain_string(raw) {
                    Some(field) => Some(Path::Field(field.to_owned())),
                    None => serde_json::from_str(raw).ok()?,
                });
            }
            "value" if self.value.is_none() => self.value = Some(serde_json::from_str(raw).ok()?),
            "by" if self.by.is_none() => self.by = Some(number(raw)?),
            "type" | "path" | "value" | "by" => return None,
            // Ignored, as the derived reading ignores it (checked as JSON).
            _ => {}
        }
        Some(())
    }
}

/// `text` as ops when it is an array of op objects written compactly (see
/// [`printed_value_end`]); `None` means "not sure": the derived reading
/// decides.
fn printed_ops(text: &str) -> Option<Vec<UpdateOp>> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'[') {
        return None;
    }
    let mut ops = Vec::with_capacity(1);
    if text == "[]" {
        return Some(ops);
    }
    let mut at = 1;
    loop {
        let mut fields = OpFields::default();
        at = printed_object_end(text, at, |name, at| {
            let end = printed_value_end(text, at)?;
            fields.read(name, text.get(at..end)?)?;
            Some(end)
        })?;
        ops.push(fields.op()?);
        match bytes.get(at)? {
            b',' => at += 1,
            b']' => return (at + 1 == text.len()).then_some(ops),
            _ => return None,
        }
    }
}

fn kind(raw: &str) -> Option<Kind> {
    Some(match plain_string(raw)? {
        "set" => Kind::Set,
        "merge" => Kind::Merge,
        "increment" => Kind::Increment,
        "decrement" => Kind::Decrement,
        "append" => Kind::Append,
        "remove" => Kind::Remove,
        _ => return None,
    })
}

/// The text of a JSON string that holds no escape.
fn plain_string(raw: &str) -> Option<&str> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('\\')).then_some(inner)
}

/// A number as serde_json reads it: plain integers that fit a `u64`
/// directly (the unsigned integers serde_json makes of them), anything else
/// (signs, fractions, exponents, `-0`, larger integers) by serde_json.
fn number(raw: &str) -> Option<Number> {
    let plain = raw.bytes().all(|b| b.is_ascii_digit()) && (raw == "0" || !raw.starts_with('0'));
    match raw.parse::<u64>() {
        Ok(n) if plain => Some(Number::from(n)),
        _ => serde_json::from_str(raw).ok(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The printed pass gives the derived reading's ops, or leaves the
    /// text to it; either way the answer is the derived reading's.
    fn assert_agrees(text: &str) {
        let derived = serde_json::from_str::<Vec<UpdateOp>>(text);
        if let Some(printed) = printed_ops(text) {
            match &derived {
                Ok(derived) => assert_eq!(&printed, derived, "{text}"),
                Err(error) => panic!(
                    "{text}: the printed pass took what the derived reading refuses ({error}): {printed:?}"
                ),
            }
        }
        let answered = ops_from_json(text).map_err(|e| e.to_string());
        assert_eq!(answered, derived.map_err(|e| e.to_string()), "{text}");
    }

    #[test]
    fn reads_every_op_as_the_derived_reading_does() {
        for text in [
            r#"[{"type":"increment","path":"count","by":1}]"#,
            r#"[{"path":["a","b"],"by":-2.5,"type":"decrement"}]"#,
            r#"[{"type":"set","path":"","value":{"a":[1,{"b":null}],"a":2}}]"#,
            r#"[{"type":"merge","value":{"x":1}},{"type":"merge","path":null,"value":{}}]"#,
            r#"[{"type":"append","path":["l"],"value":"v"},{"type":"append","value":3}]"#,
            r#"[{"type":"remove","path":"gone","extra":{"ignored":[1,2]}}]"#,
            r#"[{"type":"increment","path":"n","by":18446744073709551615,"value":"unused"}]"#,
            r#"[{"type":"set","path":"s","value":1,"by":"not a number but unused"}]"#,
            "[]",
        ] {
            assert_agrees(text);
            assert!(ops_from_json(text).is_ok(), "{text}");
            // A `by` that is no number (which a set ignores) is left to
            // the derived reading.
            let odd_by = text.contains(r#""by":"not"#);
            assert!(
                odd_by || printed_ops(text).is_some(),
                "compact, yet not read by the printed pass: {text}"
            );
        }
        for spaced in [
            r#"[ {"type":"remove","path":"a"}]"#,
            r#"[{"type":"remove","path":"\u0061"}]"#,
        ] {
            assert!(printed_ops(spaced).is_none(), "{spaced}");
            assert_agrees(spaced);
        }
    }

    #[test]
    fn reads_numbers_as_serde_json_does() {
        for text in [
            "0",
            "7",
            "123456789012345678",
            "1234567890123456789",
            "18446744073709551615",
            "18446744073709551616",
            "-0",
            "-3",
            "2.5",
            "1e2",
            "1E-2",
        ] {
            let expected: Number = serde_json::from_str(text).expect("a number");
            assert_eq!(number(text), Some(expected.clone()), "{text}");
            assert_eq!(
                number(text).map(|n| n.to_string()),
                Some(expected.to_string()),
                "{text}"
            );
        }
        for text in ["\"1\"", "null", "01"] {
            assert_eq!(number(text), None, "{text}");
        }
    }

    #[test]
    fn refuses_what_the_derived_reading_refuses_with_its_message() {
        for text in [
            r#"[{"type":"increment","path":"n"}]"#,
            r#"[{"type":"increment","path":"n","by":"1"}]"#,
            r#"[{"type":"set","path":null,"value":1}]"#,
            r#"[{"type":"set","value":1}]"#,
            r#"[{"type":"merge"}]"#,
            r#"[{"type":"set","path":"a"}]"#,
            r#"[{"type":"multiply","path":"n","by":2}]"#,
            r#"[{"path":"n","by":2}]"#,
            r#"[{"type":"increment","type":"decrement","path":"n","by":2}]"#,
            r#"[{"type":"remove","path":"a","path":"b"}]"#,
            r#"[{"type":"remove","path":7}]"#,
            r#"[{"type":7,"path":"n"}]"#,
            r#"["increment"]"#,
            r#"{"type":"remove","path":"a"}"#,
            "null",
        ] {
            assert_agrees(text);
            assert!(ops_from_json(text).is_err(), "{text}");
        }
    }

    /// Op-shaped objects: each field of an op present or not, mostly of
    /// the type it needs, sometimes of another, null, repeated or extra.
    fn any_op_text() -> impl Strategy<Value = String> {
        let kind = prop_oneof![
            4 => prop_oneof![
                Just("\"set\""),
                Just("\"merge\""),
                Just("\"increment\""),
                Just("\"decrement\""),
                Just("\"append\""),
                Just("\"remove\""),
            ],
            1 => prop_oneof![Just("\"Set\""), Just("1"), Just("null")],
        ];
        let path = prop_oneof![
            3 => prop_oneof![Just("\"f\""), Just("\"\""), Just("[\"a\",\"b\"]"), Just("[]")],
            1 => prop_oneof![Just("null"), Just("7"), Just("[1]")],
        ];
        let value = prop_oneof![
            Just("null"),
            Just("1"),
            Just("\"v\""),
            Just("[1,\"a\"]"),
            Just("{\"k\":[true],\"k\":2}"),
        ];
        let by = prop_oneof![
            3 => prop_oneof![Just("1"), Just("-2.5"), Just("18446744073709551615")],
            1 => prop_oneof![Just("\"1\""), Just("null")],
        ];
        let field = |name: &'static str, values: BoxedStrategy<&'static str>| {
            prop::option::weighted(0.6, values)
                .prop_map(move |v| v.map(|v| format!("\"{name}\":{v}")))
        };
        (
            field("type", kind.boxed()),
            field("path", path.boxed()),
            field("value", value.clone().boxed()),
            field("by", by.boxed()),
            field("other", value.boxed()),
            prop::option::weighted(0.2, any::<prop::sample::Index>()),
            any::<prop::sample::Index>(),
        )
            .prop_map(|(kind, path, value, by, other, repeat, order)| {
                let mut parts: Vec<String> = [kind, path, value, by, other]
                    .into_iter()
                    .flatten()
                    .collect();
                if let Some(which) = repeat.filter(|_| !parts.is_empty()) {
                    let again = parts[which.index(parts.len())].clone();
                    parts.push(again);
                }
                if !parts.is_empty() {
                    let at = order.index(parts.len());
                    parts.rotate_left(at);
                }
                format!("{{{}}}", parts.join(","))
            })
    }

    proptest! {
        #[test]
        fn agrees_with_the_derived_reading(ops in prop::collection::vec(any_op_text(), 0..4)) {
            // One by one (a refused op refuses the whole list), then all.
            for op in &ops {
                assert_agrees(&format!("[{op}]"));
            }
            assert_agrees(&format!("[{}]", ops.join(",")));
        }
    }
}
