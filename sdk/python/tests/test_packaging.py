"""`pip wheel` produces a wheel that installs into a fresh virtualenv and works
there (typed, with its one dependency), against the real engine."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

from engine import Engine

SDK = Path(__file__).resolve().parents[1]


def test_wheel_installs_in_a_fresh_venv_and_talks_to_the_engine(tmp_path: Path, engine: Engine) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), str(SDK)],
        check=True,
    )
    [wheel] = list(wheels.glob("statewell-*.whl"))
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
            "import importlib.metadata as m, json;"
            "print(json.dumps([r for r in m.requires('statewell') if 'extra ==' not in r]))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    deps = json.loads(runtime)
    assert len(deps) == 1 and deps[0].startswith("websockets"), deps
