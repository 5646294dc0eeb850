"""``python -m build`` makes an sdist and a wheel ready for publication: the
metadata is complete (licence, URLs, classifiers, the README as the long
description), both hold what they must, and the wheel installs into a fresh
virtualenv and works there (typed, with its one dependency), against the real
engine."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import venv
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest

from engine import Engine

SDK = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # Without isolation: the pinned build backend of the test venv is used,
    # and nothing is fetched. The wheel is built from the sdist, so a file
    # missing from the sdist fails here.
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(SDK)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out


def only(directory: Path, pattern: str) -> Path:
    [found] = list(directory.glob(pattern))
    return found


def wheel_metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(archive.read(name).decode())


def test_the_sdist_holds_the_sources_readme_licences_and_tests(dist: Path) -> None:
    with tarfile.open(only(dist, "statewell-*.tar.gz")) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for wanted in (
        "pyproject.toml",
        "README.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "src/statewell/__init__.py",
        "src/statewell/py.typed",
        "tests/engine.py",
    ):
        assert wanted in names, f"{wanted} missing from the sdist: {sorted(names)}"


def test_the_wheel_metadata_is_complete(dist: Path) -> None:
    wheel = only(dist, "statewell-*-py3-none-any.whl")
    meta = wheel_metadata(wheel)
    assert meta["Name"] == "statewell"
    assert meta["License-Expression"] == "MIT OR Apache-2.0"
    assert sorted(meta.get_all("License-File") or []) == ["LICENSE-APACHE", "LICENSE-MIT"]
    assert meta["Requires-Python"] == ">=3.11"
    for field in ("Summary", "Author", "Maintainer", "Keywords"):
        assert meta[field], f"{field} is empty"
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Repository", "Issues", "Documentation"} <= urls.keys(), urls
    classifiers = meta.get_all("Classifier") or []
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert "Typing :: Typed" in classifiers
    # The README is the long description, as Markdown.
    assert meta["Description-Content-Type"] == "text/markdown"
    assert meta.get_payload().strip() == (SDK / "README.md").read_text().strip()
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "statewell/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE-MIT") for n in names), names
    assert not any(n.startswith("tests/") for n in names)


def test_the_wheel_installs_in_a_fresh_venv_and_talks_to_the_engine(
    dist: Path, tmp_path: Path, engine: Engine
) -> None:
    wheel = only(dist, "statewell-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)], check=True
    )
    script = (
        "import importlib.resources, statewell\n"
        "assert importlib.resources.files('statewell').joinpath('py.typed').is_file()\n"
        f"with statewell.connect({engine.ws_url!r}) as sw:\n"
        "    print(sw.set('pkg', 'k', {'ok': True})['new_value'])\n"
    )
    out = subprocess.run([str(python), "-c", script], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "{'ok': True}"
    # The installed metadata names one runtime dependency (test extras aside).
    runtime = subprocess.run(
        [
            str(python),
            "-c",
            (
                "import importlib.metadata as m, json;"
                "print(json.dumps([r for r in m.requires('statewell') if 'extra ==' not in r]))"
            ),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    deps = json.loads(runtime)
    assert len(deps) == 1, deps
    assert deps[0].startswith("websockets"), deps
