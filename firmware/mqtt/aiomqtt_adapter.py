"""The one place that leans on aiomqtt 2.5.1 internals; everything else uses its public API.

aiomqtt has no public way to do three things we need, so ``AdaptedClient``
does them here and ``tests/mqtt/test_aiomqtt_contract.py`` fails when the
library changes under one of them:

NEED 1  PUBACK reason codes: aiomqtt's ``_on_publish`` drops the v5 reason
        code, so a publish the broker's ACL refuses (135) looks like success.
        We record failures per message id and ``publish_checked`` returns them.
NEED 2  Dropping a connection without DISCONNECT (so the broker sends the
        will), also one still being made in aiomqtt's executor thread.
NEED 3  Manual acknowledgement (paho ``manual_ack_set``/``ack``): the
        collector sends PUBACK only after it stored the message.
NEED 5  A bounded incoming queue that says how much it dropped: aiomqtt
        logs one warning per discarded message (a flood of them).
NEED 4  Why the broker disconnected us: aiomqtt's message iterator raises a
        bare "Disconnected during message iteration"; ``disconnect_code``
        keeps the v5 reason (142: another client took our session over).
NEED 6  A clean end when the connection is lost during a stop: aiomqtt leaves
        the lost connection's error in ``_disconnected`` for the message
        iterator (cancelled by then), so the loop logs "Future exception was
        never retrieved"; and it registers a writer one loop pass after paho
        asks, on a socket a hang-up may have closed meanwhile ("Bad file
        descriptor").  Here every ended connection's error is read, and a
        writer is registered only on the socket still in use.
NEED 7  A cheap receive for a busy subscriber (the clinic collector): paho
        builds a ``Properties`` object for every MQTT 5 PUBLISH, even one
        with no properties - two dicts of every property name, ~50 us, more
        than half of what receiving a message costs.  ``lean_receive``
        decodes a PUBLISH whose property section is empty (QoS 0 or 1)
        itself, with ``properties`` None as under 3.1.1, straight into
        aiomqtt's queue (paho's per-topic callbacks, which aiomqtt never
        registers, are not consulted); any other packet goes through paho.  ``take_queued`` hands over what
        is already queued without a task and a wait per message (aiomqtt's
        iterator makes both).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from types import TracebackType
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from aiomqtt.types import PahoSocket
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

#: The private aiomqtt ``Client`` attributes used here (the contract test checks each).
CLIENT_INTERNALS = (
    "_client",
    "_loop",
    "_disconnected",
    "_pending_call",
    "_pending_publishes",
    "_on_publish",
    "_on_socket_open",
    "_on_socket_register_write",
    "_on_disconnect",
    "_on_message",
    "_queue",
)
log = logging.getLogger("presspoint.mqtt")

#: Discarded incoming messages between two log lines about them.
_DISCARDS_PER_LOG_LINE = 1000
#: The paho ``Client`` methods used here, private and public.
PAHO_METHODS = ("publish", "_sock_close", "manual_ack_set", "ack", "_handle_publish", "_send_puback")
#: The private paho ``Client`` attributes ``lean_receive`` reads.
PAHO_INTERNALS = ("_in_packet", "_manual_ack", "_protocol")


class AdaptedClient(aiomqtt.Client):
    """aiomqtt client with checked publishes, abandon, and manual acks."""

    def __init__(self, *args: Any, manual_ack: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refusals: dict[int, ReasonCode] = {}
        self._abandoned = False
        self._socket_lock = threading.Lock()  # the connect thread vs. abandon() on the loop
        self.disconnect_code: int | None = None  # the reason code of an unexpected disconnection
        self.discarded = 0  # incoming messages dropped because the queue was full
        if manual_ack:
            self._client.manual_ack_set(True)

    # -- NEED 3: manual acknowledgement -----------------------------------------------

    def ack(self, message: aiomqtt.Message) -> None:
        """Acknowledge ``message`` now (only with ``manual_ack=True``; QoS 0 needs none)."""
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)

    # -- NEED 7: a cheap receive ------------------------------------------------------

    def lean_receive(self) -> None:
        """From now on, decode PUBLISH packets without properties here (``properties`` None), not in paho.

        MQTT 5 only: a 3.1.1 PUBLISH has no property section and paho decodes it cheaply already.
        """
        paho_client = self._client
        if paho_client._protocol != paho.MQTTv5:
            return
        paho_client._handle_publish = lambda: self._handle_publish_lean(paho_client)  # type: ignore[method-assign]

    def _handle_publish_lean(self, client: paho.Client) -> MQTTErrorCode:
        """paho's ``_handle_publish`` and aiomqtt's ``_on_message`` in one, for what ``decode_publish_lean`` takes."""
        message = decode_publish_lean(client._in_packet["command"], client._in_packet["packet"])
        if message is None:
            return paho.Client._handle_publish(client)
        if self._room_for(message.topic.value):
            self._queue.put_nowait(message)
        if message.qos == 1 and not client._manual_ack:
            return client._send_puback(message.mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def take_queued(self, limit: int) -> list[aiomqtt.Message]:
        """Up to ``limit`` received messages already queued, at once (none: an empty list)."""
        queue = self._queue
        return [queue.get_nowait() for _ in range(min(limit, queue.qsize()))]

    # -- NEED 2: drop the connection --------------------------------------------------

    def abandon(self) -> None:
        """Drop the connection now, without DISCONNECT, so the broker publishes the will.

        Loop thread only.  Also right for a connection still being made in
        the executor thread (TCP connect, TLS handshake), which cannot be
        interrupted: when it completes, the socket is closed at once.  The
        ``async with`` exit then sees a closed connection and returns at once.
        """
        with self._socket_lock:
            # Under the lock: a socket the connect thread has already handed to
            # the loop has its add_reader queued; closing after it (call_soon,
            # FIFO) unregisters it cleanly.  A later one is closed by the thread.
            self._abandoned = True
        self._loop.call_soon(self._drop_socket)
        if not self._disconnected.done():
            self._disconnected.set_result(None)

    def _drop_socket(self) -> None:
        with contextlib.suppress(Exception):
            self._client._sock_close()  # unregisters reader/writer, cancels the misc task

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: PahoSocket) -> None:
        with self._socket_lock:  # the executor thread (connect), or the loop
            if self._abandoned:
                with contextlib.suppress(Exception):
                    sock.close()
                return
            super()._on_socket_open(client, userdata, sock)

    # -- NEED 6: a clean end ------------------------------------------------------------

    async def __aenter__(self) -> AdaptedClient:
        ended = self._disconnected  # the last connection's end: replaced once connected again
        try:
            await super().__aenter__()
        finally:
            _read_error(ended)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await super().__aexit__(exc_type, exc, tb)
        finally:
            _read_error(self._disconnected)  # a lost connection's error: the caller saw it by now, or never will

    def _on_socket_register_write(self, client: paho.Client, userdata: Any, sock: PahoSocket) -> None:
        if self._abandoned:
            return

        def register() -> None:  # a loop pass later: a hang-up may have closed the socket since
            current = client.socket()
            if current is not None and current is sock:
                self._loop.add_writer(current.fileno(), self._write_ready, client)

        self._loop.call_soon_threadsafe(register)  # paho may call this from the connect thread

    def _write_ready(self, client: paho.Client) -> None:
        try:
            client.loop_write()
        except Exception as exc:  # a broken connection: as aiomqtt's own writer callback does
            if not self._disconnected.done():
                self._disconnected.set_exception(exc)

    # -- NEED 4: why we were disconnected ------------------------------------------------

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None = None,
    ) -> None:
        code = reason_code.value if isinstance(reason_code, ReasonCode) else reason_code
        if code and self.disconnect_code is None:
            self.disconnect_code = int(code)
        super()._on_disconnect(client, userdata, flags, reason_code, properties)

    # -- NEED 5: a bounded incoming queue ------------------------------------------------

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if self._room_for(message.topic):
            super()._on_message(client, userdata, message)

    def _room_for(self, topic: str) -> bool:
        """``False`` (dropped, counted) when the queue is full: never buffered here."""
        if self._queue.maxsize > 0 and self._queue.full():
            self.discarded += 1
            if self.discarded % _DISCARDS_PER_LOG_LINE == 1:
                log.warning(
                    "MQTT: messages arrive faster than they are handled; %d discarded so far (the latest on %s)",
                    self.discarded,
                    topic,
                )
            return False
        return True

    # -- NEED 1: PUBACK reason codes ----------------------------------------------------

    def _on_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        if reason_code.is_failure:
            self._refusals[mid] = reason_code
        super()._on_publish(client, userdata, mid, reason_code, properties)

    async def publish_checked(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        properties: Properties | None,
        timeout: float,
    ) -> ReasonCode | None:
        """Publish and wait for the acknowledgement; returns a failure reason code or None."""
        info = self._client.publish(topic, payload, qos, retain, properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        self._refusals.pop(info.mid, None)  # a stale entry from an earlier use of this mid
        if not info.is_published():
            confirmation = asyncio.Event()
            with self._pending_call(info.mid, confirmation, self._pending_publishes):
                # asyncio.timeout, not aiomqtt's _wait_for (asyncio.wait_for): on
                # Python 3.11 that returns normally when a PUBACK and a cancel
                # arrive together, and the cancelled task then carries on.
                try:
                    async with asyncio.timeout(timeout):
                        await confirmation.wait()
                except TimeoutError:
                    raise aiomqtt.MqttError("Operation timed out") from None
        return self._refusals.pop(info.mid, None)


def decode_publish_lean(command: int, packet: bytes | bytearray) -> aiomqtt.Message | None:
    """A v5 QoS 0/1 PUBLISH with an empty property section (after its fixed header) as aiomqtt's message,
    ``properties`` None; None for any other packet (properties, QoS 2, a topic alias, malformed)."""
    qos = (command & 0x06) >> 1
    topic_end = 2 + int.from_bytes(packet[:2], "big")
    properties_at = topic_end + (2 if qos else 0)
    if qos > 1 or topic_end == 2 or len(packet) <= properties_at or packet[properties_at] != 0:
        return None
    topic = bytes(packet[2:topic_end]).decode("utf-8")  # as paho's ``MQTTMessage.topic``: invalid text raises
    mid = int.from_bytes(packet[topic_end:properties_at], "big")
    return aiomqtt.Message(topic, bytes(packet[properties_at + 1 :]), qos, bool(command & 0x01), mid, None)


def _read_error(future: asyncio.Future[None]) -> None:
    """Mark a finished future's exception as read (it was reported another way, or is moot)."""
    if future.done() and not future.cancelled():
        future.exception()
