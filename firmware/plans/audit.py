"""The plan audit: the applied history (never rotated) and the refusals (aggregated, rotated), as JSON lines.

``audit.jsonl`` holds every plan applied, queued or superseded - only plans
signed with the device key get there, so it grows only as fast as the
therapist pushes, and it is never rotated: nobody without the key can flush
it away.  ``audit-refusals.jsonl`` holds refusals, which anyone who can
publish can cause: per refusal code and wall-clock minute the first
``FULL_PER_MINUTE`` are written in full and the rest only counted, in one
``"aggregate": true`` record when the minute is over (or at ``flush``);
past ``max_bytes`` that file is rotated once to ``.1``.  A refusal repeated
byte for byte (a retained bad message on every reconnect) is written once
per process.  Every line is fsynced (``config.atomic.append_line_durably``).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from config.atomic import append_line_durably
from firmware.plans.store import StoredPlan
from firmware.plans.validator import Refusal
from firmware.protocol.plan_messages import plan_digest

log = logging.getLogger("presspoint.plan")

REFUSALS_MAX_BYTES: Final = 1024 * 1024
#: Refusals written in full per code and minute; the rest of that minute are counted.
FULL_PER_MINUTE: Final = 3
_REPEATS_REMEMBERED = 64
CHANGES_FILE: Final = "audit.jsonl"
REFUSALS_FILE: Final = "audit-refusals.jsonl"


def _append(path: Path, record: dict[str, Any], *, rotate_past: int | None = None) -> None:
    try:
        if rotate_past is not None and path.exists() and path.stat().st_size > rotate_past:
            path.replace(path.with_name(path.name + ".1"))
        append_line_durably(path, json.dumps(record, sort_keys=True, allow_nan=False))
    except OSError as exc:
        log.error("plan audit log %s: cannot append (%s); the change itself stands", path, exc.strerror)


def _read_records(*paths: Path) -> list[dict[str, Any]]:
    """Every readable JSON object line of ``paths``, in order; bad lines skipped."""
    out: list[dict[str, Any]] = []
    for path in paths:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
    return out


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class RefusalLog:
    """Refusals, rate-limited per code and minute; what is not written in full is counted."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = REFUSALS_MAX_BYTES,
        clock: Callable[[], float] = time.time,
        full_per_minute: int = FULL_PER_MINUTE,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._clock = clock
        self._full_per_minute = full_per_minute
        self._minute: int | None = None
        self._written: Counter[str] = Counter()
        self._counted: Counter[str] = Counter()
        self._repeats: OrderedDict[str, None] = OrderedDict()

    def record(self, refusal: Refusal, *, at: str, version_in_force: int, digest: str, size: int) -> bool:
        """Note one refusal; True when it was written in full (worth a log line), False when only counted."""
        if digest in self._repeats:
            return False
        self._repeats[digest] = None
        while len(self._repeats) > _REPEATS_REMEMBERED:
            self._repeats.popitem(last=False)
        self._roll(int(self._clock() // 60))
        code = str(refusal.code)
        if self._written[code] >= self._full_per_minute:
            self._counted[code] += 1
            return False
        self._written[code] += 1
        record = {
            "at": at,
            "action": "refused",
            "code": code,
            "reason": refusal.reason,
            "claimed_version": refusal.version,
            "request_id": refusal.request_id,
            "version_in_force": version_in_force,
            "payload_sha256": digest,
            "payload_bytes": size,
        }
        _append(self.path, record, rotate_past=self.max_bytes)
        return True

    def flush(self) -> None:
        """Write the counts of the current minute's refusals not written in full."""
        if self._minute is None:
            return
        start = self._minute * 60
        for code, count in sorted(self._counted.items()):
            record = {"action": "refused", "aggregate": True, "code": code, "count": count,
                      "from": _iso(start), "until": _iso(start + 60)}
            _append(self.path, record, rotate_past=self.max_bytes)
            log.warning("plan update: %d more refusals (%s) between %s and %s", count, code, record["from"],
                        record["until"])
        self._counted.clear()

    def _roll(self, minute: int) -> None:
        if minute == self._minute:
            return
        self.flush()
        self._minute = minute
        self._written.clear()

    def records(self) -> list[dict[str, Any]]:
        return _read_records(self.path.with_name(self.path.name + ".1"), self.path)


class AuditLog:
    """The applied history (``audit.jsonl``) and the refusals (``audit-refusals.jsonl``) of one device."""

    def __init__(self, folder: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = folder / CHANGES_FILE
        self.refusals = RefusalLog(folder / REFUSALS_FILE, clock=clock)

    def change(self, action: str, record: StoredPlan, *, at: str, previous: int | None, note: str = "") -> None:
        """A plan ``applied``, ``queued`` or ``superseded``, with the plan itself."""
        _append(
            self.path,
            {
                "at": at,
                "action": action,
                "version": record.version,
                "previous_version": previous,
                "request_id": record.request_id,
                "issued_at": record.issued_at,
                "key_id": record.key_id,
                "plan_sha256": plan_digest(record.plan),
                "plan": record.plan,
                "note": note,
            },
        )

    def refusal(self, refusal: Refusal, *, at: str, version_in_force: int, digest: str, size: int) -> bool:
        """A refused message; True when it was written in full."""
        return self.refusals.record(refusal, at=at, version_in_force=version_in_force, digest=digest, size=size)

    def records(self) -> list[dict[str, Any]]:
        """The applied history, oldest first (a ``.1`` left by older firmware, which rotated it, first)."""
        return _read_records(self.path.with_name(self.path.name + ".1"), self.path)

    def highest_version(self) -> int:
        """Highest version ever applied or queued according to the history."""
        best = 0
        for record in self.records():
            version = record.get("version")
            if record.get("action") in ("applied", "queued") and isinstance(version, int):
                best = max(best, version)
        return best
