"""The language-neutral conformance vectors (``<repo>/conformance/*.json``),
run through the Python SDK's methods against the real engine.

Every case starts from an empty store: the cases share one engine, so each one
prefixes its scopes with a namespace of its own and, for ``list_groups``, keeps
only its own groups with the prefix stripped (``conformance/README.md``).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

import statewell

from engine import REPO, Engine

VECTORS = sorted((REPO / "conformance").glob("*.json"))


def load_cases() -> list[Any]:
    cases = []
    for path in VECTORS:
        suite = json.loads(path.read_text())
        for case in suite["cases"]:
            cases.append(pytest.param(case, id=f"{path.stem}::{case['name']}"))
    return cases


def test_vectors_exist() -> None:
    assert VECTORS, "no conformance vectors found under conformance/"


class Runner:
    def __init__(self, sw: statewell.AsyncClient) -> None:
        self.sw = sw
        self.ns = f"{uuid.uuid4().hex[:8]}/"

    def scoped(self, args: dict[str, Any]) -> dict[str, Any]:
        args = dict(args)
        scope = args.get("scope")
        # An empty or non-string scope is itself what such a case tests: leave it.
        if isinstance(scope, str) and scope:
            args["scope"] = self.ns + scope
        # conformance/README.md: op scopes and idempotency keys too.
        ops = args.get("ops")
        if isinstance(ops, list) and all(isinstance(op, dict) for op in ops) and "key" not in args:
            args["ops"] = [self.scoped(op) if isinstance(op.get("scope"), str) else op for op in ops]
        idem = args.get("idempotency_key")
        if isinstance(idem, str) and idem:
            args["idempotency_key"] = self.ns + idem
        return args

    async def run(self, call: str, args: dict[str, Any]) -> Any:
        args = self.scoped(args)
        # Options of the right types go to the typed methods as keywords.
        options = {k: args[k] for k in OPTION_TYPES if k in args and option_fits(call, k, args[k])}
        keys = set(args) - set(options)
        sw = self.sw
        if call in ("set", "update", "delete") and options:
            if call == "set" and keys == {"scope", "key", "value"}:
                return await sw.set(args["scope"], args["key"], args["value"], **options)
            if call == "delete" and keys == {"scope", "key"}:
                return await sw.delete(args["scope"], args["key"], **options)
            if call == "update" and keys == {"scope", "key", "ops"} and isinstance(args["ops"], list):
                return await sw.update(args["scope"], args["key"], args["ops"], **options)
        if call == "clear" and keys == {"scope"} and options:
            return await sw.clear(args["scope"], **options)
        if call == "get_item" and keys == {"scope", "key"}:
            return await sw.get_item(args["scope"], args["key"])
        if (
            call == "transaction"
            and keys == {"ops"}
            and isinstance(args["ops"], list)
            and all(isinstance(op, dict) and isinstance(op.get("scope"), str) for op in args["ops"])
        ):
                typed = [{("group_id" if k == "scope" else k): v for k, v in op.items()} for op in args["ops"]]
                return await sw.transaction(typed, **options)
        # Through the SDK's own method whenever the arguments fit its
        # signature; a deliberately malformed payload goes through the
        # generic invoke (the SDK's typed methods cannot even express it).
        if call == "set" and keys == {"scope", "key", "value"}:
            return await sw.set(args["scope"], args["key"], args["value"])
        if call in ("get", "delete") and keys == {"scope", "key"}:
            return await getattr(sw, call)(args["scope"], args["key"])
        if call == "update" and keys == {"scope", "key", "ops"} and isinstance(args["ops"], list):
            return await sw.update(args["scope"], args["key"], args["ops"])
        if call == "list" and keys == {"scope"}:
            return await sw.list(args["scope"])
        if call == "clear" and keys == {"scope"}:
            return await sw.clear(args["scope"])
        if call == "list_items" and "scope" in keys and keys <= {"scope", "prefix", "after", "limit"}:
            return await sw.list_items(
                args["scope"], prefix=args.get("prefix"), after=args.get("after"), limit=args.get("limit")
            )
        if call == "list_groups" and not keys:
            return await sw.list_groups()
        return normalise_raw(call, await sw.invoke(f"state::{call}", args))

    def strip(self, call: str, result: Any, expected: Any) -> Any:
        """Put the SDK's result in the vectors' normalised form."""
        if call == "list_items" and isinstance(result, dict):
            items = [{k: v for k, v in item.items() if k != "version"} for item in result["items"]]
            return {"items": items, "next": result["next"]}
        if call == "list_groups":
            mine = [g[len(self.ns) :] for g in result if g.startswith(self.ns)]
            return {"groups": mine} if isinstance(expected, dict) else mine
        if call == "clear" and isinstance(expected, dict):
            return {"deleted": result}
        # Versions are the store's revisions: checked for their kind, dropped.
        if call == "get_item" and isinstance(result, dict):
            return without_version(result)
        if call == "transaction" and isinstance(result, dict):
            return {"results": [without_version(r) for r in result["results"]]}
        return result


OPTION_TYPES: dict[str, type] = {"if_version": int, "if_absent": bool, "idempotency_key": str}


def option_fits(call: str, name: str, value: Any) -> bool:
    """Whether the typed method takes this option as given."""
    if call in ("clear", "transaction"):
        return name == "idempotency_key" and isinstance(value, str)
    if call not in ("set", "update", "delete"):
        return False
    if name == "if_version":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return isinstance(value, OPTION_TYPES[name]) and (name != "if_absent" or isinstance(value, bool))


def without_version(result: dict[str, Any]) -> dict[str, Any]:
    version = result.get("version")
    assert version is None or (isinstance(version, int) and version >= 0), result
    return {k: v for k, v in result.items() if k != "version"}


def same(a: Any, b: Any) -> bool:
    """JSON equality: objects as maps, numbers by exact value, but never
    ``true == 1`` (Python's ``==`` alone would accept that)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def op_errors(errors: Any, where: str) -> list[dict[str, Any]]:
    """Keep ``op_index`` and ``code`` of each update error, after checking the message."""
    assert isinstance(errors, list), f"{where}: errors is {errors!r}"
    kept = []
    for error in errors:
        assert isinstance(error.get("message"), str), f"{where}: {error!r}"
        assert error["message"], f"{where}: {error!r}"
        kept.append({"op_index": error["op_index"], "code": error["code"]})
    return kept


def normalise_raw(call: str, result: Any) -> Any:
    if call == "update" and isinstance(result, dict) and "errors" not in result:
        return {**result, "errors": []}
    if call == "list_groups" and isinstance(result, dict):
        return result.get("groups")
    if call == "clear" and isinstance(result, dict):
        return result.get("deleted")
    return result


# Cases whose accepted 1024-byte scope would exceed the limit once namespaced
# (conformance README): they run unprefixed on an engine of their own.
NEEDS_FRESH_ENGINE = {"keys and scopes are limited to 1024 bytes of UTF-8"}


@pytest.mark.parametrize("case", load_cases())
def test_vector(engine: Engine, tmp_path: Path, case: dict[str, Any]) -> None:
    fresh = case["name"] in NEEDS_FRESH_ENGINE
    if fresh:
        engine = Engine(tmp_path / "data").start()
    try:
        asyncio.run(run_case(engine, case, namespace="" if fresh else None))
    finally:
        if fresh:
            engine.close()


async def run_case(engine: Engine, case: dict[str, Any], namespace: str | None) -> None:
    async with statewell.AsyncClient(engine.ws_url, timeout=15) as sw:
        runner = Runner(sw)
        if namespace is not None:
            runner.ns = namespace
        for index, step in enumerate(case["steps"]):
            call, expect = step["call"], step["expect"]
            where = f"step {index} ({call} {json.dumps(step['args'])[:200]})"
            try:
                result = await runner.run(call, step["args"])
            except statewell.StateError as err:
                assert "error" in expect, f"{where}: unexpected error {err.code}: {err.message}"
                assert err.code == expect["error"], f"{where}: {err.message}"
                continue
            assert "error" not in expect, f"{where}: expected error {expect['error']}, got {result!r}"
            actual = runner.strip(call, result, expect["result"])
            if call == "update" and isinstance(actual, dict):
                actual = {**actual, "errors": op_errors(actual.get("errors"), where)}
            assert same(actual, expect["result"]), f"{where}: got {actual!r}"


def test_runner_strips_its_namespace_from_groups() -> None:
    runner = Runner.__new__(Runner)
    runner.ns = "abc/"
    assert runner.strip("list_groups", ["abc/x", "other", "abc/y"], []) == ["x", "y"]
    assert runner.scoped({"scope": "s", "key": "k"}) == {"scope": "abc/s", "key": "k"}
    assert runner.scoped({"scope": ""}) == {"scope": ""}
