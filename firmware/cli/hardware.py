"""``presspoint calibrate`` and ``presspoint selfcheck``: the hardware commands.

``register(subparsers)`` adds both to the main CLI's argparse sub-parsers;
each sets ``func`` to a handler ``(args) -> exit code``.  Exit codes: 0 all
passed, 1 a check or calibration step failed, 2 an error (bad config, no
GPIO, sensor absent at start), 130 interrupted.  Errors are one line on
stderr, never a traceback, and the motor is off on every way out.

``--pins`` runs against the HX711 emulator in virtual time, through the
configured backend (``--backend`` overrides it): over the emulator's SPI front
for ``hx711-spi`` (the default), on its mock pins for ``hx711-gpio``.  So both
commands can be tried (and tested) without a Pi.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from config.device import DEFAULT_HARDWARE_BACKEND, HARDWARE_BACKENDS, DeviceConfig
from config.errors import PresspointError
from config.loader import load_device_config
from firmware.cli.checks import check_number
from hal.calibrate import (
    DEFAULT_MAX_STD_COUNTS,
    CalibrationResult,
    TareResult,
    calibrate,
    write_calibration,
)
from hal.clock import Clock, MonotonicClock, VirtualClock
from hal.haptics import Haptics
from hal.selfcheck import DEFAULT_NOISE_LIMIT_COUNTS, SelfcheckReport, run_selfcheck
from hal.sensor import Calibration, ForceSensor, SensorError

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
#: The heaviest calibration mass accepted: 200 kg is about the 2,000 N every force is limited to.
MAX_KNOWN_MASS_KG = 200.0


class UsageError(PresspointError):
    """The command cannot run as asked (one-line message)."""


def register(subparsers: Any) -> None:
    """Add ``calibrate`` and ``selfcheck`` to ``parser.add_subparsers()``'s result."""
    cal = subparsers.add_parser(
        "calibrate",
        help="tare the load cell and scale it with a known mass",
        description="Tare (waits for a steady reading with nothing on the tip), then, with "
        "--known-mass, scale with that mass; the result is written atomically "
        "into the device config.",
    )
    _common_options(cal)
    cal.add_argument(
        "--known-mass", type=float, metavar="KG", help="mass put on the tip after the tare, in kg (omit to tare only)"
    )
    cal.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="how long to wait for a steady reading in each step (default 30)",
    )
    cal.add_argument(
        "--max-std",
        type=float,
        default=DEFAULT_MAX_STD_COUNTS,
        metavar="COUNTS",
        help=f"steady means a 0.5 s window with a std below this (default {DEFAULT_MAX_STD_COUNTS:g})",
    )
    cal.add_argument("--dry-run", action="store_true", help="measure and print, but do not write the config")
    cal.set_defaults(func=run_calibrate)

    chk = subparsers.add_parser(
        "selfcheck",
        help="check sample rate, noise, zero offset, saturation and the motor",
        description="Measure the real sample rate, noise and zero offset at rest, look for "
        "saturation and pulse the motor; pass/fail per item.",
    )
    _common_options(chk)
    chk.add_argument(
        "--noise-limit",
        type=float,
        default=DEFAULT_NOISE_LIMIT_COUNTS,
        metavar="COUNTS",
        help="largest acceptable std at rest, in counts",
    )
    chk.add_argument("--no-motor", action="store_true", help="skip the motor pulse")
    chk.set_defaults(func=run_selfcheck_command)


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="device config (TOML); built-in defaults if omitted"
    )
    parser.add_argument(
        "--pins",
        action="store_true",
        help="run against the emulated HX711 through the configured backend (virtual time)",
    )
    parser.add_argument(
        "--backend",
        choices=HARDWARE_BACKENDS,
        help=f"HX711 backend, overriding hardware.backend (default {DEFAULT_HARDWARE_BACKEND})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


# --- hardware set-up -------------------------------------------------------------------------


@dataclass
class _Bench:
    sensor: ForceSensor
    motor: Haptics
    clock: Clock
    #: What reads the chip: ``hx711-spi`` or ``hx711-gpio``, and "(emulated)" on --pins.
    backend: str


@contextmanager
def _open_hardware(config: DeviceConfig, *, pins: bool, mass_kg: float | None, config_name: str) -> Iterator[_Bench]:
    """The real hardware, or the configured backend's emulated rig with a scripted load; closed (motor off) after."""
    from hal.factory import build_gpio_hardware, calibration_of

    hw = config.hardware
    if pins:
        from simulator.pin_rig import EMULATED_CALIBRATION, bench_load, build_emulated_rig

        clock = VirtualClock()
        truth = calibration_of(hw) or EMULATED_CALIBRATION
        rig = build_emulated_rig(
            bench_load(clock.now(), mass_kg=mass_kg), truth, clock, hardware=hw, sample_rate_hz=config.sample_rate_hz
        )
        backend = "hx711-spi" if rig.spi is not None else "hx711-gpio"
        try:
            yield _Bench(rig.sensor, rig.motor, clock, f"{backend} (emulated)")
        finally:
            rig.close()
        return
    if hw.backend == "simulated":
        raise UsageError(
            f"{config_name}: hardware.backend is {hw.backend!r}; set it to "
            '"hx711-spi" (or "hx711-gpio") for the real load cell, or use --pins for the emulator'
        )
    real_clock = MonotonicClock()
    hardware = build_gpio_hardware(hw, config.sample_rate_hz, real_clock)
    try:
        yield _Bench(hardware.sensor, hardware.motor, real_clock, hw.backend)
    finally:
        hardware.close()


def _load_config(args: argparse.Namespace) -> DeviceConfig:
    config = load_device_config(args.config)
    return config.with_backend(args.backend) if args.backend is not None else config


def _run(body: Callable[[], int], err: TextIO) -> int:
    """One-line errors and exit codes instead of tracebacks."""
    try:
        return body()
    except KeyboardInterrupt:
        print("presspoint: interrupted", file=err)
        return EXIT_INTERRUPTED
    except (PresspointError, SensorError) as exc:
        print(f"presspoint: {exc}", file=err)
        return EXIT_ERROR
    except (OSError, ValueError) as exc:
        print(f"presspoint: {type(exc).__name__}: {exc}", file=err)
        return EXIT_ERROR
    except Exception as exc:  # last resort: still one line, and say it is a bug
        print(f"presspoint: internal error ({type(exc).__name__}: {exc})", file=err)
        return EXIT_ERROR


# --- calibrate ---------------------------------------------------------------------------------


def run_calibrate(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr

    def body() -> int:
        mass = args.known_mass
        if mass is not None and not mass > 0:
            raise UsageError(f"--known-mass must be a positive number of kg, not {mass:g}")
        check_number(mass, "--known-mass", low=0, low_open=True, high=MAX_KNOWN_MASS_KG, unit=" kg")
        check_number(args.timeout, "--timeout", low=0, low_open=True, high=3600, unit=" s")
        check_number(args.max_std, "--max-std", low=0, low_open=True, high=1e7, unit=" counts")
        if args.config is None and not args.dry_run:
            raise UsageError(
                "calibrate writes into the device config: give --config FILE (or --dry-run to only measure)"
            )
        config = _load_config(args)
        name = str(args.config) if args.config else "built-in defaults"

        def ask_for_mass(tared: TareResult) -> None:
            print(
                f"{tared.message}; now put the {mass:g} kg mass on the tip (waiting up to {args.timeout:g} s)",
                file=err,
                flush=True,
            )

        with _open_hardware(config, pins=args.pins, mass_kg=mass, config_name=name) as bench:
            result = calibrate(
                bench.sensor,
                bench.clock,
                mass_kg=mass,
                tare_timeout_s=args.timeout,
                mass_timeout_s=args.timeout,
                max_std_counts=args.max_std,
                on_tared=ask_for_mass,
            )
        written = _store(result, config, args)
        _print_calibration(result, written, bench.backend, args, out)
        return EXIT_OK if result.passed else EXIT_FAILED

    return _run(body, err)


def _store(result: CalibrationResult, config: DeviceConfig, args: argparse.Namespace) -> str | None:
    """Write the new calibration; a tare alone keeps the configured scale if there is one."""
    if not result.passed or args.dry_run or args.config is None:
        return None
    offset = result.offset_counts
    scale = result.counts_per_newton or config.hardware.calibration.counts_per_newton
    if offset is None or scale is None:
        return None
    write_calibration(args.config, offset, scale)
    return str(args.config)


def _print_calibration(
    result: CalibrationResult, written: str | None, backend: str, args: argparse.Namespace, out: TextIO
) -> None:
    if args.json:
        doc = {
            "passed": result.passed,
            "backend": backend,
            "offset_counts": result.offset_counts,
            "counts_per_newton": result.counts_per_newton,
            "tare": asdict(result.tare),
            "scale": asdict(result.scale) if result.scale else None,
            "written_to": written,
        }
        print(json.dumps(doc), file=out)
        return
    print(f"calibrate: {'PASS' if result.passed else 'FAIL'}", file=out)
    print(f"  read over {backend}", file=out)
    print(f"  {result.tare.message}", file=out)
    if result.scale is not None:
        print(f"  {result.scale.message}", file=out)
    elif result.tare.passed:
        print("  scale: not measured (no --known-mass); the configured scale is kept", file=out)
    if written:
        print(f"  written to {written}", file=out)
    elif result.passed:
        print("  not written (--dry-run or no --config, or no scale known yet)", file=out)


# --- selfcheck ---------------------------------------------------------------------------------


def run_selfcheck_command(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr

    def body() -> int:
        from hal.factory import calibration_of

        config = _load_config(args)
        name = str(args.config) if args.config else "built-in defaults"
        calibration: Calibration | None = calibration_of(config.hardware)
        with _open_hardware(config, pins=args.pins, mass_kg=None, config_name=name) as bench:
            report = run_selfcheck(
                bench.sensor,
                None if args.no_motor else bench.motor,
                bench.clock,
                expected_rate_hz=config.sample_rate_hz,
                calibration=calibration,
                noise_limit_counts=args.noise_limit,
            )
        _print_report(report, bench.backend, args, out)
        return EXIT_OK if report.passed else EXIT_FAILED

    return _run(body, err)


def _print_report(report: SelfcheckReport, backend: str, args: argparse.Namespace, out: TextIO) -> None:
    if args.json:
        print(json.dumps({**report.to_dict(), "backend": backend}), file=out)
        return
    print(f"selfcheck: {'PASS' if report.passed else 'FAIL'}", file=out)
    print(f"  read over {backend}", file=out)
    for item in report.items:
        print(f"  [{'PASS' if item.passed else 'FAIL'}] {item.name:<12} {item.message}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry (``python -m firmware.cli.hardware``) until the main CLI wires it in."""
    parser = argparse.ArgumentParser(prog="presspoint")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
