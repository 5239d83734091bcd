"""``presspoint therapist person --device ID``: the person on a device, as the collector stored it.

The course and flags come from the device's retained ``person/status``; the
sessions (spots, pain before and after, follow-up answers) from the stored
summaries and follow-ups; the pressure pain thresholds per spot, with the
change against the previous measurement there and whether it is a real
change (past the minimum detectable change); and the refused starts.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from config.errors import PresspointError
from firmware.clinic.history import PersonView, PptPoint, known_device, person_view
from firmware.outcomes.course_text import course_text
from firmware.therapist.readable import MISSING, local_time, pain_text
from firmware.therapist.review import opened
from firmware.therapist.session_ref import device_ref
from firmware.therapist.store import shown


def cmd_person(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    device_id = device_ref(args.device)
    with opened(args.db) as store:
        if not known_device(store.engine, device_id):
            raise PresspointError(f"{shown(args.db)}: nothing collected from device {device_id!r}")
        view = person_view(store.engine, device_id)
    for line in person_lines(view):
        print(line, file=out)
    return 0


def person_lines(view: PersonView) -> list[str]:
    status = view.status
    name = status.person if status is not None and status.person else _named_in_sessions(view)
    lines = [f"device {view.device_id}: person {name or MISSING}"]
    lines += _course_lines(view)
    lines.append("sessions:")
    if not view.sessions:
        lines.append("  none stored")
    for s in view.sessions:
        spots = ", ".join(s.spots) or "one spot"
        answer = f"; follow-up: {s.follow_up}" if s.follow_up else ""
        flags = f"; flags: {', '.join(s.flags)}" if s.flags else ""
        lines.append(
            f"  {local_time(s.started_at, seconds=False)}  {s.session_id}  {s.outcome or '(open)'}  {spots}; "
            f"{pain_text(s.pain('before'), s.pain('after'))}{answer}{flags}"
        )
    lines.append("pressure pain thresholds by spot:")
    if not view.ppt:
        lines.append("  none stored")
    for spot, points in view.ppt.items():
        lines.append(f"  {spot}:")
        lines += [f"    {_ppt_line(p)}" for p in points]
    for refusal in view.refusals:
        lines.append(f"start refused at {local_time(refusal.at)}: {refusal.reason}")
    return lines


def _named_in_sessions(view: PersonView) -> str | None:
    return next((s.person for s in reversed(view.sessions) if s.person != MISSING), None)


def _course_lines(view: PersonView) -> list[str]:
    status = view.status
    if status is None:
        return ["course: - (no person/status from this device yet)"]
    lines = []
    course = status.course
    if course is None:
        lines.append("course: - (no profile on the device)")
    else:
        lines.append(f"course {course_text(course)}")
    flags = ", ".join(str(f) for f in status.flags) or "none"
    since = f" (soreness since {local_time(status.soreness_since)})" if status.soreness_since else ""
    lines.append(f"flags: {flags}{since}")
    pending = status.pending_follow_up
    if pending is not None:
        lines.append(f"follow-up due for session {pending.session_id} until {local_time(pending.due_until)}")
    return lines


def _ppt_line(p: PptPoint) -> str:
    kpa = MISSING if p.mean_kpa is None else f"{p.mean_kpa:.0f} kPa"
    if p.change_kpa is None:
        change = "first measurement here"
    else:
        change = f"change {p.change_kpa:+.0f} kPa" + (" (real change)" if p.real_change else " (within noise)")
    return f"{local_time(p.measured_at, seconds=False)}  {kpa}  {change}"
