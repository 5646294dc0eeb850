//! What the store sends the commit loop, and what each command answers.
//!
//! A waiter (an `EmbeddedStore` call) sends a [`Command`] with a reply
//! channel; the commit loop (`writer`) applies it and records what it
//! produced; the publisher (`publish`) sends that to the waiter once the
//! batch is durable, or fails every command of a batch that was not.

use statewell_core::{Mutation, MutationOutcome, RawJson, StateError, raw_json};
use tokio::sync::oneshot;

use crate::codec::parse_json;

pub(crate) enum Command {
    Write {
        mutation: Mutation,
        /// Whether the waiter wants the values as JSON text (see
        /// [`Written::texts`]) rather than parsed.
        texts: bool,
        reply: oneshot::Sender<Result<Written, StateError>>,
    },
    /// A set whose value its waiter already encoded (see
    /// `EmbeddedStore::write`): the commit thread, which every write waits
    /// for, only stamps the revision into it.
    Put {
        group: String,
        key: String,
        encoded: Vec<u8>,
        reply: oneshot::Sender<Result<Written, StateError>>,
    },
    Clear {
        group: String,
        reply: oneshot::Sender<Result<u64, StateError>>,
    },
    /// Forces the batch it lands in to be synced (for `batched` mode).
    Sync {
        reply: oneshot::Sender<Result<(), StateError>>,
    },
}

impl Command {
    /// Sends `done`, the result of this command, to its waiter.
    pub(crate) fn answer(self, done: Done) {
        match (self, done) {
            (Command::Write { reply, .. } | Command::Put { reply, .. }, Done::Write(result)) => {
                drop(reply.send(result))
            }
            (Command::Clear { reply, .. }, Done::Clear(n)) => drop(reply.send(Ok(n))),
            (Command::Sync { reply }, Done::Sync) => drop(reply.send(Ok(()))),
            (command, _) => command.fail(StateError::Storage(
                "internal: batch results out of step with commands".into(),
            )),
        }
    }

    pub(crate) fn fail(self, err: StateError) {
        // A waiter that went away (its task was cancelled) needs no answer.
        match self {
            Command::Write { reply, .. } | Command::Put { reply, .. } => drop(reply.send(Err(err))),
            Command::Clear { reply, .. } => drop(reply.send(Err(err))),
            Command::Sync { reply } => drop(reply.send(Err(err))),
        }
    }
}

/// What one command of a batch produced, before the commit decides its fate.
// Nearly every command is a write, so boxing the write's result would only
// add an allocation per write to shrink the rare `Clear` and `Sync`.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Done {
    Write(Result<Written, StateError>),
    Clear(u64),
    Sync,
}

/// A write's outcome as the commit thread hands it to its waiter.
#[derive(Debug)]
pub(crate) struct Written {
    pub(crate) outcome: MutationOutcome,
    /// The value a [`Command::Put`] replaced, as its stored JSON text
    /// (checked, not parsed): the waiter parses it on its own thread (see
    /// [`Written::finish`]).
    pub(crate) replaced: Option<RawJson>,
    /// Both values as compact JSON text, for a [`Command::Write`] that asked
    /// for them (then `outcome` holds no values): the old one as it was
    /// stored, the new one as printed to be stored. The commit thread prints
    /// the new value anyway, so handing over that text spares the waiter's
    /// thread — the connections' — a second print.
    pub(crate) texts: Option<Texts>,
}

#[derive(Debug)]
pub(crate) struct Texts {
    pub(crate) old_value: Option<RawJson>,
    pub(crate) new_value: Option<RawJson>,
}

impl Written {
    /// The outcome, with the replaced value parsed.
    pub(crate) fn finish(self) -> Result<MutationOutcome, StateError> {
        let Written {
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
