//! What a `registertrigger` frame asks for, validated.

use serde_json::{Map, Value};
use statewell_core::ChangeEvent;

use crate::ws::frame::{ErrorBody, type_name};

/// A state trigger's function and filter. `None` matches everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerSpec {
    pub function_id: String,
    pub scope: Option<String>,
    pub key: Option<String>,
    pub condition: Option<String>,
}

impl TriggerSpec {
    /// Reads `config` (`{scope?, key?, condition_function_id?}`); other
    /// fields are ignored.
    pub fn from_config(function_id: String, config: Option<Value>) -> Result<Self, ErrorBody> {
        let mut config = match config {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(ErrorBody::deserialization(
                    "registertrigger",
                    format!(
                        "field `config`: invalid type: {}, expected an object",
                        type_name(&other)
                    ),
                ));
            }
        };
        let mut field = |name: &str| -> Result<Option<String>, ErrorBody> {
            match config.remove(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Err(ErrorBody::new(
                    "invalid_argument",
                    format!("invalid config.{name}: must not be empty"),
                )),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(ErrorBody::deserialization(
                    "registertrigger",
                    format!(
                        "field `config.{name}`: invalid type: {}, expected a string",
                        type_name(&other)
                    ),
                )),
            }
        };
        Ok(TriggerSpec {
            scope: field("scope")?,
            key: field("key")?,
            condition: field("condition_function_id")?,
            function_id,
        })
    }

    pub fn matches(&self, event: &ChangeEvent) -> bool {
        self.scope.as_deref().is_none_or(|s| s == event.group)
            && self.key.as_deref().is_none_or(|k| k == event.key)
    }
}
