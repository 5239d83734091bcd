"""The real-time process: sensor → safety → motor, and nothing slow.

Started by the service (``python -m firmware.device.rt_main READ_FD WRITE_FD``)
with two pipe ends.  Its first message is the ``Setup``; then it builds the
hardware and runs the device daemon, whose hooks, sinks and notifier speak
over the link.  It raises itself to SCHED_FIFO where allowed.  A stalled
service cannot delay it (the link never blocks); a dead service ends it after
the session under way, which keeps every safety rule to its end.
"""

from __future__ import annotations

import firmware.device.lean_process  # noqa: F401  (first: keeps TLS and OpenSSL out of this process)

# isort: split
import asyncio
import faulthandler
import logging
import os
import select
import sys
import time
from collections.abc import Sequence

from firmware.device.contracts import DaemonResult
from firmware.device.daemon import DeviceDaemon
from firmware.device.fault_injection import install_fault_injection
from firmware.device.gestures import connect_buttons
from firmware.device.hardware import DeviceHardware, build_hardware
from firmware.device.link_hooks import LinkHooks, LinkNotifier, LinkPlans, admit_timeout_s
from firmware.device.link_messages import Admitted, Finished, FollowUpDue, PlayCue, Press, Setup, Shutdown
from firmware.device.logging_setup import setup_logging
from firmware.device.module_report import report_modules_at_exit
from firmware.device.signals import EarlyStopSignals, StopSignals
from firmware.realtime.link import Link, LinkClosed, LoopLink
from firmware.realtime.motor import play_cue
from firmware.realtime.priority import raise_to_realtime

log = logging.getLogger("presspoint.realtime")

#: Longest wait for the set-up message after start.
SETUP_TIMEOUT_S = 30.0
#: How long the result may take to reach the pipe at the end.
RESULT_DRAIN_S = 2.0
#: Longest a cue asked for by the service may play.
CUE_LIMIT_S = 5.0


def read_setup(link: Link, timeout_s: float = SETUP_TIMEOUT_S) -> tuple[Setup, list[object]]:
    """The first message, which must be the set-up, and any that came with it (kept for the daemon)."""
    assert link.read_fd is not None
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LinkClosed("no set-up from the service in time")
        select.select([link.read_fd], [], [], remaining)
        messages = link.receive()
        if messages:
            setup = messages[0]
            if not isinstance(setup, Setup):
                raise LinkClosed(f"expected the set-up first, got {type(setup).__name__}")
            return setup, messages[1:]


async def serve(
    setup: Setup,
    hardware: DeviceHardware,
    link: Link,
    early: Sequence[object] = (),
    early_signals: EarlyStopSignals | None = None,
) -> DaemonResult:
    """Run the daemon on ``hardware`` with the service at the other end of ``link``.

    ``early`` messages came with the set-up (a press already made, say); they are handled first,
    and so is a stop signal ``early_signals`` caught while the process started.
    """
    loop = asyncio.get_running_loop()
    daemon: DeviceDaemon | None = None
    hooks: LinkHooks | None = None
    background: set[asyncio.Task[None]] = set()

    def on_message(message: object) -> None:
        assert daemon is not None and hooks is not None
        if isinstance(message, Admitted):
            hooks.answer(message.request, message.answer, message.cues)
        elif isinstance(message, PlayCue):
            task = loop.create_task(play_cue(hardware.haptics, message.cue, CUE_LIMIT_S, daemon.shutdown))
            background.add(task)
            task.add_done_callback(background.discard)
        elif isinstance(message, Press) and hardware.person is not None:
            hardware.person.press_button()
        elif isinstance(message, Shutdown):
            daemon.request_shutdown(message.source)
        elif isinstance(message, FollowUpDue):
            daemon.follow_up_due(message.session_id, message.opens_in_s, message.closes_in_s)
        else:
            log.error("unexpected message from the service: %s", type(message).__name__)

    def on_closed(reason: str) -> None:
        assert daemon is not None and hooks is not None
        log.error("the service process is gone (%s): finishing what runs, then leaving", reason)
        hooks.lost_service()
        daemon.leave_after_attempt("service gone")

    channel = LoopLink(link, loop, on_message, on_closed)
    person = hardware.person  # simulated: presses to each admitted plan, lets go after
    # The service runs at 1x: waits on it last as long in wall time at any --speed.
    hooks = LinkHooks(
        channel,
        on_start=[person.start] if person is not None else [],
        admit_timeout_s=admit_timeout_s(hardware.speed, hardware.wall_lag_s),
    )
    notifier = LinkNotifier(channel)
    daemon = DeviceDaemon(
        plans=LinkPlans(setup.plan, channel, on_end=[person.rest] if person is not None else []),
        sampler=hardware.sampler,
        haptics=hardware.haptics,
        device_id=setup.device.device_id,
        device_max_n=setup.device.device_max,
        hooks=hooks,
        notifier=notifier,
        options=setup.options,
        emulator_cpu=hardware.emulator_cpu,
    )
    if person is not None:
        person.bind(daemon.button_down, daemon.button_up)
    disconnect_buttons = connect_buttons(
        hardware.buttons, loop, daemon.button_down, daemon.button_up, daemon.gestures.check_in_up
    )
    for message in early:
        loop.call_soon(on_message, message)
    signals = StopSignals(daemon.request_shutdown, loop=loop, early=early_signals).install()
    if setup.fault_injection:
        install_fault_injection(loop, hardware.sampler, notifier)
    try:
        result = await daemon.run()  # its usage meter runs from the first sample to the end
    finally:
        signals.remove()
        disconnect_buttons()
    log.info("real-time stats: %s", result.stats.describe())
    channel.send(Finished(result))
    # Blocks the loop (nothing is left to run on it); at --speed as long as the lag allows, like the admit wait.
    drain_by_the_wall_clock(link, max(RESULT_DRAIN_S, hardware.wall_lag_s))
    channel.close()
    return result


def drain_by_the_wall_clock(link: Link, timeout_s: float) -> bool:
    """Wait (bounded, in wall seconds) until everything sent is in the pipe; ``False`` if it is not.

    Not on the loop: at ``--speed`` the loop's clock is led by the simulated
    sensor, which has stopped by now, so a timer on it would wait out the
    whole ``--speed-lag`` (spinning a core) whenever the service was slow to read.
    """
    deadline = time.monotonic() + timeout_s
    while link.pending_bytes and not link.peer_gone and link.write_fd is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        select.select([], [link.write_fd], [], remaining)
        link.flush()
    return link.pending_bytes == 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    early_signals = EarlyStopSignals().install()  # a stop while starting up is a stop, not a death
    link = Link(int(args[0]), int(args[1]))
    faulthandler.enable()  # a watchdog's SIGABRT shows where this process hung
    report_modules_at_exit("realtime")
    try:
        setup, early = read_setup(link)
    except LinkClosed as exc:
        print(f"presspoint real-time process: {exc}", file=sys.stderr)
        return 2
    setup_logging(logging.DEBUG if setup.verbose else logging.INFO)
    raise_to_realtime(log)
    hardware = build_hardware(setup.device, setup.plan, setup.simulation)
    try:
        with asyncio.Runner(loop_factory=hardware.loop_factory) as runner:
            result = runner.run(serve(setup, hardware, link, early, early_signals))
    finally:
        hardware.close()
    return 1 if result.failure is not None else 0


if __name__ == "__main__":
    os.environ.pop("NOTIFY_SOCKET", None)  # only the service talks to systemd
    sys.exit(main())
