//! The one error type of the client: every failure has a stable code.

use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The URL is not a `ws://`, `wss://`, `http://` or `https://` URL.
    #[error("invalid url {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// No WebSocket could be opened (nothing listening, handshake failed).
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    /// The engine answered the upgrade with 401: missing or wrong token.
    #[error("the engine refused the connection (HTTP 401): missing or wrong token")]
    Unauthorized,
    /// The connection closed before the reply arrived.
    #[error("connection closed: {0}")]
    Closed(String),
    /// No reply within the request timeout.
    #[error("{function_id} got no reply within {after:?}")]
    Timeout {
        function_id: String,
        after: Duration,
    },
    /// The engine answered with an error (`invalid_argument`, `function_not_found`, ...).
    #[error("{message}")]
    Engine { code: String, message: String },
    /// An argument the engine would not take (an empty function id); nothing
    /// was sent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The engine's reply did not have the shape the protocol promises.
    #[error("unexpected reply to {function_id}: {reason}")]
    Protocol { function_id: String, reason: String },
}

impl ClientError {
    /// A stable machine code: the engine's own code for [`ClientError::Engine`],
    /// otherwise one naming the client-side failure.
    pub fn code(&self) -> &str {
        match self {
            ClientError::InvalidUrl { .. } => "invalid_url",
            ClientError::Connect { .. } => "connect_failed",
            ClientError::Unauthorized => "unauthorized",
            ClientError::Closed(_) => "connection_closed",
            ClientError::Timeout { .. } => "timeout",
            ClientError::Engine { code, .. } => code,
            ClientError::InvalidArgument(_) => "invalid_argument",
            ClientError::Protocol { .. } => "protocol_error",
        }
    }
}
