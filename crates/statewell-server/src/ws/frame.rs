//! Frames of the worker protocol: reading the envelope of an incoming frame
//! and encoding the frames the engine sends.
//!
//! An incoming frame is parsed once, into a [`super::raw::RawFrame`] (each
//! field's raw text, and `data` taken apart into its fields' raw text);
//! whoever handles the message decodes the fields it needs.

use std::borrow::Cow;

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::Value;

use super::raw::{RawText, raw_str};

/// An error as it travels in an `invocationresult` frame.
#[derive(Debug, Clone)]
pub enum ErrorBody {
    /// Raised by the engine: `{"code","message"}`.
    Engine {
        code: Cow<'static, str>,
        message: String,
    },
    /// Raised by a worker's function and relayed unchanged to the caller.
    Relayed(Value),
}

impl ErrorBody {
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        ErrorBody::Engine {
            code: code.into(),
            message: message.into(),
        }
    }

    /// `deserialization_error` naming the function and what was wrong.
    pub fn deserialization(function_id: &str, detail: impl std::fmt::Display) -> Self {
        ErrorBody::new(
            "deserialization_error",
            format!("Failed to deserialize input for {function_id}: {detail}"),
        )
    }

    pub fn function_not_found(function_id: &str) -> Self {
        ErrorBody::new(
            "function_not_found",
            format!("Function {function_id} not found in namespace default."),
        )
    }

    /// `unavailable`: a new request refused because the engine is draining.
    pub fn shutting_down() -> Self {
        ErrorBody::new("unavailable", "The engine is shutting down.")
    }

    /// The stable code, for logs and metrics.
    pub fn code(&self) -> &str {
        match self {
            ErrorBody::Engine { code, .. } => code,
            ErrorBody::Relayed(value) => value
                .get("code")
                .and_then(Value::as_str)
                .unwrap_or("invocation_failed"),
        }
    }

    pub fn message(&self) -> String {
        match self {
            ErrorBody::Engine { message, .. } => message.clone(),
            ErrorBody::Relayed(value) => match value.get("message").and_then(Value::as_str) {
                Some(message) => message.to_owned(),
                None => value.to_string(),
            },
        }
    }
}

impl Serialize for ErrorBody {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ErrorBody::Engine { code, message } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("code", code)?;
                map.serialize_entry("message", message)?;
                map.end()
            }
            ErrorBody::Relayed(value) => value.serialize(serializer),
        }
    }
}

/// `{"type":"invocationresult","invocation_id",...}`: `function_id`
/// omitted when `None`, `result` when the outcome is `Ok(None)`.
///
/// Every reply is one of these, so the frame is put together by hand: its
/// constant parts (the type and the field names) are copied in as they are
/// and only the values go through the serializer — the same bytes as
/// serializing the frame as a struct, without passing each constant through
/// the string escaper (~1,200 instructions a reply, measured).
pub fn result_frame<R: WriteJson>(
    invocation_id: &Value,
    function_id: Option<&str>,
    outcome: &Result<Option<R>, ErrorBody>,
) -> String {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(br#"{"type":"invocationresult","invocation_id":"#);
    match invocation_id {
        Value::String(id) => write_str(&mut out, id),
        other => write_json(&mut out, other),
    }
    if let Some(function_id) = function_id {
        out.extend_from_slice(br#","function_id":"#);
        write_str(&mut out, function_id);
    }
    match outcome {
        Ok(None) => {}
        Ok(Some(result)) => {
            out.extend_from_slice(br#","result":"#);
            result.write_json(&mut out);
        }
        Err(error) => {
            out.extend_from_slice(br#","error":"#);
            write_json(&mut out, error);
        }
    }
    out.push(b'}');
    // The serializer writes UTF-8 only, and so do the constants above.
    String::from_utf8(out).expect("frames are UTF-8")
}

/// Appends `value` as JSON. Cannot fail for what frames hold: every map key
/// is a string and every raw value is already valid JSON.
pub fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    serde_json::to_writer(out, value).expect("frames always serialize");
}

/// Appends `text` as a JSON string. Ids and function names rarely hold
/// anything to escape, so they are copied between quotes when they do not
/// (the escaper looks each byte up in a table).
fn write_str(out: &mut Vec<u8>, text: &str) {
    if statewell_core::is_plain_json_string(text) {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        write_json(out, text);
    }
}

/// A call's result, appended to a frame as JSON. Serializing a
/// [`statewell_core::RawJson`] through serde checks its text once more
/// (serde passes raw text on only through serde_json's raw value); a
/// result that holds stored text writes it in as it is instead.
pub trait WriteJson {
    fn write_json(&self, out: &mut Vec<u8>);
}

impl WriteJson for Value {
    fn write_json(&self, out: &mut Vec<u8>) {
        write_json(out, self);
    }
}

#[derive(Serialize)]
struct RegisteredFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    worker_id: &'a str,
    reattach_token: &'a str,
}

pub fn worker_registered_frame(worker_id: &str, reattach_token: &str) -> String {
    encode(&RegisteredFrame {
        kind: "workerregistered",
        worker_id,
        reattach_token,
    })
}

#[derive(Serialize)]
struct TriggerResultFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    trigger_type: &'a str,
    function_id: &'a str,
    error: &'a ErrorBody,
}

/// Sent only when a trigger registration failed.
pub fn trigger_registration_failed_frame(
    id: &str,
    trigger_type: &str,
    function_id: &str,
    error: &ErrorBody,
) -> String {
    encode(&TriggerResultFrame {
        kind: "triggerregistrationresult",
        id,
        trigger_type,
        function_id,
        error,
    })
}

fn encode<T: Serialize>(frame: &T) -> String {
    // Serializing these frames cannot fail: every map key is a string and
    // every value is already valid JSON.
    serde_json::to_string(frame).expect("frames always serialize")
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
    let start = text.find("\"invocation_id\"")? + "\"invocation_id\"".len();
    let rest = text[start..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find(['"', '\\'])?;
    if rest[end..].starts_with('\\') {
        return None;
    }
    Some(Value::String(rest[..end].to_owned()))
}

/// A short name of a JSON value's type, for error messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use statewell_core::RawJson;

    use crate::ws::state_fns::Reply;

    /// The frame as serializing it as a struct prints it: what
    /// `result_frame` must give byte for byte.
    #[derive(Serialize)]
    struct ResultFrame<'a, R> {
        #[serde(rename = "type")]
        kind: &'static str,
        invocation_id: &'a Value,
        #[serde(skip_serializing_if = "Option::is_none")]
        function_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<&'a R>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a ErrorBody>,
    }

    fn as_struct<R: Serialize>(
        invocation_id: &Value,
        function_id: Option<&str>,
        outcome: &Result<Option<R>, ErrorBody>,
    ) -> String {
        let (result, error) = match outcome {
            Ok(result) => (result.as_ref(), None),
            Err(error) => (None, Some(error)),
        };
        encode(&ResultFrame {
            kind: "invocationresult",
            invocation_id,
            function_id,
            result,
            error,
        })
    }

    #[test]
    fn result_frames_print_as_the_struct_prints() {
        let raw = |text: &str| RawJson::checked(text.to_owned()).expect("JSON");
        let ids = [
            json!("abc-1"),
            json!("quote\" and \\ and \u{1}"),
            json!("a control character alone: \u{1f}"),
            json!("é and \u{7f}, nothing to escape"),
            json!(42),
            json!(-1.5),
        ];
        let functions = [
            None,
            Some("state::get"),
            Some("my::fn \"é\"\n"),
            Some("tab\there"),
        ];
        let outcomes: Vec<Result<Option<Reply>, ErrorBody>> = vec![
            Ok(None),
            Ok(Some(Reply::Value(json!({"groups": ["a", "b\u{7f}"]})))),
            Ok(Some(Reply::Raw(raw(r#"{"n":1,"s":"x\"y"}"#)))),
            Ok(Some(Reply::List(vec![raw("1"), raw("null")]))),
            Err(ErrorBody::function_not_found("nope")),
            Err(ErrorBody::Relayed(json!({"code": "x", "detail": [1, 2]}))),
        ];
        for id in &ids {
            for function in functions {
                for outcome in &outcomes {
                    assert_eq!(
                        result_frame(id, function, outcome),
                        as_struct(id, function, outcome),
                        "{id} {function:?} {outcome:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_invocation_id_is_a_string_or_a_number_as_sent() {
        let read = |text: &str| {
            let frame = format!(r#"{{"invocation_id":{text}}}"#);
            let frame = super::super::raw::RawFrame::parse(&frame).expect("a frame");
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
    fn omits_result_when_nothing() {
        let frame = result_frame(&json!("i"), Some("state::get"), &Ok(None::<Value>));
        assert_eq!(
            frame,
            r#"{"type":"invocationresult","invocation_id":"i","function_id":"state::get"}"#
        );
        let frame = result_frame(&json!("i"), None, &Ok(Some(Value::Null)));
        assert_eq!(
            frame,
            r#"{"type":"invocationresult","invocation_id":"i","result":null}"#
        );
    }

    #[test]
    fn errors_carry_code_and_message() {
        let frame = result_frame(
            &json!("i"),
            Some("nope"),
            &Err::<Option<Value>, _>(ErrorBody::function_not_found("nope")),
        );
        let parsed: Value = serde_json::from_str(&frame).expect("json");
        assert_eq!(parsed["error"]["code"], "function_not_found");
        assert_eq!(
            parsed["error"]["message"],
            "Function nope not found in namespace default."
        );
    }
}
