"""What a therapist should look at on the devices page: refusals, aborts, timeouts, a device gone mid-session.

A device that went offline is an alert only while its last status says a
session was running (a phase other than ``ended``) and no summary of that
session arrived: a device switched off after its session is no alarm.
"""

from __future__ import annotations

from firmware.clinic.queries import DeviceRow

_OUTCOME_ALERTS = {"aborted": "aborted", "timed_out": "timed out"}


def device_alerts(row: DeviceRow) -> list[str]:
    found: list[str] = []
    status, last = row.status, row.last_session
    if status is not None and status.refused:
        found.append(f"start refused: {status.refused}")
    if row.online is False and status is not None and status.session_id and status.phase not in (None, "ended"):
        summarised = last is not None and last.session_id == status.session_id and last.outcome is not None
        if not summarised:
            found.append(f"offline during session {status.session_id}")
    if last is not None and last.outcome in _OUTCOME_ALERTS:
        found.append(f"last session {last.session_id} {_OUTCOME_ALERTS[last.outcome]}")
    if row.plan_error is not None and (row.plan_state is None or row.plan_error.at > row.plan_state.updated_at):
        found.append(f"plan refused [{row.plan_error.code}]: {row.plan_error.reason}")
    return found


def device_json(row: DeviceRow) -> dict[str, object]:
    """The API's and the page's view of a device, with these alerts and the last session's outcome."""
    data = row.as_json()
    data["alerts"] = device_alerts(row)
    if data["last_outcome"] is None and row.last_session is not None:
        data["last_outcome"] = row.last_session.outcome
    return data
