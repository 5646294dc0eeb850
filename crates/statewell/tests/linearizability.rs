//! Every key's history is linearizable, across SIGKILLs and restarts.
//!
//! Sixteen sequential processes, four to a connection (so the engine has
//! several requests of one socket in flight, as with an SDK), run gets,
//! sets, updates and deletes flat out on a few keys while the engine is
//! SIGKILLed and restarted on the same data directory. Every operation's invocation and reply — or the
//! lack of one, when its connection dropped — is recorded on one clock; at
//! the end every key is read once more. Each key's history is then checked
//! for linearizability against the model in `history/kv.rs`, so the test
//! catches not only a lost acknowledged write but a stale read, a write that
//! saw an old value, an update applied twice, a value that comes back.
//!
//! An operation left without a reply by a kill took effect before the
//! engine died, or never: its outcome is open until the kill, which the
//! clock records once the process is reaped.
//!
//! Checked by breaking the engine on purpose, each failing the test in
//! every run tried: answering a write before installing the read snapshot
//! that holds it (stale reads), replaying all but the last log record
//! (acknowledged writes lost across a restart: caught at the quiet kill),
//! and letting the memory store yield once between reading a key and
//! writing it (lost updates: caught because lanes share connections).

mod common;
mod history;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use common::Engine;
use futures::future::join_all;
use history::SplitMix;
use history::checker::{self, Operation, Outcome};
use history::kv::{self, Input, Output, Seen};
use statewell_client::{Client, ClientError, UpdateOp};
use tokio::sync::watch;

/// Connections to the engine.
const CONNECTIONS: usize = 4;
/// Sequential processes sharing each connection.
const LANES: usize = 4;
/// Few keys, so that every key sees concurrent operations.
const KEYS: u64 = 4;
const GROUP: &str = "history";

struct Plan {
    /// `serve` flags.
    flags: &'static [&'static str],
    /// SIGKILLs, each followed by a restart on the same data directory.
    kills: &'static [Kill],
    /// Acknowledged operations before each kill, and after the last restart.
    per_run: usize,
}

enum Kill {
    /// With operations in flight: their outcomes stay unknown.
    MidStream,
    /// Once every operation sent got its reply, so the last log record is
    /// an acknowledged one (mid-stream, it rarely is: the commit thread
    /// writes the next record while the last is being synced).
    Quiet,
}

/// One clock for every event of a run; each tick is taken once, so no two
/// events share a time and the clock's order is real-time order.
struct Clock(AtomicU64);

impl Clock {
    fn tick(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

/// The engine the clients should use: the `number`th started. `stopped`
/// tells them the run is over.
#[derive(Clone)]
struct Generation {
    number: usize,
    url: String,
    stopped: bool,
}

struct Shared {
    clock: Clock,
    /// Operations that got a reply, over the whole run.
    acked: AtomicUsize,
    /// Operations sent and not answered yet.
    in_flight: AtomicUsize,
    /// Set for a quiet kill: lanes send nothing more to this engine.
    paused: AtomicBool,
}

/// One operation as a client saw it.
struct Record {
    key: u64,
    client: usize,
    input: Input,
    call: u64,
    result: Recorded,
}

enum Recorded {
    Returned {
        at: u64,
        output: Output,
    },
    /// The connection to engine `generation` dropped (or the call timed
    /// out) before the reply.
    NoReply {
        generation: usize,
    },
    /// An error reply, or a reply of the wrong shape: none of this
    /// workload's operations should get one.
    Failed(ClientError),
}

fn key_name(key: u64) -> String {
    format!("k{key}")
}

/// Sends `input` for `key` and turns the reply into the model's terms.
async fn invoke(client: &Client, key: u64, input: &Input) -> Result<Output, ClientError> {
    let key = key_name(key);
    Ok(match input {
        Input::Get => Output::Get(Seen::from_reply(client.get(GROUP, &key).await?.as_ref())),
        Input::Set { tag } => {
            let reply = client.set(GROUP, &key, Input::set_value(tag)).await?;
            Output::Set {
                old: Seen::from_reply(reply.old_value.as_ref()),
                new: Seen::from_reply(Some(&reply.new_value)),
            }
        }
        Input::Update { tag } => {
            let ops: Vec<UpdateOp> =
                serde_json::from_value(Input::update_ops(tag)).expect("update ops");
            let reply = client.update(GROUP, &key, &ops).await?;
            Output::Update {
                old: Seen::from_reply(reply.old_value.as_ref()),
                new: Seen::from_reply(reply.new_value.as_ref()),
                refused: reply.errors.len(),
            }
        }
        Input::Delete => Output::Delete {
            old: Seen::from_reply(client.delete(GROUP, &key).await?.as_ref()),
        },
    })
}

/// One sequential process: one operation at a time, on random keys.
struct Lane {
    /// Its number in the history (`connection * LANES + lane`).
    id: usize,
    rng: SplitMix,
    sequence: u64,
    records: Vec<Record>,
}

impl Lane {
    fn new(id: usize) -> Lane {
        Lane {
            id,
            rng: SplitMix(id as u64 + 1),
            sequence: 0,
            records: Vec::new(),
        }
    }

    /// Runs operations on engine `generation` until the run stops or a
    /// reply does not come.
    async fn run(
        &mut self,
        connection: &Client,
        generation: usize,
        generations: &watch::Receiver<Generation>,
        shared: &Shared,
    ) {
        while !generations.borrow().stopped {
            // Counted before `paused` is read, so that a quiet kill waiting
            // for no operation in flight cannot miss this one.
            shared.in_flight.fetch_add(1, Ordering::SeqCst);
            if shared.paused.load(Ordering::SeqCst) {
                shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            self.sequence += 1;
            let tag = format!("c{}-{}", self.id, self.sequence).into();
            let input = match self.rng.below(100) {
                0..35 => Input::Get,
                35..60 => Input::Set { tag },
                60..85 => Input::Update { tag },
                _ => Input::Delete,
            };
            let key = self.rng.below(KEYS);
            let call = shared.clock.tick();
            let reply = invoke(connection, key, &input).await;
            let at = shared.clock.tick();
            shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            let (result, dropped) = match reply {
                Ok(output) => {
                    shared.acked.fetch_add(1, Ordering::SeqCst);
                    (Recorded::Returned { at, output }, false)
                }
                Err(ClientError::Closed(_) | ClientError::Timeout { .. }) => {
                    (Recorded::NoReply { generation }, true)
                }
                Err(e) => (Recorded::Failed(e), false),
            };
            self.records.push(Record {
                key,
                client: self.id,
                input,
                call,
                result,
            });
            if dropped {
                return;
            }
        }
    }
}

/// One connection carrying `LANES` sequential processes at once, as an SDK
/// multiplexes a worker's calls: the engine sees several requests of one
/// socket in flight together. After the connection drops, waits for the
/// next engine.
async fn connection(
    id: usize,
    shared: Arc<Shared>,
    mut generations: watch::Receiver<Generation>,
) -> Vec<Record> {
    let mut lanes: Vec<Lane> = (0..LANES).map(|l| Lane::new(id * LANES + l)).collect();
    let mut wanted = 0;
    loop {
        let generation = match generations
            .wait_for(|g| g.stopped || g.number >= wanted)
            .await
        {
            Ok(generation) => generation.clone(),
            Err(_) => break,
        };
        if generation.stopped {
            break;
        }
        // Whatever happens on this engine, the next try is on a new one.
        wanted = generation.number + 1;
        let Ok(client) = Client::connect(&generation.url, None).await else {
            continue;
        };
        let generations = &generations;
        join_all(
            lanes
                .iter_mut()
                .map(|lane| lane.run(&client, generation.number, generations, &shared)),
        )
        .await;
    }
    lanes.into_iter().flat_map(|lane| lane.records).collect()
}

async fn start(data: &Path, flags: &'static [&'static str]) -> Engine {
    let data = data.to_owned();
    tokio::task::spawn_blocking(move || Engine::start_on(&data, flags))
        .await
        .expect("start the engine")
}

/// Waits until `target` operations got a reply over the run.
async fn wait_for_acked(
    shared: &Shared,
    target: usize,
    clients: &[tokio::task::JoinHandle<Vec<Record>>],
) {
    while shared.acked.load(Ordering::SeqCst) < target {
        assert!(
            clients.iter().all(|c| !c.is_finished()),
            "a client stopped before the run ended"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// What a run recorded.
struct Recording {
    records: Vec<Record>,
    /// The tick at which engine `i` was known dead (reaped after SIGKILL).
    killed_at: Vec<u64>,
}

async fn record(plan: &Plan) -> Recording {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let shared = Arc::new(Shared {
        clock: Clock(AtomicU64::new(1)),
        acked: AtomicUsize::new(0),
        in_flight: AtomicUsize::new(0),
        paused: AtomicBool::new(false),
    });
    let mut engine = start(&data, plan.flags).await;
    let (generations, receiver) = watch::channel(Generation {
        number: 0,
        url: engine.ws_url(),
        stopped: false,
    });
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|id| tokio::spawn(connection(id, Arc::clone(&shared), receiver.clone())))
        .collect();

    let mut killed_at = Vec::new();
    for (number, kill) in (1..).zip(plan.kills) {
        wait_for_acked(&shared, number * plan.per_run, &clients).await;
        if let Kill::Quiet = kill {
            shared.paused.store(true, Ordering::SeqCst);
            while shared.in_flight.load(Ordering::SeqCst) > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
        let status = tokio::task::spawn_blocking(move || engine.signal_and_wait("KILL"))
            .await
            .expect("kill the engine");
        assert!(!status.success(), "SIGKILL cannot exit cleanly: {status:?}");
        killed_at.push(shared.clock.tick());
        engine = start(&data, plan.flags).await;
        shared.paused.store(false, Ordering::SeqCst);
        generations.send_replace(Generation {
            number,
            url: engine.ws_url(),
            stopped: false,
        });
    }
    wait_for_acked(&shared, (plan.kills.len() + 1) * plan.per_run, &clients).await;
    generations.send_modify(|g| g.stopped = true);

    let mut records = Vec::new();
    for client in clients {
        records.extend(client.await.expect("client task"));
    }
    // The last word: every key read once more, after everything else.
    let connection = engine.client().await;
    for key in 0..KEYS {
        let call = shared.clock.tick();
        let output = invoke(&connection, key, &Input::Get)
            .await
            .expect("final read");
        let at = shared.clock.tick();
        records.push(Record {
            key,
            client: CONNECTIONS * LANES,
            input: Input::Get,
            call,
            result: Recorded::Returned { at, output },
        });
    }
    Recording { records, killed_at }
}

/// Summary of a checked run.
struct Checked {
    operations: usize,
    unanswered: usize,
}

/// Splits the recording by key, checks each key's history, and fails with
/// the shortest history that is not linearizable.
fn check(recording: Recording) -> Checked {
    let mut per_key: Vec<Vec<Operation<Input, Output>>> = (0..KEYS).map(|_| Vec::new()).collect();
    let mut unanswered = 0;
    let mut failed = Vec::new();
    for record in recording.records {
        let outcome = match record.result {
            Recorded::Returned { at, output } => Outcome::Returned { at, output },
            Recorded::NoReply { generation } => {
                let by = recording
                    .killed_at
                    .get(generation)
                    .copied()
                    .unwrap_or(u64::MAX);
                if record.call > by {
                    // Sent after its engine was dead: it took no effect.
                    continue;
                }
                unanswered += 1;
                Outcome::Unknown { by }
            }
            Recorded::Failed(e) => {
                failed.push(format!("client {} {}: {e}", record.client, record.input));
                continue;
            }
        };
        per_key[record.key as usize].push(Operation {
            client: record.client,
            input: record.input,
            call: record.call,
            outcome,
        });
    }
    assert!(failed.is_empty(), "operations failed: {failed:#?}");

    let operations = per_key.iter().map(Vec::len).sum();
    let mut violations = Vec::new();
    for (key, history) in per_key.iter().enumerate() {
        if let Err(violation) = checker::check(&kv::Key, history) {
            violations.push((key as u64, history, violation));
        }
    }
    if let Some((key, history, violation)) = violations.iter().min_by_key(|v| v.1.len()) {
        panic!(
            "{} of {KEYS} keys have a history that is not linearizable; the shortest, {} \
             (engine killed at ticks {:?}):\n{}",
            violations.len(),
            key_name(*key),
            recording.killed_at,
            checker::describe(&kv::Key, history, violation)
        );
    }
    Checked {
        operations,
        unanswered,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn histories_across_sigkill_and_restart_are_linearizable() {
    // `--durability always` (the default): an acknowledged write survives
    // the kill. 64 KiB checkpoints, so the kills also land between and
    // during checkpoints, and reads go through every layer of the store.
    let plan = Plan {
        flags: &["--checkpoint-bytes", "65536"],
        kills: &[Kill::MidStream, Kill::Quiet, Kill::MidStream],
        per_run: 600,
    };
    let checked = check(record(&plan).await);
    eprintln!(
        "{} operations on {KEYS} keys, {} without a reply, {} kills: linearizable",
        checked.operations,
        checked.unanswered,
        plan.kills.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn histories_on_the_memory_store_are_linearizable() {
    let plan = Plan {
        flags: &["--store", "memory"],
        kills: &[],
        per_run: 3000,
    };
    let checked = check(record(&plan).await);
    assert_eq!(checked.unanswered, 0, "every operation gets a reply");
    eprintln!(
        "{} operations on {KEYS} keys: linearizable",
        checked.operations
    );
}
