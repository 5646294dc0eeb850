"""Starts the real statewell engine binary for tests.

The binary comes from ``STATEWELL_BIN`` (default ``<repo>/target/debug/statewell``);
it is started with ``serve --listen 127.0.0.1:PORT --data DIR`` and its first
stdout line, ``listening on 127.0.0.1:PORT``, tells the bound address.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[3]
LISTENING = re.compile(r"listening on (\S+:\d+)")
START_TIMEOUT = 30.0


def engine_bin() -> str:
    return os.environ.get("STATEWELL_BIN") or str(REPO / "target" / "debug" / "statewell")


class Engine:
    def __init__(self, data_dir: Path, token: str | None = None, extra: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.token = token
        self.extra = extra or []
        self.addr: str | None = None
        self.proc: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None

    @property
    def port(self) -> int:
        assert self.addr is not None, "engine not started"
        return int(self.addr.rsplit(":", 1)[1])

    @property
    def ws_url(self) -> str:
        return f"ws://{self.addr}"

    def start(self, port: int = 0) -> Engine:
        args = [engine_bin(), "serve", "--listen", f"127.0.0.1:{port}", "--data", str(self.data_dir)]
        if self.token:
            args += ["--token", self.token]
        args += self.extra
        # stderr (the engine's logs) goes to a file next to the data, for
        # post-mortems. It stays open as long as the engine runs: stop() closes it.
        self._log = open(self.data_dir.parent / f"{self.data_dir.name}.log", "a")  # noqa: SIM115
        # The engine reads STATEWELL_* variables too (STATEWELL_TOKEN...):
        # only the flags above may configure it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("STATEWELL_")}
        env["RUST_LOG"] = "warn"
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env)
        self.addr = self._read_address(self.proc)
        return self

    def _read_address(self, proc: subprocess.Popen[str]) -> str:
        assert proc.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        stdout = proc.stdout

        def pump() -> None:
            # Keep draining stdout so the engine never blocks on a full pipe.
            for line in stdout:
                lines.put(line)
            lines.put("")

        threading.Thread(target=pump, daemon=True).start()
        try:
            first = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            proc.kill()
            raise RuntimeError(f"engine printed nothing within {START_TIMEOUT}s") from None
        match = LISTENING.search(first)
        if not match:
            proc.kill()
            raise RuntimeError(f"unexpected first line from the engine: {first!r}")
        return match.group(1)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the engine and wait for it to exit; returns its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        if self._log is not None:
            self._log.close()
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> Engine:
        """Start again on the same port and data directory (after ``stop``)."""
        return self.start(port=self.port)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
