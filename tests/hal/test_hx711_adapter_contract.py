"""Contract tests: fail when adafruit-circuitpython-hx711 (or Blinka) changes under our fixes.

``hal/hx711_adapter.py`` works around specific defects of the driver version
1.1.2 and leans on a few of its internals.  Each test pins one of those
facts; when one fails after an upgrade, re-read the adapter's FIX notes and
drop or change the fix it names, rather than letting two fixes stack.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from hal.hx711_adapter import DRIVER_MODULE, MICROCONTROLLER_SHIM, fix_sign
from hal.hx711_protocol import PULSES_CHANNEL_B_32, PULSES_FOR_GAIN

HX711: Any = DRIVER_MODULE.HX711


class _Recorder:
    """A ``microcontroller`` that records what the driver calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def delay_us(self, us: float) -> None:
        self.calls.append(f"delay_us({us})")

    def disable_interrupts(self) -> None:
        self.calls.append("disable_interrupts")

    def enable_interrupts(self) -> None:
        self.calls.append("enable_interrupts")


class _Sck:
    def __init__(self) -> None:
        self._value = False
        self.rising_edges = 0

    @property
    def value(self) -> bool:
        return self._value

    @value.setter
    def value(self, level: bool) -> None:
        if level and not self._value:
            self.rising_edges += 1
        self._value = bool(level)


class _Dout:
    """Ready (low) between transfers; shows bit n of ``word`` after rising edge n (MSB first)."""

    def __init__(self, sck: _Sck, word: int) -> None:
        self.sck = sck
        self.word = word
        self.start = 0

    @property
    def value(self) -> int:
        n = self.sck.rising_edges - self.start
        if n >= 25 and not self.sck.value:  # transfer over: the next conversion is ready
            self.start = self.sck.rising_edges
            n = 0
        if n == 0:
            return 0
        return (self.word >> (24 - n)) & 1 if n <= 24 else 1


def _driver(word: int, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, _Sck, _Recorder]:
    recorder = _Recorder()
    monkeypatch.setattr(DRIVER_MODULE, "microcontroller", recorder)
    sck = _Sck()
    dout = _Dout(sck, word)
    driver = HX711(dout, sck)
    dout.start = sck.rising_edges  # the reset pulse in __init__ is not a data pulse
    return driver, sck, recorder


def test_the_fixes_were_written_for_this_version() -> None:
    assert DRIVER_MODULE.__version__ == "1.1.2"


def test_upstream_still_has_the_sign_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    """FIX 2: -1 (0xFFFFFF) still comes back as 4294967295."""
    driver, _, _ = _driver(0xFF_FF_FF, monkeypatch)
    raw = driver._read_channel_raw(HX711.CHAN_A_GAIN_128)
    assert raw == 0xFF_FF_FF_FF
    assert fix_sign(raw) == -1


def test_upstream_positive_values_are_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    driver, _, _ = _driver(0x12_34_56, monkeypatch)
    assert driver._read_channel_raw(HX711.CHAN_A_GAIN_128) == 0x12_34_56


def test_fix_sign_is_also_right_for_a_fixed_upstream() -> None:
    assert [fix_sign(v) for v in (-1, -0x800000, 0x7FFFFF, 0)] == [-1, -0x800000, 0x7FFFFF, 0]
    assert fix_sign(0x80_00_00) == -0x80_00_00


def test_upstream_still_calls_interrupt_control_and_delay_us(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FIX 1 and FIX 4: the three ``microcontroller`` functions our stand-in provides."""
    driver, _, recorder = _driver(0x00_00_01, monkeypatch)
    driver._read_channel_raw(HX711.CHAN_A_GAIN_128)
    assert recorder.calls[0] == "disable_interrupts"
    assert recorder.calls[-1] == "enable_interrupts"
    # One skipped iteration plus one per pulse, two 1 µs delays each: the virtual read
    # time (52 µs at gain 128) documented in simulator/pin_rig.py depends on it.
    assert recorder.calls[1:-1] == ["delay_us(1)"] * (2 * (25 + 1))
    assert set(recorder.calls) <= {"disable_interrupts", "enable_interrupts", "delay_us(1)"}


@pytest.mark.parametrize(
    ("gain_constant", "pulses"),
    [("CHAN_A_GAIN_128", 25), ("CHAN_A_GAIN_64", 27), ("CHAN_B_GAIN_32", 26)],
)
def test_pulse_count_per_gain(gain_constant: str, pulses: int,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert getattr(HX711, gain_constant) == pulses
    assert {**PULSES_FOR_GAIN, 32: PULSES_CHANNEL_B_32}[int(gain_constant.rsplit("_", 1)[1])] \
        == pulses
    driver, sck, _ = _driver(0xAB_CD_EF, monkeypatch)
    before = sck.rising_edges
    assert driver._read_channel_raw(pulses) == fix_sign(0xAB_CD_EF) & 0xFF_FF_FF_FF
    assert sck.rising_edges - before == pulses


def test_public_read_still_takes_two_conversions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the adapter calls ``_read_channel_raw`` (one conversion) instead of ``read()``."""
    driver, sck, _ = _driver(0x00_00_10, monkeypatch)
    before = sck.rising_edges
    assert driver.read() == 0x10
    assert sck.rising_edges - before == 2 * 25


def test_ready_wait_is_still_an_unbounded_busy_loop_on_is_busy() -> None:
    """FIX 3 overrides ``is_busy``; that only works while the loop asks it."""
    source = inspect.getsource(HX711._read_channel_raw)
    assert "while self.is_busy:" in source
    assert "pass" in source
    assert "timeout" not in source and "sleep" not in source


def test_ready_wait_consults_is_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _Recorder()
    monkeypatch.setattr(DRIVER_MODULE, "microcontroller", recorder)
    asked: list[bool] = []

    class Counting(HX711):  # type: ignore[misc]
        @property
        def is_busy(self) -> bool:
            asked.append(True)
            return len(asked) < 3

    sck = _Sck()
    dout = _Dout(sck, 0x42)
    driver = Counting(dout, sck)
    dout.start = sck.rising_edges
    assert driver._read_channel_raw(25) == 0x42
    assert len(asked) == 3


def test_reset_still_sleeps_on_the_wall_clock() -> None:
    """FIX 5 replaces ``_initialize``; it must still be what ``__init__`` calls for the reset."""
    assert "time.sleep" in inspect.getsource(HX711._initialize)
    assert "self._initialize()" in inspect.getsource(HX711.__init__)


def test_driver_imports_microcontroller_and_evaluates_digitalio_annotations() -> None:
    """Why the adapter puts stand-ins into ``sys.modules`` during the import."""
    source = inspect.getsource(DRIVER_MODULE)
    assert "\nimport microcontroller\n" in source
    assert "from __future__ import annotations" not in source
    assert "clock_pin: digitalio.DigitalInOut" in source
    # Evaluated at import (not a string): ``digitalio`` must exist while importing.
    assert not isinstance(DRIVER_MODULE.read_fast.__annotations__["clock_pin"], str)
    assert DRIVER_MODULE.microcontroller is MICROCONTROLLER_SHIM


def test_driver_only_touches_value_on_its_pins() -> None:
    """Duck-typed pins: the driver must use nothing but ``.value`` on them."""
    source = inspect.getsource(DRIVER_MODULE)
    for attribute in ("direction", "pull", "switch_to_output", "switch_to_input", "deinit"):
        assert f".{attribute}" not in source


def test_blinka_still_lacks_interrupt_control_and_delays_by_sleeping() -> None:
    """FIX 1/FIX 4 from Blinka's side (run apart: importing Blinka prints to stdout on a PC)."""
    code = textwrap.dedent("""
        import inspect, json, sys
        import microcontroller
        print(json.dumps({
            "disable": hasattr(microcontroller, "disable_interrupts"),
            "enable": hasattr(microcontroller, "enable_interrupts"),
            "delay_sleeps": "sleep" in inspect.getsource(microcontroller.delay_us),
        }), file=sys.stderr)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    facts = done.stderr.strip().splitlines()[-1]
    assert facts == '{"disable": false, "enable": false, "delay_sleeps": true}'


def test_importing_the_adapter_keeps_stdout_clean_and_blinka_out() -> None:
    code = textwrap.dedent("""
        import sys
        import hal.hx711_adapter
        loaded = sorted(m for m in sys.modules
                        if m.startswith("adafruit_blinka") or m in ("microcontroller", "digitalio"))
        print(repr(loaded), file=sys.stderr)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout == ""
    assert done.stderr.strip() == "[]"


def test_shim_delay_is_not_a_wall_clock_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """FIX 4: outside a sensor's read the stand-in's delay does nothing at all - it never sleeps.

    (Its cost per call is a figure of ``bench/bench_nonblocking.py``.)
    """
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    for _ in range(1000):
        assert MICROCONTROLLER_SHIM.delay_us(1) is None
    assert sleeps == []


def test_shim_interrupt_control_pauses_the_gc_and_restores_it() -> None:
    """FIX 1: the nearest thing to masking interrupts - no GC pause while SCK is high."""
    import gc

    assert gc.isenabled()
    MICROCONTROLLER_SHIM.disable_interrupts()
    assert not gc.isenabled()
    MICROCONTROLLER_SHIM.enable_interrupts()
    assert gc.isenabled()
    MICROCONTROLLER_SHIM.enable_interrupts()  # unpaired: harmless
    assert gc.isenabled()
    gc.disable()
    try:
        MICROCONTROLLER_SHIM.disable_interrupts()
        MICROCONTROLLER_SHIM.enable_interrupts()
        assert not gc.isenabled()  # it was off before: stays off
    finally:
        gc.enable()
