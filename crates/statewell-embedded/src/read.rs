//! Reads: straight from the caller's task through a redb read snapshot,
//! never through the writer.
//!
//! Beginning a read transaction and opening a table costs more than a small
//! `get` itself, so one snapshot (its opened tables) is shared by every
//! reader. The commit loop opens it right after each redb commit, and the
//! publisher (`publish`) installs it once that commit's log record is
//! synced and before answering its waiters. So a read that starts after a
//! write was acknowledged sees that write (read-your-writes), and, in
//! `always` mode, no read sees a write that is not yet on disk — redb holds
//! commits that are not synced yet, but no reader opens its own snapshot.

use std::ops::Bound;
use std::sync::{Arc, RwLock};

use redb::{Database, ReadOnlyTable, ReadableDatabase, ReadableTable};
use serde_json::Value;
use statewell_core::{Item, Page, RawItem, RawJson, RawPage, RawVersioned, StateError, Versioned};

use crate::codec::{decode_raw, decode_value, group_prefix, item_key, key_of, prefix_end};
use crate::tables::{GROUPS, ITEMS, storage};

/// The opened tables of one read snapshot.
pub(crate) struct Snapshot {
    items: ReadOnlyTable<&'static [u8], &'static [u8]>,
    groups: ReadOnlyTable<&'static str, u64>,
}

impl Snapshot {
    /// A snapshot of the newest commit of `db`.
    pub(crate) fn open(db: &Database) -> Result<Snapshot, StateError> {
        let txn = db.begin_read().map_err(storage)?;
        Ok(Snapshot {
            items: txn.open_table(ITEMS).map_err(storage)?,
            groups: txn.open_table(GROUPS).map_err(storage)?,
        })
    }
}

/// The snapshot readers use. Replaced after every commit that changed
/// something, so an old one never pins pages redb could reuse for long.
pub(crate) struct SnapshotCache(RwLock<Arc<Snapshot>>);

impl SnapshotCache {
    pub(crate) fn new(snapshot: Snapshot) -> Self {
        SnapshotCache(RwLock::new(Arc::new(snapshot)))
    }

    pub(crate) fn install(&self, snapshot: Arc<Snapshot>) {
        match self.0.write() {
            Ok(mut cache) => *cache = snapshot,
            // A reader panicked while holding the lock: the value is a
            // plain Arc, replacing it is still sound.
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
    }
}

pub(crate) struct Reader {
    cache: Arc<SnapshotCache>,
    /// Keeps the database open while readers exist.
    _db: Arc<Database>,
}

impl Reader {
    pub(crate) fn new(db: Arc<Database>, cache: Arc<SnapshotCache>) -> Self {
        Reader { cache, _db: db }
    }

    /// The snapshot of every commit acknowledged so far.
    pub(crate) fn snapshot(&self) -> Result<Arc<Snapshot>, StateError> {
        match self.cache.0.read() {
            Ok(cache) => Ok(cache.clone()),
            Err(poisoned) => Ok(poisoned.into_inner().clone()),
        }
    }

    pub(crate) fn get(&self, group: &str, key: &str) -> Result<Option<Versioned>, StateError> {
        get(&*self.snapshot()?, group, key)
    }

    pub(crate) fn get_raw(
        &self,
        group: &str,
        key: &str,
    ) -> Result<Option<RawVersioned>, StateError> {
        let found = get_with(&*self.snapshot()?, group, key, decode_raw)?;
        Ok(found.map(|(version, value)| RawVersioned { value, version }))
    }

    pub(crate) fn list(&self, group: &str) -> Result<Vec<Value>, StateError> {
        list(&*self.snapshot()?, group, decode_value)
    }

    pub(crate) fn list_raw(&self, group: &str) -> Result<Vec<RawJson>, StateError> {
        list(&*self.snapshot()?, group, decode_raw)
    }

    pub(crate) fn list_items(
        &self,
        group: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page, StateError> {
        let (rows, next) = list_items(
            &*self.snapshot()?,
            group,
            prefix,
            after,
            limit,
            decode_value,
        )?;
        let items = rows
            .into_iter()
            .map(|(key, version, value)| Item {
                key,
                value,
                version,
            })
            .collect();
        Ok(Page { items, next })
    }

    pub(crate) fn list_items_raw(
        &self,
        group: &str,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<RawPage, StateError> {
        let (rows, next) = list_items(&*self.snapshot()?, group, prefix, after, limit, decode_raw)?;
        let items = rows
            .into_iter()
            .map(|(key, version, value)| RawItem {
                key,
                value,
                version,
            })
            .collect();
        Ok(RawPage { items, next })
    }

    pub(crate) fn list_groups(&self) -> Result<Vec<String>, StateError> {
        list_groups(&*self.snapshot()?)
    }
}

/// How a read turns a stored value into what it returns: parsed
/// (`decode_value`) or as its JSON text (`decode_raw`).
type Decode<V> = fn(&[u8]) -> Result<(u64, V), StateError>;

fn get(snapshot: &Snapshot, group: &str, key: &str) -> Result<Option<Versioned>, StateError> {
    let found = get_with(snapshot, group, key, decode_value)?;
    Ok(found.map(|(version, value)| Versioned { value, version }))
}

fn get_with<V>(
    snapshot: &Snapshot,
    group: &str,
    key: &str,
    decode: Decode<V>,
) -> Result<Option<(u64, V)>, StateError> {
    let items = &snapshot.items;
    let Some(bytes) = items
        .get(item_key(group, key).as_slice())
        .map_err(storage)?
    else {
        return Ok(None);
    };
    decode(bytes.value()).map(Some)
}

fn list<V>(snapshot: &Snapshot, group: &str, decode: Decode<V>) -> Result<Vec<V>, StateError> {
    let items = &snapshot.items;
    let prefix = group_prefix(group);
    let end = prefix_end(&prefix);
    let mut values = Vec::new();
    for row in items
        .range::<&[u8]>(bounds(Bound::Included(&prefix), end.as_deref()))
        .map_err(storage)?
    {
        let (_, bytes) = row.map_err(storage)?;
        values.push(decode(bytes.value())?.1);
    }
    Ok(values)
}

/// A page of `(key, version, value)` rows and the cursor of the next page.
type Rows<V> = (Vec<(String, u64, V)>, Option<String>);

fn list_items<V>(
    snapshot: &Snapshot,
    group: &str,
    prefix: Option<&str>,
    after: Option<&str>,
    limit: usize,
    decode: Decode<V>,
) -> Result<Rows<V>, StateError> {
    let items = &snapshot.items;
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
            next = page
                .last()
                .map(|(key, _, _): &(String, u64, V)| key.clone());
            break;
        }
        let (version, value) = decode(bytes.value())?;
        page.push((key, version, value));
    }
    Ok((page, next))
}

fn list_groups(snapshot: &Snapshot) -> Result<Vec<String>, StateError> {
    let mut names = Vec::new();
    for row in snapshot.groups.iter().map_err(storage)? {
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
