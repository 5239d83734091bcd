"""Logging to stderr in a form the systemd journal keeps well, with secrets redacted.

Under systemd, stderr is a stream into journald, which turns every line into one
journal entry and reads an optional ``<N>`` syslog-priority prefix.  So each
record is rendered as exactly one line (embedded newlines, tracebacks included,
are escaped as ``\\n``) with that prefix, and without a timestamp (the journal
stamps each entry itself).  Without a journal the line is ``LEVEL name: message``.

Secrets are redacted before formatting reaches any handler: ``key=value`` pairs
whose key looks secret (password, token, ...), credentials in URLs
(``mqtt://user:pw@host``), bearer tokens, and any value registered with
:func:`register_secret` (e.g. the MQTT password once the config is loaded).
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import re
import sys
import threading
from collections.abc import Mapping
from typing import TextIO

from config.errors import one_line

REDACTED = "***"

_SECRET_KEYS = r"(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|auth|authorization|credentials?)"
_KEY_VALUE = re.compile(
    rf"""(?ix)
    (?P<key>[\w.-]*{_SECRET_KEYS}[\w.-]*)   # a key that names a secret, e.g. mqtt.password
    (?P<sep>["']?\s*[:=]\s*)                # = or : (optionally after a quoted key)
    (?P<value>(?:bearer|basic)\s+[^\s,;&)}}\]]+|"[^"]*"|'[^']*'|[^\s,;&)}}\]]+)
    """
)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@", re.I)
_BEARER = re.compile(r"(?i)\b(?P<kind>bearer|basic)\s+(?P<token>[a-z0-9._~+/=-]{8,})")

_MIN_SECRET_LEN = 4  # shorter values would redact ordinary words and numbers
_registered: set[str] = set()
_registered_lock = threading.Lock()

_PRIORITY = {  # syslog priorities (sd-daemon.h): journalctl -p uses these
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def register_secret(value: str | None) -> None:
    """Redact every occurrence of ``value`` in future log lines.

    Call it as soon as a secret is known (config load, env var, password file);
    values shorter than 4 characters are refused because redacting them would
    mangle ordinary text without protecting anything.
    """
    if value is None:
        return
    if len(value) < _MIN_SECRET_LEN:
        raise ValueError("secret too short to redact reliably")
    with _registered_lock:
        _registered.add(value)


def clear_registered_secrets() -> None:
    """Forget registered secrets (for tests)."""
    with _registered_lock:
        _registered.clear()


def redact(text: str) -> str:
    """``text`` with every secret we can recognise replaced by ``***``."""
    with _registered_lock:
        secrets = sorted(_registered, key=len, reverse=True)
    for secret in secrets:  # longest first, so a secret containing another goes whole
        text = text.replace(secret, REDACTED)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    text = _KEY_VALUE.sub(lambda m: f"{m['key']}{m['sep']}{REDACTED}", text)
    return _BEARER.sub(lambda m: f"{m['kind']} {REDACTED}", text)


class RedactingFilter(logging.Filter):
    """Renders the message and the traceback once, redacted, before any formatter sees them.

    Attached to handlers (not loggers) so records from every library that
    propagate to the root handler pass through it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class OneLineFormatter(logging.Formatter):
    """``<N>name: message`` for the journal, ``LEVEL name: message`` otherwise; one line."""

    def __init__(self, journal: bool) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text = f"{text}\n{record.exc_text}"
        if record.stack_info:
            text = f"{text}\n{self.formatStack(record.stack_info)}"
        text = one_line(text, escape=True)
        if self.journal:
            return f"<{syslog_priority(record.levelno)}>{text}"
        return f"{record.levelname} {text}"


def syslog_priority(levelno: int) -> int:
    """The syslog priority for a logging level (custom levels round down to the next known)."""
    for level in sorted(_PRIORITY, reverse=True):
        if levelno >= level:
            return _PRIORITY[level]
    return 7


def stream_is_journal(stream: TextIO, env: Mapping[str, str] | None = None) -> bool:
    """True if ``stream`` is the journal stream systemd connected us to.

    ``$JOURNAL_STREAM`` is ``<st_dev>:<st_ino>`` of that stream; comparing it
    with the actual descriptor (as systemd recommends) avoids ``<N>`` prefixes
    when stderr was redirected elsewhere, e.g. ``presspoint run 2>log``.
    """
    environ = os.environ if env is None else env
    value = environ.get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    try:
        st = os.fstat(stream.fileno())
        return (st.st_dev, st.st_ino) == (int(dev), int(ino))
    except (ValueError, OSError, AttributeError):
        return False


def setup_logging(
    level: int | str = logging.INFO,
    *,
    stream: TextIO | None = None,
    journal: bool | None = None,
    crash_tracebacks: bool = True,
) -> logging.Handler:
    """Route all logging to ``stream`` (stderr) as single redacted lines; returns the handler.

    ``journal=None`` detects journald from ``$JOURNAL_STREAM``.  With
    ``crash_tracebacks`` the stack of every thread is dumped to the same stream
    on a fatal signal: the systemd watchdog kills a stalled loop with SIGABRT,
    and the dump in the journal shows where it was stuck.  Idempotent: a second
    call replaces the handler it installed before.
    """
    out = sys.stderr if stream is None else stream
    use_journal = stream_is_journal(out) if journal is None else journal
    handler = logging.StreamHandler(out)
    handler.set_name("presspoint")
    handler.addFilter(RedactingFilter())
    handler.setFormatter(OneLineFormatter(journal=use_journal))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "presspoint"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    if crash_tracebacks:
        with contextlib.suppress(AttributeError, ValueError, OSError):  # stream without an fd
            faulthandler.enable(file=out, all_threads=True)
    return handler
