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
from firmware.realtime.sinks import SessionSink
from firmware.session.states import Gesture
from firmware.session.summary import SessionSummary
from hal.buttons import StartStopButton, VirtualButton, check_in_of
from hal.buttons_scripted import press_edges
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
    panel = _ButtonPanel(engine, buttons) if presses else None
    edges = press_edges(presses, panel.buttons) if panel is not None else []
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
                    while edges and edges[0].at_s <= next_t + 1e-9 and not panel.stop_requested:
                        edge = edges.pop(0)
                        clock.sleep_until(max(clock.now(), engine.clock_time(edge.at_s)))
                        edge.apply()
                    if panel.stop_requested:
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


class _ButtonPanel:
    """The person's buttons for a traced session: stop on the first, less/more on the second."""

    def __init__(self, engine: SessionEngine, buttons: Sequence[StartStopButton]) -> None:
        self._engine = engine
        self.stop_requested = False
        self.main = next((b for b in buttons if b.role == "start_stop"), None) or VirtualButton()
        self.second = next((b for b in buttons if b.role == "less_more"), None) or VirtualButton("less_more")
        self.main.set_handler(self._stop)
        self.second.set_handler(None)
        self.second.set_release_handler(self._check_in)

    def _stop(self) -> None:
        self.stop_requested = True

    def _check_in(self, held_s: float) -> None:
        self._engine.gesture(Gesture(check_in_of(held_s)))

    @property
    def buttons(self) -> list[StartStopButton]:
        return [self.main, self.second]

    def close(self) -> None:
        for button in (self.main, self.second):
            button.set_handler(None)
            button.set_release_handler(None)


def _apply_motor(changes: list[tuple[float, float]], haptics: Haptics, clock: VirtualClock) -> None:
    for at, level in changes:
        clock.sleep_until(at)
        haptics.set_level(level)
