//! Groups, keys, values and the limits that bound them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::StateError;
use crate::raw_json::{RawJson, raw_json};

/// Bounds on what one item may hold. Checked by [`crate::State`] before a
/// backend sees the request, and by [`crate::apply_mutation`] for values an
/// update produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest group id, in UTF-8 bytes.
    pub max_group_bytes: usize,
    /// Longest key, in UTF-8 bytes.
    pub max_key_bytes: usize,
    /// Largest value, as compact JSON, in bytes.
    pub max_value_bytes: usize,
    /// Largest page `list_items` returns.
    pub max_page_size: usize,
    /// Most idempotency keys a store remembers; the oldest is forgotten
    /// first.
    pub idempotency_capacity: usize,
    /// How long an idempotency key is remembered.
    pub idempotency_retention: std::time::Duration,
}

/// 100,000 keys: a few tens of MB at most, and a day of retries of a
/// busy workflow engine.
pub const DEFAULT_IDEMPOTENCY_CAPACITY: usize = 100_000;
/// 24 hours.
pub const DEFAULT_IDEMPOTENCY_RETENTION: std::time::Duration =
    std::time::Duration::from_secs(24 * 60 * 60);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_group_bytes: 1024,
            max_key_bytes: 1024,
            max_value_bytes: 1024 * 1024,
            max_page_size: 1000,
            idempotency_capacity: DEFAULT_IDEMPOTENCY_CAPACITY,
            idempotency_retention: DEFAULT_IDEMPOTENCY_RETENTION,
        }
    }
}

impl Limits {
    pub fn check_group(&self, group: &str) -> Result<(), StateError> {
        check_name("group", group, self.max_group_bytes)
    }

    pub fn check_key(&self, key: &str) -> Result<(), StateError> {
        check_name("key", key, self.max_key_bytes)
    }

    /// Checks a value's encoded size. Callers that already hold the encoding
    /// pass its length to [`Limits::check_value_len`] instead of encoding twice.
    pub fn check_value(&self, value: &Value) -> Result<(), StateError> {
        // Counting bytes through a sink avoids allocating the encoding.
        let mut counter = ByteCounter(0);
        serde_json::to_writer(&mut counter, value)
            .map_err(|e| StateError::invalid("value", e.to_string()))?;
        self.check_value_len(counter.0)
    }

    pub fn check_value_len(&self, len: usize) -> Result<(), StateError> {
        if len > self.max_value_bytes {
            return Err(StateError::ValueTooLarge {
                size: len,
                limit: self.max_value_bytes,
            });
        }
        Ok(())
    }
}

fn check_name(field: &'static str, name: &str, max: usize) -> Result<(), StateError> {
    if name.is_empty() {
        return Err(StateError::invalid(field, "must not be empty"));
    }
    if name.len() > max {
        return Err(StateError::invalid(
            field,
            format!("is {} bytes, longer than the limit of {max}", name.len()),
        ));
    }
    Ok(())
}

struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A stored value and the revision that last wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versioned {
    pub value: Value,
    pub version: u64,
}

/// One item of a paged listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub key: String,
    pub value: Value,
    pub version: u64,
}

/// Which page of a group to list: keys starting with `prefix`, strictly after
/// the key `after` (the previous page's cursor), at most `limit` of them
/// ([`Limits::max_page_size`] when absent). What a caller asks for; a
/// [`crate::Store`] is given it [resolved](PageRequest::resolve).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
}

impl PageRequest {
    /// This request with its limit resolved against `limits`: the largest
    /// page when none is given, capped by it otherwise. A limit of 0 is
    /// refused.
    pub fn resolve(&self, limits: &Limits) -> Result<ResolvedPageRequest<'_>, StateError> {
        let limit = match self.limit {
            None => limits.max_page_size,
            Some(0) => return Err(StateError::invalid("limit", "must be at least 1")),
            Some(n) => n.min(limits.max_page_size),
        };
        Ok(ResolvedPageRequest {
            prefix: self.prefix.as_deref(),
            after: self.after.as_deref(),
            limit,
        })
    }
}

/// A [`PageRequest`] whose limit is resolved (see [`PageRequest::resolve`]),
/// borrowing its strings: what [`crate::Store::list_items`] lists. A store
/// returns at most `limit` items and applies no default or cap of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedPageRequest<'a> {
    pub prefix: Option<&'a str>,
    pub after: Option<&'a str>,
    pub limit: usize,
}

/// A page of items in key order; `next` is the cursor for the following page,
/// `None` on the last one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<String>,
}

/// [`Versioned`] with the value as [`RawJson`].
#[derive(Debug, Clone)]
pub struct RawVersioned {
    pub value: RawJson,
    pub version: u64,
}

impl RawVersioned {
    pub fn from_versioned(found: &Versioned) -> Result<Self, StateError> {
        Ok(RawVersioned {
            value: raw_json(&found.value)?,
            version: found.version,
        })
    }
}

/// [`Item`] with the value as [`RawJson`]; serializes to the same JSON.
#[derive(Debug, Clone, Serialize)]
pub struct RawItem {
    pub key: String,
    pub value: RawJson,
    pub version: u64,
}

/// [`Page`] with the values as [`RawJson`]; serializes to the same JSON.
#[derive(Debug, Clone, Serialize)]
pub struct RawPage {
    pub items: Vec<RawItem>,
    pub next: Option<String>,
}

impl RawPage {
    pub fn from_page(page: Page) -> Result<Self, StateError> {
        let items = page
            .items
            .into_iter()
            .map(|item| {
                Ok(RawItem {
                    value: raw_json(&item.value)?,
                    key: item.key,
                    version: item.version,
                })
            })
            .collect::<Result<_, StateError>>()?;
        Ok(RawPage {
            items,
            next: page.next,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(limit: Option<usize>) -> PageRequest {
        PageRequest {
            prefix: Some("p".into()),
            after: Some("a".into()),
            limit,
        }
    }

    /// A page without a limit is the largest one; a larger limit is capped
    /// to it; the strings are passed on as they are.
    #[test]
    fn a_page_request_resolves_its_limit_against_the_limits() {
        let limits = Limits {
            max_page_size: 50,
            ..Limits::default()
        };
        let resolved = |limit| request(limit).resolve(&limits).map(|page| page.limit);
        assert_eq!(resolved(None).expect("resolved"), 50);
        assert_eq!(resolved(Some(7)).expect("resolved"), 7);
        assert_eq!(resolved(Some(51)).expect("resolved"), 50);
        let asked = request(Some(1));
        let page = asked.resolve(&limits).expect("resolved");
        assert_eq!((page.prefix, page.after), (Some("p"), Some("a")));
        let err = resolved(Some(0)).expect_err("a page of nothing");
        assert_eq!(err.code(), crate::ErrorCode::InvalidArgument, "{err}");
    }
}
