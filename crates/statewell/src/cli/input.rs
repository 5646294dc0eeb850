//! Turns the JSON arguments of the verbs into values, before connecting.

use std::io::Read;

use serde_json::Value;
use statewell_client::UpdateOp;

use super::Failure;

/// A JSON argument, or stdin when it is `-`.
fn text(arg: &str) -> Result<String, Failure> {
    if arg != "-" {
        return Ok(arg.to_owned());
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Failure::usage("invalid_argument", format!("cannot read stdin: {e}")))?;
    Ok(text)
}

pub fn value(arg: &str) -> Result<Value, Failure> {
    serde_json::from_str(&text(arg)?).map_err(|e| {
        Failure::usage(
            "invalid_json",
            format!("the value is not JSON ({e}); quote strings: '\"text\"'"),
        )
    })
}

/// An array of ops, or a single op object.
pub fn ops(arg: &str) -> Result<Vec<UpdateOp>, Failure> {
    let value = serde_json::from_str::<Value>(&text(arg)?)
        .map_err(|e| Failure::usage("invalid_json", format!("the ops are not JSON ({e})")))?;
    let value = match value {
        Value::Object(_) => Value::Array(vec![value]),
        other => other,
    };
    serde_json::from_value(value).map_err(|e| {
        Failure::usage(
            "invalid_argument",
            format!("invalid ops ({e}); expected e.g. '[{{\"type\":\"increment\",\"path\":\"n\",\"by\":1}}]'"),
        )
    })
}

/// A transaction's ops: an array, or `{"ops": [...]}`. Each op is checked
/// by the engine; only the outer shape is checked here.
pub fn transaction(arg: &str) -> Result<Value, Failure> {
    let value = serde_json::from_str::<Value>(&text(arg)?).map_err(|e| {
        Failure::usage("invalid_json", format!("the transaction is not JSON ({e})"))
    })?;
    match value {
        Value::Array(_) => Ok(value),
        Value::Object(mut fields) => match fields.remove("ops") {
            Some(ops @ Value::Array(_)) => Ok(ops),
            _ => Err(Failure::usage(
                "invalid_argument",
                "expected an array of ops or {\"ops\":[...]}",
            )),
        },
        _ => Err(Failure::usage(
            "invalid_argument",
            "expected an array of ops or {\"ops\":[...]}",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_op_object_is_one_op() {
        let one = ops(r#"{"type":"increment","path":"n","by":2}"#).map_err(|f| f.to_string());
        assert_eq!(one.map(|ops| ops.len()), Ok(1));
    }

    #[test]
    fn unknown_op_types_and_bad_json_are_usage_errors() {
        for bad in [r#"[{"type":"bogus"}]"#, "[", "42"] {
            let failure = ops(bad).err().map(|f| f.to_string());
            assert!(failure.is_some(), "{bad}");
        }
        assert!(value("{not json").is_err());
        assert_eq!(value("\"text\"").ok(), Some(Value::String("text".into())));
    }
}
