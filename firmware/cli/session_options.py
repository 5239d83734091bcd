"""The options ``simulate`` and ``run`` share: the config and plan, and where a simulated rig's force comes from."""

from __future__ import annotations

import argparse
from pathlib import Path

from config.device import DEFAULT_HARDWARE_BACKEND, HARDWARE_BACKENDS
from firmware.device.options import RigOptions
from simulator.profiles import SCENARIOS


def add_session_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="device config TOML (defaults built in)")
    parser.add_argument("--plan", type=Path, help="therapy plan TOML (default: config/defaults/plan.toml)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--trace", type=Path, help="CSV force trace with header time_s,force_n")
    source.add_argument("--scenario", choices=sorted(SCENARIOS), help="scripted pressing profile (default: normal)")
    parser.add_argument("--pins", action="store_true", help="go through the real HX711 driver over an emulated chip")
    parser.add_argument(
        "--backend",
        choices=HARDWARE_BACKENDS,
        help="HX711 backend, overriding hardware.backend (with --pins: the emulator's SPI or GPIO front; "
        f"default {DEFAULT_HARDWARE_BACKEND})",
    )
    parser.add_argument("--noise", type=float, default=0.0, metavar="N", help="sensor noise, standard deviation in N")
    parser.add_argument("--seed", type=int, default=1, help="seed for the noise")
    parser.add_argument("--broker", help="publish to mqtt[s]://[user:pass@]host:port")


def rig_options(args: argparse.Namespace) -> RigOptions:
    """The simulated rig ``add_session_options``' arguments ask for."""
    return RigOptions(trace=args.trace, scenario=args.scenario, pins=args.pins, noise_n=args.noise, seed=args.seed)
