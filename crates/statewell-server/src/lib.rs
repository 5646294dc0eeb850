//! The statewell engine's protocol layer.
//!
//! One port serves the worker WebSocket at `/` (the iii worker protocol, see
//! `docs/PROTOCOL.md`), HTTP JSON under `/v1/`, `/healthz`, `/metrics`, and
//! the browser console under `/ui/`.
//! Everything here translates between the wire and [`statewell_core::State`];
//! nothing here knows how a store keeps its bytes.

mod app;
mod auth;
mod config;
mod console;
mod functions;
mod http;
mod info;
mod listen;
mod metrics;
mod reply_budget;
mod router;
mod shutdown;
mod state_fn;
mod timed_io;
mod triggers;
mod txn_wire;
mod ws;

pub use app::AppState;
pub use config::ServerConfig;
pub use info::About;
pub use listen::serve;
pub use metrics::Metrics;
pub use router::router;
pub use shutdown::Shutdown;
pub use triggers::TriggerStats;
