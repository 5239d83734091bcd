"""The device config: identity, sampling, hardware backend, storage and MQTT.

Validated once, at the edge; what passes inward is in newtons and seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.mqtt import MqttSettings
from config.units import Force, kgf

DEFAULT_DEVICE_MAX_N = kgf(9.0)


class Pins(BaseModel):
    """BCM GPIO numbers.  The motor pin must be PWM-capable for smooth levels."""

    model_config = ConfigDict(extra="forbid")

    hx711_dout: int = Field(5, ge=0, le=27)
    hx711_sck: int = Field(6, ge=0, le=27)
    motor: int = Field(12, ge=0, le=27)
    button: int = Field(17, ge=0, le=27)
    stop_button: int | None = Field(None, ge=0, le=27)

    @model_validator(mode="after")
    def _distinct(self) -> Pins:
        pins = (self.hx711_dout, self.hx711_sck, self.motor, self.button, self.stop_button)
        used = [p for p in pins if p is not None]
        if len(used) != len(set(used)):
            raise ValueError(f"pins must be distinct, got {used}")
        return self


class CalibrationSettings(BaseModel):
    """Load-cell calibration; ``None`` values mean the device is not calibrated."""

    model_config = ConfigDict(extra="forbid")

    offset_counts: float | None = None
    counts_per_newton: float | None = None

    @property
    def is_calibrated(self) -> bool:
        return self.offset_counts is not None and self.counts_per_newton not in (None, 0.0)

    @model_validator(mode="after")
    def _scale_nonzero(self) -> CalibrationSettings:
        if self.counts_per_newton is not None and self.counts_per_newton == 0:
            raise ValueError("counts_per_newton must not be 0")
        return self


class HardwareSettings(BaseModel):
    """Which backend drives sensor, motor and buttons, and how it is wired."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["simulated", "hx711"] = "simulated"
    pin_factory: Literal["lgpio", "rpigpio", "native", "mock"] | None = None
    gain: Literal[128, 64] = 128
    pins: Pins = Field(default_factory=Pins)
    calibration: CalibrationSettings = Field(default_factory=CalibrationSettings)
    motor_pwm_hz: int = Field(200, ge=50, le=20000)


class StorageSettings(BaseModel):
    """Where sessions and the MQTT outbox are kept."""

    model_config = ConfigDict(extra="forbid")

    state_dir: Path = Path("state")
    outbox_max_messages: int = Field(200_000, ge=100)


class DeviceConfig(BaseModel):
    """Everything about one device that is not a therapy plan."""

    model_config = ConfigDict(extra="forbid")

    device_id: str = Field("presspoint-sim", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    sample_rate_hz: Literal[10, 80] = 80
    device_max: Force = Field(DEFAULT_DEVICE_MAX_N, gt=0, description="load cell safe range, N")
    plan_file: Path | None = None
    profile_file: Path | None = Field(
        None, description="the person's profile (contraindications, personal tolerance); sessions check it"
    )
    plan_key_file: Path | None = Field(
        None, description="per-device HMAC key for signed remote plans; without it every remote plan is refused"
    )
    hardware: HardwareSettings = Field(default_factory=HardwareSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)

    @property
    def sample_period_s(self) -> float:
        return 1.0 / self.sample_rate_hz
