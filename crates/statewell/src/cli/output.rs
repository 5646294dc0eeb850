//! What the verbs print: JSON on stdout (pretty on a terminal, compact for
//! pipes), one `error: <code>: <message>` line on stderr on failure.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use serde_json::Value;
use statewell_client::ClientError;

pub fn print(value: &Value) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    let text = if stdout.is_terminal() {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .map_err(|e| Failure::new("output", e.to_string()))?;
    writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::new("output", format!("cannot write to stdout: {e}")))
}

/// The exit statuses of the verbs, one per kind of failure, so a script can
/// tell "no" from "broken" (docs/CLI.md has the table). 0 is success; clap's
/// own usage errors exit 2 too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The answer is "no": `get` found no item, an update op was skipped,
    /// a write's condition did not hold.
    No = 1,
    /// Unusable arguments or input (bad JSON, a bad URL, a bad import line).
    Usage = 2,
    /// No answer from the engine: nothing listens, the token was refused,
    /// the connection dropped, or the reply did not come in time.
    Unreachable = 3,
    /// The engine or a worker refused the call, or anything else failed.
    Failed = 4,
}

/// A failed verb: a stable code, a one-line message, and the exit status.
#[derive(Debug)]
pub struct Failure {
    code: String,
    message: String,
    exit: Exit,
}

impl Failure {
    /// Any failure without a kind of its own (exit 4).
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure::with_exit(Exit::Failed, code, message)
    }

    /// Unusable arguments or input: exit status 2, as for any usage error.
    pub fn usage(code: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure::with_exit(Exit::Usage, code, message)
    }

    /// The answer is "no" (exit 1).
    pub fn no(code: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure::with_exit(Exit::No, code, message)
    }

    fn with_exit(exit: Exit, code: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure {
            code: code.into(),
            message: message.into(),
            exit,
        }
    }

    /// The same failure with `context` before its message (`line 7: ...`).
    pub fn context(self, context: impl fmt::Display) -> Failure {
        Failure {
            message: format!("{context}: {}", self.message),
            ..self
        }
    }

    pub fn report(self) -> ExitCode {
        eprintln!("{self}");
        ExitCode::from(self.exit as u8)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the message holds.
        let message = self.message.replace(['\n', '\r'], " ");
        write!(f, "error: {}: {}", self.code, message)
    }
}

/// The client's codes, with the names both SDKs use where they differ
/// (`invalid_argument` for a bad address, `connection_lost` for a drop).
impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Failure {
        let message = error.to_string();
        match error {
            ClientError::InvalidUrl { .. } | ClientError::InvalidArgument(_) => {
                Failure::usage("invalid_argument", message)
            }
            ClientError::Connect { .. }
            | ClientError::Unauthorized
            | ClientError::Timeout { .. } => {
                Failure::with_exit(Exit::Unreachable, error.code(), message)
            }
            ClientError::Closed(_) => {
                Failure::with_exit(Exit::Unreachable, "connection_lost", message)
            }
            // A condition that did not hold is an answer, like a missing
            // item; so is a transaction's update op that failed, like a
            // plain update's skipped op.
            ClientError::Engine { code, .. } if code == "conflict" || code == "update_failed" => {
                Failure::no(code, message)
            }
            ClientError::Engine { .. } | ClientError::Protocol { .. } => {
                Failure::new(error.code(), message)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_client_error_has_its_exit_status() {
        let exit = |error: ClientError| {
            let failure = Failure::from(error);
            (failure.code.clone(), failure.exit)
        };
        let engine = ClientError::Engine {
            code: "value_too_large".into(),
            message: "too large".into(),
        };
        assert_eq!(exit(engine), ("value_too_large".into(), Exit::Failed));
        let conflict = ClientError::Engine {
            code: "conflict".into(),
            message: "changed".into(),
        };
        assert_eq!(exit(conflict), ("conflict".into(), Exit::No));
        let update_failed = ClientError::Engine {
            code: "update_failed".into(),
            message: "op 1 failed".into(),
        };
        assert_eq!(exit(update_failed), ("update_failed".into(), Exit::No));
        assert_eq!(
            exit(ClientError::Unauthorized),
            ("unauthorized".into(), Exit::Unreachable)
        );
        let closed = ClientError::Closed("gone".into());
        assert_eq!(exit(closed), ("connection_lost".into(), Exit::Unreachable));
        let url = ClientError::InvalidUrl {
            url: "x".into(),
            reason: "no scheme".into(),
        };
        assert_eq!(exit(url), ("invalid_argument".into(), Exit::Usage));
    }

    #[test]
    fn a_failure_is_one_line() {
        let failure = Failure::new("storage_error", "disk\nfull").context("line 3");
        assert_eq!(
            failure.to_string(),
            "error: storage_error: line 3: disk full"
        );
    }
}
