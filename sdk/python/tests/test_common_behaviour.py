"""What ``sdk/README.md`` promises both SDKs do alike (the TypeScript suite
checks the same in test/common-behaviour.test.ts), against the real engine:
connect failures and the retry budget, URL forms, one op or a list, the error
classes, values JSON cannot hold, an unsubscribe that works without ``await``,
and the typed ``get``."""

from __future__ import annotations

import asyncio
import gc
import math
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
import warnings
from pathlib import Path
from typing import Any

import pytest

import statewell

from engine import Engine

WAIT = 20.0  # an upper bound for something to happen; never a timing assertion


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- connecting -------------------------------------------------------------


def test_no_engine_fails_at_once_and_a_retry_budget_waits_for_one_that_starts(tmp_path: Path) -> None:
    port = free_port()
    url = f"ws://127.0.0.1:{port}"
    # The default timeout is 30 s: this answer comes from the refused
    # connection, not from a timer.
    with pytest.raises(statewell.ConnectionError) as err:
        statewell.connect(url)
    assert err.value.code == "connect_failed"
    assert url in err.value.message

    async def run() -> None:
        with pytest.raises(statewell.ConnectionError) as err:
            await statewell.connect_async(url)
        assert err.value.code == "connect_failed"

        # With a budget, connect keeps trying and succeeds once an engine
        # starts on that port within it.
        pending = asyncio.create_task(statewell.connect_async(url, connect_retry=60))
        late = Engine(tmp_path / "late")
        try:
            await asyncio.to_thread(late.start, port)
            sw = await pending
            try:
                await sw.set("late", "k", "reached")
                assert await sw.get("late", "k") == "reached"
            finally:
                await sw.close()
        finally:
            late.close()

    asyncio.run(run())


def test_the_sync_client_waits_within_its_budget_too(tmp_path: Path) -> None:
    port = free_port()
    outcome: list[Any] = []

    def connect() -> None:
        try:
            with statewell.connect(f"http://127.0.0.1:{port}", connect_retry=60) as sw:
                sw.set("late", "k", 1)
                outcome.append(sw.get("late", "k"))
        except statewell.StateError as exc:  # reported below
            outcome.append(exc)

    worker = threading.Thread(target=connect)
    worker.start()
    late = Engine(tmp_path / "late")
    try:
        late.start(port)
        worker.join(WAIT * 3)
    finally:
        late.close()
    assert outcome == [1]


def test_a_spent_retry_budget_fails_with_connect_failed() -> None:
    with pytest.raises(statewell.ConnectionError) as err:
        statewell.connect(f"ws://127.0.0.1:{free_port()}", connect_retry=0.3)
    assert err.value.code == "connect_failed"
    assert "retried for 0.3s" in err.value.message


def test_a_refused_token_is_not_retried(own_engine: Engine) -> None:
    own_engine.token = "s3cret"
    own_engine.start()
    with pytest.raises(statewell.AuthenticationError) as err:
        statewell.connect(own_engine.ws_url, token="nope", connect_retry=60)
    assert err.value.code == "unauthorized"
    assert isinstance(err.value, statewell.StateError)
    assert not isinstance(err.value, statewell.ConnectionError)


def test_ws_and_http_urls_reach_the_engine_and_https_is_taken_as_wss(engine: Engine, group: str) -> None:
    assert engine.addr is not None
    for url in (f"ws://{engine.addr}", f"http://{engine.addr}", f"HTTP://{engine.addr}/"):
        with statewell.connect(url) as sw:
            assert sw.url.startswith("ws://"), sw.url
            sw.set(group, "k", url)
            assert sw.get(group, "k") == url
    # The engine here speaks plain WebSocket: a TLS client cannot reach it,
    # and the error names the wss:// address that was tried.
    for url in (f"https://{engine.addr}", f"wss://{engine.addr}"):
        with pytest.raises(statewell.ConnectionError) as err:
            statewell.connect(url)
        assert err.value.code == "connect_failed"
        assert f"wss://{engine.addr}" in err.value.message


def test_the_default_is_statewell_url_then_the_default_address(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATEWELL_URL", f"http://{engine.addr}")
    with statewell.connect() as sw:
        assert sw.url == f"ws://{engine.addr}"
    monkeypatch.setenv("STATEWELL_URL", "")
    # Whether or not an engine runs on the default port, the default was tried.
    try:
        with statewell.connect() as sw:
            tried = sw.url
    except statewell.ConnectionError as err:
        tried = err.message
    assert statewell.DEFAULT_URL in tried


@pytest.mark.parametrize(
    "url", ["", "127.0.0.1:49134", "ftp://127.0.0.1:1", "ws://", "ws:///path", "ws://127.0.0.1:99999"]
)
def test_an_address_that_is_no_engine_url_is_invalid_argument(url: str) -> None:
    with pytest.raises(statewell.StateError) as err:
        statewell.connect(url)
    assert err.value.code == "invalid_argument"


# --- update -----------------------------------------------------------------


def test_update_takes_one_op_or_a_list(engine: Engine, group: str) -> None:
    with statewell.connect(engine.ws_url) as sw:
        one = sw.update(group, "k", {"type": "increment", "path": "n", "by": 2})
        assert one == {"old_value": None, "new_value": {"n": 2}, "errors": []}
        many = sw.update(
            group,
            "k",
            [{"type": "increment", "path": "n", "by": 3}, {"type": "set", "path": "s", "value": "x"}],
        )
        assert many["new_value"] == {"n": 5, "s": "x"}

    async def run() -> None:
        async with statewell.AsyncClient(engine.ws_url) as sw:
            result = await sw.update(group, "k", {"type": "remove", "path": "s"})
            assert result["new_value"] == {"n": 5}

    asyncio.run(run())


# --- error classes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("conflict", statewell.ConflictError),
        ("unauthorized", statewell.AuthenticationError),
        ("timeout", statewell.TimeoutError),
        ("value_too_large", statewell.StateError),
    ],
)
def test_the_error_class_follows_the_code(engine: Engine, code: str, kind: type[statewell.StateError]) -> None:
    # The engine forwards a worker's error code to the caller: a function
    # that fails with a code shows how the client maps codes from the wire.
    function_id = f"test::fails_with::{code}::{uuid.uuid4().hex[:8]}"

    def fail(_: Any) -> None:
        raise statewell.StateError(code, f"failed with {code}")

    with statewell.connect(engine.ws_url) as owner, statewell.connect(engine.ws_url) as caller:
        owner.register_function(function_id, fail)
        for _ in range(200):
            with pytest.raises(statewell.StateError) as err:
                caller.invoke(function_id, {})
            if err.value.code != "function_not_found":
                break
            time.sleep(0.025)
    assert type(err.value) is kind
    assert err.value.code == code
    assert f"failed with {code}" in err.value.message


def test_every_class_is_a_state_error_with_code_and_message() -> None:
    import builtins

    errors = [
        statewell.ConflictError("c"),
        statewell.AuthenticationError("a"),
        statewell.ConnectionError("connection_lost", "l"),
        statewell.TimeoutError("t"),
    ]
    assert [e.code for e in errors] == ["conflict", "unauthorized", "connection_lost", "timeout"]
    assert all(isinstance(e, statewell.StateError) and e.message for e in errors)
    # ...and the transport ones are also what a Python programmer would catch.
    assert isinstance(errors[2], builtins.ConnectionError)
    assert isinstance(errors[3], builtins.TimeoutError)


# --- values JSON cannot hold --------------------------------------------------


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, {"a": -math.inf}, {1, 2}, object(), {"f": print}], ids=repr
)
def test_a_value_json_cannot_hold_is_refused_and_nothing_is_stored(engine: Engine, group: str, value: Any) -> None:
    with statewell.connect(engine.ws_url) as sw:
        with pytest.raises(statewell.StateError) as err:
            sw.set(group, "k", value)
        assert err.value.code == "invalid_argument"
        assert sw.get(group, "k") is None
        assert group not in sw.list_groups()


# --- unsubscribe without await ------------------------------------------------


def trigger_count(engine: Engine) -> int:
    with urllib.request.urlopen(f"http://{engine.addr}/metrics", timeout=WAIT) as response:
        text = response.read().decode()
    match = re.search(r"^statewell_triggers (\d+)$", text, re.MULTILINE)
    assert match, "the engine's /metrics has no statewell_triggers gauge"
    return int(match.group(1))


async def until(check: Any, what: str) -> None:
    for _ in range(400):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def test_an_async_unsubscribe_called_without_await_still_unsubscribes(own_engine: Engine) -> None:
    own_engine.start()
    group = "unsubscribe"

    async def run() -> None:
        async with statewell.AsyncClient(own_engine.ws_url) as sw:
            gone: asyncio.Queue[Any] = asyncio.Queue()
            stays: asyncio.Queue[Any] = asyncio.Queue()

            async def on_gone(event: Any) -> None:
                await gone.put(event)

            async def on_stays(event: Any) -> None:
                await stays.put(event)

            unsubscribe = await sw.on_state_change(on_gone, group_id=group)
            await sw.on_state_change(on_stays, group_id=group)
            await until(lambda: asyncio.to_thread(lambda: trigger_count(own_engine) == 2), "two triggers")

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                unsubscribe()  # no await: the mistake this test is about
                gc.collect()  # a coroutine never awaited would warn here
            assert [w for w in caught if issubclass(w.category, RuntimeWarning)] == []

            # The engine dropped the trigger...
            await until(lambda: asyncio.to_thread(lambda: trigger_count(own_engine) == 1), "the trigger to go")
            # ...and a later change reaches only the live one.
            await sw.set(group, "after", 1)
            event = await asyncio.wait_for(stays.get(), WAIT)
            assert event["key"] == "after"
            assert gone.empty()
            # Awaiting it (again) is allowed and changes nothing.
            await unsubscribe()
            assert trigger_count(own_engine) == 1

    asyncio.run(run())


def test_an_async_unregister_called_without_await_still_unregisters(engine: Engine) -> None:
    function_id = f"test::temp::{uuid.uuid4().hex[:8]}"

    async def run() -> None:
        async with statewell.AsyncClient(engine.ws_url) as owner, statewell.AsyncClient(engine.ws_url) as caller:
            unregister = await owner.register_function(function_id, lambda p: p)
            for _ in range(200):
                try:
                    assert await caller.invoke(function_id, 7) == 7
                    break
                except statewell.StateError as err:
                    assert err.code == "function_not_found"
                    await asyncio.sleep(0.025)
            unregister()  # no await

            async def gone() -> bool:
                try:
                    await caller.invoke(function_id, 7)
                except statewell.StateError as err:
                    return err.code == "function_not_found"
                return False

            await until(gone, "the function to be unregistered")

    asyncio.run(run())


# --- typed get ------------------------------------------------------------------


def test_get_with_a_type_returns_the_value(engine: Engine, group: str) -> None:
    with statewell.connect(engine.ws_url) as sw:
        sw.set(group, "o-1", {"status": "new", "total": 42})
        assert sw.get(group, "o-1", type=dict) == {"status": "new", "total": 42}
        assert sw.get(group, "missing", type=dict) is None
        assert sw.list(group, type=dict) == [{"status": "new", "total": 42}]


TYPED_USE = """
from typing import TypedDict
import statewell

class Order(TypedDict):
    status: str
    total: int

async def typed(sw: statewell.AsyncClient) -> None:
    order = await sw.get("orders", "o-1", type=Order)
    if order is not None:
        total: int = order["total"]
    orders: list[Order] = await sw.list("orders", type=Order)
    anything = await sw.get("orders", "o-1")
    anything.whatever()

def sync(sw: statewell.Client) -> None:
    order = sw.get("orders", "o-1", type=Order)
    status: str | None = order["status"] if order is not None else None
"""

WRONG_USES = {
    "a field of the wrong type": "total: str = order['total'] if (order := sw.get('g', 'k', type=Order)) else ''",
    "a possibly missing value used as found": "total: int = sw.get('g', 'k', type=Order)['total']",
}


def test_mypy_checks_the_typed_get(tmp_path: Path) -> None:
    def mypy(source: str) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "use.py"
        path.write_text(source)
        return subprocess.run(
            [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(path)],
            cwd=tmp_path,
            check=False,
            capture_output=True,
            text=True,
        )

    good = mypy(TYPED_USE)
    assert good.returncode == 0, good.stdout
    header = TYPED_USE.split("async def")[0] + "def wrong(sw: statewell.Client) -> None:\n    "
    for what, line in WRONG_USES.items():
        bad = mypy(header + line + "\n")
        assert bad.returncode == 1, f"{what}: {bad.stdout}"
        assert "error:" in bad.stdout, f"{what}: {bad.stdout}"
