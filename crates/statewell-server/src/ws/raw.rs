//! A JSON object read as its fields' raw text, borrowed from the frame.
//!
//! Parsing a frame into a `serde_json::Value` allocates a map and a string
//! for every key and value, only for the handler to move them out again. A
//! [`RawObject`] checks the JSON once and keeps, per field, the name and the
//! slice of text holding the value; a handler decodes just the fields it
//! needs, straight into the types it wants. A frame ([`RawFrame`]) is read
//! the same way, its `data` one level deeper, so the fields of a call's
//! arguments are found in the same pass.
//!
//! Frames written compactly (what `JSON.stringify` and the SDKs send) are
//! taken apart by a pass of our own ([`quick_frame`]): serde_json's reader
//! spent ~3,700 instructions on a get's 150-byte frame, mostly in its
//! generic map and raw-value machinery. Anything else — whitespace, other
//! escapes, a key with an escape, `data` that is not an object — goes to
//! serde_json, which gives every refusal its message.

// A frame is outside input: it is read with `get`, never by indexing, and
// without arithmetic that could overflow, so no frame can make it panic.
#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use statewell_core::{RawJson, compact_json, printed_object_end, printed_value_scan};

use super::frame::type_name;

/// The text of one JSON value of a frame, checked as JSON when the frame
/// was read (only this module makes one).
#[derive(Debug, Clone, Copy)]
pub struct RawText<'a> {
    text: &'a str,
    /// The frame pass found it exactly as the printer writes it (see
    /// [`statewell_core::printed_value_scan`]); `false` when not known.
    printed: bool,
}

impl<'a> RawText<'a> {
    /// Text serde_json checked (whether it is printed is not known).
    fn parsed(text: &'a str) -> Self {
        RawText {
            text,
            printed: false,
        }
    }

    pub fn get(self) -> &'a str {
        self.text
    }

    /// The value as the compact text the store keeps: the text itself when
    /// the frame pass found it printed already, else [`compact_json`]'s.
    pub fn to_compact_json(self) -> Result<RawJson, serde_json::Error> {
        match self.printed {
            true => Ok(RawJson::known_json_unchecked(self.text.to_owned())),
            false => compact_json(self.text),
        }
    }
}

/// Two texts are equal when they are the same text: whether it is known to
/// be printed is a fact about the text, not part of it.
impl PartialEq for RawText<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for RawText<'_> {}

/// The fields of one JSON object, in the order they appeared.
#[derive(Debug, Default, PartialEq)]
pub struct RawObject<'a> {
    fields: Vec<(Cow<'a, str>, RawText<'a>)>,
}

impl<'a> RawObject<'a> {
    /// Room for the fields of a usual frame or call (growing a vector from
    /// empty reallocates it twice on the way to eight).
    fn with_capacity(fields: usize) -> Self {
        RawObject {
            fields: Vec::with_capacity(fields),
        }
    }

    /// The value of `name`. With a duplicated name the last one counts, as
    /// when the object is read into a map.
    pub fn get(&self, name: &str) -> Option<RawText<'a>> {
        self.fields
            .iter()
            .rev()
            .find(|(field, _)| field == name)
            .map(|(_, raw)| *raw)
    }
}

/// A frame read as [`RawObject`], except its `data`, which is taken apart
/// while the frame is read: the state functions read `data`'s fields, and
/// keeping it as text first would scan it (a set's whole value) twice.
#[derive(Debug, Default, PartialEq)]
pub struct RawFrame<'a> {
    fields: RawObject<'a>,
    data: Option<RawData<'a>>,
}

impl<'a> RawFrame<'a> {
    /// Parses `text`, which must hold one JSON object (anything else is a
    /// `Category::Data` error; broken JSON a syntax or EOF error).
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        match quick_frame(text) {
            Some(frame) => Ok(frame),
            None => serde_json::from_str(text),
        }
    }

    /// The raw text of any field but `data` (see [`RawObject::get`]).
    pub fn get(&self, name: &str) -> Option<RawText<'a>> {
        self.fields.get(name)
    }

    /// The frame's `data`; with a duplicated `data` the last one counts.
    pub fn data(&self) -> Option<&RawData<'a>> {
        self.data.as_ref()
    }
}

/// A frame's `data`: an object field by field, anything else as a value.
#[derive(Debug, PartialEq)]
pub enum RawData<'a> {
    Object(RawObject<'a>),
    Other(Value),
}

impl RawData<'_> {
    /// The short name of its JSON type, as [`raw_type_name`] gives it.
    pub fn type_name(&self) -> &'static str {
        match self {
            RawData::Object(_) => "object",
            RawData::Other(value) => type_name(value),
        }
    }

    /// `data` as a generic value (for calls relayed to a worker). An object
    /// that repeats a field keeps the last occurrence, in the place of the
    /// first, as when the text is read into a value.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        match self {
            RawData::Other(value) => Ok(value.clone()),
            RawData::Object(object) => {
                let mut map = serde_json::Map::with_capacity(object.fields.len());
                for (name, raw) in &object.fields {
                    map.insert(name.as_ref().to_owned(), raw_value(*raw)?);
                }
                Ok(Value::Object(map))
            }
        }
    }
}

/// The short name of the JSON type of `raw`, as [`type_name`]
/// gives it for a parsed value. A raw value starts at its first character,
/// which names its type.
pub fn raw_type_name(raw: RawText<'_>) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'"') => "string",
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

/// The text of `raw` when it is a JSON string; `None` for any other type.
/// Borrowed when the string holds no escape (the usual case).
pub fn raw_str(raw: RawText<'_>) -> Option<Cow<'_, str>> {
    let text = raw.get();
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

/// `raw` decoded into a generic value (for fields that are relayed as they
/// are). The text was already checked as JSON when its object was parsed.
pub fn raw_value(raw: RawText<'_>) -> Result<Value, serde_json::Error> {
    serde_json::from_str(raw.get())
}

/// The frame's `invocation_id` when it is readable: a string (any string —
/// statewell does not insist on a UUID) or a number, echoed back as-is.
pub fn invocation_id(raw: Option<RawText<'_>>) -> Option<Value> {
    let raw = raw?;
    if let Some(id) = raw_str(raw) {
        return Some(Value::String(id.into_owned()));
    }
    match serde_json::from_str(raw.get()) {
        Ok(id @ Value::Number(_)) => Some(id),
        _ => None,
    }
}

/// Finds `"invocation_id":"..."` in text that is not valid JSON, so that a
/// malformed frame can still be answered. Handles plain strings only (no
/// escapes), which is what every client sends.
pub fn scan_invocation_id(text: &str) -> Option<Value> {
    let (_, after) = text.split_once("\"invocation_id\"")?;
    let rest = after.trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let (id, tail) = rest.split_at_checked(rest.find(['"', '\\'])?)?;
    if tail.starts_with('\\') {
        return None;
    }
    Some(Value::String(id.to_owned()))
}

impl<'de: 'a, 'a> Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor(std::marker::PhantomData))
    }
}

struct ObjectVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ObjectVisitor<'a> {
    type Value = RawObject<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(name) = map.next_key_seed(NameSeed(std::marker::PhantomData))? {
            let raw: &'a RawValue = map.next_value()?;
            fields.push((name, RawText::parsed(raw.get())));
        }
        Ok(RawObject { fields })
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawFrame<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FrameVisitor(std::marker::PhantomData))
    }
}

struct FrameVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for FrameVisitor<'a> {
    type Value = RawFrame<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut frame = RawFrame::default();
        while let Some(name) = map.next_key_seed(NameSeed(std::marker::PhantomData))? {
            if name == "data" {
                frame.data = Some(map.next_value_seed(DataSeed(std::marker::PhantomData))?);
            } else {
                let raw: &'a RawValue = map.next_value()?;
                frame.fields.fields.push((name, RawText::parsed(raw.get())));
            }
        }
        Ok(frame)
    }
}

/// Reads a frame's `data`: an object into a [`RawObject`], anything else
/// into a [`Value`].
struct DataSeed<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for DataSeed<'a> {
    type Value = RawData<'a>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for DataSeed<'a> {
    type Value = RawData<'a>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
        ObjectVisitor(std::marker::PhantomData)
            .visit_map(map)
            .map(RawData::Object)
    }

    fn visit_seq<S: de::SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(RawData::Other(Value::Array(items)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RawData::Other(Value::Null))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Ok(RawData::Other(Value::Bool(value)))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        Ok(RawData::Other(Value::from(value)))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Ok(RawData::Other(Value::from(value)))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        Ok(RawData::Other(Value::from(value)))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(RawData::Other(Value::String(value.to_owned())))
    }
}

/// `text` as a frame when it is written compactly, as [`printed_value_end`]
/// reads values, with field names that hold no escape and `data` (if any)
/// an object; `None` otherwise, and then serde_json reads it. What it
/// returns is what serde_json's reading gives for the same text.
fn quick_frame(text: &str) -> Option<RawFrame<'_>> {
    let mut frame = RawFrame {
        fields: RawObject::with_capacity(8),
        data: None,
    };
    let end = printed_object_end(text, 0, |name, at| {
        if name != "data" {
            let (value, end) = scanned_value(text, at)?;
            frame.fields.fields.push((Cow::Borrowed(name), value));
            return Some(end);
        }
        let mut data = RawObject::with_capacity(4);
        let end = printed_object_end(text, at, |name, at| {
            let (value, end) = scanned_value(text, at)?;
            data.fields.push((Cow::Borrowed(name), value));
            Some(end)
        })?;
        frame.data = Some(RawData::Object(data));
        Some(end)
    })?;
    (end == text.len()).then_some(frame)
}

/// The value that starts at `at`, and where it ends.
fn scanned_value(text: &str, at: usize) -> Option<(RawText<'_>, usize)> {
    let (end, printed) = printed_value_scan(text, at)?;
    let text = text.get(at..end)?;
    Some((RawText { text, printed }, end))
}

/// A field name, borrowed from the text unless it had to be unescaped.
struct NameSeed<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for NameSeed<'a> {
    type Value = Cow<'a, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for NameSeed<'a> {
    type Value = Cow<'a, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(name))
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// Test text taken as checked JSON (the tests pass only JSON).
    fn raw(text: &str) -> RawText<'_> {
        RawText::parsed(text)
    }

    /// What serde_json's reading gives, the reference for the quick pass.
    fn read_by_serde(text: &str) -> Result<RawFrame<'_>, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Text the quick pass takes must read the same through serde_json.
    fn assert_quick_agrees(text: &str) {
        if let Some(quick) = quick_frame(text) {
            match read_by_serde(text) {
                Ok(read) => assert_eq!(quick, read, "{text}"),
                Err(error) => panic!("quick pass took what serde_json refuses ({error}): {text}"),
            }
        }
    }

    /// Frames as the SDKs and the bench write them.
    const COMPACT_FRAMES: [&str; 5] = [
        r#"{"type":"invokefunction","invocation_id":"00000000-0000-4000-8000-00000000002a","function_id":"state::get","data":{"scope":"bench-0","key":"key-17"}}"#,
        r#"{"type":"invokefunction","invocation_id":"b3c1","function_id":"state::set","data":{"scope":"g","key":"k","value":{"n":1,"s":"a\"b\u0001","l":[1.5,-0,null,true,{}],"e":{}}},"traceparent":"00-ab-cd-01","action":null}"#,
        r#"{"type":"invokefunction","invocation_id":7,"function_id":"state::update","data":{"scope":"g","key":"k","ops":[{"type":"increment","path":"count","by":1}]}}"#,
        r#"{"type":"registerfunction","id":"f","description":"d","metadata":{"a":[]}}"#,
        r#"{"data":{},"type":"x","data":{"a":1,"a":2}}"#,
    ];

    #[test]
    fn keeps_each_field_as_text_and_the_last_of_duplicates() {
        let text = r#"{ "a" : {"x": [1, 2]}, "b":"s", "a":3, "e\u0073c":null }"#;
        let object = RawFrame::parse(text).expect("an object");
        assert_eq!(object.get("a").map(RawText::get), Some("3"));
        assert_eq!(object.get("b").map(RawText::get), Some(r#""s""#));
        assert_eq!(object.get("esc").map(RawText::get), Some("null"));
        assert!(object.get("x").is_none());
    }

    #[test]
    fn tells_broken_json_from_json_that_is_no_object() {
        let broken = RawFrame::parse(r#"{"a":"#).expect_err("broken");
        assert!(broken.is_eof());
        let array = RawFrame::parse("[1]").expect_err("no object");
        assert!(array.is_data());
        let trailing = RawFrame::parse("{} x").expect_err("trailing text");
        assert!(trailing.is_syntax());
    }

    #[test]
    fn takes_data_apart_while_the_frame_is_read() {
        let text = r#"{"data":1,"type":"x","d\u0061ta":{"scope":"g","value":{"a":[1, 2]}}}"#;
        let frame = RawFrame::parse(text).expect("an object");
        assert_eq!(frame.get("type").map(RawText::get), Some(r#""x""#));
        assert!(frame.get("data").is_none(), "data is not kept as text");
        let Some(RawData::Object(data)) = frame.data() else {
            panic!("the last data, an object: {:?}", frame.data());
        };
        assert_eq!(data.get("value").map(RawText::get), Some(r#"{"a":[1, 2]}"#));
        let value = frame
            .data()
            .map(RawData::to_value)
            .transpose()
            .expect("JSON");
        assert_eq!(
            value,
            Some(serde_json::json!({"scope": "g", "value": {"a": [1, 2]}}))
        );
        assert!(
            RawFrame::parse(r#"{"type":"x"}"#)
                .expect("an object")
                .data()
                .is_none()
        );
    }

    #[test]
    fn data_that_is_no_object_is_read_as_a_value() {
        for text in [
            "null",
            "true",
            "-3",
            "18446744073709551615",
            "2.5",
            r#""s\n""#,
            r#"[1,{"a":[]},"x"]"#,
        ] {
            let framed = format!(r#"{{"data":{text}}}"#);
            let frame = RawFrame::parse(&framed).expect("an object");
            let expected: Value = serde_json::from_str(text).expect("test JSON");
            let data = frame.data().expect("data");
            assert!(matches!(data, RawData::Other(_)), "{text}");
            assert_eq!(data.type_name(), super::type_name(&expected));
            assert_eq!(data.to_value().expect("JSON"), expected, "{text}");
        }
        let repeated = RawFrame::parse(r#"{"data":{"b":1,"a":2,"b":3}}"#).expect("an object");
        let value = repeated.data().expect("data").to_value().expect("JSON");
        let expected: Value = serde_json::from_str(r#"{"b":1,"a":2,"b":3}"#).expect("test JSON");
        assert_eq!(value, expected);
        assert_eq!(
            serde_json::to_string(&value).expect("printable"),
            serde_json::to_string(&expected).expect("printable"),
            "fields in the order a parsed value keeps them"
        );
        assert!(
            RawFrame::parse(r#"{"data":{"a":}}"#)
                .expect_err("broken")
                .is_syntax()
        );
    }

    #[test]
    fn compact_frames_take_the_quick_pass_and_read_as_serde_reads_them() {
        for text in COMPACT_FRAMES {
            let quick = quick_frame(text).unwrap_or_else(|| panic!("not taken: {text}"));
            assert_eq!(Some(&quick), read_by_serde(text).ok().as_ref(), "{text}");
        }
        let frame = RawFrame::parse(COMPACT_FRAMES[4]).expect("an object");
        let Some(RawData::Object(data)) = frame.data() else {
            panic!("data: {:?}", frame.data());
        };
        assert_eq!(
            data.get("a").map(RawText::get),
            Some("2"),
            "the last data, its last a"
        );
    }

    #[test]
    fn other_writing_goes_to_serde_json() {
        for text in [
            r#"{"type": "x"}"#,
            "{\"type\":\"x\"}\n",
            r#"{"ty\u0070e":"x"}"#,
            r#"{"type":"\u0078"}"#,
            r#"{"type":"x","data":null}"#,
            r#"{"type":"x","data":[1]}"#,
            r#"{"type":"x","data":{"v\"":1}}"#,
        ] {
            assert!(quick_frame(text).is_none(), "{text}");
            assert_eq!(
                RawFrame::parse(text).ok(),
                read_by_serde(text).ok(),
                "{text}"
            );
        }
        // 1.0e+2 is not the printer's form, but a valid number: taken.
        assert!(quick_frame(r#"{"data":{"value":1.0e+2}}"#).is_some());
    }

    #[test]
    fn a_value_found_printed_is_its_own_compact_text() {
        let text = r#"{"data":{"a":{"n":[1,-2,"s\n"],"t":true},"b":1.5,"c":-0,"d":"x","e":1e2,"f":1234567890123456789}}"#;
        let frame = quick_frame(text).expect("compact");
        let Some(RawData::Object(data)) = frame.data() else {
            panic!("data: {:?}", frame.data());
        };
        let printed: Vec<_> = ["a", "b", "c", "d", "e", "f"]
            .into_iter()
            .map(|name| data.get(name).map(|raw| raw.printed))
            .collect();
        let expected = [true, false, false, true, false, false].map(Some);
        assert_eq!(printed, expected);
        for name in ["a", "b", "c", "d", "e", "f"] {
            let raw = data.get(name).expect("a field");
            let compact = raw.to_compact_json().expect("JSON");
            let reprinted = compact_json(raw.get()).expect("JSON");
            assert_eq!(compact, reprinted, "{name}");
        }
        let parsed = read_by_serde(text).expect("JSON");
        let Some(RawData::Object(data)) = parsed.data() else {
            panic!("data");
        };
        assert!(data.fields.iter().all(|(_, raw)| !raw.printed));
    }

    /// Every cut, every insertion of a character that matters and every
    /// truncation of the sample frames: nothing serde_json refuses or reads
    /// differently gets through the quick pass.
    #[test]
    fn damaged_frames_never_pass_quick_as_something_else() {
        let inserts = [
            '"', '\\', '{', '}', '[', ']', ':', ',', ' ', '0', '-', '.', 'e', 'a', '\u{1}',
        ];
        for sample in COMPACT_FRAMES {
            let chars: Vec<char> = sample.chars().collect();
            for at in 0..=chars.len() {
                let mut cut = chars.clone();
                if at < chars.len() {
                    cut.remove(at);
                    assert_quick_agrees(&cut.iter().collect::<String>());
                }
                assert_quick_agrees(&chars[..at].iter().collect::<String>());
                for &c in &inserts {
                    let mut grown = chars.clone();
                    grown.insert(at, c);
                    assert_quick_agrees(&grown.into_iter().collect::<String>());
                }
            }
        }
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[a-z\"\\\\/\u{0}-\u{1f}é😀]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z\"]{0,3}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A field name other than `data` (whose reading the test steers).
    fn field_name() -> impl Strategy<Value = String> {
        "[a-z_\"]{1,6}".prop_filter("not data", |name| name != "data")
    }

    proptest! {
        /// Frames of any fields and `data`, printed compactly (as clients
        /// send them), read the same both ways; those whose names hold no
        /// escape and whose `data` is an object take the quick pass.
        #[test]
        fn printed_frames_read_the_same_both_ways(
            fields in prop::collection::vec((field_name(), any_value()), 0..6),
            data in prop::option::of(any_value()),
        ) {
            let mut text = String::from("{");
            for (name, value) in &fields {
                text.push_str(&serde_json::to_string(name).expect("a name"));
                text.push(':');
                text.push_str(&serde_json::to_string(value).expect("JSON"));
                text.push(',');
            }
            if let Some(data) = &data {
                text.push_str("\"data\":");
                text.push_str(&serde_json::to_string(data).expect("JSON"));
            }
            if text.ends_with(',') {
                text.pop();
            }
            text.push('}');
            let read = read_by_serde(&text).expect("a printed object");
            let quick = quick_frame(&text);
            let plain_names = fields.iter().all(|(name, _)| !name.contains('"'));
            let object_data = data.as_ref().is_none_or(|data| {
                data.as_object()
                    .is_some_and(|object| object.keys().all(|name| !name.contains('"')))
            });
            prop_assert_eq!(quick.is_some(), plain_names && object_data, "{}", text);
            if let Some(quick) = quick {
                if let Some(RawData::Object(data)) = quick.data() {
                    for (_, raw) in data.fields.iter().filter(|(_, raw)| raw.printed) {
                        let compact = compact_json(raw.get()).expect("JSON");
                        prop_assert_eq!(compact.get(), raw.get(), "{}", text);
                    }
                }
                prop_assert_eq!(quick, read, "{}", text);
            }
        }
    }

    #[test]
    fn an_invocation_id_is_a_string_or_a_number_as_sent() {
        let read = |text: &str| {
            let frame = format!(r#"{{"invocation_id":{text}}}"#);
            let frame = RawFrame::parse(&frame).expect("a frame");
            invocation_id(frame.get("invocation_id"))
        };
        assert_eq!(read(r#""abc-1""#), Some(json!("abc-1")));
        assert_eq!(read(r#""a\"b\u00e9""#), Some(json!("a\"bé")));
        assert_eq!(read("17"), Some(json!(17)));
        assert_eq!(read("-2.5"), Some(json!(-2.5)));
        for other in ["null", "true", "[]", r#"{"a":1}"#] {
            assert_eq!(read(other), None, "{other}");
        }
        assert_eq!(invocation_id(None), None);
    }

    #[test]
    fn scans_an_id_out_of_broken_json() {
        let text = r#"{"type":"invokefunction", "invocation_id" : "abc-1","data":{"#;
        assert_eq!(scan_invocation_id(text), Some(json!("abc-1")));
        assert_eq!(scan_invocation_id(r#"{"invocation_id":5"#), None);
        assert_eq!(scan_invocation_id(r#"{"invocation_id":"a\"b"}"#), None);
        assert_eq!(scan_invocation_id("garbage"), None);
    }

    #[test]
    fn reads_strings_with_and_without_escapes() {
        assert_eq!(raw_str(raw(r#""plain""#)).as_deref(), Some("plain"));
        assert_eq!(raw_str(raw(r#""a\"b\n""#)).as_deref(), Some("a\"b\n"));
        assert_eq!(raw_str(raw("12")), None);
        assert_eq!(raw_str(raw("null")), None);
    }

    #[test]
    fn names_types_as_a_parsed_value_would() {
        for text in [r#""s""#, "{}", "[]", "true", "false", "null", "-1.5e3", "7"] {
            let value: Value = serde_json::from_str(text).expect("test JSON");
            assert_eq!(raw_type_name(raw(text)), super::type_name(&value));
        }
    }
}
