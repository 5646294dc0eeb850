//! `engine::info`: what an operator asks first about a running engine — its
//! version, where and how it keeps state, how long it has run, how much it
//! holds. `statewell info` prints it.
//!
//! The protocol layer does not know how its store was opened, so the binary
//! describes it in [`ServerConfig::about`](crate::ServerConfig); the counts
//! and the uptime are read when asked.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::AppState;
use crate::ws::frame::ErrorBody;

/// The engine's function id.
pub const FUNCTION_ID: &str = "engine::info";

/// How the engine's store was opened, as the binary that opened it tells.
/// `None` fields are reported as `null` (an embedder that did not say).
#[derive(Debug, Clone, Default)]
pub struct About {
    /// `embedded`, `memory`, ...
    pub store: Option<String>,
    /// The data directory of a store that keeps files.
    pub data_dir: Option<String>,
    /// `always`, `batched (100ms)`, `none` for a store that keeps nothing.
    pub durability: Option<String>,
}

/// When the engine started: a monotonic instant for the uptime, the wall
/// clock for the start time shown to people.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    instant: Instant,
    wall: SystemTime,
}

impl Started {
    pub fn now() -> Started {
        Started {
            instant: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

/// The reply of `engine::info`.
pub async fn describe(app: &AppState) -> Result<Value, ErrorBody> {
    let groups = app
        .state
        .list_groups()
        .await
        .map_err(|e| ErrorBody::new(e.code().as_str(), e.to_string()))?;
    let stats = app.state.store().stats();
    let about = &app.config.about;
    let started_at_ms = app
        .started
        .wall
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let uptime_ms = u64::try_from(app.started.instant.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "store": about.store,
        "data_dir": about.data_dir,
        "durability": about.durability,
        "started_at_ms": started_at_ms,
        "uptime_ms": uptime_ms,
        "items": stats.items,
        "groups": groups.len(),
        // Worker connections open now, the asking one included.
        "workers": app.functions.workers().len(),
    }))
}
