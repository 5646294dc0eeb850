//! A JSON object read as its fields' raw text, borrowed from the frame.
//!
//! Parsing a frame into a `serde_json::Value` allocates a map and a string
//! for every key and value, only for the handler to move them out again. A
//! [`RawObject`] checks the JSON once and keeps, per field, the name and the
//! slice of text holding the value; a handler decodes just the fields it
//! needs, straight into the types it wants.

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
    /// Parses `text`, which must hold one JSON object (anything else is a
    /// `Category::Data` error; broken JSON a syntax or EOF error).
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

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
        let object = RawObject::parse(text).expect("an object");
        assert_eq!(object.get("a").map(RawValue::get), Some("3"));
        assert_eq!(object.get("b").map(RawValue::get), Some(r#""s""#));
        assert_eq!(object.get("esc").map(RawValue::get), Some("null"));
        assert!(object.get("x").is_none());
    }

    #[test]
    fn tells_broken_json_from_json_that_is_no_object() {
        let broken = RawObject::parse(r#"{"a":"#).expect_err("broken");
        assert!(broken.is_eof());
        let array = RawObject::parse("[1]").expect_err("no object");
        assert!(array.is_data());
        let trailing = RawObject::parse("{} x").expect_err("trailing text");
        assert!(trailing.is_syntax());
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
