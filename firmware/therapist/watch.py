"""``presspoint therapist watch``: a live terminal view of one device.

Reads what the device already publishes - no extra traffic: availability,
the retained status JSON (with the last refused start), the retained
``plan/state`` (the whole plan in force), the device's own events (a
refused start) and the session's event and sample topics.  A session that
publishes a ``session_started`` event carrying its resolved ``plan`` (with
the person's own, lower tolerance) overrides the plan for that session.
Once the device is offline the view says so and drops the force it last
saw: an old force shown as live would mislead.

``WatchView`` is pure (messages in, text out) so it is tested without a
broker; ``run_watch`` connects and prints.  On a terminal the header,
status line and legend are redrawn in place at the terminal's width, news
printed above them; otherwise (a pipe, ``--once``, a test) each update is
one plain line.
Samples arrive in one-second batches, so the view lags the hand by about
a second - enough to follow a session from afar, not a safety function.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TextIO

from pydantic import ValidationError

from config.mqtt import MqttSettings
from firmware.protocol.payloads import DeviceStatus, EventMessage, SamplesBatch
from firmware.protocol.plan_messages import PlanError, PlanState
from firmware.protocol.topics import Topics
from firmware.session.summary import SessionSummary
from firmware.therapist.connection import TherapistConnection, client_id, payload_bytes
from firmware.therapist.force_bar import LiveScreen, force_bar, legend
from firmware.therapist.watch_limits import Limits, band_text, kgf_text


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
        self.last_refusal: str | None = None
        self.known = False

    @property
    def offline(self) -> bool:
        return self.availability == "offline"

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
                if self.offline:
                    self.force_n = None  # the last force seen is not the force now
                return [] if retained else [f"device {self.availability}"]
            if rest == "status/info" and payload:
                self.status = DeviceStatus.model_validate_json(payload)
                self.known = True
                if self.status.force_n is not None and self.session_id is None and not self.offline:
                    self.force_n = self.status.force_n
                if self.status.refused is not None or self.status.session_id is not None:
                    self.last_refusal = self.status.refused
                return []
            if rest == "event" and payload:
                return self._device_event(json.loads(payload))
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
                if not isinstance(data, dict):
                    raise ValueError(f"not a JSON object: {payload[:40]!r}")
                threshold = data.get("threshold_n")
                text = kgf_text(threshold) if isinstance(threshold, int | float) else "none"
                return [f"{'last ' if retained else ''}pressure pain threshold: {text} ({data.get('outcome')})"]
            parts = rest.split("/")
            if len(parts) == 3 and parts[0] == "session":
                return self._session(parts[1], parts[2], payload, retained)
        except (ValidationError, ValueError) as exc:
            return [f"(unreadable message on {topic}: {str(exc).splitlines()[0][:100]})"]
        return []

    def _device_event(self, event: object) -> list[str]:
        """An event not tied to a session (``<p>/<device>/event``): a refused start, so far."""
        if not isinstance(event, dict):
            raise ValueError("not a JSON object")
        if event.get("type") == "session_refused":
            self.last_refusal = str(event.get("reason"))
            at = f" (at {event['at']})" if event.get("at") else ""
            return [f"session refused: {self.last_refusal}{at}"]
        extra = {k: v for k, v in event.items() if k != "type"}
        return [f"device event {event.get('type')} {json.dumps(extra, separators=(',', ':'))[:120]}"]

    def _session(self, sid: str, kind: str, payload: bytes, retained: bool) -> list[str]:
        if kind == "summary":
            if retained or not payload:
                return []  # every past session's summary is retained: not news
            summary = SessionSummary.model_validate_json(payload)
            line = f"session {sid} ended: {summary.outcome}"
            if summary.abort is not None:
                line += f" ({summary.abort.reason} at {summary.abort.at_s:.1f} s)"
            done = sum(1 for h in summary.holds if h.outcome == "completed")
            line += f"; holds completed {done}/{summary.plan.repetitions}, peak {kgf_text(summary.peak_force_n)}"
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
            at = f" at {kgf_text(force)}" if isinstance(force, int | float) else ""
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
            lines.append(
                f"  firmware {s.firmware_version}, {'calibrated' if s.calibrated else 'NOT calibrated'}, "
                f"{'session ' + s.session_id if s.session_id else 'idle'}"
            )
            if s.last_session_id:
                lines.append(f"  last session {s.last_session_id} {s.last_outcome}")
        if self.last_refusal is not None:
            lines.append(f"  last start refused: {self.last_refusal}")
        if self.session_limits is not None and self.session_id is not None:
            lim = self.session_limits
            lines.append(f"  session plan: target {kgf_text(lim.target_n)}, band {band_text(lim)}")
            lines.extend(lim.describe())
        elif self.plan_state is not None and self.limits is not None:
            p, lim = self.plan_state, self.limits
            lines.append(
                f"  plan version {p.version} ({p.source}): target {kgf_text(lim.target_n)}, band {band_text(lim)}"
                + (f"; version {p.pending_version} queued" if p.pending_version else "")
            )
            lines.extend(lim.describe())
        return lines

    def legend(self) -> str | None:
        """What the bar's marks mean, once there is a plan to draw a bar against."""
        limits = self.session_limits or self.limits
        return None if limits is None else legend(limits.marks)

    def status_line(self, width: int | None = None) -> str:
        """Bar, force, phase, countdown and zone; the bar fills ``width`` (default: ``WIDTH`` cells of bar)."""
        limits = self.session_limits or self.limits
        text = self._status_text(limits)
        if limits is None:
            return text
        force = None if self.offline else self.force_n
        cells = self.WIDTH if width is None else width - len(text) - 2  # a column spare: no wrap at the edge
        return f"{force_bar(force, limits.marks, cells)} {text}"

    def _status_text(self, limits: Limits | None) -> str:
        if self.offline:
            return "OFFLINE  no live force" + (f"  (session {self.session_id} unfinished)" if self.session_id else "")
        force = self.force_n
        force_text = f"{force:6.1f} N" if force is not None else "   -   "
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
        return f"{force_text}  {self.phase:<15}{where}{left}{zone}"

    def screen(self, width: int) -> list[str]:
        """The live block: header, status line at ``width``, legend."""
        lines = [*self.header(), self.status_line(width)]
        shown = self.legend()
        return lines if shown is None else [*lines, shown]


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
        f"{topics.base}/event",
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
        if once or not live:
            for line in [*view.header(), *_optional(view.legend()), *notes]:
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
        if live:
            with LiveScreen(out) as screen:
                screen.update(notes, view.screen(screen.width))
                await _follow(conn, view, duration_s, lambda lines, _: _redraw(screen, view, lines))
        else:
            await _follow(conn, view, duration_s, lambda lines, is_samples: _print(out, view, lines, is_samples))
    return 0


def _optional(line: str | None) -> list[str]:
    return [] if line is None else [line]


def _redraw(screen: LiveScreen, view: WatchView, lines: list[str]) -> None:
    screen.update(lines, view.screen(screen.width))


def _print(out: TextIO, view: WatchView, lines: list[str], is_samples: bool) -> None:
    """Plain lines for a pipe: the news, and the status line after each batch of samples."""
    for line in lines:
        print(line, file=out)
    if is_samples:
        print(view.status_line(), file=out)
    out.flush()


async def _follow(
    conn: TherapistConnection,
    view: WatchView,
    duration_s: float | None,
    show: Callable[[list[str], bool], None],
) -> None:
    """Feed every message to ``view`` and ``show`` what it said, until ``duration_s`` (or forever)."""
    loop = asyncio.get_running_loop()
    deadline = None if duration_s is None else loop.time() + duration_s
    while deadline is None or loop.time() < deadline:
        received = await conn.next(None if deadline is None else deadline - loop.time())
        if received is None:
            break
        lines = view.handle(str(received.topic), payload_bytes(received), retained=bool(received.retain))
        show(lines, str(received.topic).endswith("/samples"))
