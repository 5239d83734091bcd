"""Shared fixtures, and the settings that keep the suite deterministic.

Plugins from other test modules are listed here.  Hypothesis keeps no example
database (a saved failing example would turn a test red for good, and a
database shared between runs or workers makes one run depend on another), has
no per-example deadline and no "too slow" health check (both measure the
machine, not the code), and runs with one seed per test run, printed in the
header and again after a failure: ``--hypothesis-seed=N`` reruns it exactly.
Properties that must be the same on every run say ``derandomize=True``.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin
from hypothesis import HealthCheck, settings

from config.plan import TherapyPlan
from config.units import kgf
from tests.lockstep import LockstepClock
from tests.systemd_support import FakeServiceManager

pytest_plugins = ["tests.mqtt_broker"]

settings.register_profile(
    "presspoint", database=None, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("presspoint")
#: Carries the run's hypothesis seed from the pytest process to its xdist workers.
SEED_ENV = "PRESSPOINT_HYPOTHESIS_SEED"

ROOT = Path(__file__).resolve().parent.parent
PRESSPOINT = str(Path(sys.executable).with_name("presspoint"))
#: How long a test waits for what must come (a process's exit, an answer) before calling it a hang:
#: far beyond any loaded machine's delay, so it is never a bound on speed.
HANG_S = 300.0
#: For ``run --simulate --speed`` runs: time waits this long (wall s) for a simulated sensor a loaded
#: machine left unscheduled, so no stall of the test machine becomes a gap in the samples.
SPEED_LAG = ("--speed-lag", "60")

#: Forces used across tests, in newtons.
DEVICE_MAX_N = kgf(9.0)


@pytest.fixture
def plan() -> TherapyPlan:
    return TherapyPlan()


@pytest.fixture
def short_plan() -> TherapyPlan:
    """The shortest legal plan: one 30 s hold, 5 s rest."""
    return TherapyPlan(hold_s=30, repetitions=1, rest_s=5)


@pytest.fixture
def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture
def lockstep_clock() -> Iterator[LockstepClock]:
    """A clock the loop and a sampling thread take turns on (``tests/lockstep.py``); closed after the test."""
    clock = LockstepClock()
    yield clock
    clock.close()


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    """gpiozero mock pins (PWM-capable, so the motor works on them), reset and closed after the test."""
    factory = MockFactory(pin_class=MockPWMPin)
    yield factory
    factory.reset()
    factory.close()


@pytest.fixture
def manager() -> Iterator[FakeServiceManager]:
    """Receives a daemon's sd_notify datagrams: READY=1 means samples flow (the real-time process is up)."""
    with tempfile.TemporaryDirectory(prefix="pp-sd-", dir="/tmp") as folder:
        fake = FakeServiceManager(Path(folder))
        yield fake
        fake.close()


@pytest.hookimpl(tryfirst=True)  # before hypothesis' own pytest_configure reads the seed option
def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("hypothesis_seed", None) is None:
        config.option.hypothesis_seed = os.environ.get(SEED_ENV) or str(random.randrange(2**32))
    os.environ[SEED_ENV] = str(config.option.hypothesis_seed)


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.option.hypothesis_seed
    return f"hypothesis seed {seed} (rerun with --hypothesis-seed={seed})"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    if exitstatus != 0:
        seed = config.option.hypothesis_seed
        terminalreporter.write_line(f"hypothesis seed of this run: {seed} (rerun with --hypothesis-seed={seed})")
