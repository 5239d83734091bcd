"""Shared fixtures.  Plugins from other test modules are listed here."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.plan import TherapyPlan
from config.units import kgf
from tests.lockstep import LockstepClock

pytest_plugins = ["tests.mqtt_broker"]

ROOT = Path(__file__).resolve().parent.parent
PRESSPOINT = str(Path(sys.executable).with_name("presspoint"))

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
