from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# The engine launcher is shared with the Python SDK's suite.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdk" / "python" / "tests"))

from engine import Engine  # noqa: E402

# iii-sdk exports telemetry over a second socket by default; the engine accepts
# and discards it, but there is nothing to check there and it slows shutdown.
os.environ.setdefault("OTEL_ENABLED", "false")


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = Engine(tmp_path_factory.mktemp("compat") / "data").start()
    yield eng
    eng.close()


@pytest.fixture
def scope() -> str:
    return f"compat-{uuid.uuid4().hex[:10]}"
