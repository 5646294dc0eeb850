//! A linearizability checker for recorded histories.
//!
//! A history is linearizable when its operations can be put in one total
//! order that (1) keeps every operation that returned before another was
//! invoked ahead of it — real time — and (2) in which a sequential [`Model`]
//! gives every observed reply. The search is Wing & Gong's: repeatedly pick,
//! among the operations not yet placed, one that was invoked before every
//! other unplaced operation's deadline, apply it to the model, and backtrack
//! when the model disagrees with what was observed. Lowe's memoization keeps
//! it small: a (set of placed operations, model state) pair reached once is
//! never searched again, since what can follow depends on nothing else.
//!
//! Linearizability is local (Herlihy & Wing): a history is linearizable
//! exactly when each object's sub-history is. Callers therefore check one
//! object at a time (one key: P-compositionality), which keeps each search
//! to a few hundred operations.
//!
//! An operation whose reply never came (the connection dropped) has an
//! unknown outcome: it took effect at some point after its invocation and no
//! later than a deadline (the moment its server was known dead), or never.
//! The search tries both; an effect with no deadline may also come after
//! everything else, which is the same as never.

use std::collections::HashSet;
use std::fmt::{self, Display, Write as _};
use std::hash::Hash;

/// A sequential specification: what one object does, one operation at a time.
pub trait Model {
    type State: Clone + Eq + Hash + Display;
    type Input: Display;
    type Output: PartialEq + Display;

    fn init(&self) -> Self::State;

    /// The state after `input` and the reply it gives in `state`.
    fn apply(&self, state: &Self::State, input: &Self::Input) -> (Self::State, Self::Output);
}

/// One recorded operation. Times are ticks of one clock shared by every
/// client, each tick taken once, so no two events share a time.
pub struct Operation<I, O> {
    /// Who invoked it, for the report only.
    pub client: usize,
    pub input: I,
    /// When it was invoked (before its request was sent).
    pub call: u64,
    pub outcome: Outcome<O>,
}

pub enum Outcome<O> {
    /// The reply arrived at `at` (taken after it was received).
    Returned { at: u64, output: O },
    /// No reply: the operation took effect no later than `by`, or never.
    /// `u64::MAX` when nothing bounds it.
    Unknown { by: u64 },
}

impl<I, O> Operation<I, O> {
    /// The time by which the operation must have taken effect, if ever.
    fn deadline(&self) -> u64 {
        match self.outcome {
            Outcome::Returned { at, .. } => at,
            Outcome::Unknown { by } => by,
        }
    }
}

/// One place in a linearization: the operation (its index in the history)
/// and whether it took effect (always, unless its outcome is unknown).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub op: usize,
    pub took_effect: bool,
}

/// No total order explains the history. `longest` is the longest prefix of
/// one the search found, `state` the model's state after it.
pub struct Violation<S> {
    pub longest: Vec<Step>,
    pub state: S,
    /// (placed operations, state) pairs the search visited.
    pub visited: usize,
}

/// Which operations are placed; one bit per operation, in call order.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Placed(Box<[u64]>);

impl Placed {
    fn new(n: usize) -> Placed {
        Placed(vec![0; n.div_ceil(64)].into_boxed_slice())
    }
    fn contains(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn with(&self, i: usize) -> Placed {
        let mut next = self.clone();
        next.0[i / 64] |= 1 << (i % 64);
        next
    }
}

/// A point of the search: what is placed and the moves from here not tried
/// yet (the state it left is in the move that led here).
struct Frame<S> {
    placed: Placed,
    /// How many operations are placed (the depth).
    count: usize,
    /// (position in call order, took effect, state after).
    moves: Vec<(usize, bool, S)>,
    next: usize,
    /// The move that led here (none for the root).
    via: Option<Step>,
}

/// Is `history` linearizable with respect to `model`? On success, one
/// linearization (every operation, in order).
pub fn check<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
) -> Result<Vec<Step>, Violation<M::State>> {
    let search = Search::new(model, history);
    search.run()
}

struct Search<'a, M: Model> {
    model: &'a M,
    history: &'a [Operation<M::Input, M::Output>],
    /// History indices in call order: position → operation.
    by_call: Vec<usize>,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, history: &'a [Operation<M::Input, M::Output>]) -> Self {
        let mut by_call: Vec<usize> = (0..history.len()).collect();
        by_call.sort_by_key(|&i| history[i].call);
        Search {
            model,
            history,
            by_call,
        }
    }

    fn op(&self, position: usize) -> &Operation<M::Input, M::Output> {
        &self.history[self.by_call[position]]
    }

    /// Positions of the unplaced operations that may come next: those
    /// invoked before the earliest deadline among the unplaced ones.
    fn candidates(&self, placed: &Placed) -> Vec<usize> {
        let open = || (0..self.by_call.len()).filter(|&p| !placed.contains(p));
        // Calls are sorted and a deadline is never before its call, so once
        // a call is past the earliest deadline seen, no later operation can
        // lower it.
        let mut earliest = u64::MAX;
        for p in open() {
            let op = self.op(p);
            if op.call > earliest {
                break;
            }
            earliest = earliest.min(op.deadline());
        }
        open().take_while(|&p| self.op(p).call < earliest).collect()
    }

    /// Every way to place one more operation from `state`, skipping pairs
    /// already searched.
    fn moves(
        &self,
        placed: &Placed,
        state: &M::State,
        seen: &HashSet<(Placed, M::State)>,
    ) -> Vec<(usize, bool, M::State)> {
        let mut moves = Vec::new();
        for p in self.candidates(placed) {
            let op = self.op(p);
            let (after, answer) = self.model.apply(state, &op.input);
            let mut push = |took_effect: bool, after: M::State| {
                if !seen.contains(&(placed.with(p), after.clone())) {
                    moves.push((p, took_effect, after));
                }
            };
            match &op.outcome {
                Outcome::Returned { output, .. } => {
                    if answer == *output {
                        push(true, after);
                    }
                }
                Outcome::Unknown { .. } => {
                    push(true, after);
                    push(false, state.clone());
                }
            }
        }
        moves
    }

    fn run(&self) -> Result<Vec<Step>, Violation<M::State>> {
        let n = self.history.len();
        let mut seen: HashSet<(Placed, M::State)> = HashSet::new();
        let root = Placed::new(n);
        let init = self.model.init();
        let moves = self.moves(&root, &init, &seen);
        let mut stack = vec![Frame {
            placed: root,
            count: 0,
            moves,
            next: 0,
            via: None,
        }];
        let mut longest: (Vec<Step>, M::State) = (Vec::new(), init);
        let path = |stack: &[Frame<M::State>]| stack.iter().filter_map(|f| f.via).collect();

        while let Some(top) = stack.last_mut() {
            if top.count == n {
                return Ok(path(&stack));
            }
            let Some((position, took_effect, state)) = top.moves.get(top.next).cloned() else {
                stack.pop();
                continue;
            };
            top.next += 1;
            let placed = top.placed.with(position);
            let count = top.count + 1;
            // Checked again: the pair may have been reached through another
            // branch since this frame listed its moves.
            if !seen.insert((placed.clone(), state.clone())) {
                continue;
            }
            let moves = self.moves(&placed, &state, &seen);
            let via = Step {
                op: self.by_call[position],
                took_effect,
            };
            stack.push(Frame {
                placed,
                count,
                moves,
                next: 0,
                via: Some(via),
            });
            if count > longest.0.len() {
                longest = (path(&stack), state);
            }
        }
        Err(Violation {
            longest: longest.0,
            state: longest.1,
            visited: seen.len(),
        })
    }
}

/// Placed operations shown before the point where the search got stuck.
const SHOWN_BEFORE: usize = 12;
/// Operations shown from the first one the search could not place.
const SHOWN_FROM: usize = 24;

/// A report for people: the history in call order around the point where
/// the search got stuck — the last operations of the longest linearizable
/// prefix it found, then the first it could not place — each marked with
/// its place in that prefix; then what the model would have answered for
/// each operation that could come next.
pub fn describe<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    violation: &Violation<M::State>,
) -> String {
    let search = Search::new(model, history);
    let mut place = vec![None; history.len()];
    let mut placed = Placed::new(history.len());
    let position_of: Vec<usize> = {
        let mut position = vec![0; history.len()];
        for (p, &i) in search.by_call.iter().enumerate() {
            position[i] = p;
        }
        position
    };
    for (k, step) in violation.longest.iter().enumerate() {
        place[step.op] = Some((k + 1, step.took_effect));
        placed = placed.with(position_of[step.op]);
    }
    let first_open = (0..history.len())
        .find(|&p| !placed.contains(p))
        .unwrap_or(history.len());
    let recent = violation.longest.len().saturating_sub(SHOWN_BEFORE);
    let shown = |p: usize, i: usize| {
        p < first_open + SHOWN_FROM
            && (p >= first_open || place[i].is_some_and(|(k, _)| k > recent))
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} operations; the longest linearizable prefix found places {} \
         ({} states searched). In call order (time: call..reply), [k]: k-th in that prefix:",
        history.len(),
        violation.longest.len(),
        violation.visited
    );
    let mut omitted = 0;
    for (p, &i) in search.by_call.iter().enumerate() {
        if !shown(p, i) {
            omitted += 1;
            continue;
        }
        if omitted > 0 {
            let _ = writeln!(out, "  ... {omitted} operations not shown");
            omitted = 0;
        }
        let op = &history[i];
        let reply = match &op.outcome {
            Outcome::Returned { at, output } => format!("..{at}  {} -> {output}", op.input),
            Outcome::Unknown { by } if *by == u64::MAX => format!("..?  {} -> no reply", op.input),
            Outcome::Unknown { by } => {
                format!("..?  {} -> no reply (settled by {by})", op.input)
            }
        };
        let mark = match place[i] {
            Some((k, true)) => format!("[{k}]"),
            Some((k, false)) => format!("[{k}, no effect]"),
            None => "[not placed]".to_owned(),
        };
        let _ = writeln!(
            out,
            "  #{i:<4} client {:<3} {}{reply}  {mark}",
            op.client, op.call
        );
    }
    if omitted > 0 {
        let _ = writeln!(out, "  ... {omitted} operations not shown");
    }
    let _ = writeln!(
        out,
        "after the prefix the state is {}; what could come next:",
        violation.state
    );
    for p in search.candidates(&placed) {
        let op = search.op(p);
        let (_, answer) = model.apply(&violation.state, &op.input);
        let observed = match &op.outcome {
            Outcome::Returned { output, .. } => output.to_string(),
            Outcome::Unknown { .. } => "no reply".to_owned(),
        };
        let _ = writeln!(
            out,
            "  #{}: {} would answer {answer}; observed {observed}",
            search.by_call[p], op.input
        );
    }
    out
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.took_effect {
            write!(f, "#{}", self.op)
        } else {
            write!(f, "#{}(no effect)", self.op)
        }
    }
}
