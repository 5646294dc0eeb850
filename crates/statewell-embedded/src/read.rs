//! Reads: straight from the caller's task through a snapshot, never
//! through the writer.
//!
//! A snapshot is the data file as the last checkpoint left it (a redb read
//! transaction's opened tables, shared by every snapshot until the next
//! checkpoint: beginning a read transaction and opening a table costs more
//! than a small `get`) with the overlay of the writes since in front of it
//! (see `overlay`) — and, while a checkpoint runs, the overlay it is
//! writing between the two. The commit loop makes one after each batch, and the
//! publisher (`publish`) installs it once that batch's log record is
//! synced and before answering its waiters. So a read that starts after a
//! write was acknowledged sees that write (read-your-writes), and, in
//! `always` mode, no read sees a write that is not yet on disk.

use std::cmp::Ordering;
use std::ops::{Bound, ControlFlow};
use std::sync::{Arc, RwLock};

use redb::{AccessGuard, Database, ReadOnlyTable, ReadableDatabase, ReadableTable};
use serde_json::Value;
use statewell_core::{
    Item, Page, RawItem, RawJson, RawPage, RawVersioned, ResolvedPageRequest, StateError, Versioned,
};

use crate::codec::{
    decode_known, decode_raw, decode_value, group_prefix, item_key, key_of, prefix_end,
};
use crate::overlay::{Found, KeyRange, Overlay, layered};
use crate::tables::{GROUPS, ITEMS, storage};

/// The opened tables of one redb read snapshot: the data file as of the
/// last checkpoint (or open).
pub(crate) struct Base {
    items: ReadOnlyTable<&'static [u8], &'static [u8]>,
    groups: ReadOnlyTable<&'static str, u64>,
}

impl Base {
    /// The newest durable state of `db`.
    pub(crate) fn open(db: &Database) -> Result<Base, StateError> {
        let txn = db.begin_read().map_err(storage)?;
        Ok(Base {
            items: txn.open_table(ITEMS).map_err(storage)?,
            groups: txn.open_table(GROUPS).map_err(storage)?,
        })
    }
}

/// What a read sees: the data file with the overlays in front of it.
#[derive(Clone)]
pub(crate) struct Snapshot {
    pub(crate) base: Arc<Base>,
    /// The writes a running checkpoint is putting into the data file
    /// (empty when none runs).
    pub(crate) frozen: Overlay,
    /// The writes since the last checkpoint began.
    pub(crate) overlay: Overlay,
}

/// An item's stored bytes, from the overlay or from the data file.
pub(crate) enum Stored<'a> {
    Memory(&'a [u8]),
    Disk(AccessGuard<'static, &'static [u8]>),
}

impl Stored<'_> {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Stored::Memory(bytes) => bytes,
            Stored::Disk(guard) => guard.value(),
        }
    }

    /// The value as its JSON text. What the overlay holds was written by
    /// this process's commit loop from checked text (the overlay starts
    /// empty at open: the log is replayed into the data file), so only
    /// what comes from the data file is checked as JSON — a value damaged
    /// there behind the store's back is refused, never sent out. Most
    /// reads of recently written keys skip the check (~2,000 instructions
    /// for a 200-byte value).
    pub(crate) fn raw(&self) -> Result<(u64, RawJson), StateError> {
        match self {
            Stored::Memory(bytes) => decode_known(bytes),
            Stored::Disk(guard) => decode_raw(guard.value()),
        }
    }
}

impl Snapshot {
    /// A snapshot of `db` with nothing in front of it.
    pub(crate) fn open(db: &Database) -> Result<Snapshot, StateError> {
        Ok(Snapshot {
            base: Arc::new(Base::open(db)?),
            frozen: Overlay::default(),
            overlay: Overlay::default(),
        })
    }

    pub(crate) fn item(&self, stored_key: &[u8]) -> Result<Option<Stored<'_>>, StateError> {
        let mut found = self.overlay.item(stored_key);
        if found == Found::Unchanged {
            found = self.frozen.item(stored_key);
        }
        Ok(match found {
            Found::Stored(bytes) => Some(Stored::Memory(bytes)),
            Found::Removed => None,
            Found::Unchanged => self
                .base
                .items
                .get(stored_key)
                .map_err(storage)?
                .map(Stored::Disk),
        })
    }

    /// A group's item count (0 when it holds none).
    pub(crate) fn group_count(&self, group: &str) -> Result<u64, StateError> {
        let changed = self.overlay.group_count(group);
        if let Some(count) = changed.or_else(|| self.frozen.group_count(group)) {
            return Ok(count);
        }
        let stored = self.base.groups.get(group).map_err(storage)?;
        Ok(stored.map(|count| count.value()).unwrap_or(0))
    }

    /// Calls `visit` with every item in `range` (stored key, stored bytes),
    /// in key order, until it breaks: the data file's rows merged with the
    /// overlays' changes, which win where both have a key and hide the
    /// items they removed.
    pub(crate) fn visit(
        &self,
        range: KeyRange<'_>,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>, StateError>,
    ) -> Result<(), StateError> {
        let mut disk = self.base.items.range::<&[u8]>(range).map_err(storage)?;
        let mut next_disk = disk.next().transpose().map_err(storage)?;
        let changes = layered(self.overlay.items_in(range), self.frozen.items_in(range));
        let mut memory = changes.peekable();
        loop {
            let order = match (&next_disk, memory.peek()) {
                (None, None) => return Ok(()),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((disk_key, _)), Some((memory_key, _))) => disk_key.value().cmp(memory_key),
            };
            let flow = if order == Ordering::Less {
                let flow = match &next_disk {
                    Some((key, bytes)) => visit(key.value(), bytes.value())?,
                    None => ControlFlow::Continue(()),
                };
                next_disk = disk.next().transpose().map_err(storage)?;
                flow
            } else {
                if order == Ordering::Equal {
                    // The overlay's change replaces the file's row.
                    next_disk = disk.next().transpose().map_err(storage)?;
                }
                match memory.next() {
                    Some((key, Some(bytes))) => visit(key, bytes)?,
                    _ => ControlFlow::Continue(()),
                }
            };
            if flow.is_break() {
                return Ok(());
            }
        }
    }

    /// Every group that holds items, in name order.
    pub(crate) fn groups(&self) -> Result<Vec<String>, StateError> {
        let mut names = Vec::new();
        let mut changed = layered(self.overlay.groups(), self.frozen.groups()).peekable();
        for row in self.base.groups.iter().map_err(storage)? {
            let (name, _) = row.map_err(storage)?;
            let name = name.value();
            // Groups only the overlay has, before this one.
            while let Some((changed_name, count)) = changed.next_if(|(n, _)| *n < name) {
                if count > 0 {
                    names.push(changed_name.to_owned());
                }
            }
            match changed.next_if(|(n, _)| *n == name) {
                Some((_, 0)) => {}
                _ => names.push(name.to_owned()),
            }
        }
        names.extend(
            changed
                .filter(|(_, count)| *count > 0)
                .map(|(name, _)| name.to_owned()),
        );
        Ok(names)
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
        let found = get_with(&*self.snapshot()?, group, key, |stored| stored.raw())?;
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
        page: ResolvedPageRequest<'_>,
    ) -> Result<Page, StateError> {
        let (rows, next) = list_items(&*self.snapshot()?, group, page, decode_value)?;
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
        page: ResolvedPageRequest<'_>,
    ) -> Result<RawPage, StateError> {
        let (rows, next) = list_items(&*self.snapshot()?, group, page, decode_raw)?;
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
        self.snapshot()?.groups()
    }

    pub(crate) fn group_size(&self, group: &str) -> Result<u64, StateError> {
        self.snapshot()?.group_count(group)
    }
}

/// How a read turns a stored value into what it returns: parsed
/// (`decode_value`) or as its JSON text (`decode_raw`).
type Decode<V> = fn(&[u8]) -> Result<(u64, V), StateError>;

fn get(snapshot: &Snapshot, group: &str, key: &str) -> Result<Option<Versioned>, StateError> {
    let found = get_with(snapshot, group, key, |stored| decode_value(stored.bytes()))?;
    Ok(found.map(|(version, value)| Versioned { value, version }))
}

/// One item, decoded by `decode` (which sees where it was read from: see
/// [`Stored::raw`]).
fn get_with<V>(
    snapshot: &Snapshot,
    group: &str,
    key: &str,
    decode: impl FnOnce(&Stored<'_>) -> Result<(u64, V), StateError>,
) -> Result<Option<(u64, V)>, StateError> {
    let Some(stored) = snapshot.item(item_key(group, key).as_slice())? else {
        return Ok(None);
    };
    decode(&stored).map(Some)
}

fn list<V>(snapshot: &Snapshot, group: &str, decode: Decode<V>) -> Result<Vec<V>, StateError> {
    let prefix = group_prefix(group);
    let end = prefix_end(&prefix);
    let mut values = Vec::new();
    snapshot.visit(
        bounds(Bound::Included(&prefix), end.as_deref()),
        |_, bytes| {
            values.push(decode(bytes)?.1);
            Ok(ControlFlow::Continue(()))
        },
    )?;
    Ok(values)
}

/// A page of `(key, version, value)` rows and the cursor of the next page.
type Rows<V> = (Vec<(String, u64, V)>, Option<String>);

fn list_items<V>(
    snapshot: &Snapshot,
    group: &str,
    page: ResolvedPageRequest<'_>,
    decode: Decode<V>,
) -> Result<Rows<V>, StateError> {
    let ResolvedPageRequest {
        prefix,
        after,
        limit,
    } = page;
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
    let mut page: Vec<(String, u64, V)> = Vec::new();
    let mut next = None;
    snapshot.visit(bounds(start, end.as_deref()), |stored_key, bytes| {
        let key = key_of(stored_key, group_len)?;
        if page.len() == limit {
            // One more item exists: the page is full and has a successor.
            next = page.last().map(|(key, _, _)| key.clone());
            return Ok(ControlFlow::Break(()));
        }
        let (version, value) = decode(bytes)?;
        page.push((key, version, value));
        Ok(ControlFlow::Continue(()))
    })?;
    Ok((page, next))
}

/// The range from `start` up to `end`, the end of the keys a listing wants.
pub(crate) fn bounds<'a>(start: Bound<&'a [u8]>, end: Option<&'a [u8]>) -> KeyRange<'a> {
    let upper = match end {
        Some(end) => Bound::Excluded(end),
        None => Bound::Unbounded,
    };
    (start, upper)
}
