//! Helpers shared by the embedded store's tests.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use statewell_core::{Mutation, Store};
use statewell_embedded::{Durability, EmbeddedOptions, EmbeddedStore};

pub fn open(dir: &Path) -> EmbeddedStore {
    EmbeddedStore::open(dir, EmbeddedOptions::default()).expect("open the data directory")
}

pub fn open_batched(dir: &Path, interval: Duration) -> EmbeddedStore {
    let options = EmbeddedOptions {
        durability: Durability::Batched { interval },
        ..Default::default()
    };
    EmbeddedStore::open(dir, options).expect("open the data directory")
}

pub fn set(group: &str, key: &str, value: Value) -> Mutation {
    Mutation::Set {
        group: group.into(),
        key: key.into(),
        value,
    }
}

pub fn delete(group: &str, key: &str) -> Mutation {
    Mutation::Delete {
        group: group.into(),
        key: key.into(),
    }
}

pub async fn value(store: &dyn Store, group: &str, key: &str) -> Option<Value> {
    store
        .get(group, key)
        .await
        .expect("get succeeds")
        .map(|v| v.value)
}
