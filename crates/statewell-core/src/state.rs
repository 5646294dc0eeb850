//! The state service: what the protocol layers call. Validates every argument
//! once, here, then hands the operation to the configured [`Store`].

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::update::UpdateOp;
use crate::{
    ChangeEvent, Limits, Mutation, Page, PageRequest, RawJson, RawPage, RawSetOutcome,
    RawUpdateOutcome, RawVersioned, ResolvedPageRequest, SetOutcome, StateError, Store,
    UpdateOutcome, Versioned,
};

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

    /// [`State::set`] of a value given as compact JSON text (see
    /// [`crate::compact_json`]), with both values answered as such.
    pub async fn set_raw(
        &self,
        group: &str,
        key: &str,
        value: RawJson,
    ) -> Result<RawSetOutcome, StateError> {
        self.check_item(group, key)?;
        self.store.set_raw(group, key, value).await
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

    /// [`State::update`] with both values answered as compact JSON text.
    pub async fn update_raw(
        &self,
        group: &str,
        key: &str,
        ops: Vec<UpdateOp>,
    ) -> Result<RawUpdateOutcome, StateError> {
        self.check_item(group, key)?;
        self.store.update_raw(group, key, ops).await
    }

    pub async fn list(&self, group: &str) -> Result<Vec<Value>, StateError> {
        self.limits.check_group(group)?;
        self.store.list(group).await
    }

    pub async fn list_items(&self, group: &str, page: &PageRequest) -> Result<Page, StateError> {
        let page = self.check_page(group, page)?;
        self.store.list_items(group, page).await
    }

    /// [`State::get`] with the value as compact JSON text, for callers that
    /// only pass it on (see [`Store::get_raw`]).
    pub async fn get_raw(
        &self,
        group: &str,
        key: &str,
    ) -> Result<Option<RawVersioned>, StateError> {
        self.check_item(group, key)?;
        self.store.get_raw(group, key).await
    }

    /// [`State::list`] with the values as compact JSON text.
    pub async fn list_raw(&self, group: &str) -> Result<Vec<RawJson>, StateError> {
        self.limits.check_group(group)?;
        self.store.list_raw(group).await
    }

    /// [`State::list_items`] with the values as compact JSON text.
    pub async fn list_items_raw(
        &self,
        group: &str,
        page: &PageRequest,
    ) -> Result<RawPage, StateError> {
        let page = self.check_page(group, page)?;
        self.store.list_items_raw(group, page).await
    }

    /// Checks a listing's group and resolves its limit.
    fn check_page<'a>(
        &self,
        group: &str,
        page: &'a PageRequest,
    ) -> Result<ResolvedPageRequest<'a>, StateError> {
        self.limits.check_group(group)?;
        page.resolve(&self.limits)
    }

    /// Removes every item of a group at once; returns how many there were.
    pub async fn clear(&self, group: &str) -> Result<u64, StateError> {
        self.limits.check_group(group)?;
        self.store.clear(group).await
    }

    pub async fn list_groups(&self) -> Result<Vec<String>, StateError> {
        self.store.list_groups().await
    }

    /// How many items `group` holds (0 for an unknown group).
    pub async fn group_size(&self, group: &str) -> Result<u64, StateError> {
        self.limits.check_group(group)?;
        self.store.group_size(group).await
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeEvent>> {
        self.store.subscribe()
    }

    pub async fn sync(&self) -> Result<(), StateError> {
        self.store.sync().await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::MemoryStore;

    /// The raw reads of a store without its own (the trait's defaults) give
    /// the text the parsed reads print: same field order, exact integers.
    #[tokio::test]
    async fn raw_reads_print_as_the_parsed_reads() -> Result<(), StateError> {
        let limits = Limits::default();
        let state = State::new(Arc::new(MemoryStore::new(limits)), limits);
        let value = json!({"z": 1, "a": [u64::MAX, i64::MIN, 0.1], "s": "é\n"});
        state.set("g", "k1", value.clone()).await?;
        state.set("g", "k2", json!(2)).await?;

        let raw = state.get_raw("g", "k1").await?.expect("stored");
        let parsed = state.get("g", "k1").await?.expect("stored");
        assert_eq!(raw.value.get(), value.to_string());
        assert_eq!(raw.version, parsed.version);
        assert!(state.get_raw("g", "missing").await?.is_none());
        assert!(state.get_raw("", "k1").await.is_err());

        let list = serde_json::to_string(&state.list_raw("g").await?).expect("printable");
        assert_eq!(list, json!(state.list("g").await?).to_string());

        let request = PageRequest {
            limit: Some(1),
            ..PageRequest::default()
        };
        let page = state.list_items_raw("g", &request).await?;
        let expected = state.list_items("g", &request).await?;
        assert_eq!(
            serde_json::to_string(&page).expect("printable"),
            json!(expected).to_string()
        );
        assert_eq!(page.next.as_deref(), Some("k1"));
        let zero = PageRequest {
            limit: Some(0),
            ..PageRequest::default()
        };
        assert!(state.list_items_raw("g", &zero).await.is_err());
        Ok(())
    }
}
