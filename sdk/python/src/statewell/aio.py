"""The asyncio client: ``AsyncClient`` and ``connect_async``."""

from __future__ import annotations

import asyncio
import builtins
import inspect
import logging
import traceback
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Self, TypeVar, cast, overload

from ._config import DEFAULT_TIMEOUT, resolve_token, resolve_url
from ._connection import Connection
from .errors import StateError
from .types import Item, ItemsPage, SetResult, StateEvent, UpdateOp, UpdateResult

T = TypeVar("T")

log = logging.getLogger("statewell")

#: A function handler: takes the payload, returns a JSON-able result (or an
#: awaitable of one). Plain functions run in a worker thread so that they
#: never block the connection.
Handler = Callable[[Any], Any]
#: A state-change handler; receives a ``StateEvent``.
StateHandler = Callable[[StateEvent], Any]
#: A trigger condition; the handler runs only when it returns a truthy value.
Condition = Callable[[StateEvent], Any]
#: Returned by ``register_function`` and ``on_state_change``: undoes them.
#: Calling it does the job (the handler stops at once, the engine is told
#: from a task of its own); awaiting what it returns, optionally, waits until
#: the engine has been sent the news. So a forgotten ``await`` loses nothing.
AsyncUnsubscribe = Callable[[], Awaitable[None]]


class AsyncClient:
    """A connection to a statewell engine, for asyncio code.

    >>> async with AsyncClient() as sw:                       # doctest: +SKIP
    ...     await sw.set("orders", "o-1", {"status": "new"})

    Every method may be called concurrently: one socket carries all calls.
    Arguments are those of ``connect_async``.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        connect_retry: float = 0.0,
    ) -> None:
        self._conn = Connection(
            resolve_url(url), resolve_token(token), timeout, self._on_invoke, connect_retry=connect_retry
        )
        self._functions: dict[str, Handler] = {}
        self._opened = False

    # --- lifecycle ---------------------------------------------------------

    async def connect(self) -> Self:
        """Open the connection (idempotent). Raises ``ConnectionError`` (code
        ``connect_failed``) when no engine answers (at once, or after the
        ``connect_retry`` budget), ``AuthenticationError`` when the engine
        refuses the token."""
        if not self._opened:
            await self._conn.open()
            self._opened = True
        return self

    async def close(self) -> None:
        """Close the connection; calls still in flight fail with ``ConnectionError`` (code ``closed``)."""
        await self._conn.close()

    async def __aenter__(self) -> Self:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def state(self) -> Self:
        """The client itself, so code written for Motia's ``state`` reads ``sw.state.set(...)``."""
        return self

    @property
    def url(self) -> str:
        return self._conn.url

    @property
    def connected(self) -> bool:
        return self._conn.connected

    @property
    def connections(self) -> int:
        """How many sockets were opened so far (grows by one per reconnection)."""
        return self._conn.connections

    # --- state -------------------------------------------------------------

    async def set(
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

        ``if_version`` applies it only while the item's version is that one,
        ``if_absent`` only while it does not exist (else ``ConflictError``);
        a repeat of ``idempotency_key`` answers the first result and applies nothing."""
        data = _with_options({"scope": group_id, "key": key, "value": value}, if_version, if_absent, idempotency_key)
        result = await self._result("state::set", data)
        return _as_set_result(result)

    async def get_item(self, group_id: str, key: str) -> Item | None:
        """The item as ``{key, value, version}`` (the version is what
        ``if_version`` takes), or ``None`` when the key is missing."""
        result = await self._result("state::get_item", {"scope": group_id, "key": key})
        return cast(Item, result) if isinstance(result, dict) else None

    async def transaction(self, ops: Sequence[dict[str, Any]], *, idempotency_key: str | None = None) -> dict[str, Any]:
        """Apply up to 1,000 ops (``{"type": "set"|"update"|"delete"|"check",
        "group_id", "key", "value"?, "ops"?, "if_version"?, "if_absent"?}``) all
        or nothing; returns ``{"results": [...]}``, each op's result in order.
        A failed condition raises ``ConflictError`` with ``op_index``."""
        wire = [_wire_op(op) for op in ops]
        data = _with_options({"ops": wire}, None, None, idempotency_key)
        result = await self._result("state::transaction", data)
        if not isinstance(result, dict) or not isinstance(result.get("results"), list):
            raise StateError("unexpected_response", f"state::transaction answered {result!r}")
        return result

    @overload
    async def get(self, group_id: str, key: str) -> Any: ...
    @overload
    async def get(self, group_id: str, key: str, type: builtins.type[T]) -> T | None: ...
    async def get(self, group_id: str, key: str, type: builtins.type[Any] | None = None) -> Any:
        """The stored value, or ``None`` when the key is missing.

        ``type`` (e.g. a ``TypedDict``) types the result for mypy/pyright as
        ``type | None``, like ``get<T>`` in TypeScript; it is not checked at
        run time (the value is the JSON the engine holds)."""
        return await self._result("state::get", {"scope": group_id, "key": key})

    async def delete(
        self,
        group_id: str,
        key: str,
        *,
        if_version: int | None = None,
        if_absent: bool | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Remove one item; returns the value it had, or ``None`` when it was missing."""
        data = _with_options({"scope": group_id, "key": key}, if_version, if_absent, idempotency_key)
        return await self._result("state::delete", data)

    @overload
    async def list(self, group_id: str) -> builtins.list[Any]: ...
    @overload
    async def list(self, group_id: str, type: builtins.type[T]) -> builtins.list[T]: ...
    async def list(self, group_id: str, type: builtins.type[Any] | None = None) -> builtins.list[Any]:
        """Every value of the group, in key order (``[]`` for an unknown group).
        ``type`` types the values statically, as for ``get``."""
        result = await self._result("state::list", {"scope": group_id})
        return list(result) if isinstance(result, list) else []

    async def list_items(
        self,
        group_id: str,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> ItemsPage:
        """One page of ``{key, value, version}`` items in key order.

        Pass the page's ``next`` as ``after`` to get the following page;
        ``next`` is ``None`` on the last page.
        """
        data: dict[str, Any] = {"scope": group_id}
        if prefix is not None:
            data["prefix"] = prefix
        if after is not None:
            data["after"] = after
        if limit is not None:
            data["limit"] = limit
        result = await self._result("state::list_items", data)
        return _as_items_page(result)

    async def clear(self, group_id: str, *, idempotency_key: str | None = None) -> int:
        """Remove every item of the group; returns how many were removed."""
        data = _with_options({"scope": group_id}, None, None, idempotency_key)
        result = await self._result("state::clear", data)
        deleted = result.get("deleted") if isinstance(result, dict) else None
        if not isinstance(deleted, int):
            raise StateError("unexpected_response", f"state::clear answered {result!r}")
        return deleted

    async def list_groups(self) -> builtins.list[str]:
        """The names of every group that holds at least one item, sorted."""
        result = await self._result("state::list_groups", {})
        groups = result.get("groups") if isinstance(result, dict) else None
        if not isinstance(groups, list):
            raise StateError("unexpected_response", f"state::list_groups answered {result!r}")
        return [str(g) for g in groups]

    async def update(
        self,
        group_id: str,
        key: str,
        ops: UpdateOp | Sequence[UpdateOp],
        *,
        if_version: int | None = None,
        if_absent: bool | None = None,
        idempotency_key: str | None = None,
    ) -> UpdateResult:
        """Apply ``ops`` (one op, or a list of them) atomically, in order. An
        op that fails is skipped and reported in ``errors``; the others still apply."""
        data = _with_options(
            {"scope": group_id, "key": key, "ops": op_list(ops)}, if_version, if_absent, idempotency_key
        )
        result = await self._result("state::update", data)
        return _as_update_result(result)

    # --- functions and triggers -------------------------------------------

    async def invoke(self, function_id: str, payload: Any = None, timeout: float | None = None) -> Any:
        """Call any function the engine knows (another worker's, or a ``state::`` one)."""
        if not self._opened:
            await self.connect()
        reply = await self._conn.call(function_id, payload, timeout)
        return reply.get("result")

    async def invoke_void(self, function_id: str, payload: Any = None) -> None:
        """Fire and forget: the engine sends no answer, errors are not reported."""
        if not self._opened:
            await self.connect()
        await self._conn.send_void(function_id, payload)

    async def register_function(
        self, function_id: str, handler: Handler, description: str | None = None
    ) -> AsyncUnsubscribe:
        """Make ``handler`` callable by every worker as ``function_id``.

        The handler gets the payload and returns a JSON-able result; it may be
        ``async``. An exception it raises goes back to the caller as a
        function error (code ``invocation_failed``, or the ``code`` of a
        ``StateError``). Registrations are replayed after a reconnection.
        Returns a function that unregisters it (see ``AsyncUnsubscribe``:
        calling it is enough, awaiting it optional).
        """
        if not isinstance(function_id, str) or not function_id:
            raise StateError("invalid_argument", "function_id must be a non-empty string")
        frame: dict[str, Any] = {"type": "registerfunction", "id": function_id}
        if description is not None:
            frame["description"] = description
        self._functions[function_id] = handler
        await self._conn.register(("function", function_id), frame)
        return lambda: self.unregister_function(function_id)

    def unregister_function(self, function_id: str) -> Awaitable[None]:
        """Stop serving ``function_id``: at once here, and the engine is told
        from a task of its own; await the result to wait until it was sent."""
        return self._unregister(None, [function_id])

    def _unregister(self, trigger_id: str | None, function_ids: builtins.list[str]) -> Awaitable[None]:
        # Synchronous up to the returned task: a caller that does not await
        # still unregisters (an ``async def`` would do nothing until awaited).
        undo: builtins.list[tuple[tuple[str, str], dict[str, Any]]] = []
        if trigger_id is not None:
            undo.append(
                (("trigger", trigger_id), {"type": "unregistertrigger", "id": trigger_id, "trigger_type": "state"})
            )
        for function_id in function_ids:
            self._functions.pop(function_id, None)
            undo.append((("function", function_id), {"type": "unregisterfunction", "id": function_id}))
        return self._conn.unregister(undo)

    async def on_state_change(
        self,
        handler: StateHandler,
        *,
        group_id: str | None = None,
        key: str | None = None,
        condition: Condition | None = None,
    ) -> AsyncUnsubscribe:
        """Run ``handler(event)`` after every committed change in ``group_id``
        (and ``key``, when given; every group when neither is given).

        ``condition(event)`` is asked first when given; the handler runs only
        when it returns a truthy value. Returns an unsubscribe function
        (see ``AsyncUnsubscribe``: calling it is enough, awaiting it optional).
        """
        tag = uuid.uuid4().hex
        handler_id = f"statewell::on_state_change::{tag}"
        await self.register_function(handler_id, handler)
        config: dict[str, Any] = {}
        if group_id is not None:
            config["scope"] = group_id
        if key is not None:
            config["key"] = key
        condition_id: str | None = None
        if condition is not None:
            condition_id = f"statewell::condition::{tag}"
            await self.register_function(condition_id, _as_bool(condition))
            config["condition_function_id"] = condition_id
        trigger_id = str(uuid.uuid4())
        await self._conn.register(
            ("trigger", trigger_id),
            {
                "type": "registertrigger",
                "id": trigger_id,
                "trigger_type": "state",
                "function_id": handler_id,
                "config": config,
            },
        )

        functions = [handler_id] if condition_id is None else [handler_id, condition_id]
        return lambda: self._unregister(trigger_id, functions)

    # --- internals ---------------------------------------------------------

    async def _result(self, function_id: str, data: dict[str, Any]) -> Any:
        if not self._opened:
            await self.connect()
        reply = await self._conn.call(function_id, data)
        return reply.get("result")

    async def _on_invoke(self, frame: dict[str, Any]) -> None:
        """Run a handler for an ``invokefunction`` the engine forwarded to us."""
        function_id = frame.get("function_id")
        invocation_id = frame.get("invocation_id")
        action = frame.get("action")
        wants_reply = isinstance(invocation_id, str) and not (
            isinstance(action, dict) and action.get("type") == "void"
        )
        handler = self._functions.get(function_id) if isinstance(function_id, str) else None
        reply: dict[str, Any] = {
            "type": "invocationresult",
            "invocation_id": invocation_id,
            "function_id": function_id,
        }
        if handler is None:
            reply["error"] = {"code": "function_not_found", "message": f"Function {function_id} not found"}
        else:
            try:
                result = await _call_handler(handler, frame.get("data"))
                if result is not None:
                    reply["result"] = result
            except Exception as exc:
                log.warning("statewell: handler %s failed: %r", function_id, exc)
                reply["error"] = {
                    "code": exc.code if isinstance(exc, StateError) else "invocation_failed",
                    "message": str(exc) if not isinstance(exc, StateError) else exc.message,
                    "stacktrace": "".join(traceback.format_exception(exc)),
                }
        if wants_reply:
            try:
                await self._conn.send_frame(reply)
            except StateError as exc:  # e.g. a result that is not JSON
                reply.pop("result", None)
                reply["error"] = {"code": exc.code, "message": exc.message}
                await self._conn.send_frame(reply)


async def _call_handler(handler: Handler, data: Any) -> Any:
    # An async def, or an object whose class defines an async __call__.
    if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(type(handler).__call__):
        return await handler(data)
    # A plain function may block (or call the synchronous Client): keep it
    # off the event loop that carries the connection.
    result = await asyncio.to_thread(handler, data)
    if inspect.isawaitable(result):
        return await result
    return result


def _as_bool(condition: Condition) -> Handler:
    async def check(event: Any) -> bool:
        return bool(await _call_handler(condition, event))

    return check


def _as_set_result(result: Any) -> SetResult:
    if not isinstance(result, dict) or "new_value" not in result:
        raise StateError("unexpected_response", f"state::set answered {result!r}")
    return {"old_value": result.get("old_value"), "new_value": result["new_value"]}


def _as_update_result(result: Any) -> UpdateResult:
    if not isinstance(result, dict):
        raise StateError("unexpected_response", f"state::update answered {result!r}")
    errors = result.get("errors")
    return {
        "old_value": result.get("old_value"),
        "new_value": result.get("new_value"),
        "errors": list(errors) if isinstance(errors, list) else [],
    }


def _as_items_page(result: Any) -> ItemsPage:
    if not isinstance(result, dict) or not isinstance(result.get("items"), list):
        raise StateError("unexpected_response", f"state::list_items answered {result!r}")
    nxt = result.get("next")
    return {"items": result["items"], "next": nxt if isinstance(nxt, str) else None}


def _with_options(
    data: dict[str, Any], if_version: int | None, if_absent: bool | None, idempotency_key: str | None
) -> dict[str, Any]:
    """Adds the wire fields of the options given (none when there are none)."""
    if if_version is not None:
        data["if_version"] = if_version
    if if_absent is not None:
        data["if_absent"] = if_absent
    if idempotency_key is not None:
        data["idempotency_key"] = idempotency_key
    return data


def _wire_op(op: dict[str, Any]) -> dict[str, Any]:
    """A transaction op in the wire's form: ``group_id`` is sent as ``scope``."""
    wire = dict(op)
    if "group_id" in wire:
        wire["scope"] = wire.pop("group_id")
    return wire


def op_list(ops: UpdateOp | Sequence[UpdateOp]) -> builtins.list[UpdateOp]:
    """One op (a dict) as a list of one; a sequence of ops as a list."""
    return [ops] if isinstance(ops, dict) else builtins.list(ops)


async def connect_async(
    url: str | None = None,
    token: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    connect_retry: float = 0.0,
) -> AsyncClient:
    """Connect an ``AsyncClient``.

    ``url``: ``ws://``, ``wss://``, ``http://`` or ``https://`` (the latter
    two taken as ``ws://``/``wss://``); default ``$STATEWELL_URL`` when set,
    else ``ws://127.0.0.1:49134``. ``token`` defaults to ``$STATEWELL_TOKEN``.
    ``timeout`` (seconds) bounds every call. When no engine answers, fails at
    once with ``ConnectionError`` (``connect_failed``), or keeps retrying with
    backoff for ``connect_retry`` seconds first (for an engine still starting).
    """
    return await AsyncClient(url, token, timeout, connect_retry=connect_retry).connect()
