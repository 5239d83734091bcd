"""The real-time process's latency histogram and usage figures: exact maths, no timing."""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from firmware.device.contracts import DaemonResult
from firmware.realtime.sampler import NoSample, Sample, SensorFault
from firmware.realtime.stats import (
    BIN_COUNT,
    SMALLEST_S,
    DecisionLatency,
    LatencyHistogram,
    RealtimeStats,
    UsageMeter,
    bin_edge,
    bin_index,
)
from hal.clock import VirtualClock
from tests.conftest import PRESSPOINT, ROOT


def test_bins_are_eighth_doublings_from_10_us() -> None:
    assert bin_edge(0) == SMALLEST_S
    assert bin_edge(8) == pytest.approx(20e-6, rel=1e-12)
    assert bin_edge(80) == pytest.approx(10.24e-3, rel=1e-12)
    assert BIN_COUNT == 161 and bin_edge(BIN_COUNT - 1) == pytest.approx(10.48576, rel=1e-12)
    for index in range(1, BIN_COUNT):
        assert bin_edge(index) / bin_edge(index - 1) == pytest.approx(2 ** (1 / 8), rel=1e-12)


@pytest.mark.parametrize(
    ("latency_s", "index"),
    [
        (-1.0, 0), (0.0, 0), (math.nan, 0), (SMALLEST_S, 0),  # up to 10 µs: bin 0
        (10.01e-6, 1), (20e-6, 8), (20.01e-6, 9),  # (edge(i-1), edge(i)]
        (1e-3, 54), (10.24e-3, 80), (10.25e-3, 81),
        (10.48576, 160), (60.0, 160), (math.inf, 160),  # the last bin takes everything longer
    ],
)  # fmt: skip
def test_each_latency_falls_in_the_bin_whose_edges_hold_it(latency_s: float, index: int) -> None:
    assert bin_index(latency_s) == index
    if 0 < index < BIN_COUNT - 1:
        assert bin_edge(index - 1) < latency_s <= bin_edge(index)


def test_every_edge_is_in_its_own_bin() -> None:
    for index in range(BIN_COUNT):
        assert bin_index(bin_edge(index)) == index


def test_quantiles_are_nearest_rank_bin_edges_capped_at_the_maximum() -> None:
    hist = LatencyHistogram()
    assert hist.quantile(0.5) is None
    for _ in range(98):
        hist.record(0.3e-3)  # bin 40: (0.2934, 0.32] ms
    hist.record(2.5e-3)  # bin 64: (2.3475, 2.56] ms
    hist.record(7.0e-3)  # the maximum
    assert hist.count == 100 and hist.max_s == 7.0e-3
    assert hist.total_s == pytest.approx(98 * 0.3e-3 + 9.5e-3)
    assert hist.quantile(0.5) == bin_edge(40)
    assert hist.quantile(0.98) == bin_edge(40)  # rank 98
    assert hist.quantile(0.99) == bin_edge(64)  # rank 99
    assert hist.quantile(1.0) == 7.0e-3  # rank 100: its bin edge (7.24 ms) capped at the maximum
    assert sum(hist.counts) == 100 and len(hist.counts) == BIN_COUNT
    with pytest.raises(ValueError, match="quantile"):
        hist.quantile(0.0)


def test_one_latency_is_every_quantile() -> None:
    hist = LatencyHistogram()
    hist.record(0.123e-3)
    assert hist.quantile(0.5) == hist.quantile(0.99) == 0.123e-3


def test_decision_latency_counts_samples_only_from_their_stamp() -> None:
    clock = VirtualClock(100.0)
    probe = DecisionLatency(LatencyHistogram(), clock)
    probe.handled(Sample(99.9995, 1.0, 1))  # 0.5 ms after its stamp
    probe.handled(NoSample(99.0))
    probe.handled(SensorFault(99.0, "x"))
    assert probe.histogram.count == 1
    assert probe.histogram.max_s == pytest.approx(0.5e-3, abs=1e-9)


def test_usage_share_and_the_log_line() -> None:
    usage = UsageMeter(cpu_s=3.0, wall_s=120.0, peak_rss_mib=38.25)
    assert usage.cpu_share == 0.025
    assert UsageMeter().cpu_share == 0.0
    stats = RealtimeStats(usage=usage)
    assert stats.describe() == (
        "0 samples, no samples; CPU 2.50 % of one core over 120.0 s; peak RSS 38.2 MiB; lost reads 0"
    )
    for _ in range(3):
        stats.latency.record(0.3e-3)
    assert stats.describe().startswith(
        "3 samples, data-ready→decision p50 0.300 ms, p99 0.300 ms, max 0.300 ms; CPU 2.50 %"
    )


def test_a_started_meter_measures_this_process() -> None:
    usage = UsageMeter()
    usage.start()
    usage.stop()
    assert usage.wall_s >= 0 and usage.cpu_s >= 0 and usage.peak_rss_mib > 1


def test_a_spawned_process_reports_its_own_peak_not_its_parents() -> None:
    """``ru_maxrss`` carries the parent's peak over fork and exec; the figure must be the child's own."""
    ballast = bytearray(160 * 1024 * 1024)
    ballast[:: 4096] = b"\1" * len(ballast[:: 4096])  # touched: resident in this (the parent) process
    code = "from firmware.realtime.stats import peak_rss_mib; print(peak_rss_mib())"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=60, check=True,
    )  # fmt: skip
    del ballast
    assert 1 < float(done.stdout) < 100


def test_the_stats_travel_in_the_daemon_result_over_the_link() -> None:
    result = DaemonResult()
    result.stats.latency.record(1e-3)
    copy = pickle.loads(pickle.dumps(result))
    assert copy.stats.latency.counts == result.stats.latency.counts and copy.stats.latency.count == 1


STATS_LINE = re.compile(
    r"real-time stats: (\d+) samples, data-ready→decision p50 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms; "
    r"CPU ([\d.]+) % of one core over ([\d.]+) s; peak RSS ([\d.]+) MiB"
)


def test_both_processes_log_their_figures_at_exit(tmp_path: Path) -> None:
    (tmp_path / "trace.csv").write_text("time_s,force_n\n0,0\n0.5,0\n0.51,95\n5,95\n")
    (tmp_path / "device.toml").write_text(f'[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    argv = [PRESSPOINT, "run", "--simulate", "--json", "--sessions", "1", "--config", str(tmp_path / "device.toml"),
            "--plan", str(ROOT / "config" / "examples" / "quick-test.toml"), "--trace", str(tmp_path / "trace.csv")]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("NOTIFY_SOCKET", None)
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["abort"]["reason"] == "over_device_max"
    found = [m for line in done.stderr.splitlines() if (m := STATS_LINE.search(line))]
    assert len(found) == 1, done.stderr
    samples, p50, p99, top, cpu, wall, rss = (float(x) for x in found[0].groups())
    assert samples == summary["samples"]  # every sample of the session, and only those, was timed
    assert 0 < p50 <= p99 <= top and 0 <= cpu <= 100 and wall > 0 and rss > 1
    assert re.search(r"service stats: peak RSS [\d.]+ MiB", done.stderr)
