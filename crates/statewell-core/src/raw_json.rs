//! [`RawJson`]: a value as the compact JSON text the store keeps.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::StateError;
use crate::printed::scan;

/// A value as its compact JSON text — exactly what `serde_json::to_string`
/// gives for it — for reads that only pass the value on: a backend that
/// stores that text hands it over without parsing it, and the protocol
/// layers write it out without printing it again.
///
/// The text is JSON because of where it comes from: printed from a value
/// ([`raw_json`]), a client's text checked and compacted
/// ([`crate::compact_json`]), or stored text checked as it is read back
/// ([`RawJson::checked`]). Unlike serde_json's raw value, which checks its
/// text with serde_json's parser whenever one is made, it is passed on and
/// written into replies without being checked again.
#[derive(Clone, PartialEq, Eq)]
pub struct RawJson(Box<str>);

impl RawJson {
    /// The JSON text.
    pub fn get(&self) -> &str {
        &self.0
    }

    /// `text` if it is JSON, else serde_json's error. Text as the store
    /// writes it (compact, strings escaped as serde_json escapes them) is
    /// checked in one pass of our own, without the copy serde_json's raw
    /// value makes; any other text by serde_json. For the bench's 200-byte
    /// value the pass costs ~1,580 instructions against ~2,400 for
    /// serde_json's check: ~5.5% of a get served from the data file.
    /// For text read back from storage: a value damaged behind the store's
    /// back is refused here, never passed on into a reply.
    pub fn checked(text: String) -> Result<RawJson, serde_json::Error> {
        if scan(&text).is_some() {
            return Ok(RawJson(text.into_boxed_str()));
        }
        RawValue::from_string(text).map(RawJson::from)
    }

    /// `text` taken as it is, without checking it, because the caller knows
    /// it is JSON: text it has just parsed without error (an update parses
    /// the stored value to apply its ops and answers the same text), or text it wrote
    /// itself from a [`RawJson`] or a printed value and kept in memory (the
    /// embedded store's overlay), a frame's value that
    /// [`crate::printed_value_scan`] read as printed, or such text with one
    /// number replaced by a printed one ([`crate::update::apply_to_text`]).
    /// Text read back from a file is not known: [`RawJson::checked`] it.
    pub fn known_json_unchecked(text: String) -> RawJson {
        RawJson(text.into_boxed_str())
    }

    /// The text as serde_json's raw value (checked once more, as serde_json
    /// always does).
    pub fn to_raw_value(&self) -> Result<Box<RawValue>, serde_json::Error> {
        RawValue::from_string(self.0.to_string())
    }
}

impl From<Box<RawValue>> for RawJson {
    /// Text serde_json has checked (compact or not is the caller's
    /// business: see [`crate::compact_json`]).
    fn from(raw: Box<RawValue>) -> RawJson {
        RawJson(raw.into())
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RawJson").field(&self.get()).finish()
    }
}

/// Writes the text as it is through serde_json's raw value, which checks it
/// first (serde has no other way to pass raw text on). The worker
/// protocol's replies do not come through here: they copy the text into
/// the frame (`statewell-server`, `ws/frame.rs`).
impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_raw_value()
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

/// The compact JSON text of `value`.
pub fn raw_json(value: &Value) -> Result<RawJson, StateError> {
    serde_json::to_string(value)
        .map(|text| RawJson(text.into_boxed_str()))
        .map_err(|e| StateError::Storage(format!("cannot encode value: {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn serializes_as_the_value_it_holds() {
        let value = json!({"a": [1, 2.5, u64::MAX], "s": "é\n\"", "n": null});
        let raw = raw_json(&value).expect("printable");
        assert_eq!(raw.get(), serde_json::to_string(&value).expect("printable"));
        let wrapped = serde_json::to_string(&vec![raw.clone()]).expect("JSON");
        assert_eq!(wrapped, format!("[{}]", raw.get()));
        let back: Value = serde_json::from_str(&wrapped).expect("JSON");
        assert_eq!(back, json!([value]));
    }

    #[test]
    fn checked_refuses_what_is_not_json_and_takes_any_json() {
        for broken in [
            "{\"a\":",
            "",
            "[1,]",
            "{\"a\" 1}",
            "\"\\x\"",
            "01",
            "nul",
            "[1]]",
            "{}{}",
        ] {
            assert!(RawJson::checked(broken.to_owned()).is_err(), "{broken:?}");
        }
        for json in ["{\"a\":1}", " [1, 2.5e3] ", "\"\\/\\u0041\"", "-0", "null"] {
            let raw = RawJson::checked(json.to_owned()).expect("JSON");
            assert_eq!(raw.get(), json.trim());
        }
    }
}
