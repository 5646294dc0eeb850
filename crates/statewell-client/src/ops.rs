//! The state functions as typed methods over [`Client::call`].

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use statewell_core::{OpError, Page, PageRequest, UpdateOp};

use crate::{Client, ClientError};

/// Result of `set`: the value before (`None` when the key was new) and after.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SetResult {
    pub old_value: Option<Value>,
    pub new_value: Value,
}

/// Result of `update`; `errors` lists the ops that failed and were skipped.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UpdateResult {
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    /// The wire omits `errors` when every op applied.
    #[serde(default)]
    pub errors: Vec<OpError>,
}

#[derive(Deserialize)]
struct Groups {
    groups: Vec<String>,
}

#[derive(Deserialize)]
struct Cleared {
    deleted: u64,
}

impl Client {
    pub async fn set(
        &self,
        scope: &str,
        key: &str,
        value: Value,
    ) -> Result<SetResult, ClientError> {
        self.typed(
            "state::set",
            json!({"scope": scope, "key": key, "value": value}),
        )
        .await
    }

    /// The value, or `None` when the key is missing (a stored `null` is `Some(Null)`).
    pub async fn get(&self, scope: &str, key: &str) -> Result<Option<Value>, ClientError> {
        self.call("state::get", json!({"scope": scope, "key": key}))
            .await
    }

    /// Removes one item; returns what it held, `None` when it was missing.
    pub async fn delete(&self, scope: &str, key: &str) -> Result<Option<Value>, ClientError> {
        self.call("state::delete", json!({"scope": scope, "key": key}))
            .await
    }

    pub async fn update(
        &self,
        scope: &str,
        key: &str,
        ops: &[UpdateOp],
    ) -> Result<UpdateResult, ClientError> {
        self.typed(
            "state::update",
            json!({"scope": scope, "key": key, "ops": ops}),
        )
        .await
    }

    /// Every value of a group, in key order.
    pub async fn list(&self, scope: &str) -> Result<Vec<Value>, ClientError> {
        self.typed("state::list", json!({"scope": scope})).await
    }

    /// One page of a group's items; pass the returned `next` as `after` for
    /// the following page.
    pub async fn list_items(&self, scope: &str, page: &PageRequest) -> Result<Page, ClientError> {
        let mut data = json!({"scope": scope});
        if let Some(prefix) = &page.prefix {
            data["prefix"] = json!(prefix);
        }
        if let Some(after) = &page.after {
            data["after"] = json!(after);
        }
        if let Some(limit) = page.limit {
            data["limit"] = json!(limit);
        }
        self.typed("state::list_items", data).await
    }

    /// Removes every item of a group; returns how many there were.
    pub async fn clear(&self, scope: &str) -> Result<u64, ClientError> {
        let cleared: Cleared = self.typed("state::clear", json!({"scope": scope})).await?;
        Ok(cleared.deleted)
    }

    /// Sorted names of the groups that hold items.
    pub async fn list_groups(&self) -> Result<Vec<String>, ClientError> {
        let groups: Groups = self.typed("state::list_groups", json!({})).await?;
        Ok(groups.groups)
    }

    async fn typed<T: DeserializeOwned>(
        &self,
        function_id: &str,
        data: Value,
    ) -> Result<T, ClientError> {
        let protocol = |reason: String| ClientError::Protocol {
            function_id: function_id.to_owned(),
            reason,
        };
        let result = self
            .call(function_id, data)
            .await?
            .ok_or_else(|| protocol("the reply carries no result".into()))?;
        serde_json::from_value(result).map_err(|e| protocol(e.to_string()))
    }
}
