//! Errors are values with a stable machine code and a human message.

/// Stable machine-readable codes. Clients match on these strings; never
/// rename one. `ErrorCode::COUNT` and `ErrorCode::iter()` let a table keep
/// one entry per code (the engine's metrics do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumCount, strum::EnumIter)]
pub enum ErrorCode {
    /// A group, key, page cursor or other argument is malformed.
    InvalidArgument,
    /// A value (given, or produced by an update) exceeds the size limit.
    ValueTooLarge,
    /// The backend failed to read or write.
    Storage,
    /// The store is shut down or not reachable.
    Unavailable,
    /// The data directory cannot be opened (corrupt, newer format, locked).
    DataDirectory,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::ValueTooLarge => "value_too_large",
            ErrorCode::Storage => "storage_error",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::DataDirectory => "data_directory",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StateError {
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    #[error("value is {size} bytes, more than the limit of {limit} bytes")]
    ValueTooLarge { size: usize, limit: usize },
    #[error("storage error: {0}")]
    Storage(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("data directory {path}: {reason}")]
    DataDirectory { path: String, reason: String },
}

impl StateError {
    pub fn code(&self) -> ErrorCode {
        match self {
            StateError::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            StateError::ValueTooLarge { .. } => ErrorCode::ValueTooLarge,
            StateError::Storage(_) => ErrorCode::Storage,
            StateError::Unavailable(_) => ErrorCode::Unavailable,
            StateError::DataDirectory { .. } => ErrorCode::DataDirectory,
        }
    }

    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        StateError::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }
}
