"""The ``presspoint therapist`` commands that read a collected database: ``sessions``, ``report``, ``ppt``.

They read through the clinic storage (``firmware.therapist.store``), so a
database ``clinic serve`` filled reads the same.

Human output shows local time with its zone and forces in N and kgf; the
stored JSON keeps UTC and SI.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from config.errors import PresspointError
from config.loader import load_plan
from config.plan import TherapyPlan
from firmware.clinic.history import Refusal, SessionListing, refusals
from firmware.protocol.ppt import PptMeasurement, plan_toml, suggestion_plan
from firmware.therapist.readable import MISSING, force, hold_count, local_time, pain_pair
from firmware.therapist.report import render_report
from firmware.therapist.session_ref import resolve_session
from firmware.therapist.store import TherapistStore, shown

_COLUMNS = (
    f"{'session':<28} {'device':<16} {'person':<12} {'started':<20} {'outcome':<11} {'abort reason':<16} "
    f"{'dur s':>7} {'holds':>5} {'peak N':>7} {'events':>6} {'samples':>7} {'spots':<16} {'pain':<6} "
    f"{'follow-up':<10} flags"
)


@contextlib.contextmanager
def opened(db: Path | str) -> Iterator[TherapistStore]:
    """The collected database ``db`` (never a new empty one by mistake), closed after use."""
    store = TherapistStore(db, create=False)
    try:
        yield store
    finally:
        store.close()


def cmd_sessions(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    with opened(args.db) as store:
        rows = store.sessions(args.device)
        refused = refusals(store.engine, args.device)
    if not rows and not refused:
        print(f"no sessions in {shown(args.db)}", file=out)
        return 0
    print(_COLUMNS, file=out)
    lines = [(r.started_at or "", session_line(r)) for r in rows] + [(r.at, refusal_line(r)) for r in refused]
    for _, line in sorted(lines, key=lambda pair: pair[0]):
        print(line, file=out)
    return 0


def session_line(r: SessionListing) -> str:
    """One row of ``sessions``: holds as completed/planned, the abort reason, the person, the outcomes.

    Outcome columns a session does not have (no spots, no ratings, no
    follow-up, no flags) stay empty.
    """
    summary = r.summary
    holds = str(hold_count(summary)) if summary is not None else MISSING
    reason = summary.abort.reason if summary is not None and summary.abort is not None else MISSING
    return (
        f"{r.session_id:<28} {r.device_id:<16} {r.person:<12} {local_time(r.started_at, seconds=False):<20} "
        f"{r.outcome or '(open)':<11} {reason:<16} {_f(r.duration_s, 7, 1)} {holds:>5} "
        f"{_f(r.peak_force_n, 7, 1)} {r.events:>6} {r.samples:>7} {','.join(r.spots)[:16]:<16} "
        f"{pain_pair(r.pain('before'), r.pain('after')):<6} {r.follow_up or '':<10} {','.join(r.flags)}"
    ).rstrip()


def refusal_line(r: Refusal) -> str:
    """A refused start, in the sessions' columns: no session, the reason where a session's outcome goes on."""
    seen = " (seen in the device's status)" if r.source == "status" else ""
    return (
        f"{'(start refused)':<28} {r.device_id:<16} {MISSING:<12} {local_time(r.at, seconds=False):<20} "
        f"{'refused':<11} {r.reason}{seen}"
    )


def _f(value: float | None, width: int, digits: int) -> str:
    return f"{MISSING:>{width}}" if value is None else f"{value:{width}.{digits}f}"


def cmd_report(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    with opened(args.db) as store:
        session_id = resolve_session(store, args.session_id, shown(args.db))
        data = store.session(session_id)
    assert data is not None  # resolve_session found it in the same database
    render_report(data, args.out)
    print(f"wrote {args.out} (session {session_id})", file=out)
    return 0


def cmd_ppt(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    with opened(args.db) as store:
        rows = store.ppt_measurements(args.device)
    if args.plan_out is not None:
        return _write_suggested_plan(rows, args, out)
    if not rows:
        print(f"no pressure pain threshold measurements in {shown(args.db)}", file=out)
        return 0
    for m in rows:
        for line in ppt_lines(m):
            print(line, file=out)
    return 0


def ppt_lines(m: PptMeasurement) -> list[str]:
    """One measurement, readable: when, where, outcome, threshold, ramp, and the suggested limits."""
    line = f"{local_time(m.measured_at)}  {m.device_id:<16} {m.outcome:<9} threshold {force(m.threshold_n)}"
    if m.rate_ok is False:
        line += f"  (ramp too fast: {m.mean_rate_n_per_s or 0:.1f} N/s, limit {m.rate_limit_n_per_s:.1f} N/s)"
    if m.abort is not None:
        line += f"  (aborted: {m.abort.reason} at {m.abort.at_s:.1f} s)"
    lines = [line]
    if m.suggestion is not None:
        s = m.suggestion
        capped = " (capped by the device's range)" if s.capped_by_device else ""
        lines.append(
            f"    suggested: target {force(s.target_n)}, tolerance {force(s.tolerance_n)}, "
            f"therapist max {force(s.therapist_max_n)}{capped}"
        )
    return lines


def _write_suggested_plan(rows: list[PptMeasurement], args: argparse.Namespace, out: TextIO) -> int:
    """``--plan-out FILE``: the latest suggestion as a plan file, checked by the plan loader before it lands."""
    path: Path = args.plan_out
    devices = {m.device_id for m in rows}
    if len(devices) > 1:
        raise PresspointError(
            f"{args.db}: measurements from {len(devices)} devices ({', '.join(sorted(devices))}); "
            "choose one with --device"
        )
    with_suggestion = [m for m in rows if m.suggestion is not None]
    if not with_suggestion:
        raise PresspointError(f"{args.db}: no measurement with a suggested plan (no threshold recorded)")
    if path.exists():
        raise PresspointError(f"{path}: already exists; not overwriting a plan file (choose another name)")
    m = with_suggestion[-1]
    base = TherapyPlan() if args.base is None else load_plan(args.base, m.device_max_n)
    try:
        plan = suggestion_plan(m, base)
    except ValueError as exc:
        raise PresspointError(f"measurement {m.measurement_id}: {exc}") from None
    text = plan_toml(plan, _plan_header(m, args.base))
    _write_checked(path, text, m.device_max_n)
    when = local_time(m.measured_at)
    print(f"wrote {path}: plan suggested from the measurement on {m.device_id} at {when}", file=out)
    for line in ppt_lines(m)[1:]:
        print(line, file=out)
    print(
        f"  check it with the person, then: presspoint therapist plan push --device {m.device_id} --file {path} "
        f"--key {m.device_id}.key --broker mqtt[s]://HOST:PORT",
        file=out,
    )
    return 0


def _plan_header(m: PptMeasurement, base: Path | None) -> list[str]:
    assert m.suggestion is not None
    s = m.suggestion
    return [
        f"Plan suggested from the pressure pain threshold measured on {m.device_id} at {m.measured_at}",
        f"(measurement {m.measurement_id}, threshold {force(m.threshold_n)}): target {s.target_fraction:.0%}",
        f"and tolerance {s.tolerance_fraction:.0%} of it; schedule from {base or 'the default plan'}.",
        "A starting point only: check it with the person before pushing it. Forces in newtons.",
        "",
    ]


def _write_checked(path: Path, text: str, device_max_n: float) -> None:
    """Write ``text`` next to ``path``, load it with the plan loader, then move it into place (all or nothing)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise PresspointError(f"{path}: no such directory {folder}")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".toml", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        load_plan(tmp, device_max_n)
        os.link(tmp, path)  # never over a file that appeared meanwhile
    except FileExistsError:
        raise PresspointError(f"{path}: already exists; not overwriting a plan file (choose another name)") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
