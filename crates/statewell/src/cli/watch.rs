//! `statewell watch GROUP [KEY]`: prints every change of a group (or of one
//! item) as it is committed, one JSON line per event.
//!
//! It is an ordinary worker: it registers a function of its own and a `state`
//! trigger pointing at it, so it gets exactly what any trigger gets (commit
//! order, at-least-once). Each event is printed and flushed *before* the
//! invocation is answered, so the engine counts it delivered only once it is
//! on stdout.

use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};
use statewell_client::{Client, ClientError, Invocation};

use super::Failure;
use crate::signals::Signals;

/// How long a polite goodbye (unregistering, close frame) may take on exit.
const CLOSE_PATIENCE: Duration = Duration::from_secs(2);

pub async fn run(client: Client, group: &str, key: Option<&str>) -> Result<(), Failure> {
    // Unique per run: two watches never share a function or a trigger, and
    // a new watch never takes over the pending events of an old one.
    let id = unique_id();
    let function_id = format!("statewell-cli::watch::{id}");
    let trigger_id = format!("statewell-cli-watch-{id}");
    let mut config = json!({"scope": group});
    if let Some(key) = key {
        config["key"] = json!(key);
    }

    let mut invocations = client.register_function(&function_id).await?;
    client
        .register_trigger(&trigger_id, "state", &function_id, config)
        .await?;
    let mut signals = Signals::install().map_err(|e| Failure::new("signals", e.to_string()))?;
    // On stderr so stdout holds only events; scripts may wait for this line.
    match key {
        Some(key) => eprintln!("watching {group:?} key {key:?} (Ctrl-C to stop)"),
        None => eprintln!("watching {group:?} (Ctrl-C to stop)"),
    }

    let outcome = loop {
        tokio::select! {
            _ = signals.next() => break Ok(()),
            invocation = invocations.next() => match invocation {
                Some(invocation) => {
                    if let Err(failure) = print_event(&invocation) {
                        break Err(failure);
                    }
                    client.respond(&invocation, Ok(None)).await?;
                }
                None => break Err(Failure::from(ClientError::Closed(
                    "the engine closed the connection".into(),
                ))),
            },
        }
    };
    // Tell the engine the trigger is gone, rather than letting it keep
    // collecting events for a reconnect that will not come.
    let _ = client.unregister_trigger(&trigger_id).await;
    let _ = client.unregister_function(&function_id).await;
    client.close(CLOSE_PATIENCE).await;
    outcome
}

/// One line per event, always compact (one event, one line, also on a terminal).
fn print_event(invocation: &Invocation) -> Result<(), Failure> {
    let event = &invocation.data;
    let field = |name: &str| event.get(name).cloned().unwrap_or(Value::Null);
    let line = json!({
        "event_type": field("event_type"),
        "scope": field("scope"),
        "key": field("key"),
        "old_value": field("old_value"),
        "new_value": field("new_value"),
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::new("output", format!("cannot write to stdout: {e}")))
}

/// 128 random bits as hex, from the standard library's randomly seeded
/// hasher (no extra dependency for one id per run).
fn unique_id() -> String {
    let half = |salt: u64| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.write_u32(std::process::id());
        hasher.finish()
    };
    format!("{:016x}{:016x}", half(1), half(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_between_runs() {
        let (a, b) = (unique_id(), unique_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
