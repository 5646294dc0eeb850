"""statewell: durable key-value state shared by workers in any language.

>>> import statewell                                          # doctest: +SKIP
>>> with statewell.connect() as sw:
...     sw.set("orders", "o-1", {"status": "new", "total": 42})
...     sw.update("orders", "o-1", [{"type": "set", "path": "status", "value": "paid"}])
...     sw.get("orders", "o-1")

``connect()`` gives a synchronous ``Client``; ``await connect_async()`` an
asyncio ``AsyncClient`` with the same methods.
"""

from ._config import DEFAULT_TIMEOUT, DEFAULT_URL
from ._version import __version__
from .aio import AsyncClient, connect_async
from .client import Client, connect
from .errors import (
    AuthenticationError,
    ConflictError,
    ConnectionError,
    StateError,
    TimeoutError,
)
from .types import (
    AppendOp,
    DecrementOp,
    IncrementOp,
    Item,
    ItemsPage,
    MergeOp,
    OpError,
    Path,
    RemoveOp,
    SetOp,
    SetResult,
    StateEvent,
    UpdateOp,
    UpdateResult,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "AppendOp",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "ConnectionError",
    "DecrementOp",
    "IncrementOp",
    "Item",
    "ItemsPage",
    "MergeOp",
    "OpError",
    "Path",
    "RemoveOp",
    "SetOp",
    "SetResult",
    "StateError",
    "StateEvent",
    "TimeoutError",
    "UpdateOp",
    "UpdateResult",
    "__version__",
    "connect",
    "connect_async",
]
