//! The worker side of the protocol: functions this client serves and state
//! triggers pointing at them.
//!
//! The engine forwards an `invokefunction` frame for a function this client
//! registered; the reader task hands it to that function's [`Invocations`]
//! stream, and the application answers it with [`Client::respond`]. The
//! stream is bounded: when it is full (the application stopped taking
//! invocations) the engine gets an error reply at once rather than the client
//! buffering without limit.

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::connection::lock;
use crate::{Client, ClientError};

/// Invocations waiting for the application, per function.
pub(crate) const INVOCATION_CAPACITY: usize = 1024;

/// A scope and key no application writes to: a point read of it is the
/// round trip that follows a `registertrigger` (see `Client::register_trigger`).
const BARRIER_SCOPE: &str = "statewell-client";
const BARRIER_KEY: &str = "registration-barrier";

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

impl Client {
    /// Registers `function_id` as served by this connection and returns the
    /// stream of its invocations. Registering the same id again replaces the
    /// earlier stream (which then ends). Answer each invocation that
    /// [`Invocation::expects_answer`] with [`Client::respond`], within the
    /// engine's invocation timeout. An empty id is refused
    /// (`invalid_argument`): no call could name it.
    pub async fn register_function(&self, function_id: &str) -> Result<Invocations, ClientError> {
        if function_id.is_empty() {
            return Err(ClientError::InvalidArgument(
                "function_id must not be empty".to_owned(),
            ));
        }
        let (sender, receiver) = mpsc::channel(INVOCATION_CAPACITY);
        lock(&self.shared.functions).insert(function_id.to_owned(), sender);
        if let Err(e) = self
            .send(json!({"type": "registerfunction", "id": function_id}))
            .await
        {
            lock(&self.shared.functions).remove(function_id);
            return Err(e);
        }
        Ok(Invocations { receiver })
    }

    /// Stops serving `function_id`; its stream ends.
    pub async fn unregister_function(&self, function_id: &str) -> Result<(), ClientError> {
        lock(&self.shared.functions).remove(function_id);
        self.send(json!({"type": "unregisterfunction", "id": function_id}))
            .await
    }

    /// Answers an invocation: `Ok(Some(v))` a result, `Ok(None)` no result,
    /// `Err(e)` an error (an object such as `{"code","message"}` is relayed
    /// to the caller as it is). A void invocation is not answered.
    pub async fn respond(
        &self,
        invocation: &Invocation,
        outcome: Result<Option<Value>, Value>,
    ) -> Result<(), ClientError> {
        let Some(id) = invocation
            .invocation_id
            .as_ref()
            .filter(|_| !invocation.void)
        else {
            return Ok(());
        };
        self.send(result_frame(id, &invocation.function_id, outcome))
            .await
    }

    /// Registers a trigger `id` of `trigger_type` (statewell serves `state`)
    /// that invokes `function_id` with `config` (for `state`:
    /// `{scope?, key?, condition_function_id?}`). Returns once the engine has
    /// taken it — events committed after that reach the function — or with
    /// the engine's error (`invalid_argument`, `trigger_type_not_found`, ...).
    pub async fn register_trigger(
        &self,
        id: &str,
        trigger_type: &str,
        function_id: &str,
        config: Value,
    ) -> Result<(), ClientError> {
        lock(&self.shared.trigger_errors).remove(id);
        self.send(json!({
            "type": "registertrigger",
            "id": id,
            "trigger_type": trigger_type,
            "function_id": function_id,
            "config": config,
        }))
        .await?;
        // The engine answers a registration only when it fails, before it
        // reads the next frame, and replies on one socket keep their order:
        // once a later call is answered, a failure would have arrived.
        self.get(BARRIER_SCOPE, BARRIER_KEY).await?;
        match lock(&self.shared.trigger_errors).remove(id) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Removes the trigger `id` (registered by this connection).
    pub async fn unregister_trigger(&self, id: &str) -> Result<(), ClientError> {
        self.send(json!({"type": "unregistertrigger", "id": id}))
            .await
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
