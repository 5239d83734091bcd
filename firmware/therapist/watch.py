"""``presspoint therapist watch``: a live terminal view of one device.

Reads what the device already publishes - no extra traffic: availability,
the retained status JSON, the retained ``plan/state`` (target band,
tolerance and therapist maximum), and the session's event and sample
topics.  A session that publishes a ``session_started`` event carrying its
resolved ``plan`` (with the person's own, lower tolerance) overrides the
plan limits for that session.

``WatchView`` is pure (messages in, text out) so it is tested without a
broker; ``run_watch`` connects and prints.  On a terminal the status line
is redrawn in place; otherwise (a pipe, a test) each update is one line.
Samples arrive in one-second batches, so the view lags the hand by about
a second - enough to follow a session from afar, not a safety function.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, TextIO

from pydantic import ValidationError

from config.mqtt import MqttSettings
from config.units import STANDARD_GRAVITY
from firmware.protocol.payloads import DeviceStatus, EventMessage, SamplesBatch
from firmware.protocol.plan_messages import PlanError, PlanState
from firmware.protocol.topics import Topics
from firmware.session.summary import SessionSummary
from firmware.therapist.connection import TherapistConnection, client_id, payload_bytes


@dataclass(frozen=True)
class Limits:
    """What the force is drawn against."""

    target_n: float
    band_low_n: float
    band_high_n: float
    tolerance_n: float
    therapist_max_n: float
    hold_s: float
    rest_s: float
    repetitions: int

    @classmethod
    def from_plan(cls, plan: dict[str, Any]) -> Limits | None:
        """From a plan (``target``, ``band`` ...) or a resolved plan (``target_n``, ``band_low_n`` ...)."""
        try:
            if "target_n" in plan:
                return cls(
                    float(plan["target_n"]),
                    float(plan["band_low_n"]),
                    float(plan["band_high_n"]),
                    float(plan["tolerance_n"]),
                    float(plan["therapist_max_n"]),
                    float(plan["hold_s"]),
                    float(plan["rest_s"]),
                    int(plan["repetitions"]),
                )
            target, band = float(plan["target"]), float(plan["band"])
            return cls(
                target,
                target * (1 - band),
                target * (1 + band),
                float(plan["tolerance"]),
                float(plan["therapist_max"]),
                float(plan["hold_s"]),
                float(plan["rest_s"]),
                int(plan["repetitions"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def _kgf(n: float) -> str:
    return f"{n:.1f} N ({n / STANDARD_GRAVITY:.2f} kgf)"


class WatchView:
    """The state of one device as seen from its messages, and the text to show for it."""

    WIDTH = 40

    def __init__(self, device_id: str, prefix: str = "presspoint") -> None:
        self.topics = Topics(device_id, prefix)
        self.device_id = device_id
        self.availability: str | None = None
        self.status: DeviceStatus | None = None
        self.plan_state: PlanState | None = None
        self.limits: Limits | None = None
        self.session_limits: Limits | None = None
        self.session_id: str | None = None
        self.phase = "idle"
        self.repetition = 0
        self.phase_started_t = 0.0
        self.t: float | None = None
        self.force_n: float | None = None
        self.known = False

    # -- messages in ----------------------------------------------------------

    def handle(self, topic: str, payload: bytes, *, retained: bool = False) -> list[str]:
        """Update from one message; returns the lines worth printing (events, not the status line)."""
        base = self.topics.base + "/"
        if not topic.startswith(base):
            return []
        rest = topic[len(base) :]
        try:
            if rest == "status":
                self.availability = payload.decode("utf-8", "replace") or None
                self.known = True
                return [] if retained else [f"device {self.availability}"]
            if rest == "status/info" and payload:
                self.status = DeviceStatus.model_validate_json(payload)
                self.known = True
                if self.status.force_n is not None and self.session_id is None:
                    self.force_n = self.status.force_n
                return []
            if rest == "plan/state" and payload:
                self.plan_state = PlanState.model_validate_json(payload)
                self.limits = Limits.from_plan(self.plan_state.plan)
                self.known = True
                return [] if retained else [f"plan now version {self.plan_state.version}"]
            if rest == "plan/error" and payload:
                error = PlanError.model_validate_json(payload)
                when = "last plan refusal" if retained else "plan refused"
                return [f"{when}: version {error.version} [{error.code}] {error.reason}"]
            if rest == "ppt" and payload:
                data = json.loads(payload)
                threshold = data.get("threshold_n")
                text = _kgf(threshold) if isinstance(threshold, int | float) else "none"
                return [f"{'last ' if retained else ''}pressure pain threshold: {text} ({data.get('outcome')})"]
            parts = rest.split("/")
            if len(parts) == 3 and parts[0] == "session":
                return self._session(parts[1], parts[2], payload, retained)
        except (ValidationError, ValueError) as exc:
            return [f"(unreadable message on {topic}: {str(exc).splitlines()[0][:100]})"]
        return []

    def _session(self, sid: str, kind: str, payload: bytes, retained: bool) -> list[str]:
        if kind == "summary":
            if retained or not payload:
                return []  # every past session's summary is retained: not news
            summary = SessionSummary.model_validate_json(payload)
            line = f"session {sid} ended: {summary.outcome}"
            if summary.abort is not None:
                line += f" ({summary.abort.reason} at {summary.abort.at_s:.1f} s)"
            done = sum(1 for h in summary.holds if h.outcome == "completed")
            line += f"; holds completed {done}/{summary.plan.repetitions}, peak {_kgf(summary.peak_force_n)}"
            if self.session_id == sid:
                self.session_id = None
                self.session_limits = None
                self.phase = "idle"
            return [line]
        if kind == "samples":
            batch = SamplesBatch.model_validate_json(payload)
            self._enter_session(sid)
            times = batch.times()
            for t, force in zip(reversed(times), reversed(batch.force_n), strict=True):
                if force is not None:
                    self.t, self.force_n = t, force
                    break
            return []
        if kind == "event":
            message = EventMessage.model_validate_json(payload)
            self._enter_session(sid)
            return self._event(message.event.model_dump(mode="json"))
        return []

    def _enter_session(self, sid: str) -> None:
        if self.session_id != sid:
            self.session_id = sid
            self.session_limits = None
            self.phase = "waiting_contact"
            self.repetition = 1

    def _event(self, event: dict[str, Any]) -> list[str]:
        kind = event.get("type")
        t = event.get("t")
        stamp = f"{t:8.2f} s" if isinstance(t, int | float) else "      -   "
        if isinstance(t, int | float):
            self.t = max(self.t or 0.0, float(t))
        if kind == "session_started" and isinstance(event.get("plan"), dict):
            self.session_limits = Limits.from_plan(event["plan"])
            return [f"{stamp}  session started"]
        if kind == "phase":
            self.phase = str(event.get("phase"))
            self.repetition = int(event.get("repetition") or self.repetition)
            self.phase_started_t = float(t) if isinstance(t, int | float) else 0.0
            return [f"{stamp}  phase {self.phase} (repetition {self.repetition}/{self._reps()})"]
        if kind == "cue":
            return [f"{stamp}  cue {event.get('cue')}"]
        if kind == "hold_started":
            return [f"{stamp}  hold {event.get('index')} started"]
        if kind == "hold_ended":
            return [f"{stamp}  hold {event.get('index')} ended: {event.get('outcome')}"]
        if kind == "abort":
            force = event.get("force_n")
            at = f" at {_kgf(force)}" if isinstance(force, int | float) else ""
            return [f"{stamp}  ABORT {event.get('reason')}{at}: {event.get('detail', '')}"]
        if kind == "session_ended":
            return [f"{stamp}  session ended: {event.get('outcome')}"]
        extra = {k: v for k, v in event.items() if k not in ("type", "t")}
        return [f"{stamp}  {kind} {json.dumps(extra, separators=(',', ':'))[:120]}"]

    def _reps(self) -> str:
        limits = self.session_limits or self.limits
        return str(limits.repetitions) if limits else "?"

    # -- text out -----------------------------------------------------------------

    def header(self) -> list[str]:
        lines = [f"device {self.device_id}: {self.availability or 'no availability known'}"]
        if self.status is not None:
            s = self.status
            last = f"; last session {s.last_session_id} {s.last_outcome}" if s.last_session_id else ""
            lines.append(
                f"  firmware {s.firmware_version}, {'calibrated' if s.calibrated else 'NOT calibrated'}, "
                f"{'session ' + s.session_id if s.session_id else 'idle'}{last}"
            )
        if self.plan_state is not None and self.limits is not None:
            p, lim = self.plan_state, self.limits
            lines.append(
                f"  plan version {p.version} ({p.source}): target {_kgf(lim.target_n)}, band "
                f"{lim.band_low_n:.1f}-{lim.band_high_n:.1f} N, tolerance {_kgf(lim.tolerance_n)}, "
                f"therapist max {_kgf(lim.therapist_max_n)}"
                + (f"; version {p.pending_version} queued" if p.pending_version else "")
            )
        return lines

    def status_line(self) -> str:
        limits = self.session_limits or self.limits
        force = self.force_n
        force_text = f"{force:6.1f} N" if force is not None else "   -   "
        bar = ""
        if limits is not None:
            scale = max(limits.therapist_max_n, limits.tolerance_n) * 1.1
            filled = 0 if force is None else max(0, min(self.WIDTH, round(force / scale * self.WIDTH)))
            cells = list("#" * filled + "." * (self.WIDTH - filled))
            for value, mark in (
                (limits.band_low_n, "["),
                (limits.band_high_n, "]"),
                (limits.tolerance_n, "|"),
                (limits.therapist_max_n, "!"),
            ):
                cells[min(self.WIDTH - 1, round(value / scale * self.WIDTH))] = mark
            bar = "".join(cells) + " "
        left = ""
        if limits is not None and self.t is not None:
            if self.phase == "hold":
                left = f"  {max(0.0, limits.hold_s - (self.t - self.phase_started_t)):3.0f} s left"
            elif self.phase == "rest":
                left = f"  rest {max(0.0, limits.rest_s - (self.t - self.phase_started_t)):3.0f} s"
        where = ""
        if self.session_id is not None:
            where = f"  rep {self.repetition}/{self._reps()}"
        zone = ""
        if limits is not None and force is not None:
            if force > limits.tolerance_n:
                zone = "  OVER TOLERANCE"
            elif force > limits.band_high_n:
                zone = "  above band"
            elif force >= limits.band_low_n:
                zone = "  in band"
        return f"{bar}{force_text}  {self.phase:<15}{where}{left}{zone}"


async def run_watch(
    settings: MqttSettings,
    device_id: str,
    *,
    out: TextIO,
    once: bool = False,
    duration_s: float | None = None,
    live: bool | None = None,
    sync_timeout_s: float = 2.0,
) -> int:
    """Show the device until ``duration_s`` (or Ctrl-C); ``once``: its current state, then exit.

    Returns 0, or 2 with ``once`` when nothing at all is known about the device.
    """
    live = out.isatty() if live is None else live
    view = WatchView(device_id, settings.topic_prefix)
    topics = view.topics
    filters = [
        topics.status,
        topics.status_info,
        topics.plan_state,
        topics.plan_error,
        f"{topics.base}/ppt",
        f"{topics.base}/session/+/event",
        f"{topics.base}/session/+/samples",
        f"{topics.base}/session/+/summary",
    ]
    async with TherapistConnection(settings, identifier=client_id("watch")) as conn:
        await conn.subscribe(filters)
        snapshot = await conn.sync(sync_timeout_s)
        notes: list[str] = []
        for message in snapshot:
            notes += view.handle(str(message.topic), payload_bytes(message), retained=bool(message.retain))
        for line in [*view.header(), *notes]:
            print(line, file=out)
        if once:
            print(view.status_line(), file=out)
            if not view.known:
                print(
                    f"nothing known about device {device_id!r} on {settings.display_url()} "
                    "(wrong id, or it never connected)",
                    file=out,
                )
                return 2
            return 0
        loop = asyncio.get_running_loop()
        deadline = None if duration_s is None else loop.time() + duration_s
        while deadline is None or loop.time() < deadline:
            received = await conn.next(None if deadline is None else deadline - loop.time())
            if received is None:
                break
            lines = view.handle(str(received.topic), payload_bytes(received), retained=bool(received.retain))
            is_samples = str(received.topic).endswith("/samples")
            if live:
                for line in lines:
                    out.write(f"\r{'':<100}\r{line}\n")
                out.write(f"\r{view.status_line():<100}")
            else:
                for line in lines:
                    print(line, file=out)
                if is_samples:
                    print(view.status_line(), file=out)
            out.flush()
        if live:
            out.write("\n")
    return 0
