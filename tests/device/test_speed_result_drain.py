"""At ``--speed``, a service slow to read still gets the result at once, not after ``--speed-lag``.

The real-time process sends its result when the simulated sensor has stopped,
so nothing leads its fast clock any more: a wait for the pipe timed on that
clock lasted the whole lag (60 s in the suite, spinning a core).  Here the
service is stopped (SIGSTOP) from the start of the session to its end, so the
pipe is full when the result is sent; then it runs on.  With a 600 s lag the
old wait outlasts the hang bound; the wait by the wall clock ends as soon as
the service reads.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from tests.conftest import HANG_S, PRESSPOINT, ROOT


def test_a_result_held_up_by_a_stopped_service_arrives_once_it_reads(tmp_path: Path, cli_env: dict[str, str]) -> None:
    config = tmp_path / "device.toml"
    config.write_text(f'device_id = "drain-1"\n[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    argv = [PRESSPOINT, "run", "--simulate", "--config", str(config), "--speed", "50", "--speed-lag", "600", "--json"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env, cwd=ROOT,
                            start_new_session=True)
    seen: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # the real-time process writes to the same stderr, even with the service stopped
            seen.append(line)
            if "tared:" in line:  # admitted: the session runs without the service from here
                os.kill(proc.pid, signal.SIGSTOP)
            if "real-time stats:" in line:  # logged just before the result is sent
                break
        assert any("real-time stats:" in line for line in seen), "".join(seen)
        os.kill(proc.pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=HANG_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the service and its real-time process (which holds stderr too)
            proc.communicate()
    assert proc.returncode == 0, "".join(seen) + err
    [summary] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert summary["outcome"] == "completed" and len(summary["holds"]) == 3
