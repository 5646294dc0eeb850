//! Bounds on what one op may ask for. They keep a single request from
//! building pathological values (deep recursion in every client that reads
//! them back) and keep names that would reach JavaScript prototypes out.

/// Most segments a path may have.
pub const MAX_PATH_DEPTH: usize = 32;
/// Longest path segment, in UTF-8 bytes.
pub const MAX_SEGMENT_BYTES: usize = 256;
/// Deepest nesting of a merge value (an object of scalars is 1 level deep).
pub const MAX_MERGE_DEPTH: usize = 32;
/// Deepest nesting a set or append op may leave at its target (the path's
/// segments count as levels; an object of scalars is 1 level deep). A JSON
/// parser's recursion limit (128 in serde_json) would refuse a deeper stored
/// value on every later read, and replies wrap a value in a few more levels.
pub const MAX_VALUE_DEPTH: usize = 100;
/// Most top-level keys a merge value may carry.
pub const MAX_MERGE_KEYS: usize = 1000;
/// Field names refused in paths and merge values: JavaScript clients read
/// these values back, and a naive deep merge there would reach the prototype.
pub const FORBIDDEN_KEYS: [&str; 3] = ["__proto__", "constructor", "prototype"];

pub(crate) fn is_forbidden_key(name: &str) -> bool {
    FORBIDDEN_KEYS.contains(&name)
}

/// Most fields the `remove` ops of one update may move. Removing a field
/// keeps the order of the others, so the fields after it move up one place:
/// a cost in the size of the object, not of the request. A run of removes
/// from one object moves its fields once (see `remove`), but removes
/// between other ops on a large object each move it again; without a bound
/// one request of a megabyte held the commit thread for seconds. At this
/// bound an update spends a few milliseconds moving fields.
pub const MAX_UPDATE_MOVES: usize = 1_000_000;
