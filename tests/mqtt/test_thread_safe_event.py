"""``ThreadSafeEvent``: set from any thread, waited for on the loop that bound it; harmless before and after."""

from __future__ import annotations

import asyncio
import threading

import pytest

from firmware.mqtt.wakeup import ThreadSafeEvent


def test_a_set_before_bind_does_nothing_and_is_not_remembered() -> None:
    wakeup = ThreadSafeEvent()
    wakeup.set()  # no loop yet: nobody waits, nothing raises
    assert wakeup.event is None

    async def bound_then_look() -> bool:
        event = wakeup.bind(asyncio.get_running_loop())
        await asyncio.sleep(0)  # a set queued earlier would have run by now
        return event.is_set()

    assert asyncio.run(bound_then_look()) is False


@pytest.mark.asyncio
async def test_a_set_from_another_thread_wakes_the_waiter_on_the_bound_loop() -> None:
    wakeup = ThreadSafeEvent()
    event = wakeup.bind(asyncio.get_running_loop())
    thread = threading.Thread(target=wakeup.set)
    thread.start()
    async with asyncio.timeout(60):  # a bound on a hang, never a measure: the wait ends on the set
        await event.wait()
    thread.join()
    assert event.is_set()


def test_a_set_after_the_loop_closed_is_harmless() -> None:
    wakeup = ThreadSafeEvent()

    async def bind() -> None:
        wakeup.bind(asyncio.get_running_loop())

    asyncio.run(bind())  # the loop is closed when run returns
    wakeup.set()  # the writer thread after the publisher stopped: no RuntimeError
    assert wakeup.event is not None and not wakeup.event.is_set()

