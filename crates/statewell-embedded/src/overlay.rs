//! The writes made since the last checkpoint, held in memory in front of
//! the data file.
//!
//! The commit loop applies each batch here, not to redb: a batch costs a
//! few map inserts and its log record, where a redb transaction per batch
//! cost B-tree page copies, page allocation and a commit (together about
//! half the commit thread's time under sets). A checkpoint writes the whole
//! overlay into redb in one durable transaction — each key once, however
//! often it changed — and starts a new, empty one. The log holds every
//! record the overlay holds, so a crash loses nothing: the next open
//! replays the log into redb.
//!
//! The maps are persistent (`imbl`): a clone costs one reference count and
//! shares every node, so each batch hands readers a snapshot of its own
//! (see `read::Snapshot`) while the commit loop goes on changing its copy;
//! a change copies only the nodes on its path that a snapshot still shares.
//! Its size is bounded by the log's: a checkpoint empties both.
//!
//! Short stored keys are held inside the map's nodes ([`ItemKey`]): a
//! lookup compares the key with a dozen others, and each one behind its
//! own pointer was a cache miss (the overlay's lookup was ~18% of the
//! engine's time under gets of 10k keys). Two of them compare as three
//! machine words rather than through `memcmp`: the keys of one group share
//! their first bytes (the group's name), so each comparison ran `memcmp`
//! over most of the key (4% of the commit thread under updates).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;

use imbl::OrdMap;

/// Bytes shared between the overlay and the snapshots that hold it.
pub(crate) type Shared = Arc<[u8]>;

/// Longest stored key held inline: with its length byte and the variant's
/// tag it fills the 24 bytes the shared variant takes anyway.
const INLINE_KEY: usize = 22;

/// A stored key as the overlay's map holds it: inside the node when short
/// (compared and cloned without following a pointer or touching a
/// reference count; the bytes past `len` are zero), shared otherwise.
/// Ordered as its bytes.
#[derive(Clone)]
enum ItemKey {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Shared(Shared),
}

impl ItemKey {
    fn new(stored_key: &[u8]) -> ItemKey {
        if stored_key.len() <= INLINE_KEY {
            let mut bytes = [0; INLINE_KEY];
            bytes[..stored_key.len()].copy_from_slice(stored_key);
            // At most INLINE_KEY, so it fits.
            let len = stored_key.len() as u8;
            ItemKey::Inline { len, bytes }
        } else {
            ItemKey::Shared(Arc::from(stored_key))
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            ItemKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            ItemKey::Shared(bytes) => bytes,
        }
    }
}

impl Borrow<[u8]> for ItemKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for ItemKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for ItemKey {}

impl PartialOrd for ItemKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ItemKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (
                ItemKey::Inline { len, bytes },
                ItemKey::Inline {
                    len: other_len,
                    bytes: other_bytes,
                },
            ) => inline_words(bytes)
                .cmp(&inline_words(other_bytes))
                .then(len.cmp(other_len)),
            _ => self.as_bytes().cmp(other.as_bytes()),
        }
    }
}

/// An inline key's bytes as big-endian words, so that comparing the words
/// compares the bytes. The bytes past the key's length are zero, which
/// keeps byte order with the length as the tie-break: where one key ends
/// and the other goes on with zeros only, the words are equal and the
/// shorter is first; where the other goes on with any other byte, its
/// words are greater.
fn inline_words(bytes: &[u8; INLINE_KEY]) -> [u64; 3] {
    let mut padded = [0u8; 24];
    padded[..INLINE_KEY].copy_from_slice(bytes);
    let word = |at: usize| {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(&padded[at..at + 8]);
        u64::from_be_bytes(eight)
    };
    [word(0), word(8), word(16)]
}

/// The changes since the last checkpoint: items written or removed, and the
/// item count of each group they touched.
#[derive(Clone, Default)]
pub(crate) struct Overlay {
    /// Stored key (see `codec::item_key`) → stored bytes, or `None` where
    /// the item was removed (it may still be in the data file).
    items: OrdMap<ItemKey, Option<Shared>>,
    /// Group → its item count now; 0 for a group emptied since the
    /// checkpoint (its row in the data file is stale).
    groups: OrdMap<Arc<str>, u64>,
}

/// What the overlay knows of one item.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found<'a> {
    /// Written since the checkpoint: these are its stored bytes.
    Stored(&'a [u8]),
    /// Removed since the checkpoint.
    Removed,
    /// Not changed since the checkpoint: the data file has it, or not.
    Unchanged,
}

/// A key range of stored keys, as `read` builds them.
pub(crate) type KeyRange<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

impl Overlay {
    /// Items changed.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn item(&self, stored_key: &[u8]) -> Found<'_> {
        // A short key is looked up as an `ItemKey`, to be compared by words;
        // a long one as bytes (making it an `ItemKey` would allocate).
        let found = if stored_key.len() <= INLINE_KEY {
            self.items.get(&ItemKey::new(stored_key))
        } else {
            self.items.get(stored_key)
        };
        match found {
            Some(Some(bytes)) => Found::Stored(bytes),
            Some(None) => Found::Removed,
            None => Found::Unchanged,
        }
    }

    pub(crate) fn put(&mut self, stored_key: &[u8], bytes: Shared) {
        self.items.insert(ItemKey::new(stored_key), Some(bytes));
    }

    pub(crate) fn remove(&mut self, stored_key: &[u8]) {
        self.items.insert(ItemKey::new(stored_key), None);
    }

    /// The changes within `range`, in key order (`None`: removed).
    pub(crate) fn items_in<'a>(
        &'a self,
        range: KeyRange<'_>,
    ) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a {
        self.items
            .range::<_, [u8]>(range)
            .map(|(key, bytes)| (key.as_bytes(), bytes.as_deref()))
    }

    /// Every change, in key order, for the checkpoint.
    pub(crate) fn items(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.items
            .iter()
            .map(|(key, bytes)| (key.as_bytes(), bytes.as_deref()))
    }

    /// The group's item count, when a change since the checkpoint set it.
    pub(crate) fn group_count(&self, group: &str) -> Option<u64> {
        self.groups.get(group).copied()
    }

    pub(crate) fn set_group_count(&mut self, group: &str, count: u64) {
        self.groups.insert(Arc::from(group), count);
    }

    /// Every group whose count changed, in name order, with its count.
    pub(crate) fn groups(&self) -> impl Iterator<Item = (&str, u64)> {
        self.groups.iter().map(|(name, count)| (&**name, *count))
    }
}

/// Two sorted streams of changes as one, in key order: the newer layer's
/// change where both have a key (an overlay in front of the one being
/// checkpointed).
pub(crate) fn layered<K: Ord, V>(
    newer: impl Iterator<Item = (K, V)>,
    older: impl Iterator<Item = (K, V)>,
) -> impl Iterator<Item = (K, V)> {
    let (mut newer, mut older) = (newer.peekable(), older.peekable());
    std::iter::from_fn(move || {
        let order = match (newer.peek(), older.peek()) {
            (None, None) => return None,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((n, _)), Some((o, _))) => n.cmp(o),
        };
        match order {
            Ordering::Less => newer.next(),
            Ordering::Greater => older.next(),
            Ordering::Equal => {
                older.next();
                newer.next()
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(text: &str) -> Shared {
        Arc::from(text.as_bytes())
    }

    #[test]
    fn an_item_is_stored_removed_or_unchanged() {
        let mut overlay = Overlay::default();
        overlay.put(b"g\0a", bytes("1"));
        overlay.remove(b"g\0b");
        assert_eq!(overlay.item(b"g\0a"), Found::Stored(b"1"));
        assert_eq!(overlay.item(b"g\0b"), Found::Removed);
        assert_eq!(overlay.item(b"g\0c"), Found::Unchanged);
        overlay.put(b"g\0b", bytes("2"));
        assert_eq!(overlay.item(b"g\0b"), Found::Stored(b"2"));
    }

    #[test]
    fn short_and_long_keys_keep_byte_order_and_are_found() {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for len in [0, 1, 21, 22, 23, 40] {
            for fill in [0u8, b'a', 0xff] {
                keys.push(vec![fill; len]);
                let mut longer = vec![fill; len];
                longer.push(b'a');
                keys.push(longer);
            }
        }
        keys.push(b"g\0k".to_vec());
        let mut overlay = Overlay::default();
        for (n, key) in keys.iter().enumerate() {
            overlay.put(key, Arc::from(n.to_string().as_bytes()));
        }
        keys.sort();
        keys.dedup();
        let listed: Vec<&[u8]> = overlay.items().map(|(key, _)| key).collect();
        assert_eq!(listed, keys.iter().map(Vec::as_slice).collect::<Vec<_>>());
        for key in &keys {
            assert!(matches!(overlay.item(key), Found::Stored(_)), "{key:?}");
        }
        let mut absent = vec![b'a'; 22];
        absent.push(0);
        assert_eq!(overlay.item(&absent), Found::Unchanged);
        let range: KeyRange<'_> = (
            Bound::Excluded(&[b'a'; 21][..]),
            Bound::Included(&[b'a'; 23][..]),
        );
        let in_range: Vec<usize> = overlay.items_in(range).map(|(key, _)| key.len()).collect();
        assert_eq!(in_range, [22, 23]);
    }

    /// Keys over a few bytes that make the edge cases likely: zero bytes
    /// (the inline padding), one key a prefix of another, lengths around
    /// the inline limit.
    fn stored_key() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        proptest::collection::vec(
            prop_oneof![Just(0u8), Just(1), Just(b'a'), Just(0xff)],
            0..30,
        )
    }

    proptest::proptest! {
        #[test]
        fn item_keys_compare_as_their_bytes(a in stored_key(), b in stored_key()) {
            let (left, right) = (ItemKey::new(&a), ItemKey::new(&b));
            proptest::prop_assert_eq!(left.cmp(&right), a.cmp(&b));
            proptest::prop_assert_eq!(left == right, a == b);
        }

        #[test]
        fn every_key_put_is_found_and_listed_in_order(
            keys in proptest::collection::vec(stored_key(), 0..40),
            probe in stored_key(),
        ) {
            let mut overlay = Overlay::default();
            for key in &keys {
                overlay.put(key, bytes("1"));
            }
            let mut sorted = keys.clone();
            sorted.sort();
            sorted.dedup();
            let listed: Vec<&[u8]> = overlay.items().map(|(key, _)| key).collect();
            proptest::prop_assert_eq!(listed, sorted.iter().map(Vec::as_slice).collect::<Vec<_>>());
            let found = overlay.item(&probe) != Found::Unchanged;
            proptest::prop_assert_eq!(found, keys.contains(&probe));
        }
    }

    #[test]
    fn a_clone_does_not_see_later_changes() {
        let mut overlay = Overlay::default();
        overlay.put(b"k", bytes("old"));
        overlay.set_group_count("g", 1);
        let snapshot = overlay.clone();
        overlay.put(b"k", bytes("new"));
        overlay.remove(b"other");
        overlay.set_group_count("g", 0);
        assert_eq!(snapshot.item(b"k"), Found::Stored(b"old"));
        assert_eq!(snapshot.item(b"other"), Found::Unchanged);
        assert_eq!(snapshot.group_count("g"), Some(1));
        assert_eq!(overlay.item(b"k"), Found::Stored(b"new"));
        assert_eq!(overlay.group_count("g"), Some(0));
    }

    #[test]
    fn a_range_lists_its_changes_in_key_order() {
        let mut overlay = Overlay::default();
        for key in ["b\0z", "a\0x", "b\0a", "c\0y"] {
            overlay.put(key.as_bytes(), bytes(key));
        }
        overlay.remove(b"b\0m");
        let range: KeyRange<'_> = (Bound::Included(b"b\0"), Bound::Excluded(b"b\x01"));
        let listed: Vec<_> = overlay.items_in(range).collect();
        assert_eq!(
            listed,
            vec![
                (&b"b\0a"[..], Some(&b"b\0a"[..])),
                (&b"b\0m"[..], None),
                (&b"b\0z"[..], Some(&b"b\0z"[..])),
            ]
        );
        assert_eq!(overlay.items().count(), 5);
    }

    #[test]
    fn groups_are_listed_in_name_order_with_their_counts() {
        let mut overlay = Overlay::default();
        overlay.set_group_count("b", 2);
        overlay.set_group_count("a", 0);
        overlay.set_group_count("b", 3);
        assert_eq!(
            overlay.groups().collect::<Vec<_>>(),
            vec![("a", 0), ("b", 3)]
        );
        assert_eq!(overlay.group_count("c"), None);
    }

    #[test]
    fn the_newer_layer_wins_and_keys_stay_in_order() {
        let newer = [("b", 2), ("c", 20), ("e", 5)];
        let older = [("a", 1), ("c", 3), ("d", 4), ("f", 6)];
        let merged: Vec<_> = layered(newer.into_iter(), older.into_iter()).collect();
        assert_eq!(
            merged,
            vec![("a", 1), ("b", 2), ("c", 20), ("d", 4), ("e", 5), ("f", 6)]
        );
        assert_eq!(layered(older.into_iter(), [].into_iter()).count(), 4);
    }
}
