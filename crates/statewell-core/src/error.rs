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
    /// A write's condition (`if_version`, `if_absent`) does not hold.
    Conflict,
    /// An update op inside a transaction failed: nothing was applied.
    UpdateFailed,
    /// An idempotency key seen before came with another request.
    IdempotencyMismatch,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::ValueTooLarge => "value_too_large",
            ErrorCode::Storage => "storage_error",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::DataDirectory => "data_directory",
            ErrorCode::Conflict => "conflict",
            ErrorCode::UpdateFailed => "update_failed",
            ErrorCode::IdempotencyMismatch => "idempotency_mismatch",
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
    /// `op_index` is set inside a transaction; `current_version` is `None`
    /// when the item is missing.
    #[error("{}", conflict_message(*op_index, *current_version))]
    Conflict {
        op_index: Option<usize>,
        current_version: Option<u64>,
    },
    #[error("operation {op_index} of the transaction failed: {}", errors.first().map_or("", |e| e.message.as_str()))]
    UpdateFailed {
        op_index: usize,
        errors: Vec<crate::OpError>,
    },
    #[error("idempotency key {key:?} was used before with a different request")]
    IdempotencyMismatch { key: String },
}

fn conflict_message(op_index: Option<usize>, current_version: Option<u64>) -> String {
    let state = match current_version {
        Some(version) => format!("the item's current version is {version}"),
        None => "the item does not exist (current version null)".to_owned(),
    };
    match op_index {
        Some(index) => format!("condition of operation {index} failed: {state}"),
        None => format!("condition failed: {state}"),
    }
}

impl StateError {
    pub fn code(&self) -> ErrorCode {
        match self {
            StateError::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            StateError::ValueTooLarge { .. } => ErrorCode::ValueTooLarge,
            StateError::Storage(_) => ErrorCode::Storage,
            StateError::Unavailable(_) => ErrorCode::Unavailable,
            StateError::DataDirectory { .. } => ErrorCode::DataDirectory,
            StateError::Conflict { .. } => ErrorCode::Conflict,
            StateError::UpdateFailed { .. } => ErrorCode::UpdateFailed,
            StateError::IdempotencyMismatch { .. } => ErrorCode::IdempotencyMismatch,
        }
    }

    /// Fields an error object carries beyond `code` and `message`: a
    /// conflict's `current_version` (null when the item is missing) and,
    /// in a transaction, `op_index`; a failed update op's `op_index` and
    /// `errors`. `None` for the other errors.
    pub fn details(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        let mut map = serde_json::Map::new();
        match self {
            StateError::Conflict {
                op_index,
                current_version,
            } => {
                map.insert("current_version".into(), (*current_version).into());
                if let Some(index) = op_index {
                    map.insert("op_index".into(), (*index).into());
                }
            }
            StateError::UpdateFailed { op_index, errors } => {
                map.insert("op_index".into(), (*op_index).into());
                map.insert(
                    "errors".into(),
                    serde_json::to_value(errors).unwrap_or_default(),
                );
            }
            _ => return None,
        }
        Some(map)
    }

    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        StateError::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }
}
