//! Reads: straight from the caller's task through a redb read snapshot,
//! never through the writer.
//!
//! Beginning a read transaction and opening a table costs more than a small
//! `get` itself, so the opened tables of the newest snapshot are cached and
//! shared by every reader until the next commit. The writer bumps
//! `Counters::visible` after each commit and before answering any waiter, so
//! a read that starts after a write was acknowledged never uses a snapshot
//! older than that write (read-your-writes holds).

use std::ops::Bound;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use redb::{Database, ReadOnlyTable, ReadableDatabase, ReadableTable};
use serde_json::Value;
use statewell_core::{Item, Page, RawItem, RawJson, RawPage, RawVersioned, StateError, Versioned};

use crate::codec::{decode_raw, decode_value, group_prefix, item_key, key_of, prefix_end};
use crate::tables::{GROUPS, ITEMS, storage};
use crate::writer::Counters;

/// The opened tables of one read snapshot.
pub(crate) struct Snapshot {
    items: ReadOnlyTable<&'static [u8], &'static [u8]>,
    groups: ReadOnlyTable<&'static str, u64>,
}

/// The snapshot last opened, tagged with the `visible` count it was opened
/// at (or after). Shared with the writer, which empties it after each commit:
/// a cached snapshot pins the pages it sees, and an old one kept through a
/// long run of writes with no read would stop redb from reusing freed pages.
#[derive(Default)]
pub(crate) struct SnapshotCache(RwLock<Option<(u64, Arc<Snapshot>)>>);

impl SnapshotCache {
    pub(crate) fn invalidate(&self) {
        if let Ok(mut cache) = self.0.write() {
            *cache = None;
        }
    }
}

pub(crate) struct Reader {
    db: Arc<Database>,
    counters: Arc<Counters>,
    cache: Arc<SnapshotCache>,
}

impl Reader {
    pub(crate) fn new(
        db: Arc<Database>,
        counters: Arc<Counters>,
        cache: Arc<SnapshotCache>,
    ) -> Self {
        Reader {
            db,
            counters,
            cache,
        }
    }

    /// A snapshot that includes every commit acknowledged so far.
    pub(crate) fn snapshot(&self) -> Result<Arc<Snapshot>, StateError> {
        // Read the commit count BEFORE opening: a snapshot opened after this
        // load contains at least that many commits, so tagging it with the
        // loaded count never overstates how fresh it is.
        let visible = self.counters.visible.load(Ordering::Acquire);
        if let Ok(cache) = self.cache.0.read()
            && let Some((at, snapshot)) = cache.as_ref()
            && *at == visible
        {
            return Ok(snapshot.clone());
        }
        let txn = self.db.begin_read().map_err(storage)?;
        let snapshot = Arc::new(Snapshot {
            items: txn.open_table(ITEMS).map_err(storage)?,
            groups: txn.open_table(GROUPS).map_err(storage)?,
        });
        if let Ok(mut cache) = self.cache.0.write() {
            // Never replace a newer snapshot with an older one.
            if cache.as_ref().is_none_or(|(at, _)| *at < visible) {
                *cache = Some((visible, snapshot.clone()));
            }
        }
        Ok(snapshot)
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
