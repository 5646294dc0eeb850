//! State triggers: a worker's function invoked after every committed change
//! of an item that matches the trigger's scope (and key).
//!
//! Events come from [`State::subscribe`], the store's commit-order stream;
//! one dispatcher task reads it and appends each matching event to the
//! trigger's own queue, so a write never waits for a handler. One delivery
//! task per trigger takes its queue in order, one event at a time: events of
//! one trigger are delivered in commit order (so, in particular, per key).
//! A failing or timed-out handler is retried with a doubling backoff up to
//! `trigger_max_retries`, then the event is logged, counted and skipped.
//! When the trigger's worker disconnects, the trigger is kept for
//! `reconnect_grace`: events keep queueing and are delivered once the worker
//! registers the trigger again (same id, or same function and config).
//!
//! Logs: one line when an incident starts (a handler starts failing, a queue
//! fills up, a worker's triggers expire), the events it touches counted, and
//! one line with the counts when it ends — a slow worker is not a warning per
//! event.

mod spec;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use serde_json::{Map, Value};
use statewell_core::{ChangeEvent, EventKind, State};
use tokio::sync::{Notify, broadcast, watch};
use uuid::Uuid;

pub use spec::TriggerSpec;

use crate::config::ServerConfig;
use crate::functions::{Functions, TraceContext};
use crate::ws::frame::ErrorBody;

/// Events one trigger may hold undelivered; beyond this new events for it
/// are dropped (and counted) rather than letting memory grow without bound.
const MAX_QUEUED_EVENTS: usize = 100_000;

/// The longest pause between two retries.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Counters of trigger delivery, for `/metrics`.
#[derive(Debug, Default)]
pub struct TriggerStats {
    /// Events whose handler succeeded.
    pub delivered: AtomicU64,
    /// Events skipped because the condition function returned `false`.
    pub skipped: AtomicU64,
    /// Handler attempts that failed and were retried.
    pub retried: AtomicU64,
    /// Events given up on after the last retry failed.
    pub failed: AtomicU64,
    /// Events never delivered: queue overflow, the dispatcher lagging behind
    /// the store, or a trigger whose worker did not come back in time.
    pub dropped: AtomicU64,
}

impl TriggerStats {
    /// Appends the counters in Prometheus text format; `registered` is the
    /// number of triggers currently registered.
    pub fn render_prometheus(&self, out: &mut String, registered: usize) {
        use std::fmt::Write as _;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP statewell_trigger_events_total State trigger events by outcome.\n\
             # TYPE statewell_trigger_events_total counter"
        );
        for (outcome, counter) in [
            ("delivered", &self.delivered),
            ("skipped", &self.skipped),
            ("failed", &self.failed),
            ("dropped", &self.dropped),
        ] {
            let _ = writeln!(
                out,
                "statewell_trigger_events_total{{outcome=\"{outcome}\"}} {}",
                load(counter)
            );
        }
        let _ = writeln!(
            out,
            "# HELP statewell_trigger_retries_total Trigger handler attempts that failed and were retried.\n\
             # TYPE statewell_trigger_retries_total counter\n\
             statewell_trigger_retries_total {}\n\
             # HELP statewell_triggers Registered state triggers.\n\
             # TYPE statewell_triggers gauge\n\
             statewell_triggers {registered}",
            load(&self.retried)
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attach {
    /// Delivering to the worker connection with this id.
    Attached(Uuid),
    /// The worker went away; kept until the grace period of this epoch ends.
    Detached(u64),
    /// Unregistered or expired; the delivery task stops.
    Removed,
}

struct Trigger {
    spec: RwLock<TriggerSpec>,
    attach: watch::Sender<Attach>,
    queue: Mutex<VecDeque<Arc<ChangeEvent>>>,
    wake: Notify,
    epoch: AtomicU64,
    /// Events dropped since the queue filled up; `None` while it has room.
    /// Touched by the dispatcher only.
    overflow: Mutex<Option<u64>>,
    /// The handler's current run of failures; touched by the delivery task.
    failing: Mutex<Option<Failing>>,
}

/// A run of failed attempts of one trigger's handler, from the first failure
/// to the next success.
#[derive(Debug, Default)]
struct Failing {
    attempts: u64,
    skipped: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Critical sections are single queue operations: never half-done.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Trigger {
    fn spec(&self) -> TriggerSpec {
        self.spec.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn state(&self) -> Attach {
        *self.attach.borrow()
    }

    fn remove(&self) -> usize {
        self.attach.send_replace(Attach::Removed);
        self.wake.notify_one();
        let mut queue = lock(&self.queue);
        let dropped = queue.len();
        queue.clear();
        dropped
    }
}

pub struct Triggers {
    state: State,
    functions: Arc<Functions>,
    config: Arc<ServerConfig>,
    map: RwLock<HashMap<String, Arc<Trigger>>>,
    dispatcher_started: AtomicBool,
    stats: TriggerStats,
}

impl Triggers {
    pub fn new(state: State, functions: Arc<Functions>, config: Arc<ServerConfig>) -> Self {
        Triggers {
            state,
            functions,
            config,
            map: RwLock::new(HashMap::new()),
            dispatcher_started: AtomicBool::new(false),
            stats: TriggerStats::default(),
        }
    }

    pub fn stats(&self) -> &TriggerStats {
        &self.stats
    }

    /// Registered triggers (attached or waiting for their worker).
    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every registered trigger: its id, its spec, and the worker it is
    /// attached to (`None` while it waits for its worker to reconnect).
    /// Sorted by id.
    pub fn list(&self) -> Vec<(String, TriggerSpec, Option<Uuid>)> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let mut triggers: Vec<_> = map
            .iter()
            .filter_map(|(id, trigger)| {
                let worker = match trigger.state() {
                    Attach::Attached(worker) => Some(worker),
                    Attach::Detached(_) => None,
                    Attach::Removed => return None,
                };
                Some((id.clone(), trigger.spec(), worker))
            })
            .collect();
        triggers.sort_by(|a, b| a.0.cmp(&b.0));
        triggers
    }

    /// Binds trigger `id` to `worker`. Registering an id again replaces its
    /// config; registering the id (or the same function and config) of a
    /// trigger whose worker disconnected within the grace period takes it
    /// over with its undelivered events.
    pub fn register(self: &Arc<Self>, worker: Uuid, id: String, spec: TriggerSpec) {
        self.start_dispatcher();
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = map.get(&id) {
            *existing.spec.write().unwrap_or_else(|p| p.into_inner()) = spec;
            existing.attach.send_replace(Attach::Attached(worker));
            return;
        }
        let orphan = map
            .iter()
            .find(|(_, t)| matches!(t.state(), Attach::Detached(_)) && t.spec() == spec)
            .map(|(old_id, _)| old_id.clone());
        if let Some(old_id) = orphan
            && let Some(trigger) = map.remove(&old_id)
        {
            tracing::info!(trigger = %id, previous = %old_id, "trigger taken over after reconnect");
            trigger.attach.send_replace(Attach::Attached(worker));
            map.insert(id, trigger);
            return;
        }
        let trigger = Arc::new(Trigger {
            spec: RwLock::new(spec),
            attach: watch::channel(Attach::Attached(worker)).0,
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            epoch: AtomicU64::new(0),
            overflow: Mutex::new(None),
            failing: Mutex::new(None),
        });
        map.insert(id, Arc::clone(&trigger));
        let me = Arc::clone(self);
        tokio::spawn(async move { me.delivery_loop(trigger).await });
    }

    /// Removes a trigger the worker registered; its undelivered events go.
    pub fn unregister(&self, worker: Uuid, id: &str) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        let owned = map
            .get(id)
            .is_some_and(|t| t.state() == Attach::Attached(worker));
        if !owned {
            tracing::debug!(trigger = id, %worker, "unregistertrigger for a trigger this worker does not hold");
            return;
        }
        if let Some(trigger) = map.remove(id) {
            trigger.remove();
        }
    }

    /// The worker's connection closed: its triggers wait `reconnect_grace`
    /// for it to come back, then go.
    pub fn worker_gone(self: &Arc<Self>, worker: Uuid) {
        let detached: Vec<(Arc<Trigger>, u64)> = {
            let map = self.map.read().unwrap_or_else(|p| p.into_inner());
            map.values()
                .filter(|trigger| trigger.state() == Attach::Attached(worker))
                .map(|trigger| {
                    let epoch = trigger.epoch.fetch_add(1, Ordering::SeqCst) + 1;
                    trigger.attach.send_replace(Attach::Detached(epoch));
                    (Arc::clone(trigger), epoch)
                })
                .collect()
        };
        if detached.is_empty() {
            return;
        }
        let me = Arc::clone(self);
        let grace = self.config.reconnect_grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let (mut expired, mut dropped) = (0usize, 0usize);
            for (trigger, epoch) in &detached {
                if let Some(events) = me.expire(trigger, *epoch) {
                    expired += 1;
                    dropped += events;
                }
            }
            if expired > 0 {
                // One line for the worker, however many triggers it had.
                tracing::warn!(
                    %worker,
                    triggers = expired,
                    dropped,
                    "triggers expired: their worker did not come back within the grace period"
                );
            }
        });
    }

    /// Removes a trigger still waiting for its worker since `epoch`; the
    /// events it drops, or `None` when it was taken over meanwhile.
    fn expire(&self, trigger: &Arc<Trigger>, epoch: u64) -> Option<usize> {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if trigger.state() != Attach::Detached(epoch) {
            return None; // taken over (or removed) meanwhile
        }
        map.retain(|_, t| !Arc::ptr_eq(t, trigger));
        let dropped = trigger.remove();
        if dropped > 0 {
            self.stats
                .dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
        Some(dropped)
    }

    fn start_dispatcher(self: &Arc<Self>) {
        if self.dispatcher_started.swap(true, Ordering::SeqCst) {
            return;
        }
        // Subscribed before the first registration returns, so no event
        // committed after it is missed.
        let mut events = self.state.subscribe();
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => me.route(&event),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        me.stats.dropped.fetch_add(missed, Ordering::Relaxed);
                        tracing::error!(
                            missed,
                            "trigger dispatcher fell behind the store; events were lost"
                        );
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// Appends the event to the queue of every trigger it matches. Runs on
    /// the dispatcher task: only matching and queueing, never waiting.
    fn route(&self, event: &Arc<ChangeEvent>) {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        for trigger in map.values() {
            let matches = trigger
                .spec
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .matches(event);
            if !matches || trigger.state() == Attach::Removed {
                continue;
            }
            let mut queue = lock(&trigger.queue);
            let full = queue.len() >= MAX_QUEUED_EVENTS;
            if !full {
                queue.push_back(Arc::clone(event));
            }
            drop(queue);
            self.note_queue(trigger, full);
            if full {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            trigger.wake.notify_one();
        }
    }

    /// Logs a full queue once when it fills up, and once with the count of
    /// events dropped when it takes events again.
    fn note_queue(&self, trigger: &Trigger, full: bool) {
        let mut overflow = lock(&trigger.overflow);
        match (&mut *overflow, full) {
            (None, false) => {}
            (None, true) => {
                *overflow = Some(1);
                tracing::warn!(
                    function = %trigger.spec().function_id,
                    limit = MAX_QUEUED_EVENTS,
                    "trigger queue full; events are dropped until it drains"
                );
            }
            (Some(dropped), true) => *dropped += 1,
            (Some(dropped), false) => {
                tracing::info!(
                    function = %trigger.spec().function_id,
                    dropped = *dropped,
                    "trigger queue takes events again"
                );
                *overflow = None;
            }
        }
    }

    async fn delivery_loop(self: Arc<Self>, trigger: Arc<Trigger>) {
        loop {
            let event = loop {
                if trigger.state() == Attach::Removed {
                    return;
                }
                let notified = trigger.wake.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(event) = lock(&trigger.queue).front().cloned() {
                    break event;
                }
                notified.await;
            };
            self.deliver(&trigger, &event).await;
            let mut queue = lock(&trigger.queue);
            // The queue was cleared if the trigger was removed meanwhile.
            if queue
                .front()
                .is_some_and(|front| Arc::ptr_eq(front, &event))
            {
                queue.pop_front();
            }
        }
    }

    /// Delivers one event: waits while the worker is away, retries failures,
    /// gives up after the last retry.
    async fn deliver(&self, trigger: &Trigger, event: &ChangeEvent) {
        let payload = event_payload(event);
        let mut failures = 0u32;
        let mut waited_for_function = false;
        let mut attach = trigger.attach.subscribe();
        loop {
            let state = match attach.wait_for(|a| !matches!(a, Attach::Detached(_))).await {
                Ok(state) => *state,
                Err(_) => return,
            };
            if state == Attach::Removed {
                return;
            }
            let spec = trigger.spec();
            let error = match self.attempt(&spec, &payload).await {
                Ok(Delivery::Delivered) => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    recovered(trigger, &spec);
                    return;
                }
                Ok(Delivery::Skipped) => {
                    self.stats.skipped.fetch_add(1, Ordering::Relaxed);
                    recovered(trigger, &spec);
                    return;
                }
                Err(error) => error,
            };
            if !matches!(trigger.state(), Attach::Attached(_)) {
                // The worker left mid-delivery: not the handler's failure.
                // Deliver again once it is back (at least once).
                continue;
            }
            if error.code() == "function_not_found" && !waited_for_function {
                // Likely a worker reconnecting: it registers its trigger and
                // its function in some order. Give it the grace period once.
                waited_for_function = true;
                let patience = self.config.reconnect_grace;
                let missing = [spec.function_id.as_str()]
                    .into_iter()
                    .chain(spec.condition.as_deref());
                let mut all_there = true;
                for function_id in missing {
                    all_there &= self.functions.wait_registered(function_id, patience).await;
                }
                if all_there {
                    continue;
                }
            }
            failures += 1;
            let given_up = failures > self.config.trigger_max_retries;
            let (first_failure, first_skip) = {
                let mut failing = lock(&trigger.failing);
                let first_failure = failing.is_none();
                let run = failing.get_or_insert_with(Failing::default);
                run.attempts += 1;
                run.skipped += u64::from(given_up);
                (first_failure, given_up && run.skipped == 1)
            };
            if given_up {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                if first_skip {
                    tracing::error!(
                        function = %spec.function_id,
                        scope = %event.group,
                        key = %event.key,
                        revision = event.revision,
                        code = error.code(),
                        message = %error.message(),
                        "trigger handler failed after every retry; event skipped (further skips are counted until it succeeds again)"
                    );
                } else {
                    tracing::debug!(
                        function = %spec.function_id,
                        key = %event.key,
                        revision = event.revision,
                        code = error.code(),
                        "trigger handler failed after every retry; event skipped"
                    );
                }
                return;
            }
            self.stats.retried.fetch_add(1, Ordering::Relaxed);
            if first_failure {
                tracing::warn!(
                    function = %spec.function_id,
                    code = error.code(),
                    message = %error.message(),
                    "trigger handler failed; retrying (further failures are counted until it succeeds again)"
                );
            } else {
                tracing::debug!(
                    function = %spec.function_id,
                    attempt = failures,
                    code = error.code(),
                    "trigger handler failed; retrying"
                );
            }
            let backoff = self
                .config
                .trigger_retry_backoff
                .saturating_mul(1 << (failures - 1).min(16))
                .min(MAX_BACKOFF);
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = attach.wait_for(|a| *a == Attach::Removed) => return,
            }
        }
    }

    async fn attempt(&self, spec: &TriggerSpec, payload: &Value) -> Result<Delivery, ErrorBody> {
        let trace = TraceContext::default();
        if let Some(condition) = &spec.condition {
            let verdict = self.functions.invoke(condition, payload, &trace).await?;
            if verdict == Some(Value::Bool(false)) {
                return Ok(Delivery::Skipped);
            }
        }
        self.functions
            .invoke(&spec.function_id, payload, &trace)
            .await?;
        Ok(Delivery::Delivered)
    }
}

enum Delivery {
    Delivered,
    Skipped,
}

/// A delivery succeeded: ends the trigger's run of failures, if any, with
/// one line that counts it.
fn recovered(trigger: &Trigger, spec: &TriggerSpec) {
    if let Some(run) = lock(&trigger.failing).take() {
        tracing::info!(
            function = %spec.function_id,
            failed_attempts = run.attempts,
            skipped_events = run.skipped,
            "trigger handler succeeded again"
        );
    }
}

/// The handler's input, exactly as PROTOCOL.md records it.
pub fn event_payload(event: &ChangeEvent) -> Value {
    let event_type = match event.kind {
        EventKind::Created => "state:created",
        EventKind::Updated => "state:updated",
        // An expired item is gone like a deleted one; iii clients know only
        // these three event types.
        EventKind::Deleted | EventKind::Expired => "state:deleted",
    };
    let mut map = Map::with_capacity(6);
    map.insert("type".into(), Value::from("state"));
    map.insert("event_type".into(), Value::from(event_type));
    map.insert("scope".into(), Value::from(event.group.as_str()));
    map.insert("key".into(), Value::from(event.key.as_str()));
    map.insert(
        "old_value".into(),
        event.old_value.clone().unwrap_or(Value::Null),
    );
    map.insert(
        "new_value".into(),
        event.new_value.clone().unwrap_or(Value::Null),
    );
    Value::Object(map)
}
