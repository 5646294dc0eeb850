"""Transport behaviour that the real engine never shows on purpose (a peer that
accepts calls and never answers), checked against a tiny WebSocket server on
127.0.0.1 that this test runs itself."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

import statewell


async def silent_engine(received: list[dict[str, Any]]) -> Any:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "workerregistered", "worker_id": "w-1"}))
        async for raw in ws:
            received.append(json.loads(raw))  # ...and never answer

    return await serve(handler, "127.0.0.1", 0)


def test_unanswered_call_times_out_with_a_clear_error() -> None:
    async def run() -> None:
        received: list[dict[str, Any]] = []
        server = await silent_engine(received)
        port = server.sockets[0].getsockname()[1]
        try:
            async with statewell.AsyncClient(f"ws://127.0.0.1:{port}", timeout=0.3) as sw:
                with pytest.raises(statewell.TimeoutError) as err:
                    await sw.get("g", "k")
                assert err.value.code == "timeout"
                assert "state::get" in err.value.message
                assert isinstance(err.value, TimeoutError)
        finally:
            server.close()
            await server.wait_closed()
        # The frames on the wire are the worker protocol's.
        register, call = received[0], received[1]
        assert register["function_id"] == "engine::workers::register"
        assert register["action"] == {"type": "void"}
        assert register["data"]["runtime"] == "python"
        assert call["type"] == "invokefunction"
        assert call["function_id"] == "state::get"
        assert call["data"] == {"scope": "g", "key": "k"}
        assert len(call["invocation_id"]) == 36

    asyncio.run(run())


def test_sync_client_times_out_too() -> None:
    received: list[dict[str, Any]] = []
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(silent_engine(received))
    port = server.sockets[0].getsockname()[1]

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        with statewell.connect(f"ws://127.0.0.1:{port}", timeout=0.3) as sw, pytest.raises(statewell.TimeoutError):
            sw.set("g", "k", 1)
    finally:

        async def shutdown() -> None:
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
