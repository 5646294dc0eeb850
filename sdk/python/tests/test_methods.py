"""Every state method, through the synchronous Client and the AsyncClient,
against the real engine."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import statewell

from engine import Engine


class AsyncFacade:
    """Calls the AsyncClient's real coroutines, one loop per test, so the same
    test body exercises both clients."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = self.loop.run_until_complete(statewell.connect_async(url, timeout=10))

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if attr is self.client:  # the `state` alias
            return self
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.loop.run_until_complete(attr(*args, **kwargs))

        return call

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


@pytest.fixture(params=["sync", "async"])
def sw(request: pytest.FixtureRequest, engine: Engine) -> Iterator[Any]:
    if request.param == "sync":
        client: Any = statewell.connect(engine.ws_url, timeout=10)
    else:
        client = AsyncFacade(engine.ws_url)
    yield client
    client.close()


def test_set_returns_old_and_new(sw: Any, group: str) -> None:
    assert sw.set(group, "o-1", {"status": "new", "total": 42}) == {
        "old_value": None,
        "new_value": {"status": "new", "total": 42},
    }
    assert sw.set(group, "o-1", [1, "two"]) == {
        "old_value": {"status": "new", "total": 42},
        "new_value": [1, "two"],
    }


def test_get_missing_is_none_and_values_round_trip(sw: Any, group: str) -> None:
    assert sw.get(group, "missing") is None
    for key, value in [("s", "text"), ("n", 12.5), ("b", False), ("a", [1, {"x": None}]), ("u", "é✓")]:
        sw.set(group, key, value)
        assert sw.get(group, key) == value
    sw.set(group, "null", None)
    assert sw.get(group, "null") is None


def test_delete_returns_the_old_value(sw: Any, group: str) -> None:
    sw.set(group, "k", {"v": 1})
    assert sw.delete(group, "k") == {"v": 1}
    assert sw.get(group, "k") is None
    assert sw.delete(group, "k") is None


def test_list_in_key_order_and_unknown_group_empty(sw: Any, group: str) -> None:
    for key in ["b", "c", "a"]:
        sw.set(group, key, key.upper())
    assert sw.list(group) == ["A", "B", "C"]
    assert sw.list(group + "-nothing") == []


def test_list_items_pages_with_prefix_and_cursor(sw: Any, group: str) -> None:
    for i in range(5):
        sw.set(group, f"o-{i}", i)
    sw.set(group, "x-1", "other")
    first = sw.list_items(group, prefix="o-", limit=2)
    assert [(it["key"], it["value"]) for it in first["items"]] == [("o-0", 0), ("o-1", 1)]
    assert first["next"] == "o-1"
    second = sw.list_items(group, prefix="o-", after=first["next"], limit=2)
    assert [it["key"] for it in second["items"]] == ["o-2", "o-3"]
    last = sw.list_items(group, prefix="o-", after=second["next"], limit=2)
    assert [it["key"] for it in last["items"]] == ["o-4"]
    assert last["next"] is None
    everything = sw.list_items(group)
    assert [it["key"] for it in everything["items"]] == ["o-0", "o-1", "o-2", "o-3", "o-4", "x-1"]
    assert all(isinstance(it.get("version"), int) for it in everything["items"])


def test_clear_counts_and_removes_the_group(sw: Any, group: str) -> None:
    for i in range(3):
        sw.set(group, str(i), i)
    assert group in sw.list_groups()
    assert sw.clear(group) == 3
    assert sw.list(group) == []
    assert group not in sw.list_groups()
    assert sw.clear(group) == 0


def test_list_groups_sorted_strings(sw: Any, group: str) -> None:
    sw.set(group + "-b", "k", 1)
    sw.set(group + "-a", "k", 1)
    groups = sw.list_groups()
    assert groups == sorted(groups)
    mine = [g for g in groups if g.startswith(group)]
    assert mine == [group + "-a", group + "-b"]


def test_update_applies_every_op_kind(sw: Any, group: str) -> None:
    result = sw.update(
        group,
        "o-1",
        [
            {"type": "set", "path": "status", "value": "paid"},
            {"type": "increment", "path": "count", "by": 2},
            {"type": "decrement", "path": "stock", "by": 1},
            {"type": "merge", "value": {"m": 1}},
            {"type": "append", "path": "log", "value": {"event": "created"}},
            {"type": "set", "path": ["meta", "by"], "value": "py"},
        ],
    )
    assert result == {
        "old_value": None,
        "new_value": {
            "status": "paid",
            "count": 2,
            "stock": -1,
            "m": 1,
            "log": [{"event": "created"}],
            "meta": {"by": "py"},
        },
        "errors": [],
    }
    again = sw.update(group, "o-1", [{"type": "remove", "path": "m"}, {"type": "increment", "path": "count", "by": 1}])
    assert again["old_value"]["count"] == 2
    assert again["new_value"]["count"] == 3
    assert "m" not in again["new_value"]
    assert sw.get(group, "o-1") == again["new_value"]


def test_update_reports_failed_ops_and_applies_the_rest(sw: Any, group: str) -> None:
    sw.set(group, "k", {"name": "x", "n": 1})
    result = sw.update(
        group,
        "k",
        [{"type": "increment", "path": "name", "by": 1}, {"type": "increment", "path": "n", "by": 1}],
    )
    assert result["new_value"] == {"name": "x", "n": 2}
    assert [(e["op_index"], e["code"]) for e in result["errors"]] == [(0, "increment.not_number")]


def test_bad_ops_raise_state_error_with_engine_code(sw: Any, group: str) -> None:
    with pytest.raises(statewell.StateError) as bogus:
        sw.update(group, "k", [{"type": "bogus", "path": "a"}])
    assert bogus.value.code == "deserialization_error"
    with pytest.raises(statewell.StateError) as no_by:
        sw.update(group, "k", [{"type": "increment", "path": "a"}])
    assert no_by.value.code == "deserialization_error"
    assert sw.get(group, "k") is None  # nothing was created


def test_empty_group_or_key_is_invalid_argument(sw: Any, group: str) -> None:
    with pytest.raises(statewell.StateError) as empty_key:
        sw.set(group, "", 1)
    assert empty_key.value.code == "invalid_argument"
    with pytest.raises(statewell.StateError) as empty_group:
        sw.get("", "k")
    assert empty_group.value.code == "invalid_argument"


def test_oversized_value_is_refused_and_the_client_stays_usable(sw: Any, group: str) -> None:
    with pytest.raises(statewell.StateError) as too_big:
        sw.set(group, "big", "x" * (1024 * 1024 + 1))
    assert too_big.value.code == "value_too_large"
    assert sw.get(group, "big") is None
    assert sw.set(group, "small", 1)["new_value"] == 1


def test_value_that_is_not_json_is_refused_before_sending(sw: Any, group: str) -> None:
    with pytest.raises(statewell.StateError) as err:
        sw.set(group, "k", {"when": object()})
    assert err.value.code == "invalid_argument"
    assert sw.get(group, "k") is None


def test_state_alias_reads_like_the_seed(sw: Any, group: str) -> None:
    assert sw.state.set(group, "k", 1)["new_value"] == 1
    assert sw.state.get(group, "k") == 1


def test_unknown_function_is_function_not_found(sw: Any) -> None:
    with pytest.raises(statewell.StateError) as err:
        sw.invoke("nobody::here", {})
    assert err.value.code == "function_not_found"


def test_url_defaults_to_statewell_url(engine: Engine, group: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATEWELL_URL", engine.ws_url)
    with statewell.connect() as sw:
        assert sw.url == engine.ws_url
        sw.set(group, "k", "from-env")
        assert sw.get(group, "k") == "from-env"


def test_one_async_connection_multiplexes_many_calls(engine: Engine, group: str) -> None:
    async def run() -> None:
        async with statewell.AsyncClient(engine.ws_url) as sw:
            await asyncio.gather(*(sw.set(group, f"k{i:03}", i) for i in range(200)))
            values = await asyncio.gather(*(sw.get(group, f"k{i:03}") for i in range(200)))
            assert values == list(range(200))
            assert sw.connections == 1

    asyncio.run(run())


def test_sync_client_is_thread_safe(engine: Engine, group: str) -> None:
    errors: list[BaseException] = []
    with statewell.connect(engine.ws_url) as sw:

        def worker() -> None:
            try:
                for _ in range(25):
                    sw.update(group, "counter", [{"type": "increment", "path": "n", "by": 1}])
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sw.get(group, "counter") == {"n": 200}


def test_closed_client_refuses_calls(engine: Engine, group: str) -> None:
    sw = statewell.connect(engine.ws_url)
    sw.close()
    sw.close()  # idempotent
    with pytest.raises(statewell.StateError) as err:
        sw.get(group, "k")
    assert err.value.code == "closed"

    async def run() -> None:
        client = await statewell.connect_async(engine.ws_url)
        await client.close()
        with pytest.raises(statewell.ConnectionError):
            await client.get(group, "k")

    asyncio.run(run())


def test_conditions_use_the_version_get_item_gives(sw: Any, group: str) -> None:
    assert sw.get_item(group, "k") is None
    sw.set(group, "k", {"n": 1})
    item = sw.get_item(group, "k")
    assert item["key"] == "k"
    assert item["value"] == {"n": 1}
    sw.set(group, "k", {"n": 2}, if_version=item["version"])
    with pytest.raises(statewell.ConflictError) as stale:
        sw.update(group, "k", {"type": "increment", "path": "n", "by": 1}, if_version=item["version"])
    assert stale.value.code == "conflict"
    assert stale.value.current_version is not None
    assert stale.value.current_version > item["version"]
    with pytest.raises(statewell.ConflictError):
        sw.delete(group, "k", if_absent=True)
    assert sw.get(group, "k") == {"n": 2}


def test_a_transaction_is_all_or_nothing(sw: Any, group: str) -> None:
    sw.set(group, "a", {"n": 10})
    moved = sw.transaction(
        [
            {"type": "update", "group_id": group, "key": "a", "ops": [{"type": "decrement", "path": "n", "by": 3}]},
            {"type": "update", "group_id": group, "key": "b", "ops": [{"type": "increment", "path": "n", "by": 3}]},
        ]
    )
    assert [r["new_value"] for r in moved["results"]] == [{"n": 7}, {"n": 3}]
    with pytest.raises(statewell.ConflictError) as failed:
        sw.transaction(
            [
                {"type": "set", "group_id": group, "key": "a", "value": 0},
                {"type": "check", "group_id": group, "key": "b", "if_absent": True},
            ]
        )
    assert failed.value.op_index == 1
    assert sw.get(group, "a") == {"n": 7}


def test_a_retried_increment_counts_once(sw: Any, group: str) -> None:
    key = f"{group}-retry"
    for _ in range(10):
        sw.update(group, "n", {"type": "increment", "path": "n", "by": 1}, idempotency_key=key)
    assert sw.get(group, "n") == {"n": 1}
    with pytest.raises(statewell.StateError) as other:
        sw.update(group, "n", {"type": "increment", "path": "n", "by": 2}, idempotency_key=key)
    assert other.value.code == "idempotency_mismatch"
