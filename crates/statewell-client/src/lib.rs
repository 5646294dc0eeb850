//! An async Rust client of the statewell engine over the worker protocol.
//!
//! One [`Client`] holds one WebSocket and multiplexes any number of requests
//! over it; clone it to share the connection between tasks.
//!
//! ```no_run
//! # async fn demo() -> Result<(), statewell_client::ClientError> {
//! use serde_json::json;
//! use statewell_client::Client;
//!
//! let client = Client::connect("ws://127.0.0.1:49134", None).await?;
//! client.set("orders", "o-1", json!({"status": "new"})).await?;
//! let order = client.get("orders", "o-1").await?;
//! assert_eq!(order, Some(json!({"status": "new"})));
//! # Ok(()) }
//! ```

mod connection;
mod error;
mod invocation;
mod ops;
mod worker;

pub use connection::{Client, DEFAULT_TIMEOUT, socket_config, websocket_url};
pub use error::ClientError;
pub use invocation::{Invocation, Invocations};
pub use ops::{SetResult, UpdateResult};
pub use statewell_core::{OpError, Page, PageRequest, UpdateOp};
