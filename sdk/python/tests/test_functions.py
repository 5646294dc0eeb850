"""Functions between workers and state triggers, through two or more
Python clients on real sockets to the real engine."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import statewell

from engine import Engine

WAIT = 20.0  # generous upper bound for an event to arrive; never a timing assertion


@pytest.fixture
def owner(engine: Engine) -> Iterator[statewell.Client]:
    with statewell.connect(engine.ws_url, timeout=15) as c:
        yield c


@pytest.fixture
def caller(engine: Engine) -> Iterator[statewell.Client]:
    with statewell.connect(engine.ws_url, timeout=15) as c:
        yield c


def fid(name: str) -> str:
    return f"test::{name}::{uuid.uuid4().hex[:8]}"


def invoke_when_registered(client: statewell.Client, function_id: str, payload: Any) -> Any:
    """Registration is a frame on another socket with no reply: retry the
    first call until the engine has seen it (bounded)."""
    for _ in range(100):
        try:
            return client.invoke(function_id, payload)
        except statewell.StateError as err:
            if err.code != "function_not_found":
                raise
            time.sleep(0.05)
    raise AssertionError(f"{function_id} never became callable")


def test_invoke_a_function_of_another_worker(owner: statewell.Client, caller: statewell.Client) -> None:
    name = fid("add")
    owner.register_function(name, lambda p: {"sum": p["a"] + p["b"]})
    assert invoke_when_registered(caller, name, {"a": 2, "b": 40}) == {"sum": 42}
    # Many calls in flight at once, answered independently.

    async def many() -> list[Any]:
        async with statewell.AsyncClient(caller.url) as ac:
            return await asyncio.gather(*(ac.invoke(name, {"a": i, "b": i}) for i in range(30)))

    assert asyncio.run(many()) == [{"sum": 2 * i} for i in range(30)]


def test_handler_errors_come_back_as_function_errors(owner: statewell.Client, caller: statewell.Client) -> None:
    boom, declined = fid("boom"), fid("declined")

    def explode(_: Any) -> None:
        raise ValueError("card reader on fire")

    def decline(_: Any) -> None:
        raise statewell.StateError("payment_declined", "over the limit")

    owner.register_function(boom, explode)
    owner.register_function(declined, decline)
    with pytest.raises(statewell.StateError) as err:
        invoke_when_registered(caller, boom, {})
    assert err.value.code == "invocation_failed"
    assert "card reader on fire" in err.value.message
    with pytest.raises(statewell.StateError) as coded:
        invoke_when_registered(caller, declined, {})
    assert coded.value.code == "payment_declined"


def test_async_handlers_and_void_invocations(engine: Engine) -> None:
    async def run() -> None:
        name, sink = fid("double"), fid("sink")
        received: asyncio.Queue[Any] = asyncio.Queue()
        async with statewell.AsyncClient(engine.ws_url) as a, statewell.AsyncClient(engine.ws_url) as b:

            async def double(p: Any) -> Any:
                await asyncio.sleep(0)
                return p * 2

            async def record(p: Any) -> None:
                await received.put(p)

            await a.register_function(name, double)
            await a.register_function(sink, record)
            for _ in range(100):
                try:
                    assert await b.invoke(name, 21) == 42
                    break
                except statewell.StateError as err:
                    assert err.code == "function_not_found"
                    await asyncio.sleep(0.05)
            await b.invoke_void(sink, {"fire": "and forget"})
            assert await asyncio.wait_for(received.get(), WAIT) == {"fire": "and forget"}

    asyncio.run(run())


def test_unregistered_function_is_not_found(owner: statewell.Client, caller: statewell.Client) -> None:
    name = fid("temp")
    unregister = owner.register_function(name, lambda p: p)
    assert invoke_when_registered(caller, name, 1) == 1
    unregister()
    for _ in range(100):
        try:
            caller.invoke(name, 1)
        except statewell.StateError as err:
            assert err.code == "function_not_found"
            return
        time.sleep(0.05)
    raise AssertionError("function still callable after unregister")


def test_slow_handler_times_out_for_the_caller(owner: statewell.Client, engine: Engine) -> None:
    name = fid("slow")
    release = threading.Event()
    owner.register_function(name, lambda p: release.wait(WAIT))
    with statewell.connect(engine.ws_url, timeout=0.5) as impatient, pytest.raises(statewell.TimeoutError):
        invoke_when_registered(impatient, name, {})
    release.set()


def test_owner_disconnecting_mid_call_fails_the_call(engine: Engine, caller: statewell.Client) -> None:
    name = fid("abandoned")
    entered, release = threading.Event(), threading.Event()

    def hold(_: Any) -> None:
        entered.set()
        release.wait(WAIT)

    owner = statewell.connect(engine.ws_url)
    owner.register_function(name, hold)
    outcome: queue.Queue[Any] = queue.Queue()

    def call() -> None:
        try:
            outcome.put(invoke_when_registered(caller, name, {}))
        except statewell.StateError as err:
            outcome.put(err)

    threading.Thread(target=call, daemon=True).start()
    assert entered.wait(WAIT)
    owner.close()
    release.set()
    err = outcome.get(timeout=WAIT)
    assert isinstance(err, statewell.StateError)
    assert err.code == "worker_disconnected"


def test_on_state_change_filters_and_conditions(owner: statewell.Client, caller: statewell.Client, group: str) -> None:
    everything: queue.Queue[Any] = queue.Queue()
    one_key: queue.Queue[Any] = queue.Queue()
    created_only: queue.Queue[Any] = queue.Queue()
    owner.on_state_change(everything.put, group_id=group)
    owner.on_state_change(one_key.put, group_id=group, key="watched")
    owner.on_state_change(
        created_only.put, group_id=group, condition=lambda e: e["event_type"] == "state:created"
    )
    # Triggers are registered by frames without replies: write probes until
    # the broadest one reports one (the last one registered is then live too).
    probe_until_seen(caller, everything, group)
    probe_until_seen(caller, created_only, group, kind="state:created")

    caller.set(group, "watched", {"v": 1})
    caller.update(group, "watched", [{"type": "increment", "path": "v", "by": 1}])
    caller.set(group, "other", "x")
    caller.delete(group, "watched")

    events = take(everything, 4)
    # Delivery is ordered per key (not across keys).
    watched = [e for e in events if e["key"] == "watched"]
    assert [e["event_type"] for e in watched] == ["state:created", "state:updated", "state:deleted"]
    assert (watched[1]["old_value"], watched[1]["new_value"]) == ({"v": 1}, {"v": 2})
    assert (watched[2]["old_value"], watched[2]["new_value"]) == ({"v": 2}, None)
    assert [(e["event_type"], e["new_value"]) for e in events if e["key"] == "other"] == [("state:created", "x")]
    assert all(e["scope"] == group and e["type"] == "state" for e in events)

    keyed = take(one_key, 3)
    assert [e["event_type"] for e in keyed] == ["state:created", "state:updated", "state:deleted"]
    created = take(created_only, 2)
    assert sorted(e["key"] for e in created) == ["other", "watched"]
    assert all(e["event_type"] == "state:created" for e in created)


def test_unsubscribe_stops_delivery(owner: statewell.Client, caller: statewell.Client, group: str) -> None:
    gone: queue.Queue[Any] = queue.Queue()
    stays: queue.Queue[Any] = queue.Queue()
    unsubscribe = owner.on_state_change(gone.put, group_id=group)
    owner.on_state_change(stays.put, group_id=group)
    probe_until_seen(caller, gone, group)
    probe_until_seen(caller, stays, group)
    unsubscribe()
    # A round trip on the owner's socket: the engine has read the
    # unregistertrigger frame sent before it.
    owner.get(group, "nothing")
    caller.set(group, "after", 1)
    assert take(stays, 1)[0]["key"] == "after"
    # The same commit reached every live trigger; the removed one got nothing.
    leftovers = []
    while not gone.empty():
        leftovers.append(gone.get_nowait())
    assert [e for e in leftovers if e["key"] == "after"] == []


def test_failing_state_handler_does_not_block_writes(
    owner: statewell.Client, caller: statewell.Client, group: str
) -> None:
    def broken(_: Any) -> None:
        raise RuntimeError("handler bug")

    owner.on_state_change(broken, group_id=group)
    for i in range(20):
        caller.set(group, f"k{i}", i)
    assert len(caller.list(group)) == 20


def test_registrations_are_replayed_after_a_reconnect(own_engine: Engine) -> None:
    own_engine.start()
    group = "replay"
    events: queue.Queue[Any] = queue.Queue()
    with statewell.connect(own_engine.ws_url, timeout=15) as worker:
        worker.register_function("replay::echo", lambda p: {"echo": p})
        worker.on_state_change(events.put, group_id=group)
        own_engine.kill()
        own_engine.restart()
        with statewell.connect(own_engine.ws_url, timeout=15) as other:
            assert invoke_when_registered(other, "replay::echo", "hi") == {"echo": "hi"}
            assert worker.connections >= 2
            probe_until_seen(other, events, group)


def probe_until_seen(
    client: statewell.Client, events: queue.Queue[Any], group: str, kind: str = "state:deleted"
) -> None:
    """Write a probe key (set, then delete) until its ``kind`` event arrives."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        probe = f"{PROBE}{uuid.uuid4().hex[:6]}"
        client.set(group, probe, True)
        client.delete(group, probe)
        try:
            while True:
                event = events.get(timeout=0.5)
                if event["key"] == probe and event["event_type"] == kind:
                    return
        except queue.Empty:
            continue
    raise AssertionError("the trigger never delivered an event")


def take(events: queue.Queue[Any], n: int) -> list[Any]:
    """The next ``n`` events that are not probes (late probe events are skipped)."""
    got: list[Any] = []
    while len(got) < n:
        event = events.get(timeout=WAIT)
        if not str(event["key"]).startswith(PROBE):
            got.append(event)
    return got


PROBE = "probe-"
