"""Functions between workers and state triggers through the real published
Python client (``iii-sdk`` 0.25.0): ``register_function``, ``trigger`` (with
and without ``TriggerAction.Void()``) and ``register_trigger`` of type
``state``, as a Motia / iii Python worker uses them."""

from __future__ import annotations

import queue
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from iii import InitOptions, InvocationError, TriggerAction, register_worker
from iii.iii import III

from engine import Engine

WAIT = 20.0  # upper bound for an event to arrive, never a timing assertion


def new_worker(engine: Engine, name: str) -> III:
    return register_worker(
        engine.ws_url,
        InitOptions(worker_name=f"{name}-{uuid.uuid4().hex[:6]}", enable_metrics_reporting=False, otel={"enabled": False}),
    )


@pytest.fixture
def workers(engine: Engine) -> Iterator[tuple[III, III]]:
    a, b = new_worker(engine, "owner"), new_worker(engine, "caller")
    yield a, b
    a.shutdown()
    b.shutdown()


def until_callable(call: Callable[[], Any]) -> Any:
    """A registration has no reply: retry the first call until the engine knows it."""
    for _ in range(100):
        try:
            return call()
        except InvocationError as err:
            if err.code != "function_not_found":
                raise
            time.sleep(0.05)
    raise AssertionError("function never became callable")


def test_trigger_a_function_registered_by_another_worker(workers: tuple[III, III]) -> None:
    owner, caller = workers
    fid = f"compat::charge::{uuid.uuid4().hex[:6]}"
    owner.register_function(fid, lambda data: {"charged": data["amount"], "ok": True})
    result = until_callable(lambda: caller.trigger({"function_id": fid, "payload": {"amount": 45}}))
    assert result == {"charged": 45, "ok": True}


def test_handler_error_reaches_the_caller(workers: tuple[III, III]) -> None:
    owner, caller = workers
    fid = f"compat::fail::{uuid.uuid4().hex[:6]}"

    def fail(_: Any) -> None:
        raise RuntimeError("declined by bank")

    owner.register_function(fid, fail)
    with pytest.raises(InvocationError) as err:
        until_callable(lambda: caller.trigger({"function_id": fid, "payload": {}}))
    assert "declined by bank" in err.value.message


def test_void_trigger_runs_the_handler_without_reply(workers: tuple[III, III]) -> None:
    owner, caller = workers
    fid = f"compat::notify::{uuid.uuid4().hex[:6]}"
    got: queue.Queue[Any] = queue.Queue()
    owner.register_function(fid, lambda data: got.put(data))
    until_callable(lambda: caller.trigger({"function_id": fid, "payload": {"warmup": True}}))
    assert got.get(timeout=WAIT) == {"warmup": True}
    assert caller.trigger({"function_id": fid, "payload": {"n": 1}, "action": TriggerAction.Void()}) is None
    assert got.get(timeout=WAIT) == {"n": 1}


def test_state_trigger_invokes_the_handler_with_the_event(workers: tuple[III, III], scope: str) -> None:
    owner, caller = workers
    events: queue.Queue[Any] = queue.Queue()
    fid = f"compat::on_order::{uuid.uuid4().hex[:6]}"
    owner.register_function(fid, lambda event: events.put(event))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 0.25 prefers observe(); state still uses triggers
        trigger = owner.register_trigger({"type": "state", "function_id": fid, "config": {"scope": scope}})

    # The registration has no reply: write probes until one is delivered.
    deadline = time.monotonic() + WAIT
    while True:
        assert time.monotonic() < deadline, "state trigger never fired"
        probe = f"probe-{uuid.uuid4().hex[:6]}"
        caller.trigger({"function_id": "state::set", "payload": {"scope": scope, "key": probe, "value": 0}})
        try:
            while events.get(timeout=0.5)["key"] != probe:
                pass
            break
        except queue.Empty:
            continue

    def state(fn: str, **payload: Any) -> Any:
        return caller.trigger({"function_id": f"state::{fn}", "payload": {"scope": scope, **payload}})

    state("set", key="o-1", value={"status": "new"})
    state("update", key="o-1", ops=[{"type": "set", "path": "status", "value": "paid"}])
    state("delete", key="o-1")
    seen = []
    while len(seen) < 3:
        event = events.get(timeout=WAIT)
        if event["key"] == "o-1":
            seen.append(event)
    assert seen == [
        {"type": "state", "event_type": "state:created", "scope": scope, "key": "o-1",
         "old_value": None, "new_value": {"status": "new"}},
        {"type": "state", "event_type": "state:updated", "scope": scope, "key": "o-1",
         "old_value": {"status": "new"}, "new_value": {"status": "paid"}},
        {"type": "state", "event_type": "state:deleted", "scope": scope, "key": "o-1",
         "old_value": {"status": "paid"}, "new_value": None},
    ]

    # A witness trigger on the same scope tells when a later write has been delivered.
    witness: queue.Queue[Any] = queue.Queue()
    wid = f"compat::witness::{uuid.uuid4().hex[:6]}"
    caller.register_function(wid, lambda event: witness.put(event))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        caller.register_trigger({"type": "state", "function_id": wid, "config": {"scope": scope, "key": "after"}})
    trigger.unregister()
    # A round trip on the owner's socket: the engine has read the unregister frame.
    owner.trigger({"function_id": "state::get", "payload": {"scope": scope, "key": "x"}})
    deadline = time.monotonic() + WAIT
    n = 0
    while True:
        assert time.monotonic() < deadline, "witness trigger never fired"
        n += 1
        state("set", key="after", value=n)
        try:
            if witness.get(timeout=0.5)["key"] == "after":
                break
        except queue.Empty:
            continue
    # The witness saw a write to "after"; the unregistered trigger saw none.
    assert all(e["key"] != "after" for e in iter_nowait(events))


def iter_nowait(q: queue.Queue[Any]) -> list[Any]:
    items = []
    while True:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            return items
