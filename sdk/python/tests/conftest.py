from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from engine import Engine


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One engine shared by the tests that only need a working engine; they
    keep apart by using groups unique to the test (see ``group``)."""
    eng = Engine(tmp_path_factory.mktemp("shared") / "data").start()
    yield eng
    eng.close()


@pytest.fixture
def own_engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine of the test's own, for tests that stop, restart or configure it."""
    eng = Engine(tmp_path / "data")
    yield eng
    eng.close()


@pytest.fixture
def group() -> str:
    """A group name no other test uses."""
    return f"t-{uuid.uuid4().hex[:12]}"
