"""One multiplexed worker-protocol connection, with reconnection.

Owns the WebSocket and nothing about state: it sends ``invokefunction``
frames, matches ``invocationresult`` frames to waiting calls by
``invocation_id``, fails every waiting call when the socket drops (so no call
ever hangs on a dead socket), reconnects with exponential backoff, and replays
the registration frames (functions, triggers) on every new socket, because the
engine ties registrations to the connection that made them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import platform
import random
import socket
import uuid
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from . import errors
from ._version import __version__
from .errors import AuthenticationError, StateError, error_for_code

log = logging.getLogger("statewell")

# Incoming frames can carry values up to the engine's value limit (1 MiB) plus
# framing; list results can carry many of them. Generous, but bounded.
MAX_INCOMING_FRAME = 64 * 1024 * 1024
BACKOFF_INITIAL = 0.1
BACKOFF_MAX = 5.0

#: Called for every ``invokefunction`` frame the engine sends us.
InvokeHandler = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]
#: A registration's key: ``("function", id)`` or ``("trigger", id)``.
RegistrationKey = tuple[str, str]


def _closed() -> errors.ConnectionError:
    return errors.ConnectionError("closed", "the client is closed")


class Connection:
    def __init__(
        self,
        url: str,
        token: str | None,
        timeout: float,
        on_invoke: InvokeHandler | None = None,
        connect_retry: float = 0.0,
    ) -> None:
        if not timeout > 0:
            raise StateError("invalid_argument", f"timeout must be > 0 seconds, got {timeout!r}")
        if not connect_retry >= 0:
            raise StateError("invalid_argument", f"connect_retry must be >= 0 seconds, got {connect_retry!r}")
        self.url = url
        self.timeout = timeout
        self.connect_retry = connect_retry
        self._token = token
        self._on_invoke = on_invoke
        self._ws: ClientConnection | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._connected = asyncio.Event()
        self._closed = False
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Insertion-ordered: functions are replayed before the triggers that
        # name them, as they were first sent.
        self._registrations: dict[RegistrationKey, dict[str, Any]] = {}
        self._last_error: str | None = None
        self.worker_id: str | None = None
        #: Number of sockets opened so far (1 after the first connect); lets
        #: callers and tests observe a reconnection.
        self.connections = 0

    # --- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        """Open the first socket. A failed attempt raises ``ConnectionError``
        (``connect_failed``) at once, unless ``connect_retry`` leaves time for
        another: then it retries with backoff. A refused token raises
        ``AuthenticationError`` at once, budget or not."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.connect_retry
        delay = BACKOFF_INITIAL
        while True:
            try:
                ws = await self._dial()
                try:
                    await self._on_open(ws)
                except ConnectionClosed as exc:
                    raise errors.ConnectionError(
                        "connect_failed", f"{self.url} closed the connection right after it opened ({exc})"
                    ) from None
                break
            except errors.ConnectionError as exc:
                pause = delay * random.uniform(0.8, 1.2)
                if loop.time() + pause > give_up_at:
                    if self.connect_retry == 0:
                        raise
                    raise errors.ConnectionError(
                        exc.code, f"{exc.message} (retried for {self.connect_retry:g}s)"
                    ) from None
                await asyncio.sleep(pause)
                delay = min(delay * 2, BACKOFF_MAX)
        self._runner = asyncio.create_task(self._run(), name="statewell-connection")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._connected.clear()
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                await ws.close()
            except Exception as exc:  # closing a broken socket must not mask the close
                log.debug("closing the socket raised %r", exc)
        if self._runner is not None:
            self._runner.cancel()
            # The runner ends cancelled, or with the error that broke it:
            # either way the client is closing and nothing waits for it.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
        for task in list(self._tasks):
            task.cancel()
        self._fail_pending(_closed())

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # --- calls -------------------------------------------------------------

    async def call(self, function_id: str, data: Any, timeout: float | None = None) -> dict[str, Any]:
        """Invoke ``function_id`` and return the raw ``invocationresult`` frame.

        Engine errors are raised as ``StateError(code)``; the caller reads
        ``result`` (absent means "nothing", e.g. a missing key).
        """
        budget = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        # Serialise before anything else: a value that is not JSON is the
        # caller's bug and must not look like a transport failure.
        invocation_id = str(uuid.uuid4())
        frame = _dumps(
            {
                "type": "invokefunction",
                "invocation_id": invocation_id,
                "function_id": function_id,
                "data": data,
            }
        )
        ws = await self._wait_connected(deadline, function_id)
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending[invocation_id] = future
        try:
            try:
                await ws.send(frame)
            except ConnectionClosed as exc:
                raise errors.ConnectionError(
                    "connection_lost", f"{function_id}: connection to {self.url} closed while sending ({exc})"
                ) from None
            remaining = max(0.0, deadline - loop.time())
            try:
                reply = await asyncio.wait_for(future, remaining)
            except TimeoutError:  # the builtin, from wait_for
                raise errors.TimeoutError(f"{function_id}: no answer from {self.url} within {budget:g}s") from None
        finally:
            self._pending.pop(invocation_id, None)
        error = reply.get("error")
        if error is not None:
            code, message = _error_fields(error)
            raise error_for_code(code, message, error if isinstance(error, dict) else None)
        return reply

    async def send_void(self, function_id: str, data: Any, timeout: float | None = None) -> None:
        """Fire-and-forget invocation: the engine sends no reply."""
        frame = _dumps(
            {
                "type": "invokefunction",
                "function_id": function_id,
                "data": data,
                "action": {"type": "void"},
            }
        )
        loop = asyncio.get_running_loop()
        budget = self.timeout if timeout is None else timeout
        ws = await self._wait_connected(loop.time() + budget, function_id)
        try:
            await ws.send(frame)
        except ConnectionClosed as exc:
            raise errors.ConnectionError(
                "connection_lost", f"{function_id}: connection closed while sending ({exc})"
            ) from None

    async def send_frame(self, frame: dict[str, Any]) -> None:
        """Send a frame now if connected; silently skip otherwise (used for
        registration frames, which are replayed on the next socket anyway)."""
        ws = self._ws
        if ws is None or not self._connected.is_set():
            return
        try:
            await ws.send(_dumps(frame))
        except ConnectionClosed:
            log.debug("socket closed while sending %s; it will be replayed", frame.get("type"))

    async def register(self, key: RegistrationKey, frame: dict[str, Any]) -> None:
        """Remember a registration frame (replayed on reconnect) and send it."""
        self._registrations[key] = frame
        await self.send_frame(frame)

    def unregister(self, undo: Iterable[tuple[RegistrationKey, dict[str, Any]]]) -> asyncio.Task[None]:
        """Forget registrations now (they are not replayed from this call on)
        and send their undo frames, in order, from a task of their own: the
        work starts whether or not the caller awaits the returned task."""
        frames = [frame for key, frame in undo if self._registrations.pop(key, None) is not None]

        async def send_all() -> None:
            for frame in frames:
                await self.send_frame(frame)

        task = asyncio.get_running_loop().create_task(send_all())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- internals ---------------------------------------------------------

    async def _wait_connected(self, deadline: float, what: str) -> ClientConnection:
        if self._closed:
            raise _closed()
        loop = asyncio.get_running_loop()
        if not self._connected.is_set():
            try:
                await asyncio.wait_for(self._connected.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:  # the builtin, from wait_for
                raise errors.ConnectionError(
                    "unavailable",
                    f"{what}: not connected to {self.url} within the timeout, so not sent "
                    f"(reconnecting; last error: {self._last_error or 'none'})",
                ) from None
        ws = self._ws
        if self._closed:
            raise _closed()
        if ws is None:
            raise errors.ConnectionError("unavailable", f"{what}: connection to {self.url} lost, so not sent")
        return ws

    async def _dial(self) -> ClientConnection:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
        try:
            return await ws_connect(
                self.url,
                additional_headers=headers,
                open_timeout=self.timeout,
                max_size=MAX_INCOMING_FRAME,
                # The protocol's keepalive: ping every 20 s; a peer that does
                # not answer for 20 s more is treated as gone.
                ping_interval=20,
                ping_timeout=20,
                close_timeout=2,
                compression=None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise AuthenticationError(
                    f"{self.url} refused the connection (HTTP {status}): wrong or missing token"
                ) from None
            raise errors.ConnectionError(
                "connect_failed",
                f"{self.url} refused the WebSocket upgrade (HTTP {status}): is this a statewell engine?",
            ) from None
        except InvalidURI as exc:
            raise StateError("invalid_argument", f"invalid engine URL {self.url!r}: {exc}") from None
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise errors.ConnectionError(
                "connect_failed", f"cannot connect to {self.url}: {exc or type(exc).__name__}"
            ) from None

    async def _on_open(self, ws: ClientConnection) -> None:
        """Make a fresh socket usable: announce the worker, replay registrations."""
        await ws.send(
            _dumps(
                {
                    "type": "invokefunction",
                    "function_id": "engine::workers::register",
                    "data": _worker_metadata(),
                    "action": {"type": "void"},
                }
            )
        )
        replayed = dict(self._registrations)
        for frame in replayed.values():
            await ws.send(_dumps(frame))
        # No await from here to set(): a registration made from now on sees
        # the socket as connected and sends itself.
        self._ws = ws
        self.connections += 1
        self._last_error = None
        self._connected.set()
        # Registrations made while the replay was being sent were skipped by
        # send_frame (not connected yet): send them now.
        for key, frame in list(self._registrations.items()):
            if replayed.get(key) is not frame:
                await self.send_frame(frame)
        # ...and undo the replayed ones that were unregistered meanwhile.
        for kind, ident in replayed.keys() - self._registrations.keys():
            await self.send_frame({"type": f"unregister{kind}", "id": ident})

    async def _run(self) -> None:
        """Read the current socket until it closes, then reconnect; forever, until close()."""
        while not self._closed:
            ws = self._ws
            if ws is not None:
                await self._read(ws)
            if self._closed:
                return
            self._ws = None
            self._connected.clear()
            self._fail_pending(
                errors.ConnectionError(
                    "connection_lost",
                    f"connection to {self.url} lost while the call was in flight "
                    "(it may or may not have been applied)",
                )
            )
            await self._reconnect()

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                self._dispatch(raw)
        except ConnectionClosed as exc:
            self._last_error = str(exc)
        except Exception as exc:  # a reader that dies silently would hang every call
            log.exception("statewell: reader failed")
            self._last_error = repr(exc)
        log.info("statewell: connection to %s closed", self.url)

    async def _reconnect(self) -> None:
        delay = BACKOFF_INITIAL
        attempt = 0
        while not self._closed:
            # Jitter spreads out many clients reconnecting to one restarted engine.
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            attempt += 1
            try:
                ws = await self._dial()
            except StateError as exc:
                self._last_error = exc.message
                log.debug("statewell: reconnect attempt %d failed: %s", attempt, exc)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            try:
                await self._on_open(ws)
            except ConnectionClosed as exc:
                self._last_error = str(exc)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            if self._closed:
                await ws.close()
                return
            log.info("statewell: reconnected to %s after %d attempt(s)", self.url, attempt)
            return

    def _dispatch(self, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            log.warning("statewell: ignoring a frame that is not JSON")
            return
        if not isinstance(frame, dict):
            return
        kind = frame.get("type")
        if kind == "invocationresult":
            future = self._pending.get(str(frame.get("invocation_id")))
            if future is not None and not future.done():
                future.set_result(frame)
        elif kind == "invokefunction":
            if self._on_invoke is not None:
                task = asyncio.create_task(self._on_invoke(frame))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        elif kind == "workerregistered":
            worker_id = frame.get("worker_id")
            self.worker_id = worker_id if isinstance(worker_id, str) else None
        elif kind == "triggerregistrationresult" and frame.get("error"):
            log.error("statewell: trigger %s was refused: %s", frame.get("id"), frame.get("error"))
        # Anything else (future engine frames) is ignored, as the protocol asks.

    def _fail_pending(self, error: StateError) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)


def _dumps(frame: dict[str, Any]) -> str:
    try:
        return json.dumps(frame, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StateError("invalid_argument", f"value is not JSON-serialisable: {exc}") from None


def _error_fields(error: Any) -> tuple[str, str]:
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message")
        return (
            code if isinstance(code, str) else "unknown",
            message if isinstance(message, str) else json.dumps(error),
        )
    return "unknown", str(error)


def _worker_metadata() -> dict[str, Any]:
    return {
        "runtime": "python",
        "version": __version__,
        "name": f"statewell-python:{socket.gethostname()}:{os.getpid()}",
        "os": f"{platform.system()} {platform.release()}".strip(),
        "pid": os.getpid(),
        "telemetry": {"language": "python", "framework": "statewell"},
    }
