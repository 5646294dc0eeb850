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
    ChangeEvent, Mutation, MutationOutcome, Page, RawJson, RawPage, RawVersioned, StateError,
    Versioned, raw_json,
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
    /// The newest committed revision.
    pub revision: u64,
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

    /// Removes every item of `group` atomically; one `deleted` event each.
    async fn clear(&self, group: &str) -> Result<u64, StateError>;

    /// Values of `group` in key order.
    async fn list(&self, group: &str) -> Result<Vec<Value>, StateError>;

    /// Items of `group` in key order: keys starting with `prefix`, strictly
    /// after `after`, at most `limit`. `next` is set when more may follow.
    async fn list_items(
        &self,
        group: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
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
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<RawPage, StateError> {
        RawPage::from_page(self.list_items(group, prefix, after, limit).await?)
    }

    /// Sorted names of the groups holding at least one item.
    async fn list_groups(&self) -> Result<Vec<String>, StateError>;

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
