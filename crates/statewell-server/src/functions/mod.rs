//! Functions registered by workers, and the invocations forwarded to them.
//!
//! A function belongs to the connection that registered it. Invoking it sends
//! an `invokefunction` frame to that connection under a fresh invocation id
//! (so two callers' ids can never collide) and waits for the matching
//! `invocationresult`, at most `invocation_timeout`.
//!
//! Duplicate ids: the most recent registration wins (a warning is logged);
//! the earlier ones are kept behind it, so when the newest owner unregisters
//! or disconnects the previous one serves the id again.
//!
//! Shutdown: a worker owes the answers of the invocations forwarded to it, so
//! its draining connection stays open until [`Functions::retire_when_idle`]
//! finds none pending; from then on its functions are gone. The owner lookup
//! and the pending entry are made under one lock, and a worker connection's
//! call is refused once shutdown has begun (see [`Functions::forward`]), so
//! no call can reach a worker between that check and its close.

mod link;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Notify, oneshot, watch};
use uuid::Uuid;

pub use link::{Outgoing, WorkerLink};

use crate::shutdown::Shutdown;
use crate::ws::frame::ErrorBody;

/// Ids no worker may register: the engine serves them itself.
pub fn is_reserved(function_id: &str) -> bool {
    function_id.starts_with("state::") || function_id.starts_with("engine::")
}

/// W3C trace context carried along a forwarded invocation.
#[derive(Debug, Clone, Default)]
pub struct TraceContext {
    pub traceparent: Option<String>,
    pub baggage: Option<String>,
}

struct Registration {
    link: Arc<WorkerLink>,
}

type Outcome = Result<Option<Value>, ErrorBody>;

struct Pending {
    owner: Uuid,
    reply: oneshot::Sender<Outcome>,
}

/// An invocation sent to its owner; [`Functions::outcome`] waits for its
/// answer.
pub struct Forwarded {
    id: Uuid,
    answer: oneshot::Receiver<Outcome>,
}

pub struct Functions {
    /// Every open worker connection, registered functions or not, so the
    /// engine can list them (`GET /v1/workers`). Never held with another lock.
    connected: Mutex<HashMap<Uuid, Arc<WorkerLink>>>,
    registry: Mutex<HashMap<String, Vec<Registration>>>,
    /// Lock order: `registry` before `pending` when both are held.
    pending: Mutex<HashMap<Uuid, Pending>>,
    /// Notified when a pending invocation is answered or given up, so a
    /// draining owner can check whether it still owes an answer.
    settled: Notify,
    /// Bumped on every registration, so a waiter can notice a function appear.
    generation: watch::Sender<u64>,
    timeout: Duration,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a few map operations that cannot leave
    // the map half-changed, so a poisoned lock is still consistent.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Functions {
    pub fn new(timeout: Duration) -> Self {
        Functions {
            connected: Mutex::new(HashMap::new()),
            registry: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            settled: Notify::new(),
            generation: watch::channel(0).0,
            timeout,
        }
    }

    pub fn register(&self, link: &Arc<WorkerLink>, function_id: String) {
        {
            let mut registry = lock(&self.registry);
            let owners = registry.entry(function_id.clone()).or_default();
            owners.retain(|r| r.link.id != link.id);
            if let Some(previous) = owners.last() {
                tracing::warn!(
                    function = %function_id,
                    previous = %previous.link.id,
                    worker = %link.id,
                    "function registered again by another worker; the newest registration wins"
                );
            }
            owners.push(Registration {
                link: Arc::clone(link),
            });
        }
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn unregister(&self, worker: Uuid, function_id: &str) {
        let mut registry = lock(&self.registry);
        if let Some(owners) = registry.get_mut(function_id) {
            owners.retain(|r| r.link.id != worker);
            if owners.is_empty() {
                registry.remove(function_id);
            }
        }
    }

    pub fn is_registered(&self, function_id: &str) -> bool {
        lock(&self.registry).contains_key(function_id)
    }

    /// Waits until `function_id` is registered, at most `patience`; true if
    /// it is.
    pub async fn wait_registered(&self, function_id: &str, patience: Duration) -> bool {
        let mut changes = self.generation.subscribe();
        let wait = async {
            loop {
                if self.is_registered(function_id) {
                    return;
                }
                if changes.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(patience, wait).await;
        self.is_registered(function_id)
    }

    /// A worker connection opened; it is listed until [`Functions::worker_gone`].
    pub fn worker_connected(&self, link: &Arc<WorkerLink>) {
        lock(&self.connected).insert(link.id, Arc::clone(link));
    }

    /// The open worker connections, oldest first, each with the ids of the
    /// functions it registered (sorted).
    pub fn workers(&self) -> Vec<(Arc<WorkerLink>, Vec<String>)> {
        let mut links: Vec<Arc<WorkerLink>> = lock(&self.connected).values().cloned().collect();
        links.sort_by_key(|link| (link.connected_at, link.id));
        let mut owned: HashMap<Uuid, Vec<String>> = HashMap::new();
        for (function_id, owners) in lock(&self.registry).iter() {
            for registration in owners {
                owned
                    .entry(registration.link.id)
                    .or_default()
                    .push(function_id.clone());
            }
        }
        links
            .into_iter()
            .map(|link| {
                let mut functions = owned.remove(&link.id).unwrap_or_default();
                functions.sort();
                (link, functions)
            })
            .collect()
    }

    /// Forgets everything a closed connection owned, and fails the calls
    /// still waiting for it.
    pub fn worker_gone(&self, worker: Uuid) {
        lock(&self.connected).remove(&worker);
        lock(&self.registry).retain(|_, owners| {
            owners.retain(|r| r.link.id != worker);
            !owners.is_empty()
        });
        let orphaned: Vec<Pending> = {
            let mut pending = lock(&self.pending);
            let ids: Vec<Uuid> = pending
                .iter()
                .filter(|(_, p)| p.owner == worker)
                .map(|(id, _)| *id)
                .collect();
            ids.iter().filter_map(|id| pending.remove(id)).collect()
        };
        for call in orphaned {
            let _ = call.reply.send(Err(worker_disconnected()));
        }
    }

    /// For a draining connection: once no invocation forwarded to `worker`
    /// is pending, forgets its functions (so no new call can reach it) and
    /// returns. Until then the connection must keep reading, since the
    /// answers it owes arrive on its socket.
    pub async fn retire_when_idle(&self, worker: Uuid) {
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            // Register interest before checking, so an answer arriving in
            // between still wakes us.
            settled.as_mut().enable();
            if self.retire_if_idle(worker) {
                return;
            }
            settled.await;
        }
    }

    fn retire_if_idle(&self, worker: Uuid) -> bool {
        // Both locks, in `forward`'s order: a call either is pending here
        // already or finds the worker's functions gone.
        let mut registry = lock(&self.registry);
        if lock(&self.pending).values().any(|p| p.owner == worker) {
            return false;
        }
        registry.retain(|_, owners| {
            owners.retain(|r| r.link.id != worker);
            !owners.is_empty()
        });
        true
    }

    /// Removes a pending invocation that will not be answered, and wakes
    /// draining owners waiting for it to settle.
    fn settle(&self, id: &Uuid) -> Option<Pending> {
        let call = lock(&self.pending).remove(id);
        if call.is_some() {
            self.settled.notify_waiters();
        }
        call
    }

    fn owner_of(&self, function_id: &str) -> Option<Arc<WorkerLink>> {
        lock(&self.registry)
            .get(function_id)
            .and_then(|owners| owners.last())
            .map(|r| Arc::clone(&r.link))
    }

    /// Invokes a worker's function and waits for its result. `Ok(None)`: the
    /// function returned nothing.
    pub async fn invoke(&self, function_id: &str, data: &Value, trace: &TraceContext) -> Outcome {
        let forwarded = self.forward(function_id, data, trace, None)?;
        self.outcome(forwarded, function_id).await
    }

    /// Sends an invocation to the function's owner now, without waiting for
    /// the answer. With `caller_stops`, a call made once shutdown has begun is
    /// refused `unavailable`: the check is made under the registry lock, so a
    /// call is either refused or pending before any owner retires.
    pub fn forward(
        &self,
        function_id: &str,
        data: &Value,
        trace: &TraceContext,
        caller_stops: Option<&Shutdown>,
    ) -> Result<Forwarded, ErrorBody> {
        let id = Uuid::new_v4();
        let (reply, answer) = oneshot::channel();
        let owner = {
            let registry = lock(&self.registry);
            if caller_stops.is_some_and(Shutdown::is_shutting_down) {
                return Err(ErrorBody::shutting_down());
            }
            let owner = registry
                .get(function_id)
                .and_then(|owners| owners.last())
                .map(|r| Arc::clone(&r.link))
                .ok_or_else(|| ErrorBody::function_not_found(function_id))?;
            lock(&self.pending).insert(
                id,
                Pending {
                    owner: owner.id,
                    reply,
                },
            );
            owner
        };
        let frame = invoke_frame(Some(&id), function_id, data, trace, false);
        if owner.send(frame, None).is_err() {
            self.settle(&id);
            return Err(worker_disconnected());
        }
        Ok(Forwarded { id, answer })
    }

    /// Waits for the answer of a forwarded invocation, at most
    /// `invocation_timeout`.
    pub async fn outcome(&self, forwarded: Forwarded, function_id: &str) -> Outcome {
        match tokio::time::timeout(self.timeout, forwarded.answer).await {
            Ok(Ok(outcome)) => outcome,
            // The sender was dropped without an answer: the owner went away.
            Ok(Err(_)) => Err(worker_disconnected()),
            Err(_) => {
                self.settle(&forwarded.id);
                Err(ErrorBody::new(
                    "invocation_timeout",
                    format!(
                        "Function {function_id} did not answer within {} ms.",
                        self.timeout.as_millis()
                    ),
                ))
            }
        }
    }

    /// Fire and forget: sends the invocation and does not wait.
    pub fn invoke_void(
        &self,
        function_id: &str,
        data: &Value,
        trace: &TraceContext,
    ) -> Result<(), ErrorBody> {
        let owner = self
            .owner_of(function_id)
            .ok_or_else(|| ErrorBody::function_not_found(function_id))?;
        // A fresh id is sent even for a void call: clients that always answer
        // get their answer dropped here, clients that honour `action` don't.
        let id = Uuid::new_v4();
        let frame = invoke_frame(Some(&id), function_id, data, trace, true);
        owner.send(frame, None).map_err(|_| worker_disconnected())
    }

    /// An `invocationresult` arrived from worker `from`. Answers from a
    /// worker that was not asked are ignored.
    pub fn complete(
        &self,
        from: Uuid,
        invocation_id: &str,
        result: Option<Value>,
        error: Option<Value>,
    ) {
        let outcome = match error {
            Some(Value::Null) | None => Ok(result),
            Some(error @ Value::Object(_)) => Err(ErrorBody::Relayed(error)),
            Some(other) => Err(ErrorBody::new("invocation_failed", other.to_string())),
        };
        self.answer(from, invocation_id, outcome);
    }

    /// Worker `from` answered an invocation with something the engine cannot
    /// relay (a result above the frame limit): its caller gets `error` now.
    pub fn fail(&self, from: Uuid, invocation_id: &str, error: ErrorBody) {
        self.answer(from, invocation_id, Err(error));
    }

    fn answer(&self, from: Uuid, invocation_id: &str, outcome: Outcome) {
        let Ok(id) = Uuid::parse_str(invocation_id) else {
            tracing::debug!(%from, invocation_id, "result for an id the engine never issued");
            return;
        };
        let call = {
            let mut pending = lock(&self.pending);
            match pending.get(&id) {
                Some(call) if call.owner == from => pending.remove(&id),
                Some(_) => {
                    tracing::warn!(%from, %id, "a worker answered an invocation sent to another");
                    None
                }
                None => None,
            }
        };
        let Some(call) = call else { return };
        self.settled.notify_waiters();
        let _ = call.reply.send(outcome);
    }
}

pub fn worker_disconnected() -> ErrorBody {
    ErrorBody::new(
        "worker_disconnected",
        "The worker that registered the function disconnected before answering.",
    )
}

#[derive(Serialize)]
struct InvokeFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    invocation_id: Option<&'a Uuid>,
    function_id: &'a str,
    data: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    traceparent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    baggage: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<Value>,
}

fn invoke_frame(
    invocation_id: Option<&Uuid>,
    function_id: &str,
    data: &Value,
    trace: &TraceContext,
    void: bool,
) -> String {
    let frame = InvokeFrame {
        kind: "invokefunction",
        invocation_id,
        function_id,
        data,
        traceparent: trace.traceparent.as_deref(),
        baggage: trace.baggage.as_deref(),
        action: void.then(|| serde_json::json!({"type": "void"})),
    };
    // Every field is a string or already-valid JSON.
    serde_json::to_string(&frame).expect("frames always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::sync::mpsc;

    fn worker(functions: &Functions, function_id: &str) -> (Uuid, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(16);
        let budget = Arc::new(crate::reply_budget::ReplyBudget::new(1 << 20));
        let link = Arc::new(WorkerLink::new(Uuid::new_v4(), tx, budget));
        functions.register(&link, function_id.to_owned());
        (link.id, rx)
    }

    fn invocation_id(rx: &mut mpsc::Receiver<Outgoing>) -> String {
        match rx.try_recv() {
            Ok(Outgoing::Frame(text, _, _)) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                frame["invocation_id"].as_str().unwrap().to_owned()
            }
            _ => panic!("no invocation frame was queued"),
        }
    }

    #[tokio::test]
    async fn an_owner_retires_only_once_the_calls_forwarded_to_it_are_answered() {
        let functions = Functions::new(Duration::from_secs(30));
        let (owner, mut rx) = worker(&functions, "t::f");
        let forwarded = functions
            .forward("t::f", &json!(1), &TraceContext::default(), None)
            .unwrap();
        let id = invocation_id(&mut rx);

        let retire = functions.retire_when_idle(owner);
        tokio::pin!(retire);
        assert!(futures::poll!(retire.as_mut()).is_pending());
        assert!(
            functions.is_registered("t::f"),
            "retired with a call pending"
        );

        functions.complete(owner, &id, Some(json!(2)), None);
        assert!(futures::poll!(retire.as_mut()).is_ready());
        assert!(!functions.is_registered("t::f"));
        assert_eq!(
            functions.outcome(forwarded, "t::f").await.unwrap(),
            Some(json!(2))
        );
    }

    #[tokio::test]
    async fn once_shutdown_began_a_workers_call_is_refused_and_not_forwarded() {
        let functions = Functions::new(Duration::from_secs(30));
        let (_owner, mut rx) = worker(&functions, "t::f");
        let shutdown = Shutdown::default();
        shutdown.begin();
        let refused = functions
            .forward("t::f", &json!(1), &TraceContext::default(), Some(&shutdown))
            .err()
            .unwrap();
        assert_eq!(refused.code(), "unavailable");
        assert!(rx.try_recv().is_err(), "the call reached the owner");
        assert!(lock(&functions.pending).is_empty());
    }

    #[tokio::test]
    async fn a_call_after_its_owner_retired_does_not_reach_it() {
        let functions = Functions::new(Duration::from_secs(30));
        let (owner, mut rx) = worker(&functions, "t::f");
        functions.retire_when_idle(owner).await;
        let error = functions
            .forward("t::f", &json!(1), &TraceContext::default(), None)
            .err()
            .unwrap();
        assert_eq!(error.code(), "function_not_found");
        assert!(rx.try_recv().is_err());
    }
}
