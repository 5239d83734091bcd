"""The one adapter around adafruit-circuitpython-hx711's ``HX711`` protocol driver.

We keep Adafruit's class as the bit-banging protocol driver (its pulse
sequence is the part worth not rewriting) and fix, here and only here, its
known defects in version 1.1.2.  Each fix is marked ``FIX n`` below and
``tests/hal/test_hx711_adapter_contract.py`` fails if the library changes under
one of them, so an upgrade is noticed instead of silently double-fixed.

FIX 1  ``microcontroller.disable_interrupts()/enable_interrupts()``: Blinka
       does not define them, so every read raised AttributeError, on a Pi too.
       A Linux process cannot mask interrupts; the nearest useful thing is to
       keep Python's garbage collector from pausing the thread mid-transfer,
       so they switch the GC off and on around the bit loop.  The rest of the
       remedy for pre-emption is a real-time priority for the sampling path
       (on the device the systemd unit's CPUSchedulingPolicy=fifo; off it,
       ``try_realtime_priority``) plus FIX 4's pulse check.
FIX 2  Sign extension: ``value |= 0xFF_00_00_00`` on a Python int gives a
       large positive number (-1 reads as 4294967295).  We take the low 24
       bits and subtract 2**24 when bit 23 is set.
FIX 3  The endless ``while self.is_busy: pass`` ready-wait (hangs forever and
       burns a core on a disconnected chip).  We wait ourselves, bounded by a
       deadline on the injected ``Clock``, with short sleeps aligned to the
       expected conversion time, and only then let the driver clock the bits.
FIX 4  ``delay_us``: Blinka's is ``time.sleep(us/1e6)`` ≈ 60 µs, right at the
       HX711's 60 µs SCK-high power-down limit.  On real time it is a no-op
       (a GPIO write through Python already takes longer than the chip's
       0.2 µs minimum); on a ``VirtualClock`` it advances virtual time by the
       requested microseconds so the emulated chip sees plausible timing.
       Every SCK-high time is measured; a pulse over 60 µs (the chip powered
       down and reset mid-read) discards that reading.
FIX 5  ``_initialize`` holds SCK high with ``time.sleep(0.001)``; on a virtual
       clock no time passes, so the reset goes through the injected clock.

Import side effects: the driver module does ``import microcontroller`` and
evaluates ``digitalio.DigitalInOut`` annotations at import time.  Importing
Blinka for those prints "GENERIC_X86 is not fully supported" to *stdout* on
a PC (the CLI prints JSON there), runs board detection, and would bring a
second GPIO stack - while the only things the driver uses from it are the
three functions FIX 1 and FIX 4 replace anyway.  So, when those modules are
not already loaded, we put tiny stand-ins into ``sys.modules`` for the
duration of the import and take them out again afterwards, so anybody who
imports Blinka later still gets the real one.  The driver module keeps our
stand-in as its ``microcontroller`` global.

Pins are gpiozero pin objects (``pin_factory.pin(n)``) behind two small
duck-typed ``.value`` wrappers: the device has one GPIO stack (lgpio on the
Pi, mock pins in tests and ``simulate --pins``).
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hal.clock import Clock, VirtualClock
from hal.hx711_channel import HX711ChannelA, HX711ReadStats
from hal.hx711_pacing import ConversionPacer
from hal.hx711_protocol import (  # ``fix_sign`` is FIX 2
    POWER_DOWN_AFTER_S,
    POWER_ON_PULSES,
    RESET_HOLD_S,
    SETTLING_PERIODS,
    Gain,
    fix_sign,
)
from hal.sensor import SensorError

DelayUs = Callable[[float], None]


# --- the driver's "microcontroller" (FIX 1, FIX 4) ------------------------------------------


class _DriverTiming(threading.local):
    """Which delay the driver's ``delay_us`` uses, per thread (each sensor sets its own)."""

    delay_us: DelayUs = staticmethod(lambda us: None)
    gc_was_enabled: bool = False
    gc_paused: bool = False


_TIMING = _DriverTiming()


def _shim_delay_us(us: float) -> None:
    _TIMING.delay_us(us)


def _shim_disable_interrupts() -> None:
    """FIX 1: a Linux process cannot mask interrupts, but it can stop its own garbage
    collector from pausing the thread while SCK is high (a gen-2 collection easily takes
    longer than 60 µs).  The driver brackets just the bit loop, under a millisecond."""
    _TIMING.gc_was_enabled = gc.isenabled()
    _TIMING.gc_paused = True
    gc.disable()


def _shim_enable_interrupts() -> None:
    """FIX 1: undo ``_shim_disable_interrupts`` (leave the GC off if it was off before)."""
    if _TIMING.gc_paused:
        _TIMING.gc_paused = False
        if _TIMING.gc_was_enabled:
            gc.enable()


def _make_microcontroller_shim() -> types.ModuleType:
    shim = types.ModuleType("microcontroller", "presspoint stand-in for the HX711 driver only")
    shim.delay_us = _shim_delay_us  # type: ignore[attr-defined]
    shim.disable_interrupts = _shim_disable_interrupts  # type: ignore[attr-defined]
    shim.enable_interrupts = _shim_enable_interrupts  # type: ignore[attr-defined]
    return shim


MICROCONTROLLER_SHIM = _make_microcontroller_shim()


def _make_digitalio_shim() -> types.ModuleType:
    shim = types.ModuleType("digitalio", "presspoint stand-in: annotations of the HX711 driver")
    shim.DigitalInOut = object  # type: ignore[attr-defined]
    return shim


def _import_driver_module() -> types.ModuleType:
    """Import ``adafruit_hx711.hx711`` without Blinka's stdout noise (see module docstring)."""
    stand_ins = {"microcontroller": MICROCONTROLLER_SHIM, "digitalio": _make_digitalio_shim()}
    added = [name for name in stand_ins if name not in sys.modules]
    for name in added:
        sys.modules[name] = stand_ins[name]
    try:
        module = importlib.import_module("adafruit_hx711.hx711")
    finally:
        for name in added:
            if sys.modules.get(name) is stand_ins[name]:
                del sys.modules[name]
    # Even if Blinka's microcontroller was loaded first, the driver must use ours.
    module.microcontroller = MICROCONTROLLER_SHIM  # type: ignore[attr-defined]
    return module


DRIVER_MODULE = _import_driver_module()
_HX711Base: Any = DRIVER_MODULE.HX711


@contextmanager
def _driver_delay(delay_us: DelayUs) -> Iterator[None]:
    previous = _TIMING.delay_us
    _TIMING.delay_us = delay_us
    try:
        yield
    finally:
        _TIMING.delay_us = previous


def default_delay_us(clock: Clock) -> DelayUs:
    """FIX 4: virtual time advances by the requested µs; real time adds no delay at all."""
    if isinstance(clock, VirtualClock):
        def advance(us: float) -> None:
            clock.advance(us * 1e-6)

        return advance
    return lambda us: None


def try_realtime_priority(priority: int = 50) -> bool:
    """Put the *calling thread* under SCHED_FIFO; ``False`` where not allowed or not Linux.

    For benches and tests that sample outside the service: on the device the
    systemd unit sets SCHED_FIFO for the whole process (its seccomp filter
    forbids changing it from Python), so the daemon does not call this.
    Bit-banging from Python is only safe from the 60 µs power-down if the
    thread is not pre-empted while SCK is high; a real-time priority makes
    that rare (and the adapter still catches the rest).  Needs CAP_SYS_NICE.
    """
    if not hasattr(os, "sched_setscheduler"):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, ValueError):
        return False
    return True


# --- duck-typed pins for the driver ----------------------------------------------------------


class _DataLine:
    """DOUT as the driver sees it: ``.value`` is the gpiozero pin's level."""

    __slots__ = ("_pin",)

    def __init__(self, pin: Any) -> None:
        self._pin = pin

    @property
    def value(self) -> bool:
        return bool(self._pin.state)


class _ClockLine:
    """SCK as the driver sees it, measuring each high time on the clock (FIX 4).

    The rise is stamped *before* the write and the fall *after* it, so the
    measured time is never shorter than what the chip saw.
    """

    __slots__ = ("_high", "_now", "_pin", "_rise", "max_high_s")

    def __init__(self, pin: Any, now: Callable[[], float]) -> None:
        self._pin = pin
        self._now = now
        self._rise = now()
        self._high = False
        self.max_high_s = 0.0

    @property
    def value(self) -> bool:
        return bool(self._pin.state)

    @value.setter
    def value(self, level: bool) -> None:
        if level:
            if not self._high:
                self._rise = self._now()
                self._high = True
            self._pin.state = True
        else:
            self._pin.state = False
            if self._high:  # the driver also writes "low" when SCK is already low
                self._high = False
                self.max_high_s = max(self.max_high_s, self._now() - self._rise)


class _PatchedHX711(_HX711Base):  # type: ignore[misc]
    """Adafruit's ``HX711`` with FIX 3 (ready-wait guard) and FIX 5 (reset on our clock)."""

    def __init__(self, data: _DataLine, clock_line: _ClockLine, clock: Clock) -> None:
        self._presspoint_clock = clock
        self._presspoint_ready = False
        self.woke_at = clock.now()
        super().__init__(data, clock_line)

    def _initialize(self) -> None:
        # FIX 5: upstream does power_down(True); time.sleep(0.001); power_down(False).
        self.power_down(True)
        self._presspoint_clock.sleep_until(self._presspoint_clock.now() + RESET_HOLD_S)
        self.power_down(False)
        self.woke_at = self._presspoint_clock.now()

    @property
    def is_busy(self) -> bool:
        # FIX 3: upstream spins on ``while self.is_busy: pass``.  We only call into the
        # driver after our bounded wait saw DOUT low, and DOUT stays low until clocked;
        # reporting "not busy" then means the upstream loop can never spin, even if the
        # wire breaks between our check and the driver's.
        if self._presspoint_ready:
            return False
        return bool(self._data_pin.value)

    def transfer(self, pulses: int) -> int:
        """One conversion, clocked with ``pulses`` pulses; call only when DOUT is low."""
        self._presspoint_ready = True
        try:
            # ``_read_channel_raw`` is one conversion; the public ``read()`` does two and
            # discards the first, which would halve the sample rate.
            raw: int = self._read_channel_raw(pulses)
        finally:
            self._presspoint_ready = False
            # Upstream has no try/finally around its bit loop: if a pin raised in it,
            # ``enable_interrupts`` never ran and the GC would stay off for good.
            _shim_enable_interrupts()
        return fix_sign(raw)  # FIX 2


# --- the ForceSensor ---------------------------------------------------------------------------


@dataclass(slots=True)
class HX711Stats(HX711ReadStats):
    """What the adapter saw; the sampler and ``selfcheck`` report these."""

    #: Reads dropped because SCK stayed high > 60 µs (the chip powered down mid-read).
    overlong_pulses: int = 0
    max_high_s: float = 0.0


class HX711Sensor(HX711ChannelA):
    """Channel A of an HX711 on two GPIO pins, paced by the chip's data-ready.

    ``read(timeout_s)`` waits for DOUT to fall (bounded, on ``clock``), then
    clocks out one conversion.  Polls are aligned to a grid of ``period/N``
    anchored at the chip's wake-up, starting a little before the expected
    conversion, so in virtual time a conversion is picked up exactly when it
    becomes ready and on real time within one poll step (0.25 ms by default)
    with few wake-ups per sample.
    """

    def __init__(
        self,
        *,
        dout_pin: int,
        sck_pin: int,
        pin_factory: Any,
        clock: Clock,
        gain: Gain = 128,
        sample_rate_hz: float = 80.0,
        delay_us: DelayUs | None = None,
        poll_s: float = 0.25e-3,
        early_fraction: float = 0.15,
    ) -> None:
        super().__init__(clock, gain, sample_rate_hz)
        self._pacer = ConversionPacer(clock, sample_rate_hz, poll_s=poll_s, early_fraction=early_fraction)
        self._period = self._pacer.period_s
        self._delay = delay_us if delay_us is not None else default_delay_us(clock)
        self.stats: HX711Stats = HX711Stats()
        self._factory = pin_factory
        try:
            pin_factory.reserve_pins(self, dout_pin, sck_pin)
        except Exception as err:
            raise SensorError(f"HX711 pins DOUT={dout_pin}, SCK={sck_pin}: {err}") from err
        try:
            self._dout_pin = pin_factory.pin(dout_pin)
            self._sck_pin = pin_factory.pin(sck_pin)
            # Pull-up: a broken DOUT wire then reads "busy" (timeouts, a sensor fault),
            # never "ready with all-zero data".
            self._dout_pin.input_with_pull("up")
            self._sck_pin.output_with_state(False)
        except Exception as err:
            pin_factory.release_all(self)
            raise SensorError(f"HX711 pins DOUT={dout_pin}, SCK={sck_pin}: {err}") from err
        self._data = _DataLine(self._dout_pin)
        self._sck = _ClockLine(self._sck_pin, clock.now)
        try:
            with _driver_delay(self._delay):
                self._driver = _PatchedHX711(self._data, self._sck, clock)
            self._after_wake(self._driver.woke_at)
            # Let the chip settle (bounded) so the caller's first read(period) finds a
            # conversion; a chip that never answers shows up as read() timeouts.
            self._wait_ready(self._clock.now() + (SETTLING_PERIODS + 2) * self._period)
        except BaseException:
            for pin in (self._sck_pin, self._dout_pin):
                pin.close()
            pin_factory.release_all(self)
            raise

    def _conflicts_with(self, other: object) -> bool:
        """gpiozero's reservation protocol: nobody else may share the HX711's pins."""
        return True

    # -- public ------------------------------------------------------------------------------

    def close(self) -> None:
        """Power the chip down (SCK high) and release the pins.  Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._driver.power_down(True)
            finally:
                for pin in (self._sck_pin, self._dout_pin):
                    pin.close()
                self._factory.release_all(self)

    # -- internals ---------------------------------------------------------------------------

    def _after_wake(self, woke_at: float) -> None:
        """The chip (re)started: it converts at gain 128 and is ready after settling."""
        self._pacer.restart(woke_at, SETTLING_PERIODS)
        self._selected = POWER_ON_PULSES

    def _clock_out(self, pulses: int) -> int | None:
        self._sck.max_high_s = 0.0
        with _driver_delay(self._delay):
            value = self._driver.transfer(pulses)
        high = self._sck.max_high_s
        self.stats.max_high_s = max(self.stats.max_high_s, high)
        if high > POWER_DOWN_AFTER_S:
            # The chip (most likely) powered down during the read and reset when SCK fell:
            # the bits after that point are not data, and it converts at gain 128 again.
            # Our measurement errs long (it includes the GPIO calls), so the chip may not
            # have reset at all: keep polling at the normal pace rather than waiting out
            # a settling time - DOUT says when the next conversion is really there.
            self.stats.overlong_pulses += 1
            now = self._clock.now()
            self._after_wake(now)
            self._pacer.restart(now, 1)
            return None
        return value

    def _wait_ready(self, deadline: float) -> bool:
        """FIX 3: wait for DOUT low until ``deadline`` on the clock; never spin."""
        return self._pacer.wait_ready(deadline, lambda: self._data.value)
