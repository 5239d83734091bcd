"""The login rate limit, shared by every instance on one database: failures are rows of the audit log.

An in-memory counter lets an attacker spread guesses over the instances of
a group (each counts alone, and each restart forgets); keeping each failed
attempt as an ``audit_log`` row (``login_failed``, the name tried, the
client address) makes the limit one for the whole group and survive
restarts, and leaves the attempts on record.  A successful login (a
``login`` row) starts the count again for that name and that address.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from firmware.clinic import schema as t
from firmware.clinic.ingest import now_iso, utc_iso

FAILED, SUCCEEDED = "login_failed", "login"
LOGIN_ACTIONS = (FAILED, SUCCEEDED)


def _address(address: str) -> str:
    return json.dumps({"address": address[:100]})


class SharedLoginLimiter:
    """At most ``attempts`` failed logins per client address and per user name in ``window_s``, group-wide."""

    def __init__(self, engine: Engine, attempts: int = 5, window_s: float = 300.0) -> None:
        self.engine = engine
        self.attempts = attempts
        self.window_s = window_s

    def blocked(self, address: str, name: str) -> bool:
        cutoff = utc_iso(datetime.now(UTC) - timedelta(seconds=self.window_s))
        log = t.audit_log.c
        with self.engine.connect() as conn:
            for same in (log.user_name == name[:64], log.detail == _address(address)):
                reset = sa.select(sa.func.coalesce(sa.func.max(log.id), 0)).where(log.action == SUCCEEDED, same)
                failures = conn.execute(
                    sa.select(sa.func.count()).where(
                        log.action == FAILED, same, log.at >= cutoff, log.id > reset.scalar_subquery()
                    )
                ).scalar_one()
                if failures >= self.attempts:
                    return True
        return False

    def _record(self, action: str, address: str, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                t.audit_log.insert().values(
                    at=now_iso(), user_name=name[:64], action=action, device_id=None, detail=_address(address)
                )
            )

    def failed(self, address: str, name: str) -> None:
        self._record(FAILED, address, name)

    def succeeded(self, address: str, name: str) -> None:
        self._record(SUCCEEDED, address, name)
