//! The soak's load: a few connections, each shared by a few tasks that send
//! one request at a time (paced to a total rate), a mix of sets, gets,
//! updates, deletes and lists over a working set of keys. A connection lost
//! to a restart is opened again by whichever task needs it first.
//!
//! Each task also owns some tracked keys, which no other task touches: it
//! knows what each must hold (`tracked`), checks every read of them against
//! that, and reads them all again after each reconnect.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use statewell_client::{Client, ClientError, UpdateOp};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::figures::OpCounts;
use super::tracked::{COUNTER, Mismatch, TrackedKey, Write};
use crate::runner::latency_histogram;
use crate::workload::{Rng, Shape};

/// The group the tracked keys live in (apart from the working set).
pub const TRACKED_SCOPE: &str = "soak-tracked";

/// How long a request may wait for its answer before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause between attempts to reach an engine that is restarting.
const RECONNECT_PAUSE: Duration = Duration::from_millis(20);

/// Error texts kept per interval, to show what failed.
const ERROR_EXAMPLES: usize = 5;

/// Mismatches described in full per task (all are counted).
const MISMATCH_EXAMPLES: usize = 5;

/// What the load looks like.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    pub url: String,
    pub connections: usize,
    /// Tasks per connection, each with one request in flight.
    pub in_flight: usize,
    /// Requests per second over all tasks; 0 for as fast as answers come.
    pub rate: u64,
    pub shape: Shape,
    pub tracked: u64,
    pub seed: u64,
}

impl LoadConfig {
    fn tasks(&self) -> usize {
        self.connections * self.in_flight
    }
}

/// What the load measured since the last look.
pub struct Window {
    pub latency_us: Histogram<u64>,
    /// The same, of reads (get, list) and of writes (set, update, delete)
    /// alone: a durable write waits for its sync, a read for nothing.
    pub read_us: Histogram<u64>,
    pub write_us: Histogram<u64>,
    pub ops: OpCounts,
    /// Requests a restart cut off: the connection went away before the
    /// answer, or the draining engine refused them.
    pub cut_off: u64,
    /// Error answers and timeouts.
    pub errors: u64,
    pub error_examples: Vec<String>,
}

impl Window {
    pub fn new() -> Window {
        Window {
            latency_us: latency_histogram(),
            read_us: latency_histogram(),
            write_us: latency_histogram(),
            ops: OpCounts::default(),
            cut_off: 0,
            errors: 0,
            error_examples: Vec::new(),
        }
    }

    pub fn merge(&mut self, other: &Window) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency_us.add(&other.latency_us);
        let _ = self.read_us.add(&other.read_us);
        let _ = self.write_us.add(&other.write_us);
        self.ops.add(&other.ops);
        self.cut_off += other.cut_off;
        self.errors += other.errors;
        for e in &other.error_examples {
            if self.error_examples.len() < ERROR_EXAMPLES {
                self.error_examples.push(e.clone());
            }
        }
    }

    fn answered(&mut self, op: Op, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.saturating_record(micros.max(1));
        match op {
            Op::Get | Op::List => self.read_us.saturating_record(micros.max(1)),
            Op::Set | Op::Update | Op::Delete => self.write_us.saturating_record(micros.max(1)),
        }
        let counts = &mut self.ops;
        *match op {
            Op::Set => &mut counts.set,
            Op::Get => &mut counts.get,
            Op::Update => &mut counts.update,
            Op::Delete => &mut counts.delete,
            Op::List => &mut counts.list,
        } += 1;
    }

    fn failed(&mut self, failure: Failure, error: &ClientError) {
        match failure {
            Failure::CutOff => self.cut_off += 1,
            Failure::Error => {
                self.errors += 1;
                if self.error_examples.len() < ERROR_EXAMPLES {
                    self.error_examples
                        .push(format!("{}: {error}", error.code()));
                }
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Set,
    Get,
    Update,
    Delete,
    List,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    /// Cut off by a restart: the connection went away, or the draining
    /// engine refused the request.
    CutOff,
    /// Any other error answer, a timeout, an unreadable reply: never
    /// expected.
    Error,
}

fn failure(error: &ClientError) -> Failure {
    match error {
        ClientError::Closed(_) | ClientError::Connect { .. } => Failure::CutOff,
        _ if refused_while_draining(error) => Failure::CutOff,
        _ => Failure::Error,
    }
}

/// After SIGTERM the engine answers every request it reads `unavailable`,
/// and runs none of them (docs/PROTOCOL.md, "Shutdown"): such a write did
/// not apply, and the soak holds the engine to that.
fn refused_while_draining(error: &ClientError) -> bool {
    matches!(error, ClientError::Engine { code, .. } if code == "unavailable")
}

/// What the tasks share.
struct Shared {
    stop: AtomicBool,
    window: Mutex<Window>,
    increment: Vec<UpdateOp>,
    shape: Shape,
}

impl Shared {
    fn window(&self) -> MutexGuard<'_, Window> {
        // A task that panicked holding the lock left whole counts behind.
        self.window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One connection, opened again after it is lost. The generation says
/// which opening a client came from, so that a task reporting a loss the
/// others already recovered from does not drop the fresh connection.
struct Link {
    url: String,
    state: tokio::sync::Mutex<(u64, Option<Client>)>,
}

impl Link {
    /// The connection (opened when there is none), or `None` once the load
    /// stops.
    async fn client(&self, stop: &AtomicBool) -> Option<(u64, Client)> {
        let mut state = self.state.lock().await;
        loop {
            if let Some(client) = &state.1 {
                return Some((state.0, client.clone()));
            }
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            match Client::connect(&self.url, None).await {
                Ok(client) => *state = (state.0 + 1, Some(client.with_timeout(REQUEST_TIMEOUT))),
                Err(_) => tokio::time::sleep(RECONNECT_PAUSE).await,
            }
        }
    }

    async fn lost(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state.0 == generation {
            state.1 = None;
        }
    }
}

/// What a task hands back when the load stops.
pub struct TaskOutcome {
    pub tracked: Vec<TrackedKey>,
    pub reads_checked: u64,
    pub mismatches: u64,
    pub examples: Vec<Mismatch>,
}

/// The running load.
pub struct Load {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<TaskOutcome>>,
}

impl Load {
    pub fn start(config: &LoadConfig) -> Result<Load> {
        let increment: UpdateOp =
            serde_json::from_value(json!({"type": "increment", "path": COUNTER, "by": 1}))
                .context("the increment op")?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            window: Mutex::new(Window::new()),
            increment: vec![increment],
            shape: config.shape.clone(),
        });
        let tasks = config.tasks();
        // Each task paces itself to its share of the rate.
        let period =
            (config.rate > 0).then(|| Duration::from_secs_f64(tasks as f64 / config.rate as f64));
        let mut handles = Vec::with_capacity(tasks);
        let mut rng = Rng::new(config.seed);
        for c in 0..config.connections {
            let link = Arc::new(Link {
                url: config.url.clone(),
                state: tokio::sync::Mutex::new((0, None)),
            });
            for i in 0..config.in_flight {
                let index = c * config.in_flight + i;
                let owned = (index as u64..config.tracked)
                    .step_by(tasks)
                    .map(|k| TrackedKey::new(tracked_key(k)))
                    .collect();
                let task = Task {
                    shared: shared.clone(),
                    link: link.clone(),
                    owned,
                    rng: Rng::new(rng.next_u64()),
                    seq: 0,
                    index,
                    reads_checked: 0,
                    mismatches: 0,
                    examples: Vec::new(),
                };
                // Spread the tasks' first requests over one period.
                let offset =
                    period.map_or(Duration::ZERO, |p| p.mul_f64(index as f64 / tasks as f64));
                handles.push(tokio::spawn(task.run(period, offset)));
            }
        }
        Ok(Load {
            shared,
            tasks: handles,
        })
    }

    /// What was measured since the last call; starts a new window.
    pub fn take_window(&self) -> Window {
        std::mem::replace(&mut *self.shared.window(), Window::new())
    }

    /// Stops every task after its request in flight; returns the last
    /// window and what each task knows of its tracked keys.
    pub async fn finish(self) -> Result<(Window, Vec<TaskOutcome>)> {
        self.shared.stop.store(true, Ordering::Relaxed);
        let mut outcomes = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            outcomes.push(task.await.context("a load task panicked")?);
        }
        let window = std::mem::replace(&mut *self.shared.window(), Window::new());
        Ok((window, outcomes))
    }
}

/// Tracked key `i` as text.
pub fn tracked_key(i: u64) -> String {
    format!("t{i:06}")
}

struct Task {
    shared: Arc<Shared>,
    link: Arc<Link>,
    owned: Vec<TrackedKey>,
    rng: Rng,
    /// Makes every value this task writes distinct.
    seq: u64,
    index: usize,
    reads_checked: u64,
    mismatches: u64,
    examples: Vec<Mismatch>,
}

impl Task {
    async fn run(mut self, period: Option<Duration>, offset: Duration) -> TaskOutcome {
        let mut ticker = period.map(|p| {
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + offset, p);
            // After a restart's pause, carry on at the rate: no burst to
            // catch up, which would measure a queue the soak made itself.
            t.set_missed_tick_behavior(MissedTickBehavior::Delay);
            t
        });
        let mut seen_generation = None;
        // Indices of owned keys still to read back after a reconnect.
        let mut to_verify: Vec<usize> = Vec::new();
        while !self.shared.stop.load(Ordering::Relaxed) {
            let Some((generation, client)) = self.link.client(&self.shared.stop).await else {
                break;
            };
            if seen_generation.is_some_and(|g| g != generation) {
                // The engine restarted since this task last wrote: every
                // tracked key must hold what the last acknowledged write
                // (or an unanswered one) left.
                to_verify = (0..self.owned.len()).collect();
            }
            seen_generation = Some(generation);
            let outcome = if let Some(&k) = to_verify.last() {
                let outcome = self.tracked_read(&client, k).await;
                // Read again only what a restart cut off: an error
                // answer is counted, and retrying it at once would spin.
                if outcome != Err(Failure::CutOff) {
                    to_verify.pop();
                }
                outcome
            } else {
                if let Some(ticker) = ticker.as_mut() {
                    ticker.tick().await;
                }
                self.next_request(&client).await
            };
            if let Err(Failure::CutOff) = outcome {
                self.link.lost(generation).await;
            }
        }
        TaskOutcome {
            tracked: self.owned,
            reads_checked: self.reads_checked,
            mismatches: self.mismatches,
            examples: self.examples,
        }
    }

    /// One request of the mix: a tenth on the task's tracked keys (when it
    /// has any), the rest on the working set.
    async fn next_request(&mut self, client: &Client) -> Result<(), Failure> {
        let draw = self.rng.below(100);
        if !self.owned.is_empty() && draw < 10 {
            let k = self.rng.below(self.owned.len() as u64) as usize;
            return match draw {
                0..=4 => {
                    let value = self.tracked_value(k);
                    self.tracked_write(client, k, Write::Set(value)).await
                }
                5..=6 => self.tracked_write(client, k, Write::Increment).await,
                7 => self.tracked_write(client, k, Write::Delete).await,
                _ => self.tracked_read(client, k).await,
            };
        }
        let shape = &self.shared.shape;
        let key = self.rng.below(shape.keys);
        let scope = Shape::group_name((key % u64::from(shape.groups)) as u32);
        let mut name = String::with_capacity(10);
        Shape::write_key(&mut name, key);
        // Of the working set's requests: 40% get, 30% set, 15% update, 10%
        // delete, 5% list of the key's group.
        let began = Instant::now();
        let (op, result) = match self.rng.below(100) {
            0..=39 => (Op::Get, client.get(&scope, &name).await.map(drop)),
            40..=69 => {
                self.seq += 1;
                let mut text = String::with_capacity(shape.value_size);
                shape.write_value(&mut text, key, self.seq);
                let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                (Op::Set, client.set(&scope, &name, value).await.map(drop))
            }
            70..=84 => {
                let result = client.update(&scope, &name, &self.shared.increment).await;
                (Op::Update, result.map(drop))
            }
            85..=94 => (Op::Delete, client.delete(&scope, &name).await.map(drop)),
            _ => (Op::List, client.list(&scope).await.map(drop)),
        };
        self.record(op, began, result.err())
    }

    fn tracked_value(&mut self, k: usize) -> Value {
        self.seq += 1;
        json!({"owner": self.index, "key": self.owned[k].key, "seq": self.seq, COUNTER: 0})
    }

    async fn tracked_write(
        &mut self,
        client: &Client,
        k: usize,
        write: Write,
    ) -> Result<(), Failure> {
        let key = self.owned[k].key.clone();
        let began = Instant::now();
        let (op, result) = match &write {
            Write::Set(value) => (
                Op::Set,
                client
                    .set(TRACKED_SCOPE, &key, value.clone())
                    .await
                    .map(|r| Some(r.new_value)),
            ),
            Write::Increment => (
                Op::Update,
                client
                    .update(TRACKED_SCOPE, &key, &self.shared.increment)
                    .await
                    .map(|r| r.new_value),
            ),
            Write::Delete => (
                Op::Delete,
                client.delete(TRACKED_SCOPE, &key).await.map(|_| None),
            ),
        };
        let error = match result {
            Ok(state) => {
                self.owned[k].acknowledged(state);
                None
            }
            Err(e) if refused_while_draining(&e) => Some(e),
            // No answer, or another error answer: it may have applied or not.
            Err(e) => {
                self.owned[k].unknown(&write);
                Some(e)
            }
        };
        self.record(op, began, error)
    }

    async fn tracked_read(&mut self, client: &Client, k: usize) -> Result<(), Failure> {
        let began = Instant::now();
        let result = client.get(TRACKED_SCOPE, &self.owned[k].key).await;
        let error = match result {
            Ok(found) => {
                self.reads_checked += 1;
                if let Err(mismatch) = self.owned[k].observe(found) {
                    self.mismatches += 1;
                    if self.examples.len() < MISMATCH_EXAMPLES {
                        self.examples.push(mismatch);
                    }
                }
                None
            }
            Err(e) => Some(e),
        };
        self.record(Op::Get, began, error)
    }

    fn record(&self, op: Op, began: Instant, error: Option<ClientError>) -> Result<(), Failure> {
        let took = began.elapsed();
        let mut window = self.shared.window();
        match error {
            None => {
                window.answered(op, took);
                Ok(())
            }
            Some(error) => {
                let kind = failure(&error);
                window.failed(kind, &error);
                Err(kind)
            }
        }
    }
}
