//! What the store sends the commit loop, and what each command answers.
//!
//! A waiter (an `EmbeddedStore` call) sends a [`Command`] with a reply
//! channel; the commit loop (`writer`) applies it and records what it
//! produced; the publisher (`publish`) sends that to the waiter once the
//! batch is durable, or fails every command of a batch that was not.

use statewell_core::{
    Mutation, MutationOutcome, RawJson, StateError, TxOutcome, WriteRequest, raw_json,
};
use tokio::sync::oneshot;

use crate::codec::parse_json;

/// One request to the commit loop, with the channel its answer goes back on.
pub(crate) enum Command {
    Write {
        mutation: Mutation,
        /// Whether the waiter wants the values as JSON text (see
        /// [`WriteAnswer::texts`]) rather than parsed.
        as_text: bool,
        reply: oneshot::Sender<Result<WriteAnswer, StateError>>,
    },
    /// A set whose value its waiter already encoded (see
    /// `EmbeddedStore::write`): the commit thread, which every write waits
    /// for, only stamps the revision into it.
    Put {
        group: String,
        key: String,
        encoded: Vec<u8>,
        reply: oneshot::Sender<Result<WriteAnswer, StateError>>,
    },
    Clear {
        group: String,
        reply: oneshot::Sender<Result<u64, StateError>>,
    },
    /// A conditional or idempotent write, or a transaction (see `txn`).
    Transaction {
        request: WriteRequest,
        reply: oneshot::Sender<Result<TxOutcome, StateError>>,
    },
    /// Forces the batch it lands in to be synced (for `batched` mode).
    Sync {
        reply: oneshot::Sender<Result<(), StateError>>,
    },
}

impl Command {
    /// Sends `answer`, what this command produced, to its waiter.
    pub(crate) fn answer(self, answer: Answer) {
        match (self, answer) {
            (Command::Write { reply, .. } | Command::Put { reply, .. }, Answer::Write(result)) => {
                drop(reply.send(result.into_reply()))
            }
            (Command::Clear { reply, .. }, Answer::Clear(n)) => drop(reply.send(Ok(n))),
            (Command::Transaction { reply, .. }, Answer::Transaction(result)) => {
                drop(reply.send(result))
            }
            (Command::Sync { reply }, Answer::Sync) => drop(reply.send(Ok(()))),
            (command, _) => command.fail(StateError::Storage(
                "internal: batch results out of step with commands".into(),
            )),
        }
    }

    /// Sends `err` to its waiter instead of its answer: its batch was not
    /// committed, or not made durable.
    pub(crate) fn fail(self, err: StateError) {
        // A waiter that went away (its task was cancelled) needs no answer.
        match self {
            Command::Write { reply, .. } | Command::Put { reply, .. } => drop(reply.send(Err(err))),
            Command::Clear { reply, .. } => drop(reply.send(Err(err))),
            Command::Transaction { reply, .. } => drop(reply.send(Err(err))),
            Command::Sync { reply } => drop(reply.send(Err(err))),
        }
    }
}

/// What one command of a batch produced: its waiter gets it once the batch
/// is durable (see [`Command::answer`]), or an error instead if the batch
/// fails (see [`Command::fail`]).
// Nearly every command is a write, so boxing the write's result would only
// add an allocation per write to shrink the rare `Clear` and `Sync`.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Answer {
    Write(WriteResult),
    /// The number of items a `Clear` removed.
    Clear(u64),
    /// A transaction's outcome, or its refusal (it changed nothing).
    Transaction(Result<TxOutcome, StateError>),
    Sync,
}

/// What applying one write to its batch gave. A storage failure is
/// neither: it aborts the whole batch (see `apply`).
#[derive(Debug)]
pub(crate) enum WriteResult {
    /// The write is in the batch (or changed nothing, as an update whose
    /// every op was skipped): its waiter's answer.
    Accepted(WriteAnswer),
    /// The write's own failure (a value too large, a damaged stored value):
    /// it changed nothing, and the rest of the batch goes on.
    Refused(StateError),
}

impl WriteResult {
    /// What the waiter receives.
    fn into_reply(self) -> Result<WriteAnswer, StateError> {
        match self {
            WriteResult::Accepted(answer) => Ok(answer),
            WriteResult::Refused(err) => Err(err),
        }
    }
}

impl From<Result<WriteAnswer, StateError>> for WriteResult {
    /// An error here is the write's refusal.
    fn from(result: Result<WriteAnswer, StateError>) -> Self {
        match result {
            Ok(answer) => WriteResult::Accepted(answer),
            Err(err) => WriteResult::Refused(err),
        }
    }
}

/// A write's answer to its waiter: its outcome, with the values parsed or
/// as JSON text.
#[derive(Debug)]
pub(crate) struct WriteAnswer {
    pub(crate) outcome: MutationOutcome,
    /// The value a [`Command::Put`] replaced, as its stored JSON text
    /// (checked, not parsed): the waiter parses it on its own thread (see
    /// [`WriteAnswer::finish`]).
    pub(crate) replaced: Option<RawJson>,
    /// Both values as compact JSON text, for a [`Command::Write`] that asked
    /// for them (then `outcome` holds no values): the old one as it was
    /// stored, the new one as printed to be stored. The commit thread prints
    /// the new value anyway, so handing over that text spares the waiter's
    /// thread — the connections' — a second print.
    pub(crate) texts: Option<ValueTexts>,
}

/// A write's old and new values as compact JSON text, for a waiter that
/// passes them on (see [`WriteAnswer::texts`]).
#[derive(Debug)]
pub(crate) struct ValueTexts {
    pub(crate) old_value: Option<RawJson>,
    pub(crate) new_value: Option<RawJson>,
}

impl WriteAnswer {
    /// The outcome, with the replaced value parsed.
    pub(crate) fn finish(self) -> Result<MutationOutcome, StateError> {
        let WriteAnswer {
            mut outcome,
            replaced,
            texts: _,
        } = self;
        if let Some(raw) = replaced {
            outcome.old_value = Some(parse_json(&raw)?);
        }
        Ok(outcome)
    }

    /// The replaced value as JSON text, and the revision written.
    pub(crate) fn into_raw(self) -> Result<(Option<RawJson>, Option<u64>), StateError> {
        let old_value = match (self.replaced, &self.outcome.old_value) {
            (Some(raw), _) => Some(raw),
            // Parsed for an event: printed again.
            (None, Some(old)) => Some(raw_json(old)?),
            (None, None) => None,
        };
        Ok((old_value, self.outcome.version))
    }
}
