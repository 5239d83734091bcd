"""Every MQTT topic the device uses, built in one place.

Layout (``<p>`` is ``mqtt.topic_prefix``, default ``presspoint``)::

    <p>/<device>/status                    online | offline (retained, last will)
    <p>/<device>/status/info               DeviceStatus JSON (retained)
    <p>/<device>/session/<sid>/event       EventMessage JSON (QoS 1)
    <p>/<device>/session/<sid>/samples     SamplesBatch JSON (QoS 1)
    <p>/<device>/session/<sid>/summary     session summary JSON (QoS 1, retained)
    <p>/<device>/live                      SamplesBatch JSON of the last 0.1 s (QoS 0, not stored: live views)
    <p>/<device>/plan/set|state|error      remote plans (see the therapist tools)
    <p>/<device>/ppt                       PptSpotMeasurement JSON, ppt/2 (QoS 1, retained)
    homeassistant/sensor/<device>/<object>/config   discovery (retained)
    homeassistant/status                   Home Assistant's birth message

Ids that become topic levels are checked here, because a ``/``, ``+`` or
``#`` in a session id would silently publish somewhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from firmware.protocol.payloads import HaDevice, HaSensorConfig, dump

_LEVEL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_level(value: str, what: str) -> str:
    """``value`` if it is safe as one topic level, else ``ValueError`` naming ``what``."""
    if not _LEVEL.match(value):
        raise ValueError(f"{what} {value!r} cannot be an MQTT topic level: use 1-64 of A-Z a-z 0-9 _ -")
    return value


class _Below:
    """A fixed topic below the device's base, read as an attribute (``topics.plan_set``)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def __get__(self, topics: Topics, owner: type[Topics] | None = None) -> str:
        return f"{topics.base}/{self.path}"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names for one device."""

    device_id: str
    prefix: str = "presspoint"
    discovery_prefix: str = "homeassistant"

    def __post_init__(self) -> None:
        check_level(self.device_id, "device id")

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.device_id}"

    #: Availability: ``online``/``offline``, retained; the last will goes here.
    status = _Below("status")
    status_info = _Below("status/info")
    #: Filter for every session message of this device.
    all_sessions = _Below("session/+/+")
    plan_set = _Below("plan/set")
    plan_state = _Below("plan/state")
    plan_error = _Below("plan/error")
    #: The running session's newest samples for live views (QoS 0, never stored; not a session topic, so the
    #: session's record - ``session/+/+`` - is only what the outbox sends).
    live = _Below("live")
    #: The latest pressure-pain-threshold measurement (retained).
    ppt = _Below("ppt")

    def session(self, session_id: str, what: str) -> str:
        if what not in ("event", "samples", "summary"):
            raise ValueError(f"unknown session topic {what!r}")
        return f"{self.base}/session/{check_level(session_id, 'session id')}/{what}"

    def session_event(self, session_id: str) -> str:
        return self.session(session_id, "event")

    def session_samples(self, session_id: str) -> str:
        return self.session(session_id, "samples")

    def session_summary(self, session_id: str) -> str:
        return self.session(session_id, "summary")

    @property
    def ha_status(self) -> str:
        """Home Assistant says ``online`` here when it (re)starts: republish discovery."""
        return f"{self.discovery_prefix}/status"

    def ha_config(self, component: str, object_id: str) -> str:
        check_level(object_id, "object id")
        return f"{self.discovery_prefix}/{component}/{self.device_id}/{object_id}/config"


# Sensors shown in Home Assistant; all read the retained status JSON, so HA
# needs no extra traffic and shows the last value after its own restart.
_HA_SENSORS: tuple[tuple[str, str, str, str | None, str | None, str], ...] = (
    # object_id, name, value template, unit, state_class, icon
    ("force", "Force", "{{ value_json.force_n }}", "N", "measurement", "mdi:arrow-collapse-down"),
    ("phase", "Phase", "{{ value_json.phase | default('idle', true) }}", None, None, "mdi:timer-sand"),
    (
        "last_outcome",
        "Last session outcome",
        "{{ value_json.last_outcome | default('none', true) }}",
        None,
        None,
        "mdi:clipboard-check-outline",
    ),
)


def ha_discovery_configs(
    topics: Topics, *, firmware_version: str, model: str = "presspoint", manufacturer: str = "presspoint"
) -> dict[str, bytes]:
    """Retained discovery configs (topic -> JSON) for force, phase and last outcome."""
    device = HaDevice(
        identifiers=[f"presspoint_{topics.device_id}"],
        name=f"presspoint {topics.device_id}",
        model=model,
        manufacturer=manufacturer,
        sw_version=firmware_version,
    )
    out: dict[str, bytes] = {}
    for object_id, name, template, unit, state_class, icon in _HA_SENSORS:
        config = HaSensorConfig(
            name=name,
            unique_id=f"presspoint_{topics.device_id}_{object_id}",
            object_id=f"presspoint_{topics.device_id}_{object_id}",
            state_topic=topics.status_info,
            value_template=template,
            availability_topic=topics.status,
            unit_of_measurement=unit,
            state_class=state_class,
            icon=icon,
            device=device,
        )
        out[topics.ha_config("sensor", object_id)] = dump(config)
    return out
