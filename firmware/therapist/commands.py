"""What each ``presspoint therapist`` sub-command does (``firmware.cli.therapist`` only parses).

Every function takes the parsed ``argparse.Namespace`` and returns an exit
code; errors the user can fix are ``PresspointError`` (one line, exit 2).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TextIO

from config.errors import PresspointError
from config.loader import load_plan
from config.units import parse_force
from firmware.protocol.plan_envelope import DEFAULT_DEVICE_KEY_FILE, DeviceKey, load_key, write_key_file
from firmware.therapist.collect import Collector
from firmware.therapist.connection import resolve_settings
from firmware.therapist.db_check import check_collect_db
from firmware.therapist.push import clear_plan, describe_plan, push_plan, show_plan
from firmware.therapist.readable import local_time
from firmware.therapist.session_ref import device_ref
from firmware.therapist.store import database_url, shown
from firmware.therapist.watch import run_watch


def cmd_plan_push(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    device_id = device_ref(args.device)
    settings, device_max = resolve_settings(args.broker, args.config)
    if args.device_max is not None:
        try:
            device_max = parse_force(args.device_max)
        except ValueError as exc:
            raise PresspointError(f"--device-max: {exc}") from None
    plan = load_plan(args.file, device_max)  # refuses a bad plan here, before anything is signed
    key = load_key(args.key)
    outcome = asyncio.run(
        push_plan(
            settings,
            device_id=device_id,
            plan=plan,
            key=key,
            version=args.version,
            timeout_s=args.timeout,
            require_known=not args.force,
            note=lambda text: print(text, file=out, flush=True),
        )
    )
    print(outcome.message, file=out if outcome.exit_code == 0 else sys.stderr)
    return outcome.exit_code


def cmd_plan_show(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    device_id = device_ref(args.device)
    settings, _ = resolve_settings(args.broker, args.config)
    state, error = asyncio.run(show_plan(settings, device_id=device_id))
    if state is None:
        print(f"{device_id}: no plan/state on {settings.display_url()} (device never connected?)", file=out)
    else:
        pending = f"; version {state.pending_version} queued behind a session" if state.pending_version else ""
        print(
            f"{device_id}: plan version {state.version} ({state.source}), applied {local_time(state.applied_at)}"
            f"{pending}\n{describe_plan(state.plan)}",
            file=out,
        )
    if error is not None:
        print(
            f"  last refusal: version {error.version} [{error.code}] {error.reason} ({local_time(error.at)})",
            file=out,
        )
    return 0 if state is not None else 2


def cmd_plan_clear(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Take a retained plan off ``plan/set`` (a push to a wrong id, or one a reset device must not get)."""
    out = out or sys.stdout
    device_id = device_ref(args.device)
    settings, _ = resolve_settings(args.broker, args.config)
    found = asyncio.run(clear_plan(settings, device_id=device_id))
    where = f"{settings.topic_prefix}/{device_id}/plan/set on {settings.display_url()}"
    if found is None:
        print(f"nothing retained on {where}; nothing to clear", file=out)
    elif isinstance(found, bytes):
        print(f"removed a retained message ({len(found)} bytes, not a plan envelope) from {where}", file=out)
    else:
        print(
            f"removed the retained plan version {found.version} (signed {local_time(found.issued_at)}) from "
            f"{where}; a device ignores the empty message and keeps its plan in force",
            file=out,
        )
    return 0


def cmd_watch(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    device_id = device_ref(args.device)
    settings, _ = resolve_settings(args.broker, args.config)
    try:
        return asyncio.run(run_watch(settings, device_id, out=out, once=args.once, duration_s=args.duration))
    except KeyboardInterrupt:
        print("", file=out)
        return 0


def cmd_collect(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stderr
    _, path = database_url(args.db)
    if path is not None:
        check_collect_db(path, create=True)  # before anything is made
    settings, _ = resolve_settings(args.broker, args.config)
    collector = Collector(settings, args.db, client_id=args.client_id, session_expiry_s=args.session_expiry)
    print(
        f"collecting from {settings.display_url()} as {args.client_id} into {shown(args.db)}"
        f"{'' if args.duration else ' (Ctrl-C to stop)'}",
        file=out,
        flush=True,
    )
    try:
        asyncio.run(collector.run(args.duration))
    except KeyboardInterrupt:
        pass
    finally:
        collector.close()
    print(f"collected: {collector.stats.describe()}", file=out)
    return 0


def cmd_keygen(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    device_id = device_ref(args.device)
    path: Path = args.out or Path(f"{device_id}.key")
    key = DeviceKey.generate()
    write_key_file(path, key, device_id=device_id, force=args.force)
    target = DEFAULT_DEVICE_KEY_FILE
    print(
        f"""wrote {path}: plan-signing key for device {device_id} (key id {key.key_id}, 32 random bytes, mode 600)

On this computer (the therapist's): keep {path} private; sign and push plans with
    presspoint therapist plan push --device {device_id} --key {path} --file PLAN.toml --broker mqtts://HOST:8883

On device {device_id}: install the same file where only the service can read it,
    scp {path} pi@DEVICE:/tmp/plan.key
    ssh pi@DEVICE 'sudo install -m 0640 -o root -g presspoint /tmp/plan.key {target} && shred -u /tmp/plan.key'

and name it in the device config, /etc/presspoint/device.toml (top level, before any [table]):
    plan_key_file = "{target}"
then restart the service:
    ssh pi@DEVICE 'sudo systemctl restart presspoint'

The device refuses every plan not signed with this key. Compare key ids (never the key) to check both sides.""",
        file=out,
    )
    return 0
