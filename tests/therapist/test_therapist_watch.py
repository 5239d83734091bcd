"""``therapist watch``: the pure view, and the live view of a real session on a real broker."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from config.plan import TherapyPlan
from firmware.cli.main import main
from firmware.protocol.payloads import EventMessage, SamplesBatch, SessionEvent
from firmware.protocol.plan_messages import PlanState, plan_digest
from firmware.therapist.watch import Limits, WatchView, run_watch
from tests.mqtt_broker import Mosquitto
from tests.therapist_support import DEVICE, SHORT, mqtt_settings, publish_session

pytest_plugins = ["tests.mqtt_broker"]

SID = "20261130T000000Z-aaaaaaaa"
BASE = f"presspoint/{DEVICE}"


def _state(plan: TherapyPlan) -> bytes:
    data = plan.model_dump(mode="json")
    state = PlanState(device_id=DEVICE, version=4, source="remote", plan=data, plan_sha256=plan_digest(data),
                      updated_at="2026-11-30T00:00:00Z")
    return state.model_dump_json(by_alias=True).encode()


def _event(index: int, **event: object) -> bytes:
    return EventMessage(
        msg_id=f"m{index}", seq=index + 1, device_id=DEVICE, session_id=SID, created_at="2026-11-30T00:00:00Z",
        index=index, event=SessionEvent.model_validate(event),
    ).model_dump_json(by_alias=True).encode()


def _samples(t0: float, forces: list[float]) -> bytes:
    return SamplesBatch(
        msg_id=f"b{t0}", seq=99, device_id=DEVICE, session_id=SID, created_at="2026-11-30T00:00:00Z",
        batch=int(t0), t0=t0, dt=0.0125, n=len(forces), force_n=forces, raw=[None] * len(forces),
    ).model_dump_json(by_alias=True).encode()


def test_view_draws_force_against_the_plan_in_force() -> None:
    view = WatchView(DEVICE)
    assert view.handle(f"{BASE}/plan/state", _state(TherapyPlan()), retained=True) == []
    assert "plan version 4 (remote): target 29.4 N (3.00 kgf)" in "\n".join(view.header())
    lines = view.handle(f"{BASE}/session/{SID}/event", _event(0, type="phase", t=3.5, phase="hold", repetition=1))
    assert lines == ["    3.50 s  phase hold (repetition 1/3)"]
    assert view.handle(f"{BASE}/session/{SID}/event", _event(1, type="cue", t=3.5, cue="breath")) == [
        "    3.50 s  cue breath"
    ]
    view.handle(f"{BASE}/session/{SID}/samples", _samples(13.5, [29.0, 29.4]))
    line = view.status_line()
    assert "29.4 N" in line and "hold" in line and "rep 1/3" in line and "50 s left" in line and "in band" in line
    bar = line.split(" ")[0]
    assert len(bar) == WatchView.WIDTH and bar.index("[") < bar.index("]") < bar.index("|") < bar.index("!")
    abort = view.handle(f"{BASE}/session/{SID}/event",
                        _event(2, type="abort", t=20.0, reason="over_tolerance", force_n=40.0, detail="x"))
    assert abort == ["   20.00 s  ABORT over_tolerance at 40.0 N (4.08 kgf): x"]
    view.handle(f"{BASE}/session/{SID}/samples", _samples(20.0, [41.0]))
    assert "OVER TOLERANCE" in view.status_line()


def test_view_prefers_the_sessions_own_plan_and_survives_bad_messages() -> None:
    view = WatchView(DEVICE)
    view.handle(f"{BASE}/plan/state", _state(TherapyPlan()))
    personal = {"target_n": 20.0, "band_low_n": 17.0, "band_high_n": 23.0, "tolerance_n": 25.0,
                "therapist_max_n": 30.0, "hold_s": 45, "rest_s": 10, "repetitions": 2}
    view.handle(f"{BASE}/session/{SID}/event", _event(0, type="session_started", t=0.0, plan=personal))
    assert view.session_limits == Limits.from_plan(personal)
    assert view.handle(f"{BASE}/session/{SID}/samples", b"{nope")[0].startswith("(unreadable message")
    assert view.handle("elsewhere/x", b"1") == []


@pytest.mark.broker
@pytest.mark.asyncio
async def test_watch_follows_a_real_session(tmp_path: Path, mosquitto: Mosquitto,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    watch = asyncio.create_task(run_watch(mqtt_settings(mosquitto.port), DEVICE, out=out, duration_s=30, live=False))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while "no availability known" not in out.getvalue():  # the header is printed once subscribed
        assert loop.time() < deadline and not watch.done()
        await asyncio.sleep(0.01)
    summary = await asyncio.to_thread(publish_session, tmp_path / "device", mosquitto.port)
    while f"session {summary.session_id} ended" not in out.getvalue():
        assert loop.time() < deadline + 15 and not watch.done(), out.getvalue()[-2000:]
        await asyncio.sleep(0.02)
    watch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await watch
    text = out.getvalue()
    assert "phase hold (repetition 1/" in text and "cue breath" in text and "cue entered_band" in text
    assert "ABORT over_tolerance" in text and "aborted (over_tolerance" in text
    assert "hold" in text and "s left" in text and "[" in text  # status lines with the band drawn

    # --once: the retained picture of the device, then exit 0; an unknown device exits 2.
    code = await asyncio.to_thread(main, ["therapist", "watch", "--device", DEVICE, "--once",
                                          "--broker", mosquitto.url])
    once = capsys.readouterr().out
    assert code == 0
    assert "device dev1: offline" in once and f"last session {summary.session_id} aborted" in once
    assert "plan version 0 (local)" in once
    code = await asyncio.to_thread(main, ["therapist", "watch", "--device", "nobody", "--once",
                                          "--broker", mosquitto.url])
    assert code == 2 and "nothing known about device 'nobody'" in capsys.readouterr().out


def test_limits_from_short_plan() -> None:
    limits = Limits.from_plan(SHORT.model_dump())
    assert limits is not None and limits.hold_s == 30 and limits.repetitions == 2
