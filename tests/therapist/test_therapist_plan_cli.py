"""``plan push`` / ``plan clear`` / ``plan show`` against a real Mosquitto and a real device stack's retained state."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from config.mqtt import MqttSettings
from config.plan import TherapyPlan
from firmware.cli.main import main
from firmware.protocol.plan_envelope import DeviceKey, SignedPlan, write_key_file
from firmware.protocol.topics import Topics
from firmware.therapist.connection import TherapistConnection, payload_bytes
from tests.mqtt_broker import Mosquitto
from tests.therapist_support import DEVICE, mqtt_settings, publish_session

pytest_plugins = ["tests.mqtt_broker"]
pytestmark = [pytest.mark.broker, pytest.mark.asyncio]

KEY = DeviceKey(bytes(range(32)))


async def retained(settings: MqttSettings, topic: str) -> bytes | None:
    """The retained payload on ``topic`` now (the sync barrier makes "none" a fact, not a timeout)."""
    async with TherapistConnection(settings) as conn:
        await conn.subscribe([topic])
        found = [payload_bytes(m) for m in await conn.sync(10) if m.topic.matches(topic)]
    return found[-1] if found and found[-1] else None


def cli(*args: str) -> int:
    return main(["therapist", "plan", *args])


async def test_push_to_an_unknown_device_publishes_nothing_unless_forced_and_clear_removes_it(
    tmp_path: Path, mosquitto: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = mqtt_settings(mosquitto.port)
    await asyncio.to_thread(publish_session, tmp_path / "dev", mosquitto.port, scenario="normal")  # dev1 is known
    key = tmp_path / "k.key"
    write_key_file(key, KEY, device_id="nosuch")
    plan = tmp_path / "p.toml"
    plan.write_text('target = "2 kgf"\ntolerance = "2.8 kgf"\ntherapist_max = "3.5 kgf"\n')
    push = ["push", "--device", "nosuch", "--file", str(plan), "--key", str(key), "--broker", mosquitto.url,
            "--timeout", "0.2"]
    nosuch_set = Topics("nosuch").plan_set

    assert await asyncio.to_thread(cli, *push) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "device 'nosuch' is unknown" in err and "known devices: dev1" in err
    assert "--force" in err and "nothing was published" in err
    assert await retained(settings, nosuch_set) is None

    assert await asyncio.to_thread(cli, *push, "--force") == 2  # published, no device answers
    assert "stays retained" in capsys.readouterr().err
    left = await retained(settings, nosuch_set)
    assert left is not None and SignedPlan.model_validate_json(left).device_id == "nosuch"

    assert await asyncio.to_thread(cli, "clear", "--device", "nosuch", "--broker", mosquitto.url) == 0
    assert "removed the retained plan version 1" in capsys.readouterr().out
    assert await retained(settings, nosuch_set) is None
    assert await asyncio.to_thread(cli, "clear", "--device", "nosuch", "--broker", mosquitto.url) == 0
    assert "nothing retained" in capsys.readouterr().out


async def test_show_prints_the_whole_plan_in_force(
    tmp_path: Path, mosquitto: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = TherapyPlan(hold_s=45, repetitions=4, rest_s=15, breaths_per_min=5)
    await asyncio.to_thread(publish_session, tmp_path / "dev", mosquitto.port, scenario="stop", plan=plan)
    assert await asyncio.to_thread(cli, "show", "--device", DEVICE, "--broker", mosquitto.url) == 0
    shown = capsys.readouterr().out
    assert "plan version 0 (local)" in shown
    assert "4 × 45 s at 29.4 N (3.0 kgf) ±15%, rest 15 s, 5 breaths/min" in shown
    assert "tolerance 39.2 N (4.0 kgf), therapist max 49.0 N (5.0 kgf)" in shown
    assert "release grace 2 s, abort debounce 25 ms, wait for contact at most 30 s" in shown
