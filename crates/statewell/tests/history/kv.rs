//! The sequential model of one key, as the history test's clients use it.
//!
//! Every value a client writes carries a tag no other write uses (client id
//! and sequence number), so a read says which write it saw:
//! - `set` writes `{"tag": T}`;
//! - `update` applies `[increment "n" by 1, set "tag" to T]`, so `n` counts
//!   the updates since the last set (a missing `n` counts as 0);
//! - `delete` removes the item.
//!
//! Every reply is an observation the model checks: a get's value, a set's
//! `old_value` and `new_value`, an update's `old_value` and `new_value`, a
//! delete's old value. A value of any other shape never matches.
//!
//! A new operation (compare-and-set, say) is one more `Input` variant, one
//! more `Output` variant and one more arm in `apply`.

use std::fmt;
use std::sync::Arc;

use serde_json::{Value, json};

use super::checker::Model;

/// An item as this workload writes it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Item {
    pub tag: Arc<str>,
    /// Updates since the last set; `None` right after a set.
    pub n: Option<u64>,
}

impl Item {
    /// The item a reply's JSON holds, if it has exactly this workload's shape.
    fn from_json(value: &Value) -> Option<Item> {
        let object = value.as_object()?;
        let tag = object.get("tag")?.as_str()?;
        let n = match object.get("n") {
            None => None,
            Some(n) => Some(n.as_u64()?),
        };
        (object.len() == 1 + usize::from(n.is_some())).then(|| Item { tag: tag.into(), n })
    }
}

/// What a reply said the key held.
#[derive(Clone, PartialEq)]
pub enum Seen {
    Missing,
    Item(Item),
    /// A value of a shape no operation writes: matches no state.
    Unexpected(Value),
}

impl Seen {
    /// From a reply's value (`None`: the reply says the key was missing).
    pub fn from_reply(value: Option<&Value>) -> Seen {
        match value {
            None => Seen::Missing,
            Some(value) => match Item::from_json(value) {
                Some(item) => Seen::Item(item),
                None => Seen::Unexpected(value.clone()),
            },
        }
    }

    fn of(state: &State) -> Seen {
        match &state.0 {
            None => Seen::Missing,
            Some(item) => Seen::Item(item.clone()),
        }
    }
}

/// The key's state: its item, or missing.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct State(pub Option<Item>);

pub enum Input {
    Get,
    /// `state::set` of `{"tag": tag}`.
    Set {
        tag: Arc<str>,
    },
    /// `state::update` with `[increment "n" by 1, set "tag" to tag]`.
    Update {
        tag: Arc<str>,
    },
    Delete,
}

impl Input {
    /// The update ops an `Update` sends, as the wire spells them.
    pub fn update_ops(tag: &str) -> Value {
        json!([
            {"type": "increment", "path": "n", "by": 1},
            {"type": "set", "path": "tag", "value": tag},
        ])
    }

    /// The value a `Set` sends.
    pub fn set_value(tag: &str) -> Value {
        json!({ "tag": tag })
    }
}

#[derive(PartialEq)]
pub enum Output {
    Get(Seen),
    Set {
        old: Seen,
        new: Seen,
    },
    /// `refused` counts the ops the reply's `errors` lists (none expected).
    Update {
        old: Seen,
        new: Seen,
        refused: usize,
    },
    Delete {
        old: Seen,
    },
}

/// The model of one key (it starts missing).
pub struct Key;

impl Model for Key {
    type State = State;
    type Input = Input;
    type Output = Output;

    fn init(&self) -> State {
        State(None)
    }

    fn apply(&self, state: &State, input: &Input) -> (State, Output) {
        let old = Seen::of(state);
        match input {
            Input::Get => (state.clone(), Output::Get(old)),
            Input::Set { tag } => {
                let item = Item {
                    tag: tag.clone(),
                    n: None,
                };
                let new = Seen::Item(item.clone());
                (State(Some(item)), Output::Set { old, new })
            }
            Input::Update { tag } => {
                // A missing key starts from `{}`, a missing `n` from 0.
                let n = state.0.as_ref().and_then(|item| item.n).unwrap_or(0) + 1;
                let item = Item {
                    tag: tag.clone(),
                    n: Some(n),
                };
                let new = Seen::Item(item.clone());
                let output = Output::Update {
                    old,
                    new,
                    refused: 0,
                };
                (State(Some(item)), output)
            }
            Input::Delete => (State(None), Output::Delete { old }),
        }
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.n {
            None => write!(f, "{{{}}}", self.tag),
            Some(n) => write!(f, "{{{} n={n}}}", self.tag),
        }
    }
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seen::Missing => f.write_str("missing"),
            Seen::Item(item) => item.fmt(f),
            Seen::Unexpected(value) => write!(f, "unexpected {value}"),
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("missing"),
            Some(item) => item.fmt(f),
        }
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Get => f.write_str("get"),
            Input::Set { tag } => write!(f, "set {{{tag}}}"),
            Input::Update { tag } => write!(f, "update n+=1 tag={tag}"),
            Input::Delete => f.write_str("delete"),
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Get(seen) => seen.fmt(f),
            Output::Set { old, new } => write!(f, "old {old}, new {new}"),
            Output::Update { old, new, refused } => {
                write!(f, "old {old}, new {new}")?;
                if *refused > 0 {
                    write!(f, ", {refused} ops refused")?;
                }
                Ok(())
            }
            Output::Delete { old } => write!(f, "old {old}"),
        }
    }
}
