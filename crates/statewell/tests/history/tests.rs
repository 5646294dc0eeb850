//! The checker and the key model on hand-written histories: each rejected
//! one is a kind of bug the engine test must catch, each accepted one a
//! behaviour it must allow.

use std::sync::Arc;

use super::checker::{Operation, Outcome, Step, check, describe};
use super::kv::{Input, Item, Key, Output, Seen, State};
use super::{Model, SplitMix};

type Op = Operation<Input, Output>;

fn item(tag: &str, n: Option<u64>) -> Seen {
    Seen::Item(Item { tag: tag.into(), n })
}

fn set(tag: &str) -> Input {
    Input::Set { tag: tag.into() }
}

fn update(tag: &str) -> Input {
    Input::Update { tag: tag.into() }
}

fn set_reply(old: Seen, new_tag: &str) -> Output {
    Output::Set {
        old,
        new: item(new_tag, None),
    }
}

fn update_reply(old: Seen, new_tag: &str, n: u64) -> Output {
    Output::Update {
        old,
        new: item(new_tag, Some(n)),
        refused: 0,
    }
}

/// An operation whose reply came: invoked at `call`, answered at `at`.
fn ok(call: u64, at: u64, input: Input, output: Output) -> Op {
    Operation {
        client: 0,
        input,
        call,
        outcome: Outcome::Returned { at, output },
    }
}

/// An operation with no reply, settled by `by`.
fn lost(call: u64, by: u64, input: Input) -> Op {
    Operation {
        client: 0,
        input,
        call,
        outcome: Outcome::Unknown { by },
    }
}

fn linearizable(history: &[Op]) -> bool {
    check(&Key, history).is_ok()
}

/// `a` written and acknowledged at 1..2.
fn a_written() -> Op {
    ok(1, 2, set("a"), set_reply(Seen::Missing, "a"))
}

#[test]
fn accepts_a_sequential_history_of_every_operation() {
    let history = [
        ok(1, 2, Input::Get, Output::Get(Seen::Missing)),
        ok(3, 4, set("a"), set_reply(Seen::Missing, "a")),
        ok(5, 6, update("b"), update_reply(item("a", None), "b", 1)),
        ok(7, 8, update("c"), update_reply(item("b", Some(1)), "c", 2)),
        ok(9, 10, Input::Get, Output::Get(item("c", Some(2)))),
        ok(
            11,
            12,
            Input::Delete,
            Output::Delete {
                old: item("c", Some(2)),
            },
        ),
        ok(13, 14, update("d"), update_reply(Seen::Missing, "d", 1)),
        ok(15, 16, set("e"), set_reply(item("d", Some(1)), "e")),
    ];
    assert!(linearizable(&history));
}

#[test]
fn accepts_a_read_concurrent_with_a_write_seeing_either_value() {
    for seen in [item("a", None), item("b", None)] {
        let history = [
            a_written(),
            ok(3, 8, set("b"), set_reply(item("a", None), "b")),
            ok(4, 5, Input::Get, Output::Get(seen)),
        ];
        assert!(linearizable(&history));
    }
}

#[test]
fn accepts_operations_listed_out_of_call_order() {
    let history = [
        ok(5, 6, Input::Get, Output::Get(item("b", None))),
        ok(3, 4, set("b"), set_reply(item("a", None), "b")),
        a_written(),
    ];
    assert_eq!(
        check(&Key, &history).ok().expect("linearizable"),
        [2, 1, 0]
            .map(|op| Step {
                op,
                took_effect: true
            })
            .to_vec()
    );
}

#[test]
fn rejects_a_stale_read_after_an_acknowledged_write() {
    let history = [
        a_written(),
        ok(3, 4, set("b"), set_reply(item("a", None), "b")),
        ok(5, 6, Input::Get, Output::Get(item("a", None))),
    ];
    assert!(!linearizable(&history));
}

#[test]
fn rejects_reads_that_go_back_in_time() {
    // The write of b is concurrent with both reads, but once one read has
    // seen b, a later read cannot see a again.
    let history = [
        a_written(),
        ok(3, 10, set("b"), set_reply(item("a", None), "b")),
        ok(4, 5, Input::Get, Output::Get(item("b", None))),
        ok(6, 7, Input::Get, Output::Get(item("a", None))),
    ];
    assert!(!linearizable(&history));
}

#[test]
fn rejects_a_write_that_saw_the_state_before_an_earlier_acknowledged_write() {
    // set's old_value is an observation: b replaced a, not a missing key.
    let history = [
        a_written(),
        ok(3, 4, set("b"), set_reply(Seen::Missing, "b")),
    ];
    assert!(!linearizable(&history));
}

#[test]
fn rejects_a_lost_acknowledged_write_across_a_restart() {
    // Killed at 3, restarted by 4: a was acknowledged before the kill.
    let history = [
        a_written(),
        ok(5, 6, Input::Get, Output::Get(Seen::Missing)),
    ];
    assert!(!linearizable(&history));
}

#[test]
fn rejects_an_increment_applied_twice() {
    let history = [
        a_written(),
        ok(3, 4, update("b"), update_reply(item("a", None), "b", 1)),
        ok(5, 6, Input::Get, Output::Get(item("b", Some(2)))),
    ];
    assert!(!linearizable(&history));
}

#[test]
fn rejects_an_update_whose_reply_does_not_follow_from_its_old_value() {
    let history = [
        a_written(),
        ok(3, 4, update("b"), update_reply(item("a", None), "b", 2)),
    ];
    assert!(!linearizable(&history));
}

#[test]
fn rejects_a_delete_that_returns_a_value_already_replaced() {
    let history = [
        a_written(),
        ok(3, 4, set("b"), set_reply(item("a", None), "b")),
        ok(
            5,
            6,
            Input::Delete,
            Output::Delete {
                old: item("a", None),
            },
        ),
    ];
    assert!(!linearizable(&history));
}

#[test]
fn rejects_a_value_of_a_shape_no_operation_writes() {
    let strange = serde_json::json!({"tag": "a", "extra": true});
    let history = [
        a_written(),
        ok(
            3,
            4,
            Input::Get,
            Output::Get(Seen::from_reply(Some(&strange))),
        ),
    ];
    assert!(!linearizable(&history));
}

#[test]
fn accepts_an_unanswered_write_that_took_effect() {
    // The engine was killed at 5 with the set of b in flight; after the
    // restart b is there.
    let history = [
        a_written(),
        lost(3, 5, set("b")),
        ok(6, 7, Input::Get, Output::Get(item("b", None))),
    ];
    let order = check(&Key, &history).ok().expect("linearizable");
    assert!(order.contains(&Step {
        op: 1,
        took_effect: true
    }));
}

#[test]
fn accepts_an_unanswered_write_that_never_took_effect() {
    let history = [
        a_written(),
        lost(3, 5, set("b")),
        ok(6, 7, Input::Get, Output::Get(item("a", None))),
    ];
    let order = check(&Key, &history).ok().expect("linearizable");
    assert!(order.contains(&Step {
        op: 1,
        took_effect: false
    }));
}

#[test]
fn accepts_an_unanswered_update_counted_once() {
    let history = [
        a_written(),
        lost(3, 5, update("b")),
        ok(6, 7, Input::Get, Output::Get(item("b", Some(1)))),
    ];
    assert!(linearizable(&history));
}

#[test]
fn rejects_an_unanswered_update_counted_twice() {
    let history = [
        a_written(),
        lost(3, 5, update("b")),
        ok(6, 7, Input::Get, Output::Get(item("b", Some(2)))),
    ];
    assert!(!linearizable(&history));
}

#[test]
fn rejects_an_unanswered_write_appearing_after_its_deadline() {
    // The engine that received b died at 5: once a read after the restart
    // missed b, b cannot appear later.
    let history = [
        a_written(),
        lost(3, 5, set("b")),
        ok(6, 7, Input::Get, Output::Get(item("a", None))),
        ok(8, 9, Input::Get, Output::Get(item("b", None))),
    ];
    assert!(!linearizable(&history));
}

#[test]
fn an_unanswered_write_without_a_deadline_may_take_effect_late() {
    let history = [
        a_written(),
        lost(3, u64::MAX, set("b")),
        ok(6, 7, Input::Get, Output::Get(item("a", None))),
        ok(8, 9, Input::Get, Output::Get(item("b", None))),
    ];
    assert!(linearizable(&history));
}

#[test]
fn an_unanswered_write_was_a_write_if_anything() {
    // A lost set of b cannot explain a read of c.
    let history = [
        a_written(),
        lost(3, 5, set("b")),
        ok(6, 7, Input::Get, Output::Get(item("c", None))),
    ];
    assert!(!linearizable(&history));
}

#[test]
fn the_report_shows_the_prefix_and_what_the_model_expected() {
    let history = [
        a_written(),
        ok(3, 4, set("b"), set_reply(item("a", None), "b")),
        ok(5, 6, Input::Get, Output::Get(item("a", None))),
    ];
    let violation = check(&Key, &history).expect_err("not linearizable");
    assert_eq!(violation.longest.len(), 2);
    let report = describe(&Key, &history, &violation);
    assert!(
        report.contains("#2: get would answer {b}; observed {a}"),
        "{report}"
    );
    assert!(report.contains("[not placed]"), "{report}");
}

/// Runs random operations one at a time on the model, then blurs each
/// operation's interval around its moment: whatever the overlaps, the
/// history is linearizable (the order it was run in explains it). Some
/// writes lose their reply; half of those never took effect.
#[test]
fn accepts_long_concurrent_histories_generated_from_a_sequential_run() {
    const OPS: u64 = 3000;
    let mut rng = SplitMix(7);
    let mut state = State(None);
    let mut history = Vec::new();
    for i in 0..OPS {
        let tag: Arc<str> = format!("t{i}").into();
        let input = match rng.below(4) {
            0 => Input::Get,
            1 => Input::Set { tag },
            2 => Input::Update { tag },
            _ => Input::Delete,
        };
        // Ticks: the moment of operation i is 100·i; its call and reply
        // are up to 3 moments away on either side. Multiplying by 2·OPS and
        // adding a per-operation offset keeps every tick distinct.
        let tick = |moment: u64, end: u64| moment * 2 * OPS + 2 * i + end;
        let call = tick(100 * i + 300 - 1 - rng.below(300), 0);
        let reply = tick(100 * i + 300 + 1 + rng.below(300), 1);
        let is_write = !matches!(input, Input::Get);
        if is_write && rng.below(10) == 0 {
            if rng.below(2) == 0 {
                state = Key.apply(&state, &input).0;
            }
            history.push(lost(call, reply, input));
        } else {
            let (after, output) = Key.apply(&state, &input);
            state = after;
            history.push(ok(call, reply, input, output));
        }
    }
    assert!(linearizable(&history));
}
