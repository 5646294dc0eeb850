//! Change events: one per committed mutation of one item, in commit order.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Created,
    Updated,
    Deleted,
    Expired,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Updated => "updated",
            EventKind::Deleted => "deleted",
            EventKind::Expired => "expired",
        }
    }
}

/// What one committed mutation did to one item. `revision` is the store-wide
/// revision the change was committed at; revisions strictly increase in commit
/// order, so a subscriber can detect a gap.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeEvent {
    pub kind: EventKind,
    pub group: String,
    pub key: String,
    pub old_value: Option<Value>,
    pub new_value: Option<Value>,
    pub revision: u64,
}
