"""State through the real published Python client, ``iii-sdk`` 0.25.0, used
exactly as an iii / Motia Python worker uses it: ``register_worker(url)`` and
``worker.trigger({"function_id": "state::...", "payload": {...}})``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from iii import InitOptions, InvocationError, register_worker
from iii.iii import III

from engine import Engine


@pytest.fixture
def worker(engine: Engine) -> Iterator[III]:
    w = register_worker(
        engine.ws_url,
        InitOptions(worker_name="statewell-compat", enable_metrics_reporting=False, otel={"enabled": False}),
    )
    yield w
    w.shutdown()


def call(worker: III, function_id: str, payload: dict[str, Any]) -> Any:
    return worker.trigger({"function_id": function_id, "payload": payload})


def test_set_get_update_list_delete_list_groups(worker: III, scope: str) -> None:
    assert call(worker, "state::set", {"scope": scope, "key": "o-1", "value": {"status": "new", "total": 42}}) == {
        "old_value": None,
        "new_value": {"status": "new", "total": 42},
    }
    assert call(worker, "state::get", {"scope": scope, "key": "o-1"}) == {"status": "new", "total": 42}
    # A missing key: the engine omits `result` and the client returns None.
    assert call(worker, "state::get", {"scope": scope, "key": "missing"}) is None

    updated = call(
        worker,
        "state::update",
        {
            "scope": scope,
            "key": "o-1",
            "ops": [
                {"type": "set", "path": "status", "value": "paid"},
                {"type": "increment", "path": "attempts", "by": 1},
                {"type": "decrement", "path": "total", "by": 2},
            ],
        },
    )
    assert updated["old_value"] == {"status": "new", "total": 42}
    assert updated["new_value"] == {"status": "paid", "total": 40, "attempts": 1}
    assert "errors" not in updated  # only present when an op failed

    failed = call(
        worker, "state::update", {"scope": scope, "key": "o-1", "ops": [{"type": "increment", "path": "status", "by": 1}]}
    )
    assert [e["code"] for e in failed["errors"]] == ["increment.not_number"]

    call(worker, "state::set", {"scope": scope, "key": "o-0", "value": {"status": "new"}})
    assert call(worker, "state::list", {"scope": scope}) == [
        {"status": "new"},
        {"status": "paid", "total": 40, "attempts": 1},
    ]
    groups = call(worker, "state::list_groups", {})
    assert scope in groups["groups"]
    assert groups["groups"] == sorted(groups["groups"])

    assert call(worker, "state::delete", {"scope": scope, "key": "o-0"}) == {"status": "new"}
    assert call(worker, "state::delete", {"scope": scope, "key": "o-0"}) is None
    assert call(worker, "state::delete", {"scope": scope, "key": "o-1"})["status"] == "paid"
    assert call(worker, "state::list", {"scope": scope}) == []
    assert scope not in call(worker, "state::list_groups", {})["groups"]


def test_statewell_additions_reachable_through_trigger(worker: III, scope: str) -> None:
    for i in range(3):
        call(worker, "state::set", {"scope": scope, "key": f"k{i}", "value": i})
    page = call(worker, "state::list_items", {"scope": scope, "limit": 2})
    assert [(it["key"], it["value"]) for it in page["items"]] == [("k0", 0), ("k1", 1)]
    assert page["next"] == "k1"
    assert call(worker, "state::clear", {"scope": scope}) == {"deleted": 3}


def test_engine_errors_arrive_as_invocation_errors(worker: III, scope: str) -> None:
    with pytest.raises(InvocationError) as unknown:
        call(worker, "state::nope", {"scope": scope})
    assert unknown.value.code == "function_not_found"
    with pytest.raises(InvocationError) as missing_key:
        call(worker, "state::set", {"scope": scope, "value": 1})
    assert missing_key.value.code == "deserialization_error"
    with pytest.raises(InvocationError) as bad_op:
        call(worker, "state::update", {"scope": scope, "key": "k", "ops": [{"type": "bogus"}]})
    assert bad_op.value.code == "deserialization_error"


def test_async_trigger_with_many_calls_in_flight(worker: III, scope: str) -> None:
    async def run() -> list[Any]:
        return await asyncio.gather(
            *(
                worker.trigger_async(
                    {
                        "function_id": "state::update",
                        "payload": {"scope": scope, "key": "counter", "ops": [{"type": "increment", "path": "n", "by": 1}]},
                    }
                )
                for _ in range(50)
            )
        )

    results = asyncio.run(run())
    assert sorted(r["new_value"]["n"] for r in results) == list(range(1, 51))
    assert call(worker, "state::get", {"scope": scope, "key": "counter"}) == {"n": 50}
