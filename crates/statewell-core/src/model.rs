//! Groups, keys, values and the limits that bound them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::StateError;

/// Bounds on what one item may hold. Checked by [`crate::State`] before a
/// backend sees the request, and by [`crate::apply_mutation`] for values an
/// update produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest group id, in UTF-8 bytes.
    pub max_group_bytes: usize,
    /// Longest key, in UTF-8 bytes.
    pub max_key_bytes: usize,
    /// Largest value, as compact JSON, in bytes.
    pub max_value_bytes: usize,
    /// Largest page `list_items` returns.
    pub max_page_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_group_bytes: 1024,
            max_key_bytes: 1024,
            max_value_bytes: 1024 * 1024,
            max_page_size: 1000,
        }
    }
}

impl Limits {
    pub fn check_group(&self, group: &str) -> Result<(), StateError> {
        check_name("group", group, self.max_group_bytes)
    }

    pub fn check_key(&self, key: &str) -> Result<(), StateError> {
        check_name("key", key, self.max_key_bytes)
    }

    /// Checks a value's encoded size. Callers that already hold the encoding
    /// pass its length to [`Limits::check_value_len`] instead of encoding twice.
    pub fn check_value(&self, value: &Value) -> Result<(), StateError> {
        // Counting bytes through a sink avoids allocating the encoding.
        let mut counter = ByteCounter(0);
        serde_json::to_writer(&mut counter, value)
            .map_err(|e| StateError::invalid("value", e.to_string()))?;
        self.check_value_len(counter.0)
    }

    pub fn check_value_len(&self, len: usize) -> Result<(), StateError> {
        if len > self.max_value_bytes {
            return Err(StateError::ValueTooLarge {
                size: len,
                limit: self.max_value_bytes,
            });
        }
        Ok(())
    }
}

fn check_name(field: &'static str, name: &str, max: usize) -> Result<(), StateError> {
    if name.is_empty() {
        return Err(StateError::invalid(field, "must not be empty"));
    }
    if name.len() > max {
        return Err(StateError::invalid(
            field,
            format!("is {} bytes, longer than the limit of {max}", name.len()),
        ));
    }
    Ok(())
}

struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A stored value and the revision that last wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versioned {
    pub value: Value,
    pub version: u64,
}

/// One item of a paged listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub key: String,
    pub value: Value,
    pub version: u64,
}

/// Which page of a group to list: keys starting with `prefix`, strictly after
/// the key `after` (the previous page's cursor), at most `limit` of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A page of items in key order; `next` is the cursor for the following page,
/// `None` on the last one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<String>,
}

/// A value as its compact JSON text — exactly what `serde_json::to_string`
/// gives for it — for reads that only pass the value on: a backend that
/// stores that text hands it over without parsing it, and the protocol
/// layers write it out without printing it again.
pub type RawJson = Box<RawValue>;

/// The compact JSON text of `value`.
pub fn raw_json(value: &Value) -> Result<RawJson, StateError> {
    serde_json::value::to_raw_value(value)
        .map_err(|e| StateError::Storage(format!("cannot encode value: {e}")))
}

/// `text` (JSON as a client wrote it) printed compactly, as [`raw_json`]
/// prints it once parsed — numbers, strings and escapes come out the same —
/// but without building the tree: the parser feeds the printer directly
/// (a set's value is only stored and passed on, so the tree was built just
/// to be printed and freed). Refuses what the parser refuses, nesting past
/// its recursion limit included. One difference: an object that repeats a
/// key keeps every occurrence, where a parsed value keeps the last; JSON
/// parsers read both texts as the same value (the last occurrence wins).
pub fn compact_json(text: &RawValue) -> Result<RawJson, serde_json::Error> {
    let mut parser = serde_json::Deserializer::from_str(text.get());
    let mut out = Vec::with_capacity(text.get().len());
    serde_transcode::transcode(&mut parser, &mut serde_json::Serializer::new(&mut out))?;
    parser.end()?;
    if out == text.get().as_bytes() {
        // Already compact (what most clients send): no second check.
        return Ok(text.to_owned());
    }
    // The printer's output is JSON by construction; `from_string` checks it
    // once more, which only this less common path pays.
    let printed = String::from_utf8(out).map_err(serde::de::Error::custom)?;
    RawValue::from_string(printed)
}

/// [`Versioned`] with the value as [`RawJson`].
#[derive(Debug, Clone)]
pub struct RawVersioned {
    pub value: RawJson,
    pub version: u64,
}

impl RawVersioned {
    pub fn from_versioned(found: &Versioned) -> Result<Self, StateError> {
        Ok(RawVersioned {
            value: raw_json(&found.value)?,
            version: found.version,
        })
    }
}

/// [`Item`] with the value as [`RawJson`]; serializes to the same JSON.
#[derive(Debug, Clone, Serialize)]
pub struct RawItem {
    pub key: String,
    pub value: RawJson,
    pub version: u64,
}

/// [`Page`] with the values as [`RawJson`]; serializes to the same JSON.
#[derive(Debug, Clone, Serialize)]
pub struct RawPage {
    pub items: Vec<RawItem>,
    pub next: Option<String>,
}

impl RawPage {
    pub fn from_page(page: Page) -> Result<Self, StateError> {
        let items = page
            .items
            .into_iter()
            .map(|item| {
                Ok(RawItem {
                    value: raw_json(&item.value)?,
                    key: item.key,
                    version: item.version,
                })
            })
            .collect::<Result<_, StateError>>()?;
        Ok(RawPage {
            items,
            next: page.next,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn compact(text: &str) -> Result<String, serde_json::Error> {
        let given = RawValue::from_string(text.to_owned())?;
        compact_json(&given).map(|raw| raw.get().to_owned())
    }

    /// What the tree path prints: parse, then print compactly.
    fn through_a_tree(text: &str) -> String {
        let value: Value = serde_json::from_str(text).expect("JSON");
        raw_json(&value).expect("printable").get().to_owned()
    }

    #[test]
    fn compact_json_prints_what_the_parsed_value_prints() {
        for text in [
            r#"{"a":1,"b":[true,null,"x"]}"#,
            " { \"a\" : [ 1 , 2.50 , -0.0 , 1e3 , 1E-2 ] , \"s\" : \"\\u0041\\n\\/\" } ",
            r#"18446744073709551615"#,
            r#"-9223372036854775808"#,
            r#"123456789012345678901234567890"#,
            r#""é😀\ud83d\ude00""#,
            "[[],{},[{}]]",
            "null",
        ] {
            assert_eq!(compact(text).expect("JSON"), through_a_tree(text), "{text}");
        }
    }

    #[test]
    fn compact_json_refuses_what_the_parser_refuses() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let err = compact(&deep).expect_err("past the recursion limit");
        assert!(err.to_string().contains("recursion limit"), "{err}");
        let fine = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(compact(&fine).expect("within the limit"), fine);
    }

    #[test]
    fn compact_json_keeps_repeated_keys_which_parse_as_the_last() {
        let text = compact(r#"{"a":1, "a":2}"#).expect("JSON");
        assert_eq!(text, r#"{"a":1,"a":2}"#);
        let value: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(value, json!({"a": 2}));
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any value, written compactly or pretty-printed by a client,
        /// compacts to the text the tree path prints.
        #[test]
        fn compact_json_agrees_with_the_tree_path(value in any_value()) {
            let printed = raw_json(&value).expect("printable").get().to_owned();
            prop_assert_eq!(compact(&printed).expect("JSON"), printed.clone());
            let pretty = serde_json::to_string_pretty(&value).expect("printable");
            prop_assert_eq!(compact(&pretty).expect("JSON"), printed);
        }
    }
}
