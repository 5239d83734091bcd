"""Run a whole session in virtual time: as fast as the controller can go.

Used by ``presspoint simulate`` (without ``--realtime``) and by tests.  The
clock is a ``VirtualClock`` shared with the simulated (or pin-emulated)
sensor, so every timestamp - samples, cues, motor changes - is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from config.plan import TherapyPlan
from firmware.realtime.engine import SessionEngine
from firmware.realtime.sampler import Sampler
from firmware.realtime.sinks import SessionSink
from firmware.session.summary import SessionSummary
from hal.clock import VirtualClock
from hal.haptics import Haptics


def run_virtual_session(
    plan: TherapyPlan,
    *,
    sampler: Sampler,
    haptics: Haptics,
    clock: VirtualClock,
    device_id: str,
    device_max_n: float,
    sinks: Sequence[SessionSink] = (),
    stop_at_s: float | None = None,
    stop_check: Callable[[], str | None] | None = None,
    session_id: str | None = None,
) -> SessionSummary:
    """Run one session to its end and return the summary.  The motor ends off.

    ``stop_at_s`` presses stop at that session time; ``stop_check`` is asked
    before every sample and returns who asked to stop (e.g. ``"button"``, set
    by a button handler), or ``None``.
    """
    engine = SessionEngine(
        plan,
        device_id=device_id,
        sample_rate_hz=sampler.sensor.sample_rate_hz,
        device_max_n=device_max_n,
        armed_at=clock.now(),
        sinks=sinks,
        session_id=session_id,
        glitch_count=lambda: sampler.glitches,
    )
    period = sampler.period_s
    timeline = engine.timeline
    try:
        try:
            while not engine.finished:
                _apply_motor(timeline.due(clock.now() + 0.999 * period), haptics, clock)
                if stop_at_s is not None and engine.session_time(clock.now() + period) >= stop_at_s:
                    clock.sleep_until(engine.clock_time(stop_at_s))
                    engine.stop(clock.now(), "button")
                    break
                if stop_check is not None and (source := stop_check()) is not None:
                    engine.stop(clock.now(), source)
                    break
                engine.handle(sampler.next())
        except KeyboardInterrupt:
            engine.stop(clock.now(), "interrupt")
        # Let the final cue (done / abort) play out, then make sure the motor is off.
        while (at := timeline.next_change_at()) is not None:
            _apply_motor(timeline.due(at), haptics, clock)
    finally:
        timeline.stop()
        haptics.off()
    return engine.finish()


def _apply_motor(changes: list[tuple[float, float]], haptics: Haptics, clock: VirtualClock) -> None:
    for at, level in changes:
        clock.sleep_until(at)
        haptics.set_level(level)
