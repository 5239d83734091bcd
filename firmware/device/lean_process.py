"""Keeps what the real-time process never uses out of it: imported by ``rt_main`` before anything else.

TLS and OpenSSL cost 4.8 MiB of its RSS (libcrypto alone 3.5 MiB) and it
needs neither: it opens no TLS connection (``tests/test_architecture.py``
forbids ``ssl`` there) and hashes nothing.  asyncio, hmac and hashlib take a
missing ``ssl`` or ``_hashlib`` as a Python built without OpenSSL: no TLS
transports, and hashlib's own SHA-2/BLAKE2/MD5 code (the same digests).  A
later import of ``ssl`` in this process then fails at once instead of
loading them unseen.  Modules used late or never are put off as in the service
(``deferred_imports``, imported here first).

Only when ``rt_main`` runs as the process (``python -m``): imported into a
test's interpreter, where MQTT needs TLS, it changes nothing.
"""

from __future__ import annotations

import sys

import firmware.device.deferred_imports  # noqa: F401  (modules used late or never, at first use: here too)

#: Modules the real-time process must not load.
KEPT_OUT = ("ssl", "_ssl", "_hashlib")
ENTRY = "firmware.device.rt_main"


def keep_out() -> None:
    """Mark ``KEPT_OUT`` as absent (``None`` in ``sys.modules``), unless one is loaded already."""
    for name in KEPT_OUT:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # None: "absent", to the import system


if getattr(getattr(sys.modules.get("__main__"), "__spec__", None), "name", None) == ENTRY:
    keep_out()
