"""50 concurrent increments from a Python client and 50 from a TypeScript
client (the sibling SDK in sdk/typescript), on one key, at the same time:
the counter must end exact."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import statewell

from engine import REPO, Engine

TS_SDK = REPO / "sdk" / "typescript" / "dist" / "index.js"
PER_CLIENT = 50


def test_python_and_typescript_increment_one_key_concurrently(engine: Engine, group: str) -> None:
    node = shutil.which("node")
    if node is None or not TS_SDK.exists():
        # scripts/test.d/30-python.sh builds the TypeScript SDK first; this
        # only skips when the suite is run by hand without that build.
        pytest.skip("node or the built TypeScript SDK (sdk/typescript/dist) is missing")
    ts = subprocess.Popen(
        [node, str(Path(__file__).parent / "ts_increments.mjs"), engine.ws_url, group, "counter", str(PER_CLIENT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "STATEWELL_TS_SDK": str(TS_SDK)},
    )
    assert ts.stdin is not None
    assert ts.stdout is not None
    try:
        assert ts.stdout.readline().strip() == "ready"

        async def python_half() -> int:
            async with statewell.AsyncClient(engine.ws_url, timeout=30) as sw:
                ts.stdin.write("go\n")  # type: ignore[union-attr]
                ts.stdin.flush()  # type: ignore[union-attr]
                increment = [{"type": "increment", "path": "n", "by": 1}]
                results = await asyncio.gather(*(sw.update(group, "counter", increment) for _ in range(PER_CLIENT)))
                assert all(r["errors"] == [] for r in results)
                # Each increment saw a distinct value: none was lost or merged.
                seen = {r["new_value"]["n"] for r in results}
                assert len(seen) == PER_CLIENT
                return len(results)

        done_py = asyncio.run(python_half())
        out, _ = ts.communicate(timeout=60)
        assert ts.returncode == 0
        assert json.loads(out.strip().splitlines()[-1]) == {"done": PER_CLIENT}
        assert done_py == PER_CLIENT
        with statewell.connect(engine.ws_url) as sw:
            assert sw.get(group, "counter") == {"n": 2 * PER_CLIENT}
    finally:
        if ts.poll() is None:
            ts.kill()
