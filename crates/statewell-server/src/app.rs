//! The state every handler shares: the core's `State`, the settings, the
//! metrics, the function registry, the triggers and the shutdown signal.

use std::sync::Arc;

use statewell_core::State;

use crate::config::ServerConfig;
use crate::functions::Functions;
use crate::info::Started;
use crate::listen::Connections;
use crate::metrics::Metrics;
use crate::reply_budget::ReplyBudget;
use crate::shutdown::Shutdown;
use crate::triggers::Triggers;

#[derive(Clone)]
pub struct AppState {
    pub state: State,
    pub config: Arc<ServerConfig>,
    pub metrics: Arc<Metrics>,
    /// Functions registered by workers, and invocations waiting for them.
    pub functions: Arc<Functions>,
    /// State triggers registered by workers.
    pub triggers: Arc<Triggers>,
    /// Tells long-lived connections to finish and close; see `shutdown.rs`.
    pub shutdown: Shutdown,
    /// Reply bytes in flight across all WebSocket connections.
    pub replies: Arc<ReplyBudget>,
    /// Open connections within `max_connections` (see `listen.rs`).
    pub connections: Arc<Connections>,
    /// When this engine started, for `engine::info`'s uptime.
    pub started: Started,
}

impl AppState {
    pub fn new(state: State, config: ServerConfig) -> Self {
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::default());
        let functions = Arc::new(Functions::new(config.invocation_timeout));
        let triggers = Arc::new(Triggers::new(
            state.clone(),
            Arc::clone(&functions),
            Arc::clone(&config),
        ));
        let replies = Arc::new(ReplyBudget::new(config.max_reply_bytes_in_flight));
        let connections = Arc::new(Connections::new(config.max_connections));
        AppState {
            state,
            config,
            metrics,
            functions,
            triggers,
            shutdown: Shutdown::default(),
            replies,
            connections,
            started: Started::now(),
        }
    }
}
