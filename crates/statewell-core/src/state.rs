//! The state service: what the protocol layers call. Validates every argument
//! once, here, then hands the operation to the configured [`Store`].

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::update::UpdateOp;
use crate::{
    ChangeEvent, Condition, Idempotency, Limits, MAX_TRANSACTION_OPS, Mutation, OpOutcome, Page,
    PageRequest, RawJson, RawPage, RawSetOutcome, RawUpdateOutcome, RawVersioned,
    ResolvedPageRequest, SetOutcome, StateError, Store, TxMode, TxOp, TxOutcome, UpdateOutcome,
    Versioned, WriteRequest, check_idempotency_key, request_hash,
};

/// What a single write may carry beyond its arguments: a condition on the
/// item and an idempotency key. [`WriteOptions::is_plain`] writes take the
/// stores' plain (fastest) paths; the others go through
/// [`Store::transaction`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    pub condition: Condition,
    pub idempotency_key: Option<String>,
}

impl WriteOptions {
    /// Neither a condition nor a key.
    pub fn is_plain(&self) -> bool {
        self.condition.is_none() && self.idempotency_key.is_none()
    }
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

    /// An item with its version, for a caller that writes it back with
    /// `if_version` (the value as compact JSON text).
    pub async fn get_item(
        &self,
        group: &str,
        key: &str,
    ) -> Result<Option<RawVersioned>, StateError> {
        self.get_raw(group, key).await
    }

    /// A set, update or delete with [`WriteOptions`], applied as one whole
    /// by the store: the answer is the write's one [`OpOutcome`] (`replayed`
    /// tells a repeat of an idempotency key; see [`TxOutcome`]).
    pub async fn write_with(
        &self,
        mutation: Mutation,
        options: WriteOptions,
    ) -> Result<(OpOutcome, bool), StateError> {
        self.check_item(mutation.group(), mutation.key())?;
        let op = TxOp::Write {
            mutation,
            condition: options.condition,
        };
        let outcome = self
            .run(vec![op], TxMode::Single, options.idempotency_key)
            .await?;
        single(outcome)
    }

    /// [`State::clear`] with an idempotency key: a repeat answers the first
    /// count and removes nothing.
    pub async fn clear_with(
        &self,
        group: &str,
        idempotency_key: Option<String>,
    ) -> Result<u64, StateError> {
        self.limits.check_group(group)?;
        if idempotency_key.is_none() {
            return self.store.clear(group).await;
        }
        let op = TxOp::Clear {
            group: group.to_owned(),
        };
        let outcome = self.run(vec![op], TxMode::Single, idempotency_key).await?;
        Ok(single(outcome)?.0.removed)
    }

    /// Up to [`MAX_TRANSACTION_OPS`] writes and checks, all or nothing (see
    /// [`Store::transaction`]).
    pub async fn transaction(
        &self,
        ops: Vec<TxOp>,
        idempotency_key: Option<String>,
    ) -> Result<TxOutcome, StateError> {
        if ops.len() > MAX_TRANSACTION_OPS {
            return Err(StateError::invalid(
                "ops",
                format!(
                    "{} operations, more than the limit of {MAX_TRANSACTION_OPS}",
                    ops.len()
                ),
            ));
        }
        for (index, op) in ops.iter().enumerate() {
            let (group, key) = match op {
                TxOp::Write { mutation, .. } => (mutation.group(), mutation.key()),
                TxOp::Check { group, key, .. } => (group.as_str(), key.as_str()),
                TxOp::Clear { .. } => {
                    return Err(StateError::invalid(
                        "ops",
                        format!("operation {index}: a clear cannot be part of a transaction"),
                    ));
                }
            };
            if let Err(err) = self.check_item(group, key) {
                return Err(StateError::invalid(
                    "ops",
                    format!("operation {index}: {err}"),
                ));
            }
        }
        self.run(ops, TxMode::Transaction, idempotency_key).await
    }

    /// Checks the key, hashes the request when there is one, and hands the
    /// whole to the store.
    async fn run(
        &self,
        ops: Vec<TxOp>,
        mode: TxMode,
        idempotency_key: Option<String>,
    ) -> Result<TxOutcome, StateError> {
        let idempotency = match idempotency_key {
            Some(key) => {
                check_idempotency_key(&key)?;
                // The request as its canonical JSON: the same request always
                // prints the same (field order is fixed by the types).
                let mode_name = match mode {
                    TxMode::Single => "single",
                    TxMode::Transaction => "transaction",
                };
                let canonical = serde_json::to_vec(&(mode_name, &ops))
                    .map_err(|e| StateError::invalid("ops", e.to_string()))?;
                Some(Idempotency {
                    key,
                    request_hash: request_hash(&canonical),
                })
            }
            None => None,
        };
        self.store
            .transaction(WriteRequest {
                ops,
                mode,
                idempotency,
            })
            .await
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeEvent>> {
        self.store.subscribe()
    }

    pub async fn sync(&self) -> Result<(), StateError> {
        self.store.sync().await
    }
}

/// The one result of a single write, and whether it was replayed.
fn single(outcome: TxOutcome) -> Result<(OpOutcome, bool), StateError> {
    let replayed = outcome.replayed;
    match outcome.results.into_iter().next() {
        Some(result) => Ok((result, replayed)),
        None => Err(StateError::Storage(
            "internal: a single write answered no result".into(),
        )),
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
