"""``StoreWriter.submit``: a call runs on the writer thread once it is started, in the caller before that."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from firmware.protocol.topics import Topics
from firmware.storage.writer import StoreWriter


def _fails() -> int:
    raise LookupError("no such row")


@pytest.mark.parametrize("started", [False, True])
def test_a_submitted_call_carries_its_result_or_its_error_whether_or_not_the_thread_runs(
    tmp_path: Path, started: bool
) -> None:
    writer = StoreWriter(tmp_path / "state.db", topics=Topics("dev1"))
    if started:
        writer.start()
    try:
        ran_on = writer.submit(lambda: threading.current_thread().name).result(5)
        assert ran_on == ("presspoint-store" if started else threading.current_thread().name)
        with pytest.raises(LookupError, match="no such row"):
            writer.submit(_fails).result(5)
        assert writer.submit(lambda: len(writer.outbox)).result(5) == 0
    finally:
        writer.close()
