//! Conditional writes, transactions and idempotency keys on the commit
//! thread (see `statewell_core::Store::transaction`).
//!
//! A request is one command: the commit loop applies it between two others,
//! so its conditions are checked against the overlay as every earlier
//! command left it — of racing writers with the same `if_version`, the
//! first to reach the loop wins and the others see the version it wrote.
//! Its writes go into the batch's one log record, with its remembered
//! idempotency entry: after a crash a request is there whole, with its
//! key, or not at all.
//!
//! Remembered keys are stored as items of the group with the empty name
//! (stored key `0u32 ‖ idempotency key`), which no caller can name (groups
//! are never empty) and which no group count includes: they reach the data
//! file through the log and checkpoints like any item, and are loaded into
//! the commit thread's [`IdempotencyTable`] at open.

use std::ops::{Bound, ControlFlow};
use std::sync::Arc;

use statewell_core::{
    IdempotencyTable, Limits, OpOutcome, Remembered, StateError, TxOp, TxOutcome, WriteRequest,
    change_event, now_ms, plan_transaction,
};

use crate::apply::{BatchState, apply_clear, revisions_exhausted};
use crate::codec::{decode_value, encode_json, encode_value, item_key, prefix_end, split_text};
use crate::read::{Snapshot, bounds};
use crate::wal::Wal;

/// The prefix of every remembered key's stored key: a group of length 0.
const IDEMPOTENCY_PREFIX: [u8; 4] = [0; 4];

/// Where the entry of idempotency key `key` is stored.
pub(crate) fn idempotency_item(key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(IDEMPOTENCY_PREFIX.len() + key.len());
    out.extend_from_slice(&IDEMPOTENCY_PREFIX);
    out.extend_from_slice(key.as_bytes());
    out
}

/// Whether a stored key is a remembered idempotency key rather than an item.
pub(crate) fn is_idempotency_item(stored_key: &[u8]) -> bool {
    stored_key.starts_with(&IDEMPOTENCY_PREFIX)
}

/// The table of the keys `current` holds, oldest first; returns it with the
/// keys it forgot at once (expired, or over the capacity), which the first
/// batch removes from the store.
pub(crate) fn load_idempotency(
    current: &Snapshot,
    limits: &Limits,
) -> Result<(IdempotencyTable, Vec<String>), StateError> {
    let mut found: Vec<(String, Remembered)> = Vec::new();
    let end = prefix_end(&IDEMPOTENCY_PREFIX);
    current.visit(
        bounds(Bound::Included(&IDEMPOTENCY_PREFIX), end.as_deref()),
        |stored_key, bytes| {
            let key = String::from_utf8_lossy(&stored_key[IDEMPOTENCY_PREFIX.len()..]);
            let (_, text) = split_text(bytes)?;
            // A damaged entry is forgotten rather than failing the open: the
            // worst it costs is one retry applied again.
            match serde_json::from_str::<Remembered>(text) {
                Ok(entry) => found.push((key.into_owned(), entry)),
                Err(err) => tracing::warn!(%err, %key, "an idempotency entry is damaged"),
            }
            Ok(ControlFlow::Continue(()))
        },
    )?;
    found.sort_by_key(|(_, entry)| entry.at_ms);
    let mut table = IdempotencyTable::new(limits);
    let now = now_ms();
    let mut forgotten = Vec::new();
    for (key, entry) in found {
        forgotten.extend(table.remember(key, entry, now));
    }
    Ok((table, forgotten))
}

/// Applies a [`WriteRequest`] to the batch. The outer error aborts the
/// whole batch (storage failed); the inner one is the request's refusal,
/// which changed nothing.
pub(crate) fn apply_transaction(
    limits: &Limits,
    wal: &mut Wal,
    current: &mut Snapshot,
    (request, table): (&WriteRequest, &IdempotencyTable),
    state: &mut BatchState,
) -> Result<Result<TxOutcome, StateError>, StateError> {
    let now = now_ms();
    if let Some(idem) = &request.idempotency {
        // A key remembered earlier in this batch is not in the table yet.
        let pending = state
            .remembered
            .iter()
            .rev()
            .find(|(key, _)| *key == idem.key);
        let answer = match pending {
            Some((_, entry)) if entry.hash != idem.request_hash => {
                Some(Err(StateError::IdempotencyMismatch {
                    key: idem.key.clone(),
                }))
            }
            Some((_, entry)) => Some(Ok(TxOutcome {
                replayed: true,
                ..entry.outcome.clone()
            })),
            None => table.lookup(idem, now),
        };
        if let Some(answer) = answer {
            return Ok(answer);
        }
    }
    let outcome = match request.ops.as_slice() {
        [TxOp::Clear { group }] => {
            let removed = apply_clear(wal, current, group, state)?;
            TxOutcome {
                results: vec![OpOutcome {
                    removed,
                    ..OpOutcome::default()
                }],
                revision: (removed > 0).then_some(state.revision),
                replayed: false,
            }
        }
        _ => match apply_ops(limits, wal, current, request, state)? {
            Ok(outcome) => outcome,
            Err(refused) => return Ok(Err(refused)),
        },
    };
    if let Some(idem) = &request.idempotency {
        let entry = Remembered {
            hash: idem.request_hash.clone(),
            at_ms: now,
            outcome: outcome.clone(),
        };
        let text = serde_json::to_string(&entry)
            .map_err(|e| StateError::Storage(format!("cannot encode an idempotency entry: {e}")))?;
        let bytes = encode_json(state.revision, &text);
        let stored_key = idempotency_item(&idem.key);
        wal.put(&stored_key, &bytes);
        current.overlay.put(&stored_key, Arc::from(bytes));
        state.remembered.push((idem.key.clone(), entry));
    }
    Ok(Ok(outcome))
}

/// Plans the request's ops against the overlay and, when every one
/// succeeds, stores every item it changed at one new revision.
fn apply_ops(
    limits: &Limits,
    wal: &mut Wal,
    current: &mut Snapshot,
    request: &WriteRequest,
    state: &mut BatchState,
) -> Result<Result<TxOutcome, StateError>, StateError> {
    let Some(next) = state.revision.checked_add(1) else {
        return Ok(Err(revisions_exhausted()));
    };
    let planned =
        plan_transaction(
            &request.ops,
            request.mode,
            limits,
            next,
            |group, key| match current.item(&item_key(group, key))? {
                Some(stored) => {
                    decode_value(stored.bytes()).map(|(version, value)| Some((value, version)))
                }
                None => Ok(None),
            },
        );
    let mut plan = match planned {
        Ok(plan) => plan,
        Err(refused) => return Ok(Err(refused)),
    };
    if plan.changes.is_empty() {
        return Ok(Ok(plan.outcome(None)));
    }
    // Everything is encoded before anything is stored: a failure changes
    // nothing.
    let mut encoded = Vec::with_capacity(plan.changes.len());
    for change in &plan.changes {
        let bytes = match &change.after {
            Some(value) => match encode_value(next, value) {
                Ok(bytes) => Some(bytes),
                Err(err) => return Ok(Err(err)),
            },
            None => None,
        };
        encoded.push(bytes);
    }
    for (change, bytes) in std::mem::take(&mut plan.changes).into_iter().zip(encoded) {
        let stored_key = item_key(&change.group, &change.key);
        let delta = match (&change.before, &bytes) {
            (None, Some(_)) => 1,
            (Some(_), None) => -1,
            _ => 0,
        };
        match bytes {
            Some(bytes) => {
                wal.put(&stored_key, &bytes);
                current.overlay.put(&stored_key, Arc::from(bytes));
            }
            None => {
                wal.remove(&stored_key);
                current.overlay.remove(&stored_key);
            }
        }
        if delta != 0 {
            *state.group_deltas.entry(change.group.clone()).or_default() += delta;
        }
        if state.want_events {
            let event = change_event(
                &change.group,
                &change.key,
                change.before,
                change.after,
                next,
            );
            state.events.extend(event);
        }
    }
    state.revision = next;
    Ok(Ok(plan.outcome(Some(next))))
}

/// Removes the entries of forgotten keys (see `IdempotencyTable::remember`)
/// in the batch being built.
pub(crate) fn forget(wal: &mut Wal, current: &mut Snapshot, keys: &[String]) {
    for key in keys {
        let stored_key = idempotency_item(key);
        wal.remove(&stored_key);
        current.overlay.remove(&stored_key);
    }
}
