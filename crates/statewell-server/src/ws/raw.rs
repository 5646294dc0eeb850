//! A JSON object read as its fields' raw text, borrowed from the frame.
//!
//! Parsing a frame into a `serde_json::Value` allocates a map and a string
//! for every key and value, only for the handler to move them out again. A
//! [`RawObject`] checks the JSON once and keeps, per field, the name and the
//! slice of text holding the value; a handler decodes just the fields it
//! needs, straight into the types it wants. A frame ([`RawFrame`]) is read
//! the same way, its `data` one level deeper, so the fields of a call's
//! arguments are found in the same pass.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// The fields of one JSON object, in the order they appeared.
#[derive(Debug, Default)]
pub struct RawObject<'a> {
    fields: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> RawObject<'a> {
    /// The value of `name`. With a duplicated name the last one counts, as
    /// when the object is read into a map.
    pub fn get(&self, name: &str) -> Option<&'a RawValue> {
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
#[derive(Debug, Default)]
pub struct RawFrame<'a> {
    fields: RawObject<'a>,
    data: Option<RawData<'a>>,
}

impl<'a> RawFrame<'a> {
    /// Parses `text`, which must hold one JSON object (anything else is a
    /// `Category::Data` error; broken JSON a syntax or EOF error).
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The raw text of any field but `data` (see [`RawObject::get`]).
    pub fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.fields.get(name)
    }

    /// The frame's `data`; with a duplicated `data` the last one counts.
    pub fn data(&self) -> Option<&RawData<'a>> {
        self.data.as_ref()
    }
}

/// A frame's `data`: an object field by field, anything else as a value.
#[derive(Debug)]
pub enum RawData<'a> {
    Object(RawObject<'a>),
    Other(Value),
}

impl RawData<'_> {
    /// The short name of its JSON type, as [`raw_type_name`] gives it.
    pub fn type_name(&self) -> &'static str {
        match self {
            RawData::Object(_) => "object",
            RawData::Other(value) => super::frame::type_name(value),
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
                    map.insert(name.as_ref().to_owned(), raw_value(raw)?);
                }
                Ok(Value::Object(map))
            }
        }
    }
}

/// The short name of the JSON type of `raw`, as [`super::frame::type_name`]
/// gives it for a parsed value. A raw value starts at its first character,
/// which names its type.
pub fn raw_type_name(raw: &RawValue) -> &'static str {
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
pub fn raw_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

/// `raw` decoded into a generic value (for fields that are relayed as they
/// are). The text was already checked as JSON when its object was parsed.
pub fn raw_value(raw: &RawValue) -> Result<Value, serde_json::Error> {
    serde_json::from_str(raw.get())
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
            fields.push((name, raw));
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
                frame.fields.fields.push((name, raw));
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
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).expect("test JSON")
    }

    #[test]
    fn keeps_each_field_as_text_and_the_last_of_duplicates() {
        let text = r#"{ "a" : {"x": [1, 2]}, "b":"s", "a":3, "e\u0073c":null }"#;
        let object = RawFrame::parse(text).expect("an object");
        assert_eq!(object.get("a").map(RawValue::get), Some("3"));
        assert_eq!(object.get("b").map(RawValue::get), Some(r#""s""#));
        assert_eq!(object.get("esc").map(RawValue::get), Some("null"));
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
        assert_eq!(frame.get("type").map(RawValue::get), Some(r#""x""#));
        assert!(frame.get("data").is_none(), "data is not kept as text");
        let Some(RawData::Object(data)) = frame.data() else {
            panic!("the last data, an object: {:?}", frame.data());
        };
        assert_eq!(
            data.get("value").map(RawValue::get),
            Some(r#"{"a":[1, 2]}"#)
        );
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
            assert_eq!(data.type_name(), super::super::frame::type_name(&expected));
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
    fn reads_strings_with_and_without_escapes() {
        assert_eq!(raw_str(&raw(r#""plain""#)).as_deref(), Some("plain"));
        assert_eq!(raw_str(&raw(r#""a\"b\n""#)).as_deref(), Some("a\"b\n"));
        assert_eq!(raw_str(&raw("12")), None);
        assert_eq!(raw_str(&raw("null")), None);
    }

    #[test]
    fn names_types_as_a_parsed_value_would() {
        for text in [r#""s""#, "{}", "[]", "true", "false", "null", "-1.5e3", "7"] {
            let value: Value = serde_json::from_str(text).expect("test JSON");
            assert_eq!(
                raw_type_name(&raw(text)),
                super::super::frame::type_name(&value)
            );
        }
    }
}
