//! Applying one batch's commands: each one's change goes into the
//! overlay (see `overlay`) and the batch's log record (see `wal`), and
//! what it answers is recorded for the publisher (see `command`).
//!
//! Called by the commit loop (`writer`) for each command in arrival order;
//! reads see the batch's earlier writes. An error returned here aborts the
//! whole batch (storage failed: the commit loop puts the overlay back); a
//! command's own failure (validation) is its answer and changes nothing.

use std::collections::HashMap;
use std::ops::{Bound, ControlFlow};
use std::sync::Arc;

use serde_json::Value;
use statewell_core::{
    Applied, ChangeEvent, IdempotencyTable, Limits, Mutation, MutationOutcome, RawJson, Remembered,
    StateError, UpdateOp, apply_mutation_owned, apply_mutation_unsized, change_event, raw_json,
    update::apply_to_text,
};

use crate::codec::{
    decode_value, decode_value_and_text, encode_json, group_prefix, item_key, key_of, parse_json,
    prefix_end, stamp_version,
};
use crate::command::{Answer, Command, ValueTexts, WriteAnswer, WriteResult};
use crate::read::{Snapshot, Stored, bounds};
use crate::txn::apply_transaction;
use crate::wal::{Span, Wal};

/// The state a batch builds up inside its transaction.
pub(crate) struct BatchState {
    pub(crate) revision: u64,
    pub(crate) events: Vec<ChangeEvent>,
    /// Change of each group's item count, applied once at the end of the batch.
    pub(crate) group_deltas: HashMap<String, i64>,
    pub(crate) want_events: bool,
    /// Idempotency keys the batch remembered, for the commit thread's
    /// table once the batch is logged (see `txn`).
    pub(crate) remembered: Vec<(String, Remembered)>,
    /// Whether the batch wrote anything (a log record, a new snapshot).
    pub(crate) changed: bool,
    /// Where the batch's log record went, when it wrote one.
    pub(crate) record: Option<Span>,
}

impl BatchState {
    /// A batch that starts after `revision`; `want_events` when someone
    /// listens to the change events (they are built only then).
    pub(crate) fn new(revision: u64, want_events: bool) -> Self {
        BatchState {
            revision,
            events: Vec::new(),
            group_deltas: HashMap::new(),
            want_events,
            remembered: Vec::new(),
            changed: false,
            record: None,
        }
    }
}

/// Applies `command` to the batch: its change goes into `current`'s
/// overlay, `wal`'s record and `state`. Returns what its waiter is
/// answered once the batch is durable; an error aborts the whole batch.
pub(crate) fn apply_command(
    (limits, idempotency): (&Limits, &IdempotencyTable),
    wal: &mut Wal,
    current: &mut Snapshot,
    command: &mut Command,
    state: &mut BatchState,
) -> Result<Answer, StateError> {
    Ok(match command {
        Command::Write {
            mutation, as_text, ..
        } => Answer::Write(apply_write(
            limits,
            wal,
            current,
            (mutation, *as_text),
            state,
        )?),
        Command::Put {
            group,
            key,
            encoded,
            ..
        } => Answer::Write(apply_put(wal, current, (group, key), encoded, state)?),
        Command::Clear { group, .. } => Answer::Clear(apply_clear(wal, current, group, state)?),
        Command::Transaction { request, .. } => Answer::Transaction(apply_transaction(
            limits,
            wal,
            current,
            (request, idempotency),
            state,
        )?),
        Command::Sync { .. } => Answer::Sync,
    })
}

/// Adds each group's change of item count to the overlay's counts (the
/// data file's are changed by `tables::store_group_counts` at replay and by
/// checkpoints).
pub(crate) fn count_groups(
    current: &mut Snapshot,
    deltas: &HashMap<String, i64>,
) -> Result<(), StateError> {
    for (group, delta) in deltas {
        if *delta != 0 {
            let count = current.group_count(group)?.saturating_add_signed(*delta);
            current.overlay.set_group_count(group, count);
        }
    }
    Ok(())
}

/// Applies a [`Command::Write`]: the mutation's own failure (validation)
/// is its [`WriteResult::Refused`] and changes nothing; an error aborts the
/// batch (storage failed). With `as_text`, the values are answered as JSON
/// text (see [`WriteAnswer::texts`]).
fn apply_write(
    limits: &Limits,
    wal: &mut Wal,
    current: &mut Snapshot,
    (mutation, as_text): (&Mutation, bool),
    state: &mut BatchState,
) -> Result<WriteResult, StateError> {
    let (group, key) = (mutation.group(), mutation.key());
    let stored_key = item_key(group, key);
    // Reads inside the transaction see the batch's earlier writes, so two
    // mutations of one key in a batch apply one after the other.
    let item = current.item(&stored_key)?;
    // An update answered as text with no event to publish: one increment of
    // a counter is applied to the stored text itself.
    if let (Some(stored), Mutation::Update { ops, .. }, true, false) =
        (&item, mutation, as_text, state.want_events)
        && let Some((old, new)) = counter_text(stored, ops)
    {
        drop(item);
        let stored = store_counter(limits, wal, current, &stored_key, (old, new), state);
        return Ok(stored.into());
    }
    let (current_value, old_text) = match item {
        Some(stored) => {
            let decoded = match as_text {
                true => decode_value_and_text(stored.bytes())
                    .map(|(_, value, text)| (value, Some(text))),
                false => decode_value(stored.bytes()).map(|(_, value)| (value, None)),
            };
            match decoded {
                Ok((value, text)) => (Some(value), text),
                Err(err) => return Ok(WriteResult::Refused(err)),
            }
        }
        None => (None, None),
    };
    let existed = current_value.is_some();
    // Sized below, by the encoding it gets anyway. The value before is
    // needed afterwards only by an event or an answer that is not text;
    // otherwise an update changes it in place rather than a copy of it.
    let keep_before = state.want_events || !as_text;
    let (applied, current_value) = match keep_before {
        true => (
            apply_mutation_unsized(current_value.as_ref(), mutation),
            current_value,
        ),
        false => (apply_mutation_owned(current_value, mutation), None),
    };
    // Refused (too much work): the value taken was a decoded copy, so the
    // item is as it was.
    let applied = match applied {
        Ok(applied) => applied,
        Err(err) => return Ok(WriteResult::Refused(err)),
    };
    if !applied.changed {
        // Nothing is stored, so nothing was printed: the rare answer that
        // prints the value (an update whose every op failed, say).
        let texts = match as_text {
            true => match applied.after.as_ref().map(raw_json).transpose() {
                Ok(new_value) => Some(ValueTexts {
                    old_value: old_text,
                    new_value,
                }),
                Err(err) => return Ok(WriteResult::Refused(err)),
            },
            false => None,
        };
        let answer = write_answer(current_value, applied, None, texts);
        return Ok(WriteResult::Accepted(answer));
    }
    let Some(revision) = state.revision.checked_add(1) else {
        return Ok(WriteResult::Refused(revisions_exhausted()));
    };
    let mut new_text = None;
    match &applied.after {
        Some(value) => {
            let printed = raw_json(value).and_then(|text| {
                limits.check_value_len(text.get().len())?;
                Ok(text)
            });
            let text = match printed {
                Ok(text) => text,
                Err(err) => return Ok(WriteResult::Refused(err)),
            };
            let bytes = encode_json(revision, text.get());
            wal.put(&stored_key, &bytes);
            current.overlay.put(&stored_key, Arc::from(bytes));
            if !existed {
                *state.group_deltas.entry(group.to_owned()).or_default() += 1;
            }
            new_text = Some(text);
        }
        None => {
            wal.remove(&stored_key);
            current.overlay.remove(&stored_key);
            *state.group_deltas.entry(group.to_owned()).or_default() -= 1;
        }
    }
    state.revision = revision;
    if state.want_events {
        let event = change_event(
            group,
            key,
            current_value.clone(),
            applied.after.clone(),
            revision,
        );
        state.events.extend(event);
    }
    let texts = as_text.then_some(ValueTexts {
        old_value: old_text,
        new_value: new_text,
    });
    let answer = write_answer(current_value, applied, Some(revision), texts);
    Ok(WriteResult::Accepted(answer))
}

/// The stored text (checked when read from the data file) and the new
/// one, when `ops` are one increment or decrement that [`apply_to_text`]
/// applies to it; `None` sends the update the parsed way (which also
/// reports a damaged stored value).
fn counter_text(stored: &Stored<'_>, ops: &[UpdateOp]) -> Option<(RawJson, String)> {
    // Other ops never apply: spare them the text.
    if !matches!(
        ops,
        [UpdateOp::Increment { .. } | UpdateOp::Decrement { .. }]
    ) {
        return None;
    }
    let (_, old) = stored.raw().ok()?;
    let new = apply_to_text(old.get(), ops)?;
    Some((old, new))
}

/// Stores a [`counter_text`] result for [`apply_write`]: the item exists
/// already, so no group count changes. An error is the write's refusal.
fn store_counter(
    limits: &Limits,
    wal: &mut Wal,
    current: &mut Snapshot,
    stored_key: &[u8],
    (old, new): (RawJson, String),
    state: &mut BatchState,
) -> Result<WriteAnswer, StateError> {
    let Some(revision) = state.revision.checked_add(1) else {
        return Err(revisions_exhausted());
    };
    limits.check_value_len(new.len())?;
    let bytes = encode_json(revision, &new);
    wal.put(stored_key, &bytes);
    current.overlay.put(stored_key, Arc::from(bytes));
    state.revision = revision;
    let applied = Applied {
        after: None,
        changed: true,
        op_errors: Vec::new(),
    };
    let texts = ValueTexts {
        old_value: Some(old),
        // Valid JSON with one number replaced by a printed number.
        new_value: Some(RawJson::known_json_unchecked(new)),
    };
    Ok(write_answer(None, applied, Some(revision), Some(texts)))
}

/// A [`Command::Write`]'s answer: the values parsed, or as `texts` when it
/// asked for them (the parsed ones are then dropped here, on the commit
/// thread, rather than on the waiter's).
fn write_answer(
    old_value: Option<Value>,
    applied: Applied,
    version: Option<u64>,
    texts: Option<ValueTexts>,
) -> WriteAnswer {
    let (old_value, new_value) = match texts {
        Some(_) => (None, None),
        None => (old_value, applied.after),
    };
    WriteAnswer {
        outcome: MutationOutcome {
            old_value,
            new_value,
            version,
            op_errors: applied.op_errors,
        },
        replaced: None,
        texts,
    }
}

/// Applies a [`Command::Put`]: stamps the revision into the value its waiter
/// encoded and stores it. The value it replaces goes back as text, checked
/// here (a damaged one fails the set, as it fails any other write) but
/// parsed by the waiter — unless an event carries it. Refusals and errors
/// as [`apply_write`]'s.
fn apply_put(
    wal: &mut Wal,
    current: &mut Snapshot,
    (group, key): (&str, &str),
    encoded: &mut [u8],
    state: &mut BatchState,
) -> Result<WriteResult, StateError> {
    let stored_key = item_key(group, key);
    let mut replaced = match current.item(&stored_key)? {
        Some(stored) => match stored.raw() {
            Ok((_, raw)) => Some(raw),
            Err(err) => return Ok(WriteResult::Refused(err)),
        },
        None => None,
    };
    let existed = replaced.is_some();
    // An event needs both values parsed; done before anything is stored,
    // so that a failure changes nothing.
    let mut event_values = None;
    if state.want_events {
        let parsed = decode_value(encoded).and_then(|(_, new_value)| {
            let old_value = replaced.take().as_ref().map(parse_json).transpose()?;
            Ok((old_value, new_value))
        });
        match parsed {
            Ok(values) => event_values = Some(values),
            Err(err) => return Ok(WriteResult::Refused(err)),
        }
    }
    let Some(revision) = state.revision.checked_add(1) else {
        return Ok(WriteResult::Refused(revisions_exhausted()));
    };
    stamp_version(encoded, revision);
    wal.put(&stored_key, encoded);
    current.overlay.put(&stored_key, Arc::from(&*encoded));
    if !existed {
        *state.group_deltas.entry(group.to_owned()).or_default() += 1;
    }
    state.revision = revision;
    let mut old_value = None;
    if let Some((old, new)) = event_values {
        old_value = old.clone();
        state
            .events
            .extend(change_event(group, key, old, Some(new), revision));
    }
    Ok(WriteResult::Accepted(WriteAnswer {
        outcome: MutationOutcome {
            // Filled in by the waiter, which still holds the value.
            new_value: None,
            old_value,
            version: Some(revision),
            op_errors: Vec::new(),
        },
        replaced,
        texts: None,
    }))
}

/// The revision read from disk is at its maximum (only a damaged or edited
/// file gets there): refuse the write rather than wrap to 0, which would
/// reorder every later event.
pub(crate) fn revisions_exhausted() -> StateError {
    StateError::Storage("corrupt data: the stored revision counter is at its maximum".into())
}

/// Removes every item of `group`; each removal takes its own revision and
/// raises its own `deleted` event, in key order.
pub(crate) fn apply_clear(
    wal: &mut Wal,
    current: &mut Snapshot,
    group: &str,
    state: &mut BatchState,
) -> Result<u64, StateError> {
    let prefix = group_prefix(group);
    let end = prefix_end(&prefix);
    let want_events = state.want_events;
    // Read first, removed after: the overlay cannot change under its own
    // iterator. (An error stops the batch, which puts the overlay back.)
    let mut found: Vec<(Vec<u8>, Option<Value>)> = Vec::new();
    current.visit(
        bounds(Bound::Included(&prefix), end.as_deref()),
        |stored_key, bytes| {
            let value = want_events.then(|| decode_value(bytes)).transpose()?;
            found.push((stored_key.to_vec(), value.map(|(_, value)| value)));
            Ok(ControlFlow::Continue(()))
        },
    )?;
    let removed = found.len() as u64;
    for (stored_key, value) in found {
        state.revision = state
            .revision
            .checked_add(1)
            .ok_or_else(revisions_exhausted)?;
        if let Some(value) = value {
            let key = key_of(&stored_key, prefix.len())?;
            let event = change_event(group, &key, Some(value), None, state.revision);
            state.events.extend(event);
        }
        current.overlay.remove(&stored_key);
    }
    if removed > 0 {
        wal.clear(group);
        let delta = i64::try_from(removed).unwrap_or(i64::MAX);
        *state.group_deltas.entry(group.to_owned()).or_default() -= delta;
    }
    Ok(removed)
}
