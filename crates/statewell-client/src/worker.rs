//! The worker side of the protocol: functions this client serves and state
//! triggers pointing at them.
//!
//! The engine forwards an `invokefunction` frame for a function this client
//! registered; the reader task hands it to that function's [`Invocations`]
//! stream, and the application answers it with [`Client::respond`]. The
//! stream is bounded: when it is full (the application stopped taking
//! invocations) the engine gets an error reply at once rather than the client
//! buffering without limit.

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::connection::lock;
use crate::invocation::{INVOCATION_CAPACITY, Invocation, Invocations, result_frame};
use crate::{Client, ClientError};

/// A scope and key no application writes to: a point read of it is the
/// round trip that follows a `registertrigger` (see `Client::register_trigger`).
const BARRIER_SCOPE: &str = "statewell-client";
const BARRIER_KEY: &str = "registration-barrier";

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
