//! The one trait every backend implements.
//!
//! The trait is at the level of whole operations (not raw reads and writes),
//! so that a backend without a single local writer — Redis, later — can make
//! each operation atomic in its own way (a script, a transaction).

mod memory;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::{
    ChangeEvent, Mutation, MutationOutcome, Page, RawJson, RawPage, RawSetOutcome,
    RawUpdateOutcome, RawVersioned, ResolvedPageRequest, StateError, TxOutcome, UpdateOp,
    Versioned, WriteRequest, raw_json,
};

pub use memory::MemoryStore;

/// Figures a backend reports for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Items stored, across all groups.
    pub items: u64,
    /// Bytes the backend occupies (on disk for the embedded store).
    pub bytes: u64,
    /// Mutations in the most recent commit batch.
    pub last_batch_size: u64,
    /// Commits (batches) since start.
    pub commits: u64,
    /// Syncs to disk since start (`fdatasync` of the embedded store's log):
    /// with `commits`, how many commits each sync covered; 0 for a store
    /// that keeps nothing on disk.
    pub syncs: u64,
    /// The newest committed revision.
    pub revision: u64,
    /// Idempotency keys remembered now (see [`crate::IdempotencyTable`]).
    pub idempotency_keys: u64,
}

/// Arguments are already validated by [`crate::State`]; a backend may assume
/// non-empty groups and keys within the limits.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn get(&self, group: &str, key: &str) -> Result<Option<Versioned>, StateError>;

    /// Applies one mutation atomically with respect to every other operation
    /// on the item; returns once it is durable (as the store's durability mode
    /// defines it). Raises the change event, if any, in commit order.
    async fn write(&self, mutation: Mutation) -> Result<MutationOutcome, StateError>;

    /// Applies `request` as one whole, atomically with respect to every
    /// other operation: a repeat of its idempotency key is answered the
    /// first result (or refused as `idempotency_mismatch`) and applies
    /// nothing; otherwise every condition is checked against the items as
    /// the request's earlier ops leave them, and either every op applies,
    /// at one revision, with one event per item changed, or none does
    /// (the error says why). The result is remembered under the key, made
    /// durable with the writes. A Redis store runs all of it as one script.
    async fn transaction(&self, request: WriteRequest) -> Result<TxOutcome, StateError>;

    /// Removes every item of `group` atomically; one `deleted` event each.
    async fn clear(&self, group: &str) -> Result<u64, StateError>;

    /// Values of `group` in key order.
    async fn list(&self, group: &str) -> Result<Vec<Value>, StateError>;

    /// Items of `group` in key order: keys starting with `page.prefix`,
    /// strictly after `page.after` (a cursor before the prefix starts at the
    /// prefix), at most `page.limit`. `next` is set when more may follow.
    /// [`crate::State`] resolved the limit (see
    /// [`crate::PageRequest::resolve`]): a store takes it as given, whatever
    /// its value.
    async fn list_items(
        &self,
        group: &str,
        page: ResolvedPageRequest<'_>,
    ) -> Result<Page, StateError>;

    /// [`Store::get`] with the value as compact JSON text. The default
    /// encodes what `get` returns; a backend that stores that text returns
    /// it as it is, which spares a parse and a print on every read.
    async fn get_raw(&self, group: &str, key: &str) -> Result<Option<RawVersioned>, StateError> {
        match self.get(group, key).await? {
            Some(found) => Ok(Some(RawVersioned::from_versioned(&found)?)),
            None => Ok(None),
        }
    }

    /// A set ([`Store::write`] of a [`Mutation::Set`]) of a value given as
    /// its compact JSON text (see [`crate::compact_json`]), answering both
    /// values as compact JSON text. The default parses the value and encodes
    /// what `write` returns; a backend that stores that text stores it and
    /// returns both texts as they are: no parse and no print per set.
    async fn set_raw(
        &self,
        group: &str,
        key: &str,
        value: RawJson,
    ) -> Result<RawSetOutcome, StateError> {
        let parsed =
            serde_json::from_str(value.get()).map_err(|e| StateError::InvalidArgument {
                field: "value",
                reason: format!("not JSON: {e}"),
            })?;
        let outcome = self
            .write(Mutation::Set {
                group: group.to_owned(),
                key: key.to_owned(),
                value: parsed,
            })
            .await?;
        Ok(RawSetOutcome {
            old_value: outcome.old_value.as_ref().map(raw_json).transpose()?,
            // The value as parsed, printed again (duplicate keys collapse).
            new_value: raw_json(outcome.new_value.as_ref().unwrap_or(&Value::Null))?,
            version: outcome.version.unwrap_or_default(),
        })
    }

    /// An update ([`Store::write`] of a [`Mutation::Update`]) answering both
    /// values as compact JSON text. The default prints what `write` returns;
    /// a backend that prints the new value anyway to store it answers that
    /// text, and the stored text of the old one.
    async fn update_raw(
        &self,
        group: &str,
        key: &str,
        ops: Vec<UpdateOp>,
    ) -> Result<RawUpdateOutcome, StateError> {
        let outcome = self
            .write(Mutation::Update {
                group: group.to_owned(),
                key: key.to_owned(),
                ops,
            })
            .await?;
        Ok(RawUpdateOutcome {
            old_value: outcome.old_value.as_ref().map(raw_json).transpose()?,
            new_value: outcome.new_value.as_ref().map(raw_json).transpose()?,
            errors: outcome.op_errors,
            version: outcome.version,
        })
    }

    /// [`Store::list`] with the values as compact JSON text (see
    /// [`Store::get_raw`]).
    async fn list_raw(&self, group: &str) -> Result<Vec<RawJson>, StateError> {
        self.list(group).await?.iter().map(raw_json).collect()
    }

    /// [`Store::list_items`] with the values as compact JSON text (see
    /// [`Store::get_raw`]).
    async fn list_items_raw(
        &self,
        group: &str,
        page: ResolvedPageRequest<'_>,
    ) -> Result<RawPage, StateError> {
        RawPage::from_page(self.list_items(group, page).await?)
    }

    /// Sorted names of the groups holding at least one item.
    async fn list_groups(&self) -> Result<Vec<String>, StateError>;

    /// How many items `group` holds (0 for an unknown group), without
    /// reading them: both stores keep each group's count.
    async fn group_size(&self, group: &str) -> Result<u64, StateError>;

    /// Change events from now on, in commit order. A receiver that falls
    /// behind gets `RecvError::Lagged` instead of slowing writers down.
    fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeEvent>>;

    /// Makes every acknowledged write durable (matters in `batched` mode).
    async fn sync(&self) -> Result<(), StateError>;

    fn stats(&self) -> StoreStats;
}

/// Capacity of every store's event channel: how far a subscriber may fall
/// behind before it is told it lagged.
pub const EVENT_CHANNEL_CAPACITY: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compact_json;

    fn raw(text: &str) -> RawJson {
        compact_json(text).expect("JSON")
    }

    /// The default `set_raw` answers what `write` answers, as JSON text.
    #[tokio::test]
    async fn the_default_set_raw_prints_what_write_returns() {
        let store = MemoryStore::default();
        let first = store
            .set_raw("g", "k", raw(r#"{ "s": "a\"b", "n": [1, 2.50] }"#))
            .await
            .expect("set");
        assert!(first.old_value.is_none());
        assert_eq!(first.new_value.get(), r#"{"s":"a\"b","n":[1,2.5]}"#);
        assert_eq!(first.version, 1);
        let second = store.set_raw("g", "k", raw("null")).await.expect("set");
        let old = second.old_value.expect("replaced a value");
        assert_eq!(old.get(), first.new_value.get());
        assert_eq!(second.new_value.get(), "null");
        assert_eq!(second.version, 2);
    }

    /// The default `update_raw` prints what `write` answers, skipped ops
    /// included; an empty op list on a missing key answers no value.
    #[tokio::test]
    async fn the_default_update_raw_prints_what_write_returns() {
        let store = MemoryStore::default();
        let increment = |by: i64| UpdateOp::Increment {
            path: crate::Path::Field("n".into()),
            by: by.into(),
        };
        let nothing = store
            .update_raw("g", "k", Vec::new())
            .await
            .expect("update");
        assert!(nothing.old_value.is_none() && nothing.new_value.is_none());
        assert_eq!(nothing.version, None);
        let first = store
            .update_raw("g", "k", vec![increment(2)])
            .await
            .expect("update");
        assert!(first.old_value.is_none());
        assert_eq!(
            first.new_value.as_ref().map(RawJson::get),
            Some(r#"{"n":2}"#)
        );
        assert_eq!(first.version, Some(1));
        let append = UpdateOp::Append {
            path: Some(crate::Path::Field("n".into())),
            value: Value::Bool(true),
        };
        let second = store
            .update_raw("g", "k", vec![append, increment(3)])
            .await
            .expect("update");
        assert_eq!(
            second.old_value.as_ref().map(RawJson::get),
            Some(r#"{"n":2}"#)
        );
        assert_eq!(
            second.new_value.as_ref().map(RawJson::get),
            Some(r#"{"n":5}"#)
        );
        assert_eq!(second.errors.len(), 1, "the append to a number is skipped");
        assert_eq!(second.version, Some(2));
    }
}
