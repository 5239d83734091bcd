"""The outcome store: survives a restart and a SIGKILL mid-write; an unreadable record is one line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config.errors import InputFileError
from firmware.outcomes.actions import FinishedSession, record_session
from firmware.outcomes.store import OutcomeStore
from tests.conftest import HANG_S, ROOT

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

WRITER = """
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from firmware.outcomes.actions import FinishedSession, record_session
from firmware.outcomes.store import OutcomeStore

store = OutcomeStore(Path(sys.argv[1]))
t0 = datetime(2026, 12, 1, tzinfo=UTC)
n = 0
while True:
    n += 1
    finished = FinishedSession(f"s{n}", t0 + timedelta(minutes=n), had_hold=True, pain_before=n % 11)
    store.change(lambda r: record_session(r, finished, person="P-1", plan_version=0, reevaluate_after=3,
                                          new_course_id="c1"))
    if n == 3:
        print("ready", flush=True)
"""


def add(store: OutcomeStore, n: int, pain: int) -> None:
    finished = FinishedSession(f"s{n}", T0 + timedelta(days=n), had_hold=True, pain_before=pain)
    store.change(
        lambda r: record_session(r, finished, person="P-1", plan_version=0, reevaluate_after=3, new_course_id="c1")
    )


def test_the_course_survives_a_restart(tmp_path: Path) -> None:
    add(OutcomeStore(tmp_path), 1, 6)
    add(OutcomeStore(tmp_path), 2, 5)
    record = OutcomeStore(tmp_path).load()
    assert [s.pain_before for s in record.sessions] == [6, 5]
    assert record.course is not None and record.course.id == "c1"


def test_a_sigkill_during_writes_leaves_a_whole_record(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.2)  # let it write some more; any moment is as good as another
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=HANG_S)
    assert proc.returncode == -signal.SIGKILL
    record = OutcomeStore(tmp_path).load()  # a whole document, never half of one
    ids = [s.session_id for s in record.sessions]
    assert len(ids) >= 3
    assert ids == [f"s{n}" for n in range(1, len(ids) + 1)]
    add(OutcomeStore(tmp_path), 999, 2)  # and it goes on from there
    assert OutcomeStore(tmp_path).load().sessions[-1].session_id == "s999"


def test_an_unreadable_record_is_refused_in_one_line_never_replaced(tmp_path: Path) -> None:
    store = OutcomeStore(tmp_path)
    store.path.write_text(json.dumps({"schema": "presspoint.person-record/1", "clear_floor": -1}))
    with pytest.raises(InputFileError) as caught:
        store.load()
    assert "\n" not in str(caught.value) and "clear_floor" in str(caught.value)
    with pytest.raises(InputFileError):
        add(store, 1, 5)
    assert "-1" in store.path.read_text()  # left as it was for a person to look at
