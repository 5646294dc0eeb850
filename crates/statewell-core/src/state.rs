//! The state service: what the protocol layers call. Validates every argument
//! once, here, then hands the operation to the configured [`Store`].

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::update::{OpError, UpdateOp};
use crate::{ChangeEvent, Limits, Mutation, Page, PageRequest, StateError, Store, Versioned};

/// Result of `set`: the value before (null when the key was new) and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetOutcome {
    pub old_value: Option<Value>,
    pub new_value: Value,
    pub version: u64,
}

/// Result of `update`. `new_value` is `None` only when nothing was written to
/// a missing key (an empty op list). `errors` lists the ops that were skipped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UpdateOutcome {
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub errors: Vec<OpError>,
    pub version: Option<u64>,
}

#[derive(Clone)]
pub struct State {
    store: Arc<dyn Store>,
    limits: Limits,
}

impl State {
    pub fn new(store: Arc<dyn Store>, limits: Limits) -> Self {
        State { store, limits }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn check_item(&self, group: &str, key: &str) -> Result<(), StateError> {
        self.limits.check_group(group)?;
        self.limits.check_key(key)
    }

    pub async fn set(
        &self,
        group: &str,
        key: &str,
        value: Value,
    ) -> Result<SetOutcome, StateError> {
        self.check_item(group, key)?;
        let outcome = self
            .store
            .write(Mutation::Set {
                group: group.to_owned(),
                key: key.to_owned(),
                value,
            })
            .await?;
        Ok(SetOutcome {
            old_value: outcome.old_value,
            new_value: outcome.new_value.unwrap_or(Value::Null),
            version: outcome.version.unwrap_or_default(),
        })
    }

    pub async fn get(&self, group: &str, key: &str) -> Result<Option<Versioned>, StateError> {
        self.check_item(group, key)?;
        self.store.get(group, key).await
    }

    /// Removes one item; returns what it held, `None` when it was missing.
    pub async fn delete(&self, group: &str, key: &str) -> Result<Option<Value>, StateError> {
        self.check_item(group, key)?;
        let outcome = self
            .store
            .write(Mutation::Delete {
                group: group.to_owned(),
                key: key.to_owned(),
            })
            .await?;
        Ok(outcome.old_value)
    }

    pub async fn update(
        &self,
        group: &str,
        key: &str,
        ops: Vec<UpdateOp>,
    ) -> Result<UpdateOutcome, StateError> {
        self.check_item(group, key)?;
        let outcome = self
            .store
            .write(Mutation::Update {
                group: group.to_owned(),
                key: key.to_owned(),
                ops,
            })
            .await?;
        Ok(UpdateOutcome {
            old_value: outcome.old_value,
            new_value: outcome.new_value,
            errors: outcome.op_errors,
            version: outcome.version,
        })
    }

    pub async fn list(&self, group: &str) -> Result<Vec<Value>, StateError> {
        self.limits.check_group(group)?;
        self.store.list(group).await
    }

    pub async fn list_items(&self, group: &str, page: &PageRequest) -> Result<Page, StateError> {
        self.limits.check_group(group)?;
        let limit = match page.limit {
            None => self.limits.max_page_size,
            Some(0) => return Err(StateError::invalid("limit", "must be at least 1")),
            Some(n) => n.min(self.limits.max_page_size),
        };
        self.store
            .list_items(group, page.prefix.as_deref(), page.after.as_deref(), limit)
            .await
    }

    /// Removes every item of a group at once; returns how many there were.
    pub async fn clear(&self, group: &str) -> Result<u64, StateError> {
        self.limits.check_group(group)?;
        self.store.clear(group).await
    }

    pub async fn list_groups(&self) -> Result<Vec<String>, StateError> {
        self.store.list_groups().await
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeEvent>> {
        self.store.subscribe()
    }

    pub async fn sync(&self) -> Result<(), StateError> {
        self.store.sync().await
    }
}
