//! A call the engine forwards to a function this client serves: the
//! [`Invocation`] read from an `invokefunction` frame, the bounded stream of
//! them per function, and the `invocationresult` frame that answers one.
//! Both the connection (which routes them) and the worker API (which hands
//! them out and answers them) use these.

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

/// Invocations waiting for the application, per function.
pub(crate) const INVOCATION_CAPACITY: usize = 1024;

/// One call of a function this client registered, forwarded by the engine.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The engine's id for this call; `respond` sends it back.
    pub(crate) invocation_id: Option<Value>,
    /// The function being invoked.
    pub function_id: String,
    /// The call's payload; for a state trigger, the event
    /// (`{type, event_type, scope, key, old_value, new_value}`).
    pub data: Value,
    /// A fire-and-forget call: the engine drops any answer.
    pub void: bool,
}

impl Invocation {
    /// Parses a forwarded `invokefunction` frame.
    pub(crate) fn from_frame(frame: &mut Map<String, Value>) -> Option<Invocation> {
        let function_id = match frame.remove("function_id") {
            Some(Value::String(id)) => id,
            _ => return None,
        };
        let invocation_id = frame.remove("invocation_id").filter(|id| !id.is_null());
        let void = invocation_id.is_none()
            || frame
                .get("action")
                .and_then(|a| a.get("type"))
                .and_then(Value::as_str)
                == Some("void");
        Some(Invocation {
            invocation_id,
            function_id,
            data: frame.remove("data").unwrap_or(Value::Null),
            void,
        })
    }

    /// Whether the engine waits for an answer to this call.
    pub fn expects_answer(&self) -> bool {
        !self.void && self.invocation_id.is_some()
    }
}

/// The `invocationresult` answering `invocation_id`.
pub(crate) fn result_frame(
    invocation_id: &Value,
    function_id: &str,
    outcome: Result<Option<Value>, Value>,
) -> Value {
    let mut frame = json!({
        "type": "invocationresult",
        "invocation_id": invocation_id,
        "function_id": function_id,
    });
    match outcome {
        Ok(Some(result)) => frame["result"] = result,
        // "Nothing" is sent by omitting `result`, as the engine does.
        Ok(None) => {}
        Err(error) => frame["error"] = error,
    }
    frame
}

/// The invocations of one registered function, in the order they arrived.
/// Ends (`next` gives `None`) when the connection closes or the function is
/// unregistered.
pub struct Invocations {
    pub(crate) receiver: mpsc::Receiver<Invocation>,
}

impl Invocations {
    pub async fn next(&mut self) -> Option<Invocation> {
        self.receiver.recv().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn forwarded_frames_parse_with_their_id_and_void_flag() {
        let call = Invocation::from_frame(&mut frame(json!({
            "type": "invokefunction", "invocation_id": "i-1",
            "function_id": "f", "data": {"n": 1}
        })));
        let call = call.map(|c| (c.invocation_id, c.function_id, c.data, c.void));
        assert_eq!(
            call,
            Some((Some(json!("i-1")), "f".into(), json!({"n": 1}), false))
        );

        let void = Invocation::from_frame(&mut frame(json!({
            "invocation_id": "i-2", "function_id": "f", "action": {"type": "void"}
        })));
        assert_eq!(
            void.map(|c| (c.void, c.expects_answer(), c.data)),
            Some((true, false, Value::Null))
        );
        assert!(Invocation::from_frame(&mut frame(json!({"invocation_id": "x"}))).is_none());
    }

    #[test]
    fn results_omit_result_for_nothing_and_carry_errors() {
        let id = json!("i");
        assert_eq!(
            result_frame(&id, "f", Ok(None)),
            json!({"type": "invocationresult", "invocation_id": "i", "function_id": "f"})
        );
        assert_eq!(result_frame(&id, "f", Ok(Some(json!(2))))["result"], 2);
        assert_eq!(
            result_frame(&id, "f", Err(json!({"code": "c"})))["error"]["code"],
            "c"
        );
    }
}
