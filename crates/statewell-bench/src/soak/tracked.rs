//! What a tracked key may hold, from the writes its one owner made: the
//! state its last acknowledged write left, or — after a write whose answer
//! never came (the engine was killed with it in flight) — that or the
//! write's result. Each read narrows the possibilities to what it saw; a
//! read outside them means an acknowledged write was lost (or a value
//! appeared that nobody wrote).

use serde_json::{Map, Value};

/// The field the soak's updates increment.
pub const COUNTER: &str = "count";

/// One tracked key and the states it may be in.
#[derive(Debug, Clone)]
pub struct TrackedKey {
    pub key: String,
    /// Every state the key may be in (`None`: absent). Never empty.
    candidates: Vec<Option<Value>>,
    /// Writes the engine acknowledged.
    pub acknowledged: u64,
}

/// A read that found a state no write of the owner could have left.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub key: String,
    pub expected: Vec<Option<Value>>,
    pub found: Option<Value>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| match v {
            Some(v) => v.to_string(),
            None => "(absent)".to_owned(),
        };
        let expected: Vec<String> = self.expected.iter().map(show).collect();
        write!(
            f,
            "key {}: found {}, expected {}",
            self.key,
            show(&self.found),
            expected.join(" or ")
        )
    }
}

/// A write to a tracked key, as sent.
#[derive(Debug, Clone)]
pub enum Write {
    Set(Value),
    /// Increments [`COUNTER`] by one.
    Increment,
    Delete,
}

impl TrackedKey {
    /// A key nobody has written yet (the soak starts on an empty store).
    pub fn new(key: String) -> TrackedKey {
        TrackedKey {
            key,
            candidates: vec![None],
            acknowledged: 0,
        }
    }

    /// The engine acknowledged a write that left `state`.
    pub fn acknowledged(&mut self, state: Option<Value>) {
        self.candidates = vec![state];
        self.acknowledged += 1;
    }

    /// A write whose outcome is unknown: it may or may not have applied, on
    /// top of any of the states the key may have been in.
    pub fn unknown(&mut self, write: &Write) {
        let after: Vec<Option<Value>> = match write {
            Write::Set(value) => vec![Some(value.clone())],
            Write::Delete => vec![None],
            Write::Increment => self.candidates.iter().map(incremented).collect(),
        };
        for state in after {
            if !self.candidates.contains(&state) {
                self.candidates.push(state);
            }
        }
    }

    /// A read found `found`: fine when it is one of the possible states,
    /// which it then becomes the only one. Otherwise a mismatch, and the key
    /// is taken to hold what was found, so that one loss is reported once.
    pub fn observe(&mut self, found: Option<Value>) -> Result<(), Mismatch> {
        let known = self.candidates.contains(&found);
        let expected = std::mem::replace(&mut self.candidates, vec![found.clone()]);
        if known {
            Ok(())
        } else {
            Err(Mismatch {
                key: self.key.clone(),
                expected,
                found,
            })
        }
    }
}

/// What incrementing [`COUNTER`] by one leaves, as the engine's update does
/// it: a missing item starts from `{}`, a missing field counts as 0.
/// Anything else (not an object, a counter that is not a whole number)
/// stays as it is: the engine refuses such an op and changes nothing.
fn incremented(state: &Option<Value>) -> Option<Value> {
    let mut object = match state {
        None => Map::new(),
        Some(Value::Object(object)) => object.clone(),
        Some(other) => return Some(other.clone()),
    };
    let next = match object.get(COUNTER) {
        None | Some(Value::Null) => Value::from(1),
        Some(Value::Number(n)) => match n.as_i64().and_then(|n| n.checked_add(1)) {
            Some(n) => Value::from(n),
            None => return state.clone(),
        },
        Some(_) => return state.clone(),
    };
    object.insert(COUNTER.to_owned(), next);
    Some(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_acknowledged_write_is_the_only_state_a_read_may_find() {
        let mut key = TrackedKey::new("t1".into());
        key.acknowledged(Some(json!({"seq": 1})));
        assert_eq!(key.observe(Some(json!({"seq": 1}))), Ok(()));
        key.acknowledged(Some(json!({"seq": 2})));
        // The write before it came back: the acknowledged one was lost.
        let lost = key
            .observe(Some(json!({"seq": 1})))
            .expect_err("a lost write");
        assert_eq!(lost.expected, vec![Some(json!({"seq": 2}))]);
        // Reported once: the key now holds what was found.
        assert_eq!(key.observe(Some(json!({"seq": 1}))), Ok(()));
        key.acknowledged(None);
        assert!(key.observe(Some(json!({"seq": 1}))).is_err());
        assert_eq!(key.acknowledged, 3);
    }

    #[test]
    fn a_write_without_an_answer_may_or_may_not_have_applied() {
        for found in [Some(json!({"seq": 1})), None] {
            let mut key = TrackedKey::new("t".into());
            key.acknowledged(Some(json!({"seq": 1})));
            key.unknown(&Write::Delete);
            assert_eq!(key.observe(found), Ok(()));
        }
        let mut key = TrackedKey::new("t".into());
        key.unknown(&Write::Set(json!({"seq": 9})));
        assert!(key.observe(Some(json!({"seq": 8}))).is_err());
        // A read narrows the possibilities to what it found.
        let mut key = TrackedKey::new("t".into());
        key.unknown(&Write::Set(json!({"seq": 9})));
        assert_eq!(key.observe(None), Ok(()));
        assert!(key.observe(Some(json!({"seq": 9}))).is_err());
    }

    #[test]
    fn an_unanswered_increment_counts_from_every_possible_state() {
        let mut key = TrackedKey::new("t".into());
        key.unknown(&Write::Set(json!({"seq": 1, "count": 5})));
        key.unknown(&Write::Increment);
        // Absent, then {} + 1; the set, then the set + 1.
        for found in [
            None,
            Some(json!({"count": 1})),
            Some(json!({"seq": 1, "count": 5})),
            Some(json!({"seq": 1, "count": 6})),
        ] {
            let mut copy = key.clone();
            assert_eq!(copy.observe(found.clone()), Ok(()), "{found:?}");
        }
        assert!(key.observe(Some(json!({"seq": 1, "count": 7}))).is_err());
    }

    #[test]
    fn increment_leaves_what_the_engine_would_refuse_unchanged() {
        assert_eq!(incremented(&Some(json!([1]))), Some(json!([1])));
        assert_eq!(
            incremented(&Some(json!({"count": "x"}))),
            Some(json!({"count": "x"}))
        );
        assert_eq!(
            incremented(&Some(json!({"count": null}))),
            Some(json!({"count": 1}))
        );
    }

    #[test]
    fn a_mismatch_names_the_key_and_both_states() {
        let mut key = TrackedKey::new("t7".into());
        key.acknowledged(Some(json!({"seq": 2})));
        let text = key.observe(None).expect_err("lost").to_string();
        assert_eq!(text, "key t7: found (absent), expected {\"seq\":2}");
    }
}
