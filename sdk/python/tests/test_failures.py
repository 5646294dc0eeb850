"""Failure behaviour against the real engine: stopped mid-call, restarted,
wrong token. Each failure must be a typed StateError, never a hang."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import pytest

import statewell

from engine import Engine

INCREMENT: list[statewell.UpdateOp] = [{"type": "increment", "path": "n", "by": 1}]


def test_engine_killed_mid_call_fails_in_flight_calls_then_client_recovers(own_engine: Engine) -> None:
    own_engine.start()
    calls = 200
    entered, release = threading.Event(), threading.Event()

    def blocking(_: object) -> str:
        # Holds one call in flight for sure: the engine waits for this answer.
        entered.set()
        release.wait(30)
        return "too late"

    async def run() -> None:
        async with statewell.AsyncClient(own_engine.ws_url, timeout=15) as sw:
            await sw.set("g", "k", {"n": 0})
            await sw.register_function("test::blocking", blocking)

            async def stuck() -> str:
                for _ in range(100):  # until the engine has read the registration
                    try:
                        await sw.invoke("test::blocking", {})
                        return "ok"
                    except statewell.ConnectionError as err:
                        return "lost" if err.code == "connection_lost" else err.code
                    except statewell.StateError as err:
                        assert err.code == "function_not_found"
                        await asyncio.sleep(0.05)
                return "never registered"

            async def increment() -> str:
                try:
                    await sw.update("g", "k", INCREMENT)
                    return "ok"
                except statewell.ConnectionError:
                    return "lost"

            blocked = asyncio.create_task(stuck())
            assert await asyncio.to_thread(entered.wait, 30)
            increments = [asyncio.create_task(increment()) for _ in range(calls)]
            await asyncio.sleep(0)  # let them send
            assert own_engine.proc is not None
            os.kill(own_engine.proc.pid, signal.SIGKILL)

            # The blocked call fails with the typed error: it does not hang
            # until its timeout (that would be TimeoutError).
            assert await blocked == "lost"
            release.set()  # the handler's answer has nowhere to go now
            outcomes = await asyncio.gather(*increments)
            assert all(o in ("ok", "lost") for o in outcomes), outcomes
            acked = outcomes.count("ok")
            own_engine.proc.wait(timeout=30)

            # While the engine is down, a call fails with ConnectionError
            # once its timeout is spent (here a short one): unavailable, as
            # it was never sent.
            with pytest.raises(statewell.ConnectionError) as down:
                await sw.invoke("state::get", {"scope": "g", "key": "k"}, timeout=0.5)
            assert down.value.code == "unavailable"

            own_engine.restart()
            # The same client, without being told, reconnects and works again.
            value = await sw.get("g", "k")
            assert sw.connections >= 2
            # Nothing acknowledged was lost; nothing unsent was invented.
            assert acked <= value["n"] <= calls
            assert (await sw.update("g", "k", INCREMENT))["new_value"]["n"] == value["n"] + 1

    try:
        asyncio.run(run())
    finally:
        release.set()


def test_engine_stopped_gracefully_sync_client_recovers_after_restart(own_engine: Engine) -> None:
    own_engine.start()
    with statewell.connect(own_engine.ws_url, timeout=15) as sw:
        sw.set("g", "k", "before")
        assert own_engine.stop(signal.SIGTERM) == 0
        with pytest.raises(statewell.ConnectionError) as down:
            sw.invoke("state::get", {"scope": "g", "key": "k"}, timeout=0.5)
        assert down.value.code == "unavailable"
        own_engine.restart()
        assert sw.get("g", "k") == "before"
        sw.set("g", "k", "after")
        assert sw.get("g", "k") == "after"


def test_wrong_or_missing_token_is_refused_right_token_works(own_engine: Engine) -> None:
    own_engine.token = "s3cret-token"
    own_engine.start()
    with pytest.raises(statewell.AuthenticationError) as wrong:
        statewell.connect(own_engine.ws_url, token="not-it")
    assert wrong.value.code == "unauthorized"
    with pytest.raises(statewell.AuthenticationError):
        statewell.connect(own_engine.ws_url, token="")

    async def run() -> None:
        with pytest.raises(statewell.AuthenticationError):
            await statewell.connect_async(own_engine.ws_url, token="not-it")
        async with statewell.AsyncClient(own_engine.ws_url, token="s3cret-token") as sw:
            assert (await sw.set("g", "k", 1))["new_value"] == 1

    asyncio.run(run())
    with statewell.connect(own_engine.ws_url, token="s3cret-token") as sw:
        assert sw.get("g", "k") == 1


def test_token_from_environment(own_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    own_engine.token = "env-token"
    own_engine.start()
    monkeypatch.setenv("STATEWELL_TOKEN", "env-token")
    with statewell.connect(own_engine.ws_url) as sw:
        assert sw.set("g", "k", 1)["new_value"] == 1


