//! The redb tables of a data directory and the mapping of redb's errors.

use redb::TableDefinition;
use statewell_core::StateError;

/// Every item: see `codec` for the key and value encodings.
pub(crate) const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items");
/// Group → number of items it holds. A group with no items has no row, so
/// `list_groups` reads this small table instead of scanning items.
pub(crate) const GROUPS: TableDefinition<&str, u64> = TableDefinition::new("groups");
/// Store-wide counters, written in the same transaction as the items.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

pub(crate) const META_FORMAT: &str = "format";
pub(crate) const META_REVISION: &str = "revision";

/// Maps any redb error to `storage_error`, keeping redb's message.
pub(crate) fn storage(err: impl std::fmt::Display) -> StateError {
    StateError::Storage(err.to_string())
}
