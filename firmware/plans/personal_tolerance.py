"""The person's own, lower tolerance, kept in the device's state directory.

The therapist's profile lives in /etc/presspoint, which the service cannot
write (the unit's ``ProtectSystem=strict``); the person's button gesture must
still survive a restart.  So the override goes to ``state_dir`` and is
re-checked against the profile and the plan in force every time it is used:
it can only ever lower the tolerance.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from config.atomic import atomic_write_bytes
from config.plan import TherapyPlan
from config.profile import Profile, set_personal_tolerance

log = logging.getLogger(__name__)

FILE_NAME = "personal_tolerance.json"


class PersonalToleranceStore:
    """One number (newtons) or nothing, stored atomically."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME

    def load(self) -> float | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            value = data["tolerance_n"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("%s: unreadable (%s); using the profile's tolerance", self.path, err)
            return None
        if value is None:
            return None
        if not isinstance(value, int | float) or value <= 0:
            log.warning("%s: tolerance_n must be a positive number; ignored", self.path)
            return None
        return float(value)

    def save(self, tolerance_n: float | None) -> None:
        atomic_write_bytes(self.path, json.dumps({"tolerance_n": tolerance_n}).encode("utf-8"))


def apply_stored(profile: Profile, store: PersonalToleranceStore, plan: TherapyPlan, device_max_n: float) -> Profile:
    """The profile with the person's stored tolerance, if it is (still) allowed."""
    stored = store.load()
    if stored is None:
        return profile
    change = set_personal_tolerance(profile, stored, plan, device_max_n)
    if not change.ok:
        log.warning("stored personal tolerance ignored: %s", change.reason)
        return profile
    if profile.personal_tolerance is not None and profile.personal_tolerance < stored:
        return profile  # the profile's own is lower still
    return change.profile
