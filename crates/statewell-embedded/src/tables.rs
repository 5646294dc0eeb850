//! The redb tables of a data directory and the mapping of redb's errors.

use std::collections::HashMap;
use std::ops::Bound;

use redb::{ReadableTable, Table, TableDefinition};
use statewell_core::StateError;

use crate::codec::{group_prefix, prefix_end};

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

/// The lsn of the last write-ahead log record whose batch this file holds.
/// Absent in files written before the log existed: read as 0.
pub(crate) const META_LOG_LSN: &str = "log_lsn";

/// Adds each group's change of item count to the `groups` table; a group
/// that reaches 0 loses its row.
pub(crate) fn store_group_counts(
    groups: &mut Table<&str, u64>,
    deltas: &HashMap<String, i64>,
) -> Result<(), StateError> {
    for (group, delta) in deltas {
        if *delta == 0 {
            continue;
        }
        let stored = groups
            .get(group.as_str())
            .map_err(storage)?
            .map(|v| v.value());
        let count = stored.unwrap_or(0).saturating_add_signed(*delta);
        if count == 0 {
            groups.remove(group.as_str()).map_err(storage)?;
        } else {
            groups.insert(group.as_str(), count).map_err(storage)?;
        }
    }
    Ok(())
}

/// Removes every item of `group`, in key order, calling `removed` with each
/// one's stored key and bytes; returns how many there were.
pub(crate) fn remove_group(
    items: &mut Table<&[u8], &[u8]>,
    group: &str,
    mut removed: impl FnMut(&[u8], &[u8]) -> Result<(), StateError>,
) -> Result<u64, StateError> {
    let prefix = group_prefix(group);
    let end = prefix_end(&prefix);
    let upper = match &end {
        Some(end) => Bound::Excluded(end.as_slice()),
        None => Bound::Unbounded,
    };
    let range = (Bound::Included(prefix.as_slice()), upper);
    let mut count = 0u64;
    for row in items
        .extract_from_if::<&[u8], _>(range, |_, _| true)
        .map_err(storage)?
    {
        let (stored_key, bytes) = row.map_err(storage)?;
        count += 1;
        removed(stored_key.value(), bytes.value())?;
    }
    Ok(count)
}
