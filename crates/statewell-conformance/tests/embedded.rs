//! The conformance vectors against the durable embedded store (redb, on a
//! temporary directory) through `State`: each case opens a fresh data
//! directory, so it starts from a really empty store on disk.

use std::sync::Arc;
use std::time::Duration;

use statewell_conformance::{StateTarget, run_all};
use statewell_core::{Limits, State};
use statewell_embedded::{Durability, EmbeddedOptions, EmbeddedStore};

async fn run_on_disk(name: &str, durability: Durability) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opened = 0;
    let mut target = StateTarget::new(name, || {
        opened += 1;
        let options = EmbeddedOptions {
            durability,
            ..EmbeddedOptions::default()
        };
        // The previous case's store is still open until this one replaces
        // it, hence one directory per case.
        let store = EmbeddedStore::open(&dir.path().join(format!("case-{opened}")), options)
            .expect("a new data directory in a temp dir opens");
        State::new(Arc::new(store), Limits::default())
    });
    run_all(&mut target).await.assert_clean();
}

#[tokio::test]
async fn every_vector_passes_on_the_embedded_store() {
    run_on_disk("embedded store via State", Durability::Always).await;
}

#[tokio::test]
async fn every_vector_passes_on_the_embedded_store_with_batched_syncs() {
    let durability = Durability::Batched {
        interval: Duration::from_millis(50),
    };
    run_on_disk("embedded store (batched) via State", durability).await;
}
