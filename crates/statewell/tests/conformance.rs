//! The language-neutral conformance vectors (`conformance/*.json`) run
//! against the real engine over the worker WebSocket, through
//! `statewell-client`, on every store. Loading, normalising and comparing
//! are `statewell-conformance`'s, shared by every runner.
//!
//! Each case must start from an empty store. Instead of prefixing scopes
//! (which would shift length limits and empty-scope cases), the target clears
//! every group between cases and checks the store is empty.

mod common;

use common::Engine;
use serde_json::Value;
use statewell_client::{Client, ClientError};
use statewell_conformance::{Target, run_all};

struct WebSocket {
    store: &'static str,
    client: Client,
}

impl Target for WebSocket {
    fn name(&self) -> String {
        format!("the engine over the WebSocket ({} store)", self.store)
    }

    async fn reset(&mut self) -> Result<(), String> {
        let failed = |e: ClientError| e.to_string();
        for group in self.client.list_groups().await.map_err(failed)? {
            self.client.clear(&group).await.map_err(failed)?;
        }
        match self.client.list_groups().await.map_err(failed)? {
            left if left.is_empty() => Ok(()),
            left => Err(format!("groups left after clearing: {left:?}")),
        }
    }

    async fn call(&mut self, call: &str, args: &Value) -> Result<Value, String> {
        match self
            .client
            .call(&format!("state::{call}"), args.clone())
            .await
        {
            // The wire omits `result` for a missing item.
            Ok(result) => Ok(result.unwrap_or(Value::Null)),
            Err(ClientError::Engine { code, .. }) => Err(code),
            // Never a vector's code: reported as that step's failure.
            Err(other) => Err(format!("transport failure ({}): {other}", other.code())),
        }
    }
}

async fn run_all_vectors(store: &'static str) {
    let engine = Engine::start(&["--store", store]);
    let mut target = WebSocket {
        store,
        client: engine.client().await,
    };
    let report = run_all(&mut target).await;
    report.assert_clean();
    assert!(report.skipped.is_empty(), "{report}");
}

#[tokio::test]
async fn vectors_pass_over_the_websocket_on_the_memory_store() {
    run_all_vectors("memory").await;
}

#[tokio::test]
async fn vectors_pass_over_the_websocket_on_the_embedded_store() {
    run_all_vectors("embedded").await;
}
