"""``presspoint clinic serve`` as a real subprocess for the browser and scale-out tests (and the benchmark)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.cli_fork import presspoint as forked_presspoint
from tests.conftest import HANG_S
from tests.mqtt_broker import free_port

ROOT = Path(__file__).resolve().parents[2]
PRESSPOINT = str(Path(sys.executable).with_name("presspoint"))


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def presspoint(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``presspoint ARGS`` run to its end (forked from a process that imported the CLI: ``tests/cli_fork.py``)."""
    return forked_presspoint(*args, env=cli_env(), timeout=timeout)


class ClinicServer:
    """One ``clinic serve`` process on a free port; ``stop()`` sends SIGTERM."""

    def __init__(self, folder: Path, *, db: str, broker: str, keys_dir: Path | None = None,
                 instance: str = "test") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        lines = [f'db = "{db}"', f'broker = "{broker}"', f'listen = "127.0.0.1:{self.port}"',
                 f'instance = "{instance}"', "push_timeout_s = 20"]
        if keys_dir is not None:
            lines.append(f'keys_dir = "{keys_dir}"')
        self.config = folder / "clinic.toml"
        self.config.write_text("\n".join(lines) + "\n")
        self.log = folder / "clinic.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = HANG_S) -> None:
        """Launch it and wait until it serves (``launch`` and ``wait_serving``)."""
        self.launch()
        self.wait_serving(timeout_s)

    def launch(self) -> None:
        """Start the process, not waiting for it: several servers start side by side."""
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen([PRESSPOINT, "clinic", "serve", "--config", str(self.config)],
                                         stdout=log, stderr=subprocess.STDOUT, env=cli_env())

    def wait_serving(self, timeout_s: float = HANG_S) -> None:
        """Bounded wait until ``/healthz`` answers; ``RuntimeError`` with the log's end if the process ended."""
        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"clinic serve did not come up: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)
