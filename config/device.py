"""The device config: identity, sampling, hardware backend, storage and MQTT.

Validated once, at the edge; what passes inward is in newtons and seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator

from config.errors import PresspointError
from config.mqtt import MqttSettings
from config.units import Force, kgf

DEFAULT_DEVICE_MAX_N = kgf(9.0)

#: How the HX711 is read.  ``hx711-spi``: the SPI hardware clocks the chip (MOSI -> PD_SCK,
#: MISO <- DOUT), the default on a device.  ``hx711-gpio``: Adafruit's driver bit-bangs two
#: GPIO pins from Python, which on a Pi can break the chip's 60 µs clock-high limit.
SensorBackend = Literal["simulated", "hx711-spi", "hx711-gpio"]
HARDWARE_BACKENDS: tuple[SensorBackend, ...] = ("hx711-spi", "hx711-gpio")
#: The backend ``install.sh`` writes and ``--pins`` emulates unless told otherwise.
DEFAULT_HARDWARE_BACKEND: SensorBackend = "hx711-spi"
#: Configs written before the SPI backend said "hx711": that meant the bit-banged GPIO wiring.
LEGACY_BACKEND_NAMES: dict[str, SensorBackend] = {"hx711": "hx711-gpio"}

#: SPI0 pins (BCM) that gpiozero reserves for the HX711 over SPI: SCLK, MOSI, MISO and the
#: chip select of the chosen device (SCLK and CE stay unconnected, but nothing else may use them).
SPI0_PINS = {"sclk": 11, "mosi": 10, "miso": 9}
SPI0_SELECT_PINS = (8, 7)

#: Calibration bounds a real HX711 + load cell can give (gain 64..128, 1-3 mV/V cells from
#: a few hundred grams to a few hundred kilograms): outside them the numbers are a typo.
MIN_ABS_COUNTS_PER_NEWTON = 10.0
MAX_ABS_COUNTS_PER_NEWTON = 1_000_000.0
MAX_ABS_OFFSET_COUNTS = 8_388_607  # the 24-bit range

#: Where the wiring puts the optional second button (BCM 27, header pin 13; README "Wiring").
#: The emulated rig of ``--pins`` wires a ``less_more`` button there when ``pins.stop_button`` is unset.
SECOND_BUTTON_PIN = 27

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class Pins(BaseModel):
    """BCM GPIO numbers.  The motor pin must be PWM-capable for smooth levels."""

    model_config = ConfigDict(extra="forbid")

    hx711_dout: int = Field(5, ge=0, le=27)
    hx711_sck: int = Field(6, ge=0, le=27)
    motor: int = Field(12, ge=0, le=27)
    button: int = Field(17, ge=0, le=27)
    stop_button: int | None = Field(None, ge=0, le=27)
    second_button_role: Literal["stop", "less_more"] = Field(
        "stop", description="what pins.stop_button does: stop, or check-ins (short press less, long press more)"
    )

    @model_validator(mode="after")
    def _distinct(self) -> Pins:
        pins = (self.hx711_dout, self.hx711_sck, self.motor, self.button, self.stop_button)
        used = [p for p in pins if p is not None]
        if len(used) != len(set(used)):
            raise ValueError(f"pins must be distinct, got {used}")
        return self


class CalibrationSettings(BaseModel):
    """Load-cell calibration; ``None`` values mean the device is not calibrated.

    Both numbers must be finite: ``offset_counts`` within the HX711's 24-bit range
    (|offset| <= 8,388,607) and ``counts_per_newton`` non-zero with 10 <= |value| <=
    1,000,000 counts/N (negative: the cell is mounted the other way round).  An
    infinite scale used to pass and turn every reading into 0 N.
    """

    model_config = ConfigDict(extra="forbid")

    offset_counts: FiniteFloat | None = Field(None, ge=-MAX_ABS_OFFSET_COUNTS, le=MAX_ABS_OFFSET_COUNTS)
    counts_per_newton: FiniteFloat | None = Field(None, ge=-MAX_ABS_COUNTS_PER_NEWTON, le=MAX_ABS_COUNTS_PER_NEWTON)

    @property
    def is_calibrated(self) -> bool:
        return self.offset_counts is not None and self.counts_per_newton not in (None, 0.0)

    @field_validator("counts_per_newton")
    @classmethod
    def _scale_plausible(cls, value: float | None) -> float | None:
        if value is None:
            return value
        if value == 0:
            raise ValueError("counts_per_newton must not be 0")
        if abs(value) < MIN_ABS_COUNTS_PER_NEWTON:
            raise ValueError(
                f"|counts_per_newton| must be at least {MIN_ABS_COUNTS_PER_NEWTON:g} counts/N "
                f"(no HX711 load cell gives {value:g})"
            )
        return value


class HardwareSettings(BaseModel):
    """Which backend drives sensor, motor and buttons, and how it is wired."""

    model_config = ConfigDict(extra="forbid")

    backend: SensorBackend = "simulated"
    pin_factory: Literal["lgpio", "rpigpio", "native", "mock"] | None = None
    gain: Literal[128, 64] = 128
    #: SPI bus and chip select for ``hx711-spi`` (gpiozero 2.0.1 knows hardware SPI0 only).
    spi_port: Literal[0] = 0
    spi_device: Literal[0, 1] = 0
    spi_clock_hz: StrictInt = Field(500_000, ge=20_000, le=5_000_000, description="SPI clock for hx711-spi, Hz")
    pins: Pins = Field(default_factory=Pins)
    calibration: CalibrationSettings = Field(default_factory=CalibrationSettings)
    motor_pwm_hz: int = Field(200, ge=50, le=20000)

    @field_validator("backend", mode="before")
    @classmethod
    def _legacy_backend(cls, value: Any) -> Any:
        return LEGACY_BACKEND_NAMES.get(value, value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _spi_pins_free(self) -> HardwareSettings:
        if self.backend != "hx711-spi":
            return self
        reserved = {*SPI0_PINS.values(), SPI0_SELECT_PINS[self.spi_device]}
        others = {"motor": self.pins.motor, "button": self.pins.button, "stop_button": self.pins.stop_button}
        for name, pin in others.items():
            if pin in reserved:
                raise ValueError(f"pins.{name}: GPIO{pin} is taken by the HX711 on SPI0 ({sorted(reserved)})")
        return self

    def spi_pins(self) -> dict[str, int]:
        """BCM pins of the SPI0 device ``hx711-spi`` opens (MOSI drives PD_SCK, MISO reads DOUT)."""
        return {**SPI0_PINS, "select": SPI0_SELECT_PINS[self.spi_device]}


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
    probe_area_cm2: FiniteFloat = Field(
        1.0, gt=0, le=10, strict=True, description="tip area: every pressure threshold is given in N and kPa"
    )
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

    def with_backend(self, backend: str) -> DeviceConfig:
        """This config with ``hardware.backend`` replaced (validated again: pins vs. SPI)."""
        data = self.model_dump()
        data["hardware"]["backend"] = backend
        try:
            return DeviceConfig.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise PresspointError(f"backend {backend!r}: {where}: {first['msg']}") from None
