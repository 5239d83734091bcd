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

import math
from collections.abc import Callable, Sequence

from config.plan import TherapyPlan
from firmware.realtime.engine import SessionEngine
from firmware.realtime.sampler import Sampler
from firmware.realtime.scripted_panel import ScriptedPanel, play_in_order
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
                next_sample = clock.now() + period
                motor_until = clock.now() + 0.999 * period  # changes due before the next sample
                if stop_at_s is not None and engine.session_time(next_sample) >= stop_at_s:
                    stop_at = engine.clock_time(stop_at_s)
                    play_in_order(clock, timeline, haptics, motor_until=min(motor_until, stop_at))
                    clock.sleep_until(stop_at)
                    engine.stop(clock.now(), "button")
                    break
                play_in_order(
                    clock, timeline, haptics, motor_until=motor_until, panel=panel,
                    edges_until_s=engine.session_time(next_sample), clock_time=engine.clock_time,
                    halt=lambda: bool(stop_pressed),
                )  # fmt: skip
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
        play_in_order(clock, timeline, haptics, motor_until=math.inf)
    finally:
        if panel is not None:
            panel.close()
        timeline.stop()
        haptics.off()
    return engine.finish()
