//! The frames the engine sends, and the errors they carry. (Incoming frames
//! are read in `raw.rs`.)

use std::borrow::Cow;

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::Value;

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
