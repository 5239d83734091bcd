"""Samples travel to the service in batches; everything else goes at once, after the samples before it."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator

import pytest

from firmware.device.link_hooks import SAMPLE_BATCH, SAMPLE_BATCH_S, LinkSink
from firmware.device.link_messages import SampleBatch, SinkCall
from firmware.realtime.link import Link, LoopLink
from firmware.session.decisions import PhaseChange
from firmware.session.states import Phase

pytestmark = [pytest.mark.asyncio, pytest.mark.looptime]


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        with contextlib.suppress(OSError):
            os.close(fd)


def sink_and_service(pipe: tuple[int, int]) -> tuple[LinkSink, Link]:
    r, w = pipe
    channel = LoopLink(Link(None, w), asyncio.get_running_loop(), lambda _: None, lambda _: None)
    return LinkSink(channel), Link(r, None)


def samples_in(messages: list[object]) -> list[tuple[float, float, int]]:
    return [s for m in messages if isinstance(m, SampleBatch) for s in m.samples]


async def test_samples_go_in_batches_and_a_decision_goes_at_once_after_them(pipe: tuple[int, int]) -> None:
    sink, service = sink_and_service(pipe)
    sent = [(i / 80, 1.5 * i, 1000 + i) for i in range(SAMPLE_BATCH + 3)]
    for sample in sent:
        sink.sample(*sample)
    first = service.receive()
    assert first == [SampleBatch(tuple(sent[:SAMPLE_BATCH]))]  # a full batch at once, the rest held
    decision = PhaseChange(t=0.15, phase=Phase.HOLD, repetition=1)
    sink.decisions([decision])
    assert service.receive() == [SampleBatch(tuple(sent[SAMPLE_BATCH:])), SinkCall("decisions", ([decision],))]


async def test_a_part_batch_goes_within_the_batch_time(pipe: tuple[int, int]) -> None:
    loop = asyncio.get_running_loop()
    sink, service = sink_and_service(pipe)
    sink.sample(0.0, 1.0, 10)
    sink.sample(0.0125, 2.0, 20)
    assert service.receive() == []
    await asyncio.sleep(SAMPLE_BATCH_S * 0.9)
    assert service.receive() == []
    await asyncio.sleep(SAMPLE_BATCH_S * 0.2)
    assert samples_in(service.receive()) == [(0.0, 1.0, 10), (0.0125, 2.0, 20)]
    assert loop.time() == pytest.approx(SAMPLE_BATCH_S * 1.1)


async def test_every_sample_reaches_the_service_in_order_whatever_comes_between(pipe: tuple[int, int]) -> None:
    sink, service = sink_and_service(pipe)
    received: list[object] = []
    sent = []
    for i in range(100):
        sent.append((i / 80, float(i), i))
        sink.sample(*sent[-1])
        if i % 13 == 0:
            sink.decisions([])
        received += service.receive()
    await asyncio.sleep(SAMPLE_BATCH_S)
    received += service.receive()
    assert samples_in(received) == sent
