//! The `/v1` HTTP test client, shared with the in-process server tests: it
//! lives in `statewell-conformance` (feature `http`). Kept as a module so the
//! `http_*` test files keep `mod http_support;`.

pub use statewell_conformance::http::*;
