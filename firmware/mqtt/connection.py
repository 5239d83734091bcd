"""One way to reach the broker, for the device and the therapist tools alike.

``BrokerConnection`` turns ``MqttSettings`` into aiomqtt clients (password
and TLS resolved once, with clear errors), ``reconnect_forever`` retries with
``Backoff`` until a stop, and ``describe_error`` says in one secret-free line
why a connection failed.  Nothing here knows about sessions or the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from config.errors import one_line
from config.mqtt import MqttConfigError, MqttSettings
from firmware.mqtt.aiomqtt_adapter import AdaptedClient as AdaptedClient  # the client type callers get

#: Persistent sessions (the collector) are kept by the broker this long while disconnected.
DEFAULT_SESSION_EXPIRY_S = 7 * 24 * 3600

_AUTH_CODES = frozenset({4, 5, 134, 135})  # 3.1.1 bad credentials / not authorised; v5 same
#: MQTT v5 "Session taken over": another client connected with our client id.
SESSION_TAKEN_OVER = 142
#: The largest packet the device accepts (MQTT v5 Maximum Packet Size): a plan envelope
#: (``firmware.plans.validator.MAX_PAYLOAD_BYTES``, 16 KiB) with its topic and properties fits
#: with room to spare; the broker drops anything larger instead of sending it.
DEVICE_MAX_PACKET_BYTES = 64 * 1024
#: Received messages the device holds before handling them; more are dropped (a flood must not fill memory).
DEVICE_MAX_QUEUED_MESSAGES = 64


class Backoff:
    """Capped exponential backoff with full jitter: ``uniform(0, min(cap, base * 2**n))``.

    Full jitter spreads a fleet's reconnects after a broker restart; the
    floor of ``base / 2`` keeps a single device from spinning.
    """

    def __init__(self, base_s: float, cap_s: float, rng: random.Random | None = None) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self._rng = rng or random.Random()
        self._attempt = 0
        self._at_least_s = 0.0

    @classmethod
    def from_settings(cls, settings: MqttSettings, rng: random.Random | None = None) -> Backoff:
        return cls(settings.reconnect_min_s, settings.reconnect_max_s, rng)

    def next(self) -> float:
        ceiling = min(self.cap_s, self.base_s * (2**self._attempt))
        self._attempt = min(self._attempt + 1, 32)
        delay = max(self.base_s / 2, self._rng.uniform(0, ceiling), self._at_least_s)
        self._at_least_s = 0.0
        return delay

    def hold_off(self, low_s: float, high_s: float) -> None:
        """Make the next delay at least a random ``low_s``-``high_s`` (e.g. after a session takeover)."""
        self._at_least_s = self._rng.uniform(low_s, high_s)

    def reset(self) -> None:
        self._attempt = 0


class BrokerConnection:
    """Settings resolved once (password, TLS files): then a fresh client for every attempt."""

    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self.broker = settings.display_url()
        self._password = settings.resolve_password()  # fails early, with a clear line
        self._tls = tls_context(settings) if settings.tls else None

    @property
    def v5(self) -> bool:
        return self.settings.protocol == "5"

    def client(
        self,
        identifier: str,
        *,
        will: aiomqtt.Will | None = None,
        persistent: bool = False,
        session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S,
        manual_ack: bool = False,
        logger: logging.Logger | None = None,
        max_packet_bytes: int | None = None,
        max_queued_messages: int | None = None,
    ) -> AdaptedClient:
        """A new, unconnected client (``async with`` connects it).

        ``persistent``: the broker keeps our subscriptions and queues QoS 1
        messages while we are away (v5: clean start off + session expiry;
        3.1.1: clean session off).  ``manual_ack``: PUBACK only on ``ack``.
        ``max_packet_bytes`` (v5): the broker must not send us a larger
        packet, so a huge message is never read into memory here; 3.1.1 has
        no such property (set the broker's ``message_size_limit``).
        ``max_queued_messages``: received messages waiting to be handled;
        more are dropped and counted (``AdaptedClient.discarded``).
        """
        s = self.settings
        session: dict[str, Any] = {}
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if self.v5 and max_packet_bytes is not None:
            props.MaximumPacketSize = max_packet_bytes
            session = {"properties": props}
        if persistent and self.v5:
            props.SessionExpiryInterval = session_expiry_s
            session = {"clean_start": False, "properties": props}
        elif not self.v5:
            session = {"clean_session": not persistent}
        return AdaptedClient(
            s.host,
            s.port,
            identifier=identifier,
            username=s.username,
            password=self._password,
            protocol=aiomqtt.ProtocolVersion.V5 if self.v5 else aiomqtt.ProtocolVersion.V311,
            will=will,
            keepalive=s.keepalive_s,
            tls_context=self._tls,
            timeout=s.publish_timeout_s,
            logger=logger,
            manual_ack=manual_ack,
            max_queued_incoming_messages=max_queued_messages,
            **session,
        )


async def wait_or_stop(stopping: asyncio.Event, timeout_s: float) -> bool:
    """Wait ``timeout_s`` or until ``stopping`` is set, whichever comes first; True if stopping.

    ``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` swallows a
    cancel that comes in the same loop iteration as the stop event.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await stopping.wait()
    return stopping.is_set()


async def reconnect_forever(
    attempt: Callable[[Backoff], Awaitable[None]],
    on_failure: Callable[[Exception], bool],
    stopping: asyncio.Event,
    backoff: Backoff,
) -> None:
    """Run ``attempt`` again and again, a backoff delay apart, until ``stopping``.

    ``attempt`` connects and works until the connection ends; it calls
    ``backoff.reset()`` once it is connected.  An exception it raises goes to
    ``on_failure``, which reports it and returns True, or returns False for
    one it does not expect (a bug), which then propagates.
    """
    while not stopping.is_set():
        try:
            await attempt(backoff)
        except Exception as exc:
            if not on_failure(exc):
                raise
        if await wait_or_stop(stopping, backoff.next()):
            return


def describe_error(exc: BaseException, settings: MqttSettings) -> tuple[int, str]:
    """A log level and a one-line, secret-free explanation of a connection failure."""
    text = one_line(exc)
    if is_session_takeover(exc):
        client = repr(settings.client_id) if settings.client_id else "this device's"
        return logging.ERROR, (
            f"another client with {client} client id took the session over ({text}): two devices with the "
            "same device_id or mqtt.client_id? waiting longer before connecting again"
        )
    if isinstance(exc, MqttConnectError):
        rc = exc.rc
        code = rc.value if isinstance(rc, ReasonCode) else rc
        if code in _AUTH_CODES:
            user = repr(settings.username) if settings.username else "(none)"
            return logging.ERROR, f"broker refused the login ({exc}); check username {user} and password"
        return logging.ERROR, f"broker refused the connection ({exc})"
    lowered = text.lower()
    if "certificate_verify_failed" in lowered or "certificate verify failed" in lowered:
        return logging.ERROR, f"TLS: the broker's certificate is not trusted ({text}); check mqtt.ca_file and host"
    if "ssl" in lowered or "tls" in lowered:
        return logging.ERROR, f"TLS handshake failed ({text})"
    return logging.WARNING, f"broker unreachable ({text})"


class SessionTakenOver(aiomqtt.MqttError):
    """The broker dropped us because another client connected with our client id (v5 reason 142)."""


def is_session_takeover(exc: BaseException) -> bool:
    if isinstance(exc, SessionTakenOver):
        return True
    rc = getattr(exc, "rc", None)
    code = rc.value if isinstance(rc, ReasonCode) else rc
    return code == SESSION_TAKEN_OVER


def tls_context(settings: MqttSettings) -> ssl.SSLContext:
    """TLS context from the CA file and optional client certificate; clear errors."""
    try:
        context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise MqttConfigError(f"mqtt.ca_file {settings.ca_file}: cannot load it ({one_line(exc)})") from None
    if settings.cert_file is not None and settings.key_file is not None:
        try:
            context.load_cert_chain(str(settings.cert_file), str(settings.key_file))
        except (OSError, ssl.SSLError) as exc:
            raise MqttConfigError(
                f"mqtt.cert_file {settings.cert_file} / key_file {settings.key_file}: cannot load ({one_line(exc)})"
            ) from None
    return context
