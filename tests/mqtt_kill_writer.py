"""A device process for the SIGKILL test: runs a real session into the store and MQTT until killed.

``python -m tests.mqtt_kill_writer STATE_DIR PORT DEVICE_ID SESSION_ID``.  It
prints ``ready`` once several seconds of session data are committed, then goes
on writing (paced, so the kill lands mid-session) until it is killed.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from config.device import DeviceConfig
from config.mqtt import MqttSettings
from config.plan import TherapyPlan
from firmware.mqtt.service import MqttService
from firmware.realtime.sinks import SessionInfo
from firmware.session.controller import SessionController
from firmware.session.summary import resolve_plan

RATE = 80


def force_at(t: float, target_n: float) -> float:
    """Ramp to the target in 2 s, then hold it with a little tremor."""
    return target_n * min(1.0, t / 2.0) + (0.05 if int(t * 10) % 2 else -0.05)


def main(argv: list[str]) -> int:
    state_dir, port, device_id, session_id = Path(argv[0]), int(argv[1]), argv[2], argv[3]
    device = DeviceConfig.model_validate({"device_id": device_id, "storage": {"state_dir": str(state_dir)}})
    settings = MqttSettings(enabled=True, host="127.0.0.1", port=port, reconnect_min_s=0.05, reconnect_max_s=0.2)
    service = MqttService(device, settings)
    service.start(recover=False)
    plan = TherapyPlan()
    controller = SessionController(plan, sample_rate_hz=RATE, device_max_n=device.device_max)
    sink = service.sink
    sink.session_started(
        SessionInfo(
            session_id=session_id,
            device_id=device_id,
            started_at_iso=datetime.now(UTC).isoformat(),
            sample_rate_hz=RATE,
            plan=resolve_plan(plan, device.device_max).model_dump(),
        )
    )
    i = 0
    while True:
        t = i / RATE
        force = force_at(t, plan.target)
        sink.sample(t, force, int(force * 1000))
        sink.decisions(controller.on_sample(t, force))
        i += 1
        if i == RATE * 6:
            service.writer.flush().result(10)
            print("ready", flush=True)
        time.sleep(0.0005)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
