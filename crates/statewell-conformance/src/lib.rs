//! Test support shared by statewell's test suites. Never published; used
//! only as a dev-dependency.
//!
//! - The conformance vectors (`conformance/*.json`, normative text in
//!   `conformance/README.md`): [`vectors`] loads and checks the files,
//!   [`normalise`] and [`compare`] hold the README's rules, [`driver`] runs
//!   every case against a [`Target`] and reports every failing step, and
//!   [`StateTarget`] is the target for a [`statewell_core::State`] (any store).
//!   A runner builds its target, calls [`run_all`] and asserts the
//!   [`Report`] is clean.
//! - With the `ws` feature, [`ws`]: WebSocket clients of the worker protocol
//!   (a raw frame socket and a small SDK-like worker).
//! - With the `http` feature, [`http`]: a client of the `/v1` HTTP API.

pub mod compare;
pub mod coverage;
pub mod driver;
pub mod normalise;
pub mod state_target;
pub mod vectors;

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "ws")]
pub mod ws;

pub use compare::same;
pub use driver::{Failure, Report, Target, run_all};
pub use state_target::StateTarget;
