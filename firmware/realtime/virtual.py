"""Run a whole session in virtual time: as fast as the controller can go.

Used by ``presspoint simulate`` (without ``--realtime``) and by tests.  The
clock is a ``VirtualClock`` shared with the simulated (or pin-emulated)
sensor, so every timestamp - samples, cues, motor changes - is exact.

Button presses a trace asks for go through buttons as on the device
(``hal.buttons_scripted``): the first button stops on the way down, the
second (role ``less_more``) gives a check-in on the way up, by
``hal.buttons.check_in_of``, the clock moved to each edge.  Simulated
buttons are used unless the rig brings its own (mock pins with ``--pins``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from config.plan import TherapyPlan
from firmware.realtime.engine import SessionEngine
from firmware.realtime.sampler import Sampler
from firmware.realtime.scripted_panel import ScriptedPanel
from firmware.realtime.sinks import SessionSink
from firmware.session.states import Gesture
from firmware.session.summary import SessionSummary
from hal.buttons import StartStopButton, check_in_of
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
    presses: Sequence[tuple[float, str]] = (),
    buttons: Sequence[StartStopButton] = (),
    person: str | None = None,
) -> SessionSummary:
    """Run one session to its end and return the summary.  The motor ends off.

    ``stop_at_s`` presses stop at that session time; ``stop_check`` is asked
    before every sample and returns who asked to stop (e.g. ``"button"``, set
    by a button handler), or ``None``.  ``presses`` are ``(session time,
    "stop" | "less" | "more")`` in time order, each delivered before the first
    sample at or after its time.
    """
    engine = SessionEngine.reading(
        plan, sampler, device_id=device_id, device_max_n=device_max_n, armed_at=clock.now(), sinks=sinks,
        session_id=session_id, person=person,
    )
    stop_pressed: list[float] = []
    panel = None
    if presses:
        panel = ScriptedPanel(
            buttons,
            presses,
            on_down=lambda: stop_pressed.append(clock.now()),
            on_check_in=lambda held_s: engine.gesture(Gesture(check_in_of(held_s))),
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
                if panel is not None:
                    next_t = engine.session_time(clock.now() + period)
                    while not stop_pressed and panel.press_until(next_t, clock, engine.clock_time) is not None:
                        pass
                    if stop_pressed:
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
        if panel is not None:
            panel.close()
        timeline.stop()
        haptics.off()
    return engine.finish()


def _apply_motor(changes: list[tuple[float, float]], haptics: Haptics, clock: VirtualClock) -> None:
    for at, level in changes:
        clock.sleep_until(at)
        haptics.set_level(level)
