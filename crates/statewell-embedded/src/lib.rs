//! The durable embedded store of statewell: the default backend.
//!
//! A data directory on disk holds one redb file and a write-ahead log.
//! Every write goes through one commit loop (a std thread) that batches all
//! waiting mutations into one transaction, one log record and one sync —
//! group commit — then answers every waiter and publishes the change events
//! in commit order. redb's pages are synced at checkpoints; opening replays
//! the log records after the last one. Reads go straight to redb from the
//! caller.
//!
//! ```no_run
//! # async fn demo() -> Result<(), statewell_core::StateError> {
//! use statewell_core::{Mutation, Store};
//! use statewell_embedded::{EmbeddedOptions, EmbeddedStore};
//!
//! let store = EmbeddedStore::open(std::path::Path::new("./.statewell"), EmbeddedOptions::default())?;
//! store
//!     .write(Mutation::Set { group: "g".into(), key: "k".into(), value: serde_json::json!(1) })
//!     .await?; // returns once synced to disk
//! assert_eq!(store.get("g", "k").await?.map(|v| v.value), Some(serde_json::json!(1)));
//! # Ok(()) }
//! ```

mod apply;
mod checkpoint;
mod codec;
mod command;
mod counters;
mod dir;
#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod faults;
mod logfile;
mod options;
mod overlay;
mod pace;
mod publish;
mod read;
mod replay;
mod store;
mod tables;
mod txn;
mod wal;
mod writer;

pub use options::{DEFAULT_CHECKPOINT_BYTES, Durability, EmbeddedOptions};
pub use store::{EmbeddedStats, EmbeddedStore};
