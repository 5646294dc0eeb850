//! Runs every conformance vector (`conformance/*.json` at the repository
//! root) against a `MemoryStore` through `State`, each case on a fresh store.
//! `conformance/README.md` is the normative description of the format and of
//! how results are compared; `statewell-conformance` implements it for every
//! runner (argument parsing as the wire does it, normalisation, comparison,
//! coverage of every call and op error code).

use std::sync::Arc;

use statewell_conformance::{StateTarget, run_all};
use statewell_core::store::MemoryStore;
use statewell_core::{Limits, State};

#[tokio::test]
async fn every_conformance_vector_passes_on_the_memory_store() {
    let mut target = StateTarget::new("memory store via State", || {
        State::new(Arc::new(MemoryStore::default()), Limits::default())
    });
    let report = run_all(&mut target).await;
    report.assert_clean();
    // Nothing is inexpressible through State.
    assert!(report.skipped.is_empty(), "{report}");
}
