//! The table of remembered idempotency keys: a key's first result, answered
//! again for a repeat of the same request within the retention window.
//!
//! Bounded: at most [`Limits::idempotency_capacity`] keys, the oldest
//! forgotten first, and none older than [`Limits::idempotency_retention`].
//! A store keeps one, touched only by requests that carry a key; a store
//! that persists it writes each remembered entry with the write it belongs
//! to (see `statewell-embedded`).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Idempotency, Limits, StateError, TxOutcome};

/// Longest idempotency key, in UTF-8 bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 256;

/// Checks an idempotency key given by a caller.
pub fn check_idempotency_key(key: &str) -> Result<(), StateError> {
    if key.is_empty() {
        return Err(StateError::invalid("idempotency_key", "must not be empty"));
    }
    if key.len() > MAX_IDEMPOTENCY_KEY_BYTES {
        return Err(StateError::invalid(
            "idempotency_key",
            format!(
                "is {} bytes, longer than the limit of {MAX_IDEMPOTENCY_KEY_BYTES}",
                key.len()
            ),
        ));
    }
    Ok(())
}

/// The hex SHA-256 of a request's canonical text: what tells a repeat of a
/// request from another request under the same key.
pub fn request_hash(canonical: &[u8]) -> String {
    let digest = Sha256::digest(canonical);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Milliseconds since the Unix epoch, now (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One remembered key: the hash of its request, when it was first seen,
/// and what that request answered. Stored as JSON by a store that persists
/// the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remembered {
    pub hash: String,
    pub at_ms: u64,
    pub outcome: TxOutcome,
}

/// See the module docs.
#[derive(Debug)]
pub struct IdempotencyTable {
    entries: HashMap<String, Remembered>,
    /// Keys in the order they were remembered, with when: the front is the
    /// oldest. A key remembered again after it expired appears twice; the
    /// older place is skipped when it reaches the front.
    order: VecDeque<(u64, String)>,
    capacity: usize,
    retention_ms: u64,
}

impl IdempotencyTable {
    pub fn new(limits: &Limits) -> Self {
        IdempotencyTable {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: limits.idempotency_capacity,
            retention_ms: duration_ms(limits.idempotency_retention),
        }
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The answer for a repeat of `idem`: its first outcome (marked
    /// replayed), `idempotency_mismatch` when the key came with another
    /// request, `None` when the key is not remembered (or expired).
    pub fn lookup(&self, idem: &Idempotency, now_ms: u64) -> Option<Result<TxOutcome, StateError>> {
        let found = self.entries.get(&idem.key)?;
        if self.expired(found.at_ms, now_ms) {
            return None;
        }
        if found.hash != idem.request_hash {
            return Some(Err(StateError::IdempotencyMismatch {
                key: idem.key.clone(),
            }));
        }
        let mut outcome = found.outcome.clone();
        outcome.replayed = true;
        Some(Ok(outcome))
    }

    /// Remembers `entry` under `key` (loaded at open, or a new one), then
    /// forgets the oldest keys over the capacity and the expired ones.
    /// Returns the keys forgotten, for a store to remove what it persisted.
    pub fn remember(&mut self, key: String, entry: Remembered, now_ms: u64) -> Vec<String> {
        self.order.push_back((entry.at_ms, key.clone()));
        self.entries.insert(key, entry);
        let mut forgotten = Vec::new();
        while let Some((at_ms, _)) = self.order.front() {
            let over = self.entries.len() > self.capacity;
            if !over && !self.expired(*at_ms, now_ms) {
                break;
            }
            let Some((at_ms, key)) = self.order.pop_front() else {
                break;
            };
            // Only the key's latest place forgets it.
            if self.entries.get(&key).is_some_and(|e| e.at_ms == at_ms) {
                self.entries.remove(&key);
                forgotten.push(key);
            }
        }
        forgotten
    }

    fn expired(&self, at_ms: u64, now_ms: u64) -> bool {
        now_ms.saturating_sub(at_ms) > self.retention_ms
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(capacity: usize) -> Limits {
        Limits {
            idempotency_capacity: capacity,
            idempotency_retention: Duration::from_secs(10),
            ..Limits::default()
        }
    }

    fn idem(key: &str, hash: &str) -> Idempotency {
        Idempotency {
            key: key.into(),
            request_hash: hash.into(),
        }
    }

    fn entry(hash: &str, at_ms: u64) -> Remembered {
        Remembered {
            hash: hash.into(),
            at_ms,
            outcome: TxOutcome::default(),
        }
    }

    #[test]
    fn a_repeat_is_answered_and_another_request_refused() {
        let mut table = IdempotencyTable::new(&limits(10));
        assert!(table.lookup(&idem("k", "h"), 0).is_none());
        table.remember("k".into(), entry("h", 0), 0);
        let repeat = table.lookup(&idem("k", "h"), 5).expect("remembered");
        assert!(repeat.expect("same request").replayed);
        let other = table.lookup(&idem("k", "x"), 5).expect("remembered");
        assert!(matches!(other, Err(StateError::IdempotencyMismatch { .. })));
        assert!(table.lookup(&idem("k", "h"), 10_001).is_none(), "expired");
    }

    #[test]
    fn the_oldest_keys_are_forgotten_first() {
        let mut table = IdempotencyTable::new(&limits(2));
        assert!(table.remember("a".into(), entry("h", 1), 1).is_empty());
        assert!(table.remember("b".into(), entry("h", 2), 2).is_empty());
        assert_eq!(table.remember("c".into(), entry("h", 3), 3), ["a"]);
        assert_eq!(table.len(), 2);
        // Expired keys go when a new one comes.
        assert_eq!(
            table.remember("d".into(), entry("h", 20_000), 20_000),
            ["b", "c"]
        );
    }
}
