//! CLI verbs for people, against a running engine: each verb opens one
//! WebSocket with `statewell-client`, makes its calls, prints JSON.
//!
//! `watch` is the one verb that stays: it serves a state trigger until
//! SIGINT/SIGTERM (see `watch.rs`). `export` and `import` stream JSON lines
//! (`export.rs`, `import.rs`).
//!
//! Exit status (`output::Exit`, the table in docs/CLI.md): 0 on success; 1
//! when the answer is "no" (`get` finds no item, an `update` op was
//! skipped, a condition did not hold); 2 for unusable arguments or input; 3 when the engine cannot be
//! reached, refuses the token or does not answer; 4 when the engine or a
//! worker refuses the call, or anything else fails. Failures print one line
//! on stderr: `error: <code>: <message>`.

mod connect;
mod export;
mod import;
mod input;
mod output;
mod progress;
mod watch;

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};
use statewell_client::{Client, PageRequest};

use crate::duration::parse_duration;
pub use connect::Target;
pub use output::Failure;

#[derive(clap::Subcommand)]
pub enum ClientCommand {
    /// Store a JSON value (`-` reads it from stdin); prints old and new value.
    Set {
        /// The group (scope) of the item.
        group: String,
        /// The item's key within the group.
        key: String,
        /// The value as JSON, e.g. '{"status":"new"}' or '42' or '"text"'.
        json: String,
        #[command(flatten)]
        write: WriteFlags,
        #[command(flatten)]
        target: Target,
    },
    /// Apply writes and checks all or nothing: a JSON array of ops
    /// (`{"type":"set"|"update"|"delete"|"check","scope","key",...}`), or
    /// `{"ops":[...]}`; `-` reads stdin. Prints each op's result.
    Transaction {
        /// The ops as JSON.
        ops: String,
        /// A repeat with this key answers the first result and applies nothing.
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Print one value; exits 1 with `error: not_found` when it is missing.
    Get {
        /// The group (scope) of the item.
        group: String,
        /// The item's key within the group.
        key: String,
        #[command(flatten)]
        target: Target,
    },
    /// Apply update ops atomically, e.g. '[{"type":"increment","path":"n","by":1}]'.
    Update {
        /// The group (scope) of the item.
        group: String,
        /// The item's key within the group.
        key: String,
        /// A JSON array of ops (or one op object; `-` reads stdin).
        ops: String,
        #[command(flatten)]
        write: WriteFlags,
        #[command(flatten)]
        target: Target,
    },
    /// Remove one item; prints the value it held (null when it was missing).
    Delete {
        /// The group (scope) of the item.
        group: String,
        /// The item's key within the group.
        key: String,
        #[command(flatten)]
        write: WriteFlags,
        #[command(flatten)]
        target: Target,
    },
    /// Print every value of a group (in key order), or with --items its
    /// items with their keys.
    List {
        /// The group to list.
        group: String,
        /// Print `[{"key","value","version"}]`, following every page.
        #[arg(long)]
        items: bool,
        /// With --items: only keys starting with this prefix.
        #[arg(long, requires = "items")]
        prefix: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Remove every item of a group; prints how many were removed.
    Clear {
        /// The group to empty.
        group: String,
        /// A repeat with this key answers the first count and removes nothing.
        #[arg(long)]
        idempotency_key: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Print the groups that hold items.
    Groups {
        #[command(flatten)]
        target: Target,
    },
    /// Print every change of a group (or of one item) as it is committed,
    /// one JSON line per event, until Ctrl-C.
    Watch {
        /// The group (scope) to watch.
        group: String,
        /// Only changes of this key.
        key: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Invoke any function through the engine (a worker's, or the engine's
    /// own `state::*`); prints its result (null when it returned none).
    Call {
        /// The function id, e.g. `orders::total`.
        function: String,
        /// The function's input as JSON (`-` reads stdin).
        #[arg(default_value = "{}")]
        json: String,
        /// How long to wait for the result (e.g. 500ms, 2m).
        #[arg(long, default_value = "30s", value_parser = parse_call_timeout)]
        timeout: Duration,
        #[command(flatten)]
        target: Target,
    },
    /// Write every item of the groups (or of all groups) to stdout, one JSON
    /// line `{"group","key","value"}` each, for backups and moves.
    Export {
        /// The groups to export.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        groups: Vec<String>,
        /// Export every group.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Store every `{"group","key","value"}` line read from stdin (what
    /// `export` writes), overwriting items that exist.
    Import {
        #[command(flatten)]
        target: Target,
    },
    /// Print the engine's version, store, data directory, durability,
    /// uptime, and how many items and groups it holds.
    Info {
        #[command(flatten)]
        target: Target,
    },
}

/// Conditions and an idempotency key of a write (a failed condition exits
/// 1 with `error: conflict: ...`).
#[derive(clap::Args)]
pub struct WriteFlags {
    /// Apply only if the item's version is N (see `list --items`).
    #[arg(long, value_name = "N")]
    if_version: Option<u64>,
    /// Apply only if the item does not exist.
    #[arg(long)]
    if_absent: bool,
    /// A repeat with this key answers the first result and applies nothing.
    #[arg(long)]
    idempotency_key: Option<String>,
}

impl WriteFlags {
    /// The payload's extra fields, or `None` for a plain write.
    fn fields(&self) -> Option<serde_json::Map<String, Value>> {
        let mut fields = serde_json::Map::new();
        if let Some(version) = self.if_version {
            fields.insert("if_version".into(), version.into());
        }
        if self.if_absent {
            fields.insert("if_absent".into(), true.into());
        }
        if let Some(key) = &self.idempotency_key {
            fields.insert("idempotency_key".into(), key.clone().into());
        }
        (!fields.is_empty()).then_some(fields)
    }
}

/// A function may legitimately take long (a report); an hour bounds a typo.
fn parse_call_timeout(text: &str) -> Result<Duration, String> {
    parse_duration(text, Duration::from_millis(1), Duration::from_secs(3600))
}

impl ClientCommand {
    fn target(&self) -> &Target {
        match self {
            ClientCommand::Set { target, .. }
            | ClientCommand::Get { target, .. }
            | ClientCommand::Update { target, .. }
            | ClientCommand::Delete { target, .. }
            | ClientCommand::List { target, .. }
            | ClientCommand::Clear { target, .. }
            | ClientCommand::Transaction { target, .. }
            | ClientCommand::Groups { target }
            | ClientCommand::Watch { target, .. }
            | ClientCommand::Call { target, .. }
            | ClientCommand::Export { target, .. }
            | ClientCommand::Import { target }
            | ClientCommand::Info { target } => target,
        }
    }
}

pub fn run(command: ClientCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return Failure::new("runtime", e.to_string()).report(),
    };
    match runtime.block_on(execute(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

async fn execute(command: ClientCommand) -> Result<(), Failure> {
    // Parse arguments before connecting, so a typo fails fast and offline.
    let ops = match &command {
        ClientCommand::Update { ops, .. } => Some(input::ops(ops)?),
        _ => None,
    };
    let value = match &command {
        ClientCommand::Set { json, .. } | ClientCommand::Call { json, .. } => {
            Some(input::value(json)?)
        }
        ClientCommand::Transaction { ops, .. } => Some(input::transaction(ops)?),
        _ => None,
    };
    let client = command.target().connect().await?;

    if let Some(done) = with_flags(&client, &command, value.clone(), ops.clone()).await {
        return done;
    }
    match &command {
        ClientCommand::Set { group, key, .. } => {
            let value = value.unwrap_or_default();
            let set = client.set(group, key, value).await?;
            output::print(&json!({"old_value": set.old_value, "new_value": set.new_value}))
        }
        ClientCommand::Get { group, key, .. } => match client.get(group, key).await? {
            Some(value) => output::print(&value),
            None => Err(Failure::no(
                "not_found",
                format!("no item {key:?} in group {group:?}"),
            )),
        },
        ClientCommand::Update { group, key, .. } => {
            let ops = ops.unwrap_or_default();
            let updated = client.update(group, key, &ops).await?;
            output::print(&json!({
                "old_value": updated.old_value,
                "new_value": updated.new_value,
                "errors": updated.errors,
            }))?;
            match updated.errors.first() {
                None => Ok(()),
                Some(op) => Err(Failure::no(
                    op.code.clone(),
                    format!("op {} was skipped: {}", op.op_index, op.message),
                )),
            }
        }
        ClientCommand::Delete { group, key, .. } => {
            let deleted = client.delete(group, key).await?;
            output::print(&deleted.unwrap_or_default())
        }
        ClientCommand::List {
            group,
            items,
            prefix,
            ..
        } => {
            if *items {
                let all = list_all_items(&client, group, prefix.clone()).await?;
                output::print(&json!(all))
            } else {
                output::print(&json!(client.list(group).await?))
            }
        }
        ClientCommand::Clear { group, .. } => {
            let deleted = client.clear(group).await?;
            output::print(&json!({"deleted": deleted}))
        }
        ClientCommand::Groups { .. } => output::print(&json!(client.list_groups().await?)),
        ClientCommand::Watch { group, key, .. } => watch::run(client, group, key.as_deref()).await,
        ClientCommand::Call {
            function, timeout, ..
        } => {
            let data = value.unwrap_or_default();
            let result = client.with_timeout(*timeout).call(function, data).await?;
            output::print(&result.unwrap_or_default())
        }
        ClientCommand::Export { groups, all, .. } => export::run(&client, groups, *all).await,
        ClientCommand::Import { .. } => import::run(&client, std::io::stdin().lock()).await,
        ClientCommand::Info { .. } => {
            let mut info = client
                .call("engine::info", json!({}))
                .await?
                .unwrap_or_default();
            // For people: the uptime to the second, as durations are written.
            if let Some(ms) = info.get("uptime_ms").and_then(|ms| ms.as_u64()) {
                let uptime = humantime::format_duration(Duration::from_secs(ms / 1000));
                info["uptime"] = json!(uptime.to_string());
            }
            output::print(&info)
        }
        // Run by `with_flags`, above.
        ClientCommand::Transaction { .. } => Ok(()),
    }
}

/// Runs a write that has conditions or an idempotency key, and a
/// transaction, as the generic call of its function; `None` for the others.
async fn with_flags(
    client: &Client,
    command: &ClientCommand,
    value: Option<Value>,
    ops: Option<Vec<statewell_client::UpdateOp>>,
) -> Option<Result<(), Failure>> {
    let (function, mut payload, fields) = match command {
        ClientCommand::Set {
            group, key, write, ..
        } => (
            "state::set",
            json!({"scope": group, "key": key, "value": value}),
            write.fields()?,
        ),
        ClientCommand::Update {
            group, key, write, ..
        } => (
            "state::update",
            json!({"scope": group, "key": key, "ops": ops}),
            write.fields()?,
        ),
        ClientCommand::Delete {
            group, key, write, ..
        } => (
            "state::delete",
            json!({"scope": group, "key": key}),
            write.fields()?,
        ),
        ClientCommand::Clear {
            group,
            idempotency_key: Some(idem),
            ..
        } => (
            "state::clear",
            json!({"scope": group}),
            serde_json::Map::from_iter([("idempotency_key".into(), idem.clone().into())]),
        ),
        ClientCommand::Transaction {
            idempotency_key, ..
        } => {
            let mut fields = serde_json::Map::new();
            if let Some(idem) = idempotency_key {
                fields.insert("idempotency_key".into(), idem.clone().into());
            }
            ("state::transaction", json!({"ops": value}), fields)
        }
        _ => return None,
    };
    if let Value::Object(map) = &mut payload {
        map.extend(fields);
    }
    let result = match client.call(function, payload).await {
        Ok(result) => result.unwrap_or(Value::Null),
        Err(err) => return Some(Err(err.into())),
    };
    let printed = output::print(&result);
    // A skipped update op is a "no", as for a plain update.
    let skipped = result
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|errors| errors.first())
        .map(|op| {
            Failure::no(
                op["code"].as_str().unwrap_or("update_failed").to_owned(),
                format!("op {} was skipped: {}", op["op_index"], op["message"]),
            )
        });
    Some(printed.and_then(|()| skipped.map_or(Ok(()), Err)))
}

/// Follows the `next` cursor until the last page.
async fn list_all_items(
    client: &Client,
    group: &str,
    prefix: Option<String>,
) -> Result<Vec<statewell_core::Item>, Failure> {
    let mut request = PageRequest {
        prefix,
        ..PageRequest::default()
    };
    let mut all = Vec::new();
    loop {
        let page = client.list_items(group, &request).await?;
        all.extend(page.items);
        match page.next {
            Some(next) => request.after = Some(next),
            None => return Ok(all),
        }
    }
}
