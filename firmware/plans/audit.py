"""The plan audit log: every applied, queued, superseded or refused change, one JSON line each.

Lines are fsynced one by one (``config.atomic.append_line_durably``); past
``max_bytes`` the file is rotated once to ``.1``.  A refusal repeated byte
for byte (a retained bad message on every reconnect) is written once per
process.  The log also gives the replay floor if the plan file is lost.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any, Final

from config.atomic import append_line_durably
from firmware.plans.store import StoredPlan
from firmware.plans.validator import Refusal
from firmware.protocol.plan_messages import plan_digest

log = logging.getLogger("presspoint.plan")

AUDIT_MAX_BYTES: Final = 1024 * 1024
_REPEATS_REMEMBERED = 64


class AuditLog:
    """Append-only JSON lines, fsynced per line; rotated once to ``.1`` past ``max_bytes``."""

    def __init__(self, path: Path, *, max_bytes: int = AUDIT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._refusals_written: OrderedDict[str, None] = OrderedDict()

    def append(self, record: dict[str, Any]) -> None:
        try:
            if self.path.exists() and self.path.stat().st_size > self.max_bytes:
                self.path.replace(self.path.with_name(self.path.name + ".1"))
            append_line_durably(self.path, json.dumps(record, sort_keys=True, allow_nan=False))
        except OSError as exc:
            log.error("plan audit log %s: cannot append (%s); the change itself stands", self.path, exc.strerror)

    def change(self, action: str, record: StoredPlan, *, at: str, previous: int | None, note: str = "") -> None:
        """A plan ``applied``, ``queued`` or ``superseded``, with the plan itself."""
        self.append(
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
            }
        )

    def refusal(self, refusal: Refusal, *, at: str, version_in_force: int, digest: str, size: int) -> None:
        """A refused message, unless this process already wrote one for the same bytes."""
        if digest in self._refusals_written:
            return
        self._refusals_written[digest] = None
        while len(self._refusals_written) > _REPEATS_REMEMBERED:
            self._refusals_written.popitem(last=False)
        self.append(
            {
                "at": at,
                "action": "refused",
                "code": str(refusal.code),
                "reason": refusal.reason,
                "claimed_version": refusal.version,
                "request_id": refusal.request_id,
                "version_in_force": version_in_force,
                "payload_sha256": digest,
                "payload_bytes": size,
            }
        )

    def records(self) -> list[dict[str, Any]]:
        """Every readable line, oldest first (the rotated file first); bad lines skipped."""
        out: list[dict[str, Any]] = []
        for path in (self.path.with_name(self.path.name + ".1"), self.path):
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

    def highest_version(self) -> int:
        """Highest version ever applied or queued: the replay floor if the plan file is lost."""
        best = 0
        for record in self.records():
            version = record.get("version")
            if record.get("action") in ("applied", "queued") and isinstance(version, int):
                best = max(best, version)
        return best
