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

/// A failed verb: a stable code, a one-line message, and the exit status.
#[derive(Debug)]
pub struct Failure {
    code: String,
    message: String,
    exit: u8,
}

impl Failure {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure {
            code: code.into(),
            message: message.into(),
            exit: 1,
        }
    }

    /// Unusable arguments: exit status 2, as for any other usage error.
    pub fn usage(code: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure {
            exit: 2,
            ..Failure::new(code, message)
        }
    }

    pub fn report(self) -> ExitCode {
        eprintln!("{self}");
        ExitCode::from(self.exit)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the message holds.
        let message = self.message.replace(['\n', '\r'], " ");
        write!(f, "error: {}: {}", self.code, message)
    }
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Failure {
        Failure::new(error.code(), error.to_string())
    }
}
