"""Journal-friendly log lines: priority prefix, one line per record, secrets redacted."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware.device.logging_setup import (
    clear_registered_secrets,
    redact,
    register_secret,
    setup_logging,
    stream_is_journal,
    syslog_priority,
)
from tests.conftest import HANG_S


@pytest.fixture(autouse=True)
def clean_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    clear_registered_secrets()


def capture(journal: bool) -> io.StringIO:
    out = io.StringIO()
    setup_logging(logging.DEBUG, stream=out, journal=journal, crash_tracebacks=False)
    return out


def test_journal_lines_carry_syslog_priority() -> None:
    out = capture(journal=True)
    log = logging.getLogger("firmware.realtime.runtime")
    log.debug("d")
    log.info("phase %s", "hold")
    log.warning("w")
    log.error("e")
    log.critical("c")
    assert out.getvalue().splitlines() == [
        "<7>firmware.realtime.runtime: d",
        "<6>firmware.realtime.runtime: phase hold",
        "<4>firmware.realtime.runtime: w",
        "<3>firmware.realtime.runtime: e",
        "<2>firmware.realtime.runtime: c",
    ]


def test_plain_lines_outside_the_journal() -> None:
    out = capture(journal=False)
    logging.getLogger("firmware.mqtt").warning("broker lost")
    assert out.getvalue() == "WARNING firmware.mqtt: broker lost\n"


def test_multiline_message_and_traceback_stay_one_line() -> None:
    out = capture(journal=True)
    log = logging.getLogger("firmware.store")
    try:
        raise RuntimeError("disk\nfull")
    except RuntimeError:
        log.exception("could not store\nsummary")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("<3>firmware.store: could not store\\nsummary\\nTraceback")
    assert "RuntimeError: disk\\nfull" in lines[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter22 user=bob", "password=*** user=bob"),
        ("mqtt.password = 's3cr3t' ok", "mqtt.password = *** ok"),
        ('{"password": "s3cr3t", "port": 1883}', '{"password": ***, "port": 1883}'),
        ("token: abcdef123", "token: ***"),
        ("api_key=XYZ&x=1", "api_key=***&x=1"),
        ("mqtts://dev:pa55word@broker.local:8883", "mqtts://dev:***@broker.local:8883"),
        ("Authorization: Bearer eyJhbGciOi.abc", "Authorization: ***"),
        ("header Bearer eyJhbGciOiJIUzI1", "header Bearer ***"),
        ("force 29.4 N, phase hold", "force 29.4 N, phase hold"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_registered_secret_is_redacted_anywhere() -> None:
    out = capture(journal=False)
    register_secret("correct-horse-battery")
    logging.getLogger("firmware.mqtt").error("connect failed for %s", "client correct-horse-battery@broker")
    assert "correct-horse-battery" not in out.getvalue()
    assert "client ***@broker" in out.getvalue()


def test_secret_in_exception_text_is_redacted() -> None:
    out = capture(journal=True)
    register_secret("hunter2hunter2")
    try:
        raise ValueError("bad login hunter2hunter2")
    except ValueError:
        logging.getLogger("x").exception("failed")
    assert "hunter2hunter2" not in out.getvalue()
    assert "ValueError: bad login ***" in out.getvalue()


def test_too_short_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        register_secret("abc")


def test_setup_is_idempotent() -> None:
    out = capture(journal=False)
    setup_logging(logging.INFO, stream=out, journal=False, crash_tracebacks=False)
    logging.getLogger("y").info("once")
    assert out.getvalue() == "INFO y: once\n"


def test_syslog_priority_of_custom_levels() -> None:
    assert syslog_priority(logging.INFO + 5) == 6
    assert syslog_priority(1) == 7
    assert syslog_priority(100) == 2


def test_journal_detected_only_for_the_stream_systemd_gave_us(tmp_path: Path) -> None:
    with open(tmp_path / "stream", "w") as f:
        st = os.fstat(f.fileno())
        assert stream_is_journal(f, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        assert not stream_is_journal(f, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"})
        assert not stream_is_journal(f, {})
        assert not stream_is_journal(io.StringIO(), {"JOURNAL_STREAM": "1:2"})


def test_journal_detection_in_a_real_process(tmp_path: Path) -> None:
    """A child whose stderr matches $JOURNAL_STREAM writes <N> prefixes; redirected, it does not."""
    code = (
        "import logging; from firmware.device.logging_setup import setup_logging; "
        "setup_logging(); logging.getLogger('p').warning('hello')"
    )
    err_path = tmp_path / "stderr"
    with open(err_path, "w") as err:
        st = os.fstat(err.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        subprocess.run([sys.executable, "-c", code], stderr=err, env=env, check=True, timeout=HANG_S)
    assert err_path.read_text() == "<4>p: hello\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=30
    )
    assert result.stderr == "WARNING p: hello\n"
