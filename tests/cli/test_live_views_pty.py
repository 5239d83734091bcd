"""The live views on a real pseudo-terminal of 80×24: nothing wider than the terminal, a legend.

Each test runs the real ``presspoint`` in a child whose stdin, stdout and
stderr are the slave side of a pty sized with ``TIOCSWINSZ``; what the
child wrote is read from the master side, ANSI escapes stripped, and every
segment between ``\\n`` and ``\\r`` is measured.  Content is asserted, never
timing: waits are bounded only to fail instead of hanging.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PRESSPOINT, ROOT
from tests.mqtt_broker import Mosquitto
from tests.therapist_support import DEVICE, publish_session

pytest_plugins = ["tests.mqtt_broker"]

COLUMNS, ROWS = 80, 24
#: CSI sequences (cursor moves, erase, colours, cursor show/hide) and OSC sequences.
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[=>()][0-9A-Za-z]?")


class PtyChild:
    """A child process on an 80×24 pty; a thread keeps reading everything it writes."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")}
        env["TERM"] = "xterm-256color"
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT, close_fds=True, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._more = threading.Condition(self._lock)
        self._eof = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self.master], [], [], 0.5)
            if not ready:
                if self.proc.poll() is not None and not select.select([self.master], [], [], 0)[0]:
                    break
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not chunk:
                break
            with self._more:
                self._chunks.append(chunk)
                self._more.notify_all()
        with self._more:
            self._eof = True
            self._more.notify_all()

    @property
    def raw(self) -> str:
        with self._lock:
            return b"".join(self._chunks).decode("utf-8", "replace")

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw)

    def wait_for(self, predicate: Callable[[str], bool], timeout_s: float = 60.0) -> str:
        """The text once ``predicate`` holds for it; fails (with the text) if it never does."""
        with self._more:
            self._more.wait_for(
                lambda: predicate(ANSI.sub("", b"".join(self._chunks).decode("utf-8", "replace"))) or self._eof,
                timeout_s,
            )
        text = self.text
        assert predicate(text), f"not seen; the child wrote:\n{text[-3000:]}"
        return text

    def finish(self, timeout_s: float = 30.0) -> int:
        code = self.proc.wait(timeout_s)
        self._reader.join(timeout_s)
        os.close(self.master)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def segments_wider_than(text: str, columns: int) -> list[str]:
    return [seg for seg in re.split(r"[\r\n]", text) if len(seg) > columns]


@pytest.mark.slow
def test_simulate_realtime_fits_80_columns_with_a_legend(tmp_path: Path, cli_env: dict[str, str]) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text('target = "3 kgf"\ntolerance = "4 kgf"\nhold_s = 30\nrepetitions = 1\nrest_s = 5\n')
    trace = tmp_path / "slam.csv"  # into the band, a few seconds of hold, then past the tolerance: quick
    trace.write_text("time_s,force_n\n0,0\n1,0\n2,29.4\n6,29.4\n6.0125,45\n")
    device = tmp_path / "device.toml"  # 10 samples/s: the gap rule (three periods) leaves 300 ms for a busy machine
    device.write_text(f'sample_rate_hz = 10\n[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    argv = [PRESSPOINT, "simulate", "--realtime", "--config", str(device), "--plan", str(plan), "--trace", str(trace)]
    child = PtyChild(argv, cli_env)
    try:
        text = child.wait_for(lambda t: "outcome   ABORTED" in t)
        assert child.finish() == 4, text  # simulate's exit code for an aborted session
    finally:
        child.kill()
    assert "legend: # force  [ ] target band  | tolerance" in text
    assert "cue: entered_band" in text and "s left" in text and "rep 1/1" in text
    assert segments_wider_than(text, COLUMNS) == [], text


@pytest.mark.slow
@pytest.mark.broker
def test_therapist_watch_fits_80_columns_with_a_legend(
    tmp_path: Path, mosquitto: Mosquitto, cli_env: dict[str, str]
) -> None:
    child = PtyChild(
        [PRESSPOINT, "therapist", "watch", "--device", DEVICE, "--broker", mosquitto.url, "--duration", "120"], cli_env
    )
    try:
        child.wait_for(lambda t: "no availability known" in t)  # subscribed: the live block is drawn
        summary = publish_session(tmp_path / "device", mosquitto.port)
        text = child.wait_for(lambda t: f"session {summary.session_id} ended" in t and "OFFLINE" in t)
        child.proc.send_signal(signal.SIGINT)
        assert child.finish() == 0
    finally:
        child.kill()
    text = child.text
    assert "legend: # force  [ ] target band  | tolerance  ! therapist max" in text
    assert "ABORT over_tolerance" in text and "cue breath" in text
    assert "2 × 30 s hold, rest 5 s, 6 breaths/min" in text
    assert segments_wider_than(text, COLUMNS) == [], text


def test_the_width_check_sees_a_wide_line() -> None:
    """The check itself: an escape-laden 94-column status line is caught, its escapes are not counted."""
    line = "\x1b[2K\x1b[1A" + "#" * 94 + "\x1b[0m"
    assert segments_wider_than(ANSI.sub("", f"ok\r{line}\nshort"), COLUMNS) == ["#" * 94]
