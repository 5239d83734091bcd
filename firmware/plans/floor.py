"""The replay floor: the highest plan version this device ever accepted, in a file of its own.

Replay protection must not depend on anything an attacker without the key
can change.  Refusals are logged, and a log can be flushed by sending many of
them; a stored plan can stop loading when the rules change.  So the floor is
one small JSON record (``floor.json``), replaced atomically
(``config.atomic``) and only ever raised.  A plan at or below it is refused.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Final

from config.atomic import atomic_write_bytes

log = logging.getLogger("presspoint.plan")

FLOOR_SCHEMA: Final = "presspoint.plan-floor/1"


class ReplayFloor:
    """``<folder>/floor.json``: ``{"schema": ..., "version": N}``; 0 when there is none yet."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.version = self._read()

    def _read(self) -> int:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            log.error("replay floor %s is unreadable (%s); using the plans and the applied history", self.path, exc)
            return 0
        record = data if isinstance(data, dict) else {}
        version = record.get("version")
        if record.get("schema") != FLOOR_SCHEMA or not isinstance(version, int) or isinstance(version, bool):
            log.error("replay floor %s is not a %s record; using the plans and the applied history", self.path,
                      FLOOR_SCHEMA)
            return 0
        return max(version, 0)

    def raise_to(self, version: int) -> None:
        """Make ``version`` the floor if it is higher (durable before it returns); raises ``OSError``."""
        if version <= self.version:
            return
        atomic_write_bytes(self.path, json.dumps({"schema": FLOOR_SCHEMA, "version": version}).encode("utf-8"))
        self.version = version
