//! An in-process engine on a loopback port for the worker-protocol tests.
//! The test clients ([`Raw`], [`Worker`], ...) are shared with the engine's
//! end-to-end tests and live in `statewell-conformance` (feature `ws`);
//! they are re-exported here so these files keep `use ws_support::...`.
#![allow(dead_code, unused_imports)]

use std::sync::Arc;

use statewell_core::store::MemoryStore;
use statewell_core::{Limits, State};
use statewell_server::{AppState, ServerConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use statewell_conformance::ws::*;

pub struct TestServer {
    pub addr: String,
    pub app: AppState,
    stop: Option<oneshot::Sender<()>>,
    pub served: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(ServerConfig::default()).await
    }

    pub async fn start_with(config: ServerConfig) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let state = State::new(Arc::new(MemoryStore::default()), Limits::default());
        let app = AppState::new(state, config);
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(statewell_server::serve(listener, app.clone(), async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            app,
            stop: Some(stop),
            served: Some(served),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Begins the graceful shutdown.
    pub fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
