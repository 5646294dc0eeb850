//! Reads: straight from the caller's task through a redb read transaction
//! (a consistent snapshot of the last commit), never through the writer.

use std::ops::Bound;

use redb::{Database, ReadOnlyTable, ReadableDatabase, ReadableTable};
use serde_json::Value;
use statewell_core::{Item, Page, StateError, Versioned};

use crate::codec::{decode_value, group_prefix, item_key, key_of, prefix_end};
use crate::tables::{GROUPS, ITEMS, storage};

fn items_table(db: &Database) -> Result<ReadOnlyTable<&'static [u8], &'static [u8]>, StateError> {
    let txn = db.begin_read().map_err(storage)?;
    txn.open_table(ITEMS).map_err(storage)
}

pub(crate) fn get(db: &Database, group: &str, key: &str) -> Result<Option<Versioned>, StateError> {
    let items = items_table(db)?;
    let Some(bytes) = items
        .get(item_key(group, key).as_slice())
        .map_err(storage)?
    else {
        return Ok(None);
    };
    let (version, value) = decode_value(bytes.value())?;
    Ok(Some(Versioned { value, version }))
}

pub(crate) fn list(db: &Database, group: &str) -> Result<Vec<Value>, StateError> {
    let items = items_table(db)?;
    let prefix = group_prefix(group);
    let end = prefix_end(&prefix);
    let mut values = Vec::new();
    for row in items
        .range::<&[u8]>(bounds(Bound::Included(&prefix), end.as_deref()))
        .map_err(storage)?
    {
        let (_, bytes) = row.map_err(storage)?;
        values.push(decode_value(bytes.value())?.1);
    }
    Ok(values)
}

pub(crate) fn list_items(
    db: &Database,
    group: &str,
    prefix: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<Page, StateError> {
    let items = items_table(db)?;
    let group_len = group_prefix(group).len();
    let prefix = prefix.unwrap_or("");
    let wanted = item_key(group, prefix);
    let end = prefix_end(&wanted);
    let after_key;
    let start = match after {
        // A cursor before the prefix starts the listing at the prefix.
        Some(after) if after >= prefix => {
            after_key = item_key(group, after);
            Bound::Excluded(after_key.as_slice())
        }
        _ => Bound::Included(wanted.as_slice()),
    };
    let mut page = Vec::new();
    let mut next = None;
    for row in items
        .range::<&[u8]>(bounds(start, end.as_deref()))
        .map_err(storage)?
    {
        let (stored_key, bytes) = row.map_err(storage)?;
        let key = key_of(stored_key.value(), group_len)?;
        if page.len() == limit {
            // One more item exists: the page is full and has a successor.
            next = page.last().map(|item: &Item| item.key.clone());
            break;
        }
        let (version, value) = decode_value(bytes.value())?;
        page.push(Item {
            key,
            value,
            version,
        });
    }
    Ok(Page { items: page, next })
}

pub(crate) fn list_groups(db: &Database) -> Result<Vec<String>, StateError> {
    let txn = db.begin_read().map_err(storage)?;
    let groups = txn.open_table(GROUPS).map_err(storage)?;
    let mut names = Vec::new();
    for row in groups.iter().map_err(storage)? {
        let (name, _) = row.map_err(storage)?;
        names.push(name.value().to_owned());
    }
    Ok(names)
}

/// The range from `start` up to `end`, the end of the keys a listing wants.
fn bounds<'a>(start: Bound<&'a [u8]>, end: Option<&'a [u8]>) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    let upper = match end {
        Some(end) => Bound::Excluded(end),
        None => Bound::Unbounded,
    };
    (start, upper)
}
