"""The synchronous client: ``Client`` and ``connect``.

It drives an ``AsyncClient`` on an event loop of its own, in a daemon thread,
so that one socket still carries every call — calls made from many threads at
once are multiplexed exactly as in asyncio code.
"""

from __future__ import annotations

import asyncio
import builtins
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Self, TypeVar, overload

from ._config import DEFAULT_TIMEOUT
from .aio import AsyncClient, AsyncUnsubscribe, Condition, Handler, StateHandler
from .errors import ConnectionError as StateConnectionError
from .types import Item, ItemsPage, SetResult, UpdateOp, UpdateResult

T = TypeVar("T")

#: Returned by ``register_function`` and ``on_state_change``: undoes them.
Unsubscribe = Callable[[], None]


class Client:
    """A connection to a statewell engine, for ordinary (blocking) code.

    >>> with Client() as sw:                                   # doctest: +SKIP
    ...     sw.set("orders", "o-1", {"status": "new"})

    Connects when constructed (arguments as for ``connect``); raises
    ``ConnectionError`` / ``AuthenticationError`` when the engine cannot be
    reached or refuses the token. Thread-safe.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        connect_retry: float = 0.0,
    ) -> None:
        # Checked before a thread exists, so a bad argument leaves nothing running.
        self._async = AsyncClient(url, token, timeout, connect_retry=connect_retry)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="statewell-loop", daemon=True)
        self._thread.start()
        self._closed = False
        try:
            self._run(self._async.connect())
        except BaseException:
            self._stop_loop()
            raise

    # --- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        """Close the connection and stop the background thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._run(self._async.close())
        finally:
            self._stop_loop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def state(self) -> Self:
        """The client itself, so code written for Motia's ``state`` reads ``sw.state.set(...)``."""
        return self

    @property
    def url(self) -> str:
        return self._async.url

    @property
    def connected(self) -> bool:
        return self._async.connected

    @property
    def connections(self) -> int:
        """How many sockets were opened so far (grows by one per reconnection)."""
        return self._async.connections

    # --- state -------------------------------------------------------------

    def set(
        self,
        group_id: str,
        key: str,
        value: Any,
        *,
        if_version: int | None = None,
        if_absent: bool | None = None,
        idempotency_key: str | None = None,
    ) -> SetResult:
        """Store ``value``; returns ``{"old_value", "new_value"}`` (old is ``None`` when new).
        Conditions and the idempotency key as in ``AsyncClient.set``."""
        return self._run(
            self._async.set(
                group_id, key, value, if_version=if_version, if_absent=if_absent, idempotency_key=idempotency_key
            )
        )

    def get_item(self, group_id: str, key: str) -> Item | None:
        """The item as ``{key, value, version}``, or ``None`` when the key is missing."""
        return self._run(self._async.get_item(group_id, key))

    def transaction(self, ops: Sequence[dict[str, Any]], *, idempotency_key: str | None = None) -> dict[str, Any]:
        """Apply ops all or nothing (see ``AsyncClient.transaction``)."""
        return self._run(self._async.transaction(ops, idempotency_key=idempotency_key))

    @overload
    def get(self, group_id: str, key: str) -> Any: ...
    @overload
    def get(self, group_id: str, key: str, type: builtins.type[T]) -> T | None: ...
    def get(self, group_id: str, key: str, type: builtins.type[Any] | None = None) -> Any:
        """The stored value, or ``None`` when the key is missing. ``type``
        types the result statically (see ``AsyncClient.get``)."""
        return self._run(self._async.get(group_id, key))

    def delete(
        self,
        group_id: str,
        key: str,
        *,
        if_version: int | None = None,
        if_absent: bool | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Remove one item; returns the value it had, or ``None`` when it was missing."""
        return self._run(
            self._async.delete(
                group_id, key, if_version=if_version, if_absent=if_absent, idempotency_key=idempotency_key
            )
        )

    @overload
    def list(self, group_id: str) -> builtins.list[Any]: ...
    @overload
    def list(self, group_id: str, type: builtins.type[T]) -> builtins.list[T]: ...
    def list(self, group_id: str, type: builtins.type[Any] | None = None) -> builtins.list[Any]:
        """Every value of the group, in key order (``[]`` for an unknown group).
        ``type`` types the values statically, as for ``get``."""
        return self._run(self._async.list(group_id))

    def list_items(
        self,
        group_id: str,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> ItemsPage:
        """One page of ``{key, value, version}`` items; pass ``next`` as ``after`` for the next page."""
        return self._run(self._async.list_items(group_id, prefix=prefix, after=after, limit=limit))

    def clear(self, group_id: str, *, idempotency_key: str | None = None) -> int:
        """Remove every item of the group; returns how many were removed."""
        return self._run(self._async.clear(group_id, idempotency_key=idempotency_key))

    def list_groups(self) -> builtins.list[str]:
        """The names of every group that holds at least one item, sorted."""
        return self._run(self._async.list_groups())

    def update(
        self,
        group_id: str,
        key: str,
        ops: UpdateOp | Sequence[UpdateOp],
        *,
        if_version: int | None = None,
        if_absent: bool | None = None,
        idempotency_key: str | None = None,
    ) -> UpdateResult:
        """Apply ``ops`` (one op, or a list) atomically, in order; failed ops
        are skipped and reported in ``errors``."""
        return self._run(
            self._async.update(
                group_id, key, ops, if_version=if_version, if_absent=if_absent, idempotency_key=idempotency_key
            )
        )

    # --- functions and triggers -------------------------------------------

    def invoke(self, function_id: str, payload: Any = None, timeout: float | None = None) -> Any:
        """Call any function the engine knows (another worker's, or a ``state::`` one)."""
        return self._run(self._async.invoke(function_id, payload, timeout))

    def invoke_void(self, function_id: str, payload: Any = None) -> None:
        """Fire and forget: the engine sends no answer."""
        self._run(self._async.invoke_void(function_id, payload))

    def register_function(self, function_id: str, handler: Handler, description: str | None = None) -> Unsubscribe:
        """Make ``handler`` callable by every worker as ``function_id``.

        Plain-function handlers run in a worker thread and may call this
        client. Returns a function that unregisters it.
        """
        undo = self._run(self._async.register_function(function_id, handler, description))
        return lambda: self._run(_done(undo))

    def unregister_function(self, function_id: str) -> None:
        self._run(_done(lambda: self._async.unregister_function(function_id)))

    def on_state_change(
        self,
        handler: StateHandler,
        *,
        group_id: str | None = None,
        key: str | None = None,
        condition: Condition | None = None,
    ) -> Unsubscribe:
        """Run ``handler(event)`` after every committed change in ``group_id``
        (and ``key``); returns an unsubscribe function."""
        undo = self._run(
            self._async.on_state_change(handler, group_id=group_id, key=key, condition=condition)
        )
        return lambda: self._run(_done(undo))

    # --- internals ---------------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                "a synchronous statewell.Client was called from its own event loop; "
                "use plain (non-async) handlers with Client, or use AsyncClient"
            )
        if self._closed and not self._loop.is_running():
            coro.close()
            raise StateConnectionError("closed", "the client is closed")
        # Every call carries its own timeout inside, so this wait is bounded.
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _stop_loop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._loop.is_running():
            self._loop.close()


async def _done(undo: AsyncUnsubscribe) -> None:
    """Runs an unsubscribe on the client's loop and waits until it was sent."""
    await undo()


def connect(
    url: str | None = None,
    token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    connect_retry: float = 0.0,
) -> Client:
    """Connect a synchronous ``Client``.

    ``url``: ``ws://``, ``wss://``, ``http://`` or ``https://`` (the latter
    two taken as ``ws://``/``wss://``); default ``$STATEWELL_URL`` when set,
    else ``ws://127.0.0.1:49134``. ``token`` defaults to ``$STATEWELL_TOKEN``.
    ``timeout`` (seconds) bounds every call, waiting for a reconnection
    included. When no engine answers, fails at once with ``ConnectionError``
    (``connect_failed``), or keeps retrying with backoff for
    ``connect_retry`` seconds first (for an engine still starting).
    """
    return Client(url, token, timeout, connect_retry=connect_retry)
