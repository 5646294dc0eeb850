"""Typed shapes of what the engine returns and of update operations.

Results are plain dicts typed as ``TypedDict``: they are exactly the JSON the
engine sends (the same shapes the TypeScript SDK and the published iii clients
see), so ``result["new_value"]`` reads as in Motia's state documentation and a
result can be logged or re-serialised without conversion.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypeAlias, TypedDict

#: A path inside a value: a string is ONE literal top-level field name
#: (``"a.b"`` is the field named ``a.b``); ``""`` is the whole value; a list of
#: strings is a nested path.
Path: TypeAlias = str | list[str]


class SetResult(TypedDict):
    """Result of ``set``: the value before (``None`` when the key was new) and after."""

    old_value: Any
    new_value: Any


class OpError(TypedDict):
    """One update operation that failed (it was skipped; the others applied)."""

    op_index: int
    code: str
    message: str
    doc_url: NotRequired[str]


class UpdateResult(TypedDict):
    """Result of ``update``. ``errors`` is always present (``[]`` when every op applied)."""

    old_value: Any
    new_value: Any
    errors: list[OpError]


class Item(TypedDict):
    """One item of ``list_items``: its key, value and store version."""

    key: str
    value: Any
    version: NotRequired[int]


class ItemsPage(TypedDict):
    """A page of ``list_items``. ``next`` is the cursor for ``after`` (the last
    key of this page), or ``None`` on the last page."""

    items: list[Item]
    next: str | None


# --- update operations (tagged by "type") ---------------------------------


class SetOp(TypedDict):
    type: Literal["set"]
    path: Path
    value: Any


class MergeOp(TypedDict):
    type: Literal["merge"]
    path: NotRequired[Path]
    value: dict[str, Any]


class IncrementOp(TypedDict):
    type: Literal["increment"]
    path: Path
    by: int | float


class DecrementOp(TypedDict):
    type: Literal["decrement"]
    path: Path
    by: int | float


class AppendOp(TypedDict):
    type: Literal["append"]
    path: NotRequired[Path]
    value: Any


class RemoveOp(TypedDict):
    type: Literal["remove"]
    path: Path


#: Any update operation. Ops are plain dicts, e.g.
#: ``{"type": "increment", "path": "count", "by": 1}``.
UpdateOp: TypeAlias = SetOp | MergeOp | IncrementOp | DecrementOp | AppendOp | RemoveOp


class StateEvent(TypedDict):
    """What a state-change handler receives (docs/PROTOCOL.md, state triggers)."""

    type: Literal["state"]
    event_type: Literal["state:created", "state:updated", "state:deleted"]
    scope: str
    key: str
    old_value: Any
    new_value: Any
