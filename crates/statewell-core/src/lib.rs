//! The state model of statewell.
//!
//! Items are JSON values stored under a `(group, key)` pair. Every backend
//! (memory, embedded on disk, Redis) implements [`Store`]; callers talk to a
//! [`State`], which validates input once, in one place, before any backend
//! sees it.
//!
//! This crate knows nothing of sockets, HTTP or on-disk formats.

mod compact;
mod error;
mod event;
mod idempotency;
mod model;
mod mutation;
mod outcome;
mod printed;
mod raw_json;
mod state;
pub mod store;
mod txn;
pub mod update;

pub use compact::compact_json;
pub use error::{ErrorCode, StateError};
pub use event::{ChangeEvent, EventKind};
pub use idempotency::{
    IdempotencyTable, MAX_IDEMPOTENCY_KEY_BYTES, Remembered, check_idempotency_key, now_ms,
    request_hash,
};
pub use model::{
    DEFAULT_IDEMPOTENCY_CAPACITY, DEFAULT_IDEMPOTENCY_RETENTION, Item, Limits, Page, PageRequest,
    RawItem, RawPage, RawVersioned, ResolvedPageRequest, Versioned,
};
pub use mutation::{
    Applied, Mutation, MutationOutcome, apply_mutation, apply_mutation_owned,
    apply_mutation_unsized, change_event,
};
pub use outcome::{RawSetOutcome, RawUpdateOutcome, SetOutcome, UpdateOutcome};
pub use printed::{
    is_plain_json_string, printed_object_end, printed_value_end, printed_value_scan,
};
pub use raw_json::{RawJson, raw_json};
pub use state::{State, WriteOptions};
pub use store::{Store, StoreStats};
pub use txn::{
    Condition, Idempotency, MAX_TRANSACTION_OPS, OpOutcome, Plan, PlannedChange, TxMode, TxOp,
    TxOutcome, WriteRequest, plan_transaction,
};
pub use update::{OpError, Path, UpdateOp};
