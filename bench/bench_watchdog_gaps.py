"""Benchmark: how evenly the idle daemon pings systemd's watchdog, in real time on this machine.

The tests check that pings come and stop when they should; the gaps between
them depend on the machine's load, so they are measured here: pings in the
window, largest gap and p99 against WatchdogSec= (200 ms, pings every 50 ms).

    .venv/bin/python bench/bench_watchdog_gaps.py [seconds]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import PRESSPOINT, ROOT
from tests.systemd_support import TIMEOUT_S, WATCHDOG_USEC, FakeServiceManager


def measure(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "device.toml").write_text(f'device_id = "bench"\n[storage]\nstate_dir = "{folder / "state"}"\n')
        manager = FakeServiceManager(folder)
        env = dict(os.environ, NOTIFY_SOCKET=str(manager.path), WATCHDOG_USEC=str(WATCHDOG_USEC), PYTHONPATH=str(ROOT))
        env.pop("WATCHDOG_PID", None)
        argv = [PRESSPOINT, "run", "--simulate", "--config", str(folder / "device.toml"),
                "--sessions", "0", "--wait-button"]  # fmt: skip
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
        try:
            t_ready = manager.wait_for(lambda m: "READY=1" in m.split("\n"), timeout=60) + 0.2
            time.sleep(seconds)  # the observation window
            t_end = time.monotonic()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            manager.close()
        pings = manager.times("WATCHDOG=1", since=t_ready, until=t_end)
        gaps = sorted(b - a for a, b in zip([t_ready, *pings], [*pings, t_end], strict=True))
        p99 = gaps[min(len(gaps) - 1, int(0.99 * len(gaps)))]
        print(f"{len(pings)} pings in {seconds:.1f} s; gap p99 {p99 * 1000:.1f} ms, max {gaps[-1] * 1000:.1f} ms "
              f"(WatchdogSec= {TIMEOUT_S * 1000:.0f} ms: {'kept' if gaps[-1] < TIMEOUT_S else 'RESTART'})")  # fmt: skip


if __name__ == "__main__":
    measure(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
