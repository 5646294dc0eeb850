//! The closed loop: N connections, each keeping K requests in flight; every
//! reply is timed into an HDR histogram and immediately replaced by a new
//! request until the budget (operations or duration) is spent.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;

use crate::resp::RespConn;
use crate::workload::{Generator, OpChoice, OpKind, Request, Shape};
use crate::ws::WsConn;
use crate::{Outcome, Reply};

/// Where the load goes.
#[derive(Clone, Debug)]
pub enum Target {
    Statewell { url: String, token: Option<String> },
    Redis { addr: String },
}

pub enum Conn {
    Ws(WsConn),
    Redis(RespConn),
}

impl Target {
    pub async fn connect(&self, shape: Shape) -> Result<Conn> {
        Ok(match self {
            Target::Statewell { url, token } => {
                Conn::Ws(WsConn::connect(url, token.as_deref(), shape).await?)
            }
            Target::Redis { addr } => Conn::Redis(RespConn::connect(addr, shape).await?),
        })
    }
}

impl Conn {
    async fn push(&mut self, id: u64, req: &Request) -> Result<()> {
        match self {
            Conn::Ws(c) => c.push(id, req).await,
            Conn::Redis(c) => {
                c.push(id, req);
                Ok(())
            }
        }
    }

    async fn flush(&mut self) -> Result<()> {
        match self {
            Conn::Ws(c) => c.flush().await,
            Conn::Redis(c) => c.flush().await,
        }
    }

    async fn recv(&mut self, out: &mut Vec<Reply>) -> Result<()> {
        match self {
            Conn::Ws(c) => c.recv(out).await,
            Conn::Redis(c) => c.recv(out).await,
        }
    }
}

/// How much work a phase does, shared by its connections.
pub struct Budget {
    next: AtomicU64,
    limit: u64,
    deadline: Option<Instant>,
    /// Completed requests, for the progress bar.
    pub done: AtomicU64,
}

impl Budget {
    pub fn ops(limit: u64) -> Budget {
        Budget {
            next: AtomicU64::new(0),
            limit,
            deadline: None,
            done: AtomicU64::new(0),
        }
    }

    /// Request indices `from..to` (preloading items `from..to`).
    pub fn range(from: u64, to: u64) -> Budget {
        Budget {
            next: AtomicU64::new(from),
            limit: to,
            deadline: None,
            done: AtomicU64::new(0),
        }
    }

    pub fn duration(d: Duration) -> Budget {
        Budget {
            next: AtomicU64::new(0),
            limit: u64::MAX,
            deadline: Some(Instant::now() + d),
            done: AtomicU64::new(0),
        }
    }

    /// The index of the next request, or `None` when the budget is spent.
    fn take(&self) -> Option<u64> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.limit).then_some(i)
    }
}

/// Counts per operation kind (set, get, update).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct KindCounts {
    pub ops: u64,
    pub errors: u64,
    /// A get (or a Redis HGET) that found nothing: every key is preloaded,
    /// so this means an item went missing.
    pub missing: u64,
}

/// What one connection measured.
pub struct Stats {
    pub latency_us: Histogram<u64>,
    pub kinds: [KindCounts; 4],
}

/// A latency histogram in µs: 1 µs .. 100 s at 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("constant, valid histogram bounds")
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            latency_us: latency_histogram(),
            kinds: [KindCounts::default(); 4],
        }
    }

    pub fn merge(&mut self, other: &Stats) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency_us.add(&other.latency_us);
        for (a, b) in self.kinds.iter_mut().zip(other.kinds.iter()) {
            a.ops += b.ops;
            a.errors += b.errors;
            a.missing += b.missing;
        }
    }
}

/// What one connection task owns between phases.
pub struct Worker {
    pub conn: Conn,
    pub generator: Generator,
    next_id: u64,
}

impl Worker {
    pub fn new(conn: Conn, generator: Generator) -> Worker {
        Worker {
            conn,
            generator,
            next_id: 0,
        }
    }

    /// Runs one phase on this connection. `preload` sets every key in
    /// order (index from the budget) instead of drawing requests.
    pub async fn drive(
        &mut self,
        in_flight: usize,
        budget: &Budget,
        preload: bool,
        stats: &mut Stats,
    ) -> Result<()> {
        let mut pending: HashMap<u64, (Instant, OpKind)> = HashMap::with_capacity(in_flight * 2);
        let mut replies = Vec::with_capacity(in_flight);
        let mut spent = false;
        loop {
            while !spent && pending.len() < in_flight {
                let Some(index) = budget.take() else {
                    spent = true;
                    break;
                };
                let req = if preload {
                    self.generator.preload(index)
                } else {
                    self.generator.next()
                };
                self.next_id += 1;
                pending.insert(self.next_id, (Instant::now(), req.kind));
                self.conn.push(self.next_id, &req).await?;
            }
            if pending.is_empty() {
                return Ok(());
            }
            self.conn.flush().await?;
            self.conn.recv(&mut replies).await?;
            let now = Instant::now();
            budget
                .done
                .fetch_add(replies.len() as u64, Ordering::Relaxed);
            for reply in replies.drain(..) {
                let (sent, kind) = pending
                    .remove(&reply.id)
                    .with_context(|| format!("a reply for request {} never sent", reply.id))?;
                let micros = now.duration_since(sent).as_micros() as u64;
                stats.latency_us.saturating_record(micros.max(1));
                let counts = &mut stats.kinds[kind.index()];
                counts.ops += 1;
                match reply.outcome {
                    Outcome::Ok => {}
                    Outcome::Error => counts.errors += 1,
                    Outcome::Missing if kind == OpKind::Get => counts.missing += 1,
                    Outcome::Missing => counts.errors += 1,
                }
            }
        }
    }
}

/// How a run is laid out.
#[derive(Clone, Debug)]
pub struct Layout {
    pub connections: usize,
    pub in_flight: usize,
}

/// Opens `layout.connections` connections, each with its own generator.
pub async fn connect_all(
    target: &Target,
    layout: &Layout,
    choice: OpChoice,
    shape: &Shape,
    seed: u64,
) -> Result<Vec<Worker>> {
    let mut workers = Vec::with_capacity(layout.connections);
    for i in 0..layout.connections {
        let conn = target.connect(shape.clone()).await?;
        let generator = Generator::new(choice, shape.clone(), seed.wrapping_add(i as u64));
        workers.push(Worker::new(conn, generator));
    }
    Ok(workers)
}

/// Runs one phase on every worker concurrently and merges what they measured.
pub async fn phase(
    workers: Vec<Worker>,
    in_flight: usize,
    budget: Arc<Budget>,
    preload: bool,
) -> Result<(Vec<Worker>, Stats)> {
    let mut tasks = Vec::with_capacity(workers.len());
    for mut worker in workers {
        let budget = budget.clone();
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::new();
            let result = worker.drive(in_flight, &budget, preload, &mut stats).await;
            result.map(|()| (worker, stats))
        }));
    }
    let mut workers = Vec::with_capacity(tasks.len());
    let mut total = Stats::new();
    for task in tasks {
        let (worker, stats) = task.await.context("a connection task panicked")??;
        total.merge(&stats);
        workers.push(worker);
    }
    Ok((workers, total))
}
