"""SIGTERM/SIGINT/SIGHUP become a stop request (or a reload) on the event loop."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from firmware.device.signals import StopSignals


async def deliver(sig: signal.Signals) -> None:
    os.kill(os.getpid(), sig)
    for _ in range(100):  # the loop runs the handler on its next iteration
        await asyncio.sleep(0.001)


@pytest.mark.asyncio
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_stop_signal_sets_event(sig: signal.Signals) -> None:
    stop = asyncio.Event()
    with StopSignals(stop) as handlers:
        await deliver(sig)
        assert stop.is_set()
        assert handlers.received == sig


@pytest.mark.asyncio
async def test_repeated_signal_keeps_the_first_reason() -> None:
    stop = asyncio.Event()
    with StopSignals(stop) as handlers:
        await deliver(signal.SIGTERM)
        await deliver(signal.SIGINT)  # would kill the process without a handler
        assert handlers.received == signal.SIGTERM


@pytest.mark.asyncio
async def test_sighup_reloads_when_asked_to() -> None:
    stop = asyncio.Event()
    reloads: list[int] = []
    with StopSignals(stop, on_reload=lambda: reloads.append(1)):
        await deliver(signal.SIGHUP)
    assert reloads == [1]
    assert not stop.is_set()


@pytest.mark.asyncio
async def test_sighup_without_reload_is_a_safe_stop() -> None:
    stop = asyncio.Event()
    with StopSignals(stop) as handlers:
        await deliver(signal.SIGHUP)
        assert stop.is_set() and handlers.received == signal.SIGHUP


@pytest.mark.asyncio
async def test_remove_restores_default_handlers() -> None:
    stop = asyncio.Event()
    StopSignals(stop).install().remove()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL
