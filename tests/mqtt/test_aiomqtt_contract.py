"""Contract tests: fail when aiomqtt (or paho) changes under ``firmware/mqtt/aiomqtt_adapter.py``.

The adapter leans on aiomqtt 2.5.1 (and paho) internals for needs their
public API does not cover (NEED 1-7 in its docstring).  Each test pins one fact it
relies on; when one fails after an upgrade, re-read that NEED and change or
drop the workaround (maybe the library now does it publicly).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from importlib import metadata

import aiomqtt
import paho.mqtt.client as paho
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt._packet import decode_publish
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from firmware.mqtt.aiomqtt_adapter import (
    CLIENT_INTERNALS,
    PAHO_INTERNALS,
    PAHO_METHODS,
    AdaptedClient,
    decode_publish_lean,
)
from tests.mqtt_broker import Mosquitto

NOT_AUTHORIZED = 135


def _refused() -> ReasonCode:
    return ReasonCode(PacketTypes.PUBACK, identifier=NOT_AUTHORIZED)  # type: ignore[no-untyped-call]


def test_the_adapter_was_written_for_this_version() -> None:
    assert metadata.version("aiomqtt") == "2.5.1"


@pytest.mark.asyncio
async def test_the_internals_the_adapter_uses_are_still_there() -> None:
    client = aiomqtt.Client("127.0.0.1")
    missing = [name for name in CLIENT_INTERNALS if not hasattr(client, name)]
    assert missing == []
    assert isinstance(client._client, paho.Client)
    assert isinstance(client._disconnected, asyncio.Future)
    assert client._loop is asyncio.get_running_loop()
    assert client._pending_publishes == {}
    assert [name for name in PAHO_METHODS if not callable(getattr(client._client, name, None))] == []


@pytest.mark.asyncio
async def test_paho_calls_the_overridden_callbacks() -> None:
    """aiomqtt wires paho's callbacks to ``self``'s methods, so a subclass's overrides are what paho calls."""
    client = AdaptedClient("127.0.0.1")
    paho_client = client._client
    assert paho_client.on_publish.__func__ is AdaptedClient._on_publish
    assert paho_client.on_socket_open.__func__ is AdaptedClient._on_socket_open
    assert paho_client.on_socket_register_write.__func__ is AdaptedClient._on_socket_register_write


@pytest.mark.parametrize("name", ["_on_publish", "_on_socket_open", "_on_socket_register_write"])
def test_overridden_callbacks_keep_their_signature(name: str) -> None:
    ours = list(inspect.signature(getattr(AdaptedClient, name)).parameters)
    theirs = list(inspect.signature(getattr(aiomqtt.Client, name)).parameters)
    assert ours == theirs


@pytest.mark.asyncio
async def test_upstream_still_takes_a_refused_publish_for_success() -> None:
    """NEED 1: aiomqtt's ``_on_publish`` ignores the reason code; a refusal completes the publish."""
    client = aiomqtt.Client("127.0.0.1", protocol=aiomqtt.ProtocolVersion.V5)
    confirmation = asyncio.Event()
    client._pending_publishes[7] = confirmation
    client._on_publish(client._client, None, 7, _refused(), Properties(PacketTypes.PUBACK))  # type: ignore[no-untyped-call]
    assert confirmation.is_set()


@pytest.mark.asyncio
async def test_the_adapter_keeps_the_refusal() -> None:
    client = AdaptedClient("127.0.0.1", protocol=aiomqtt.ProtocolVersion.V5)
    confirmation = asyncio.Event()
    client._pending_publishes[7] = confirmation
    client._on_publish(client._client, None, 7, _refused(), Properties(PacketTypes.PUBACK))  # type: ignore[no-untyped-call]
    assert confirmation.is_set() and client._refusals[7].value == NOT_AUTHORIZED


def test_publish_checked_follows_upstream_publish() -> None:
    """NEED 1: ``publish_checked`` is aiomqtt's ``publish`` with the refusal kept; it must match its steps."""
    source = inspect.getsource(aiomqtt.Client.publish)
    assert "info = self._client.publish(" in source
    assert "self._pending_call(info.mid, confirmation, self._pending_publishes)" in source
    assert "info.is_published()" in source
    assert "return\n" in source  # upstream still returns nothing: no reason code to be had publicly


def test_upstream_has_no_public_manual_ack() -> None:
    """NEED 3: if aiomqtt grows a manual-ack option, use it instead of the adapter's."""
    parameters = inspect.signature(aiomqtt.Client.__init__).parameters
    assert "manual_ack" not in parameters
    assert not hasattr(aiomqtt.Client, "ack")


@pytest.mark.asyncio
async def test_manual_ack_reaches_paho() -> None:
    assert AdaptedClient("127.0.0.1", manual_ack=True)._client._manual_ack is True
    assert AdaptedClient("127.0.0.1")._client._manual_ack is False


@pytest.mark.asyncio
async def test_abandon_ends_message_iteration() -> None:
    """NEED 2: the message iterator waits on ``_disconnected``; abandon completes it."""
    client = AdaptedClient("127.0.0.1")
    client.abandon()
    with pytest.raises(aiomqtt.MqttError):
        async with asyncio.timeout(5):
            await anext(aiter(client.messages))


@pytest.mark.asyncio
async def test_a_socket_opened_after_abandon_is_closed_at_once() -> None:
    """NEED 2: a connect that completes after ``abandon`` never registers its socket with the loop."""
    client = AdaptedClient("127.0.0.1")
    client.abandon()
    closed: list[bool] = []

    class _Sock:
        def close(self) -> None:
            closed.append(True)

        def fileno(self) -> int:
            raise AssertionError("registered with the loop")

    client._on_socket_open(client._client, None, _Sock())  # type: ignore[arg-type]
    client._on_socket_register_write(client._client, None, _Sock())  # type: ignore[arg-type]
    assert closed == [True]


def test_paho_sock_close_unregisters_through_the_callbacks() -> None:
    """NEED 2: ``_drop_socket`` relies on paho's ``_sock_close`` calling on_socket_close (aiomqtt unregisters)."""
    source = inspect.getsource(paho.Client._sock_close)
    assert "_call_socket_unregister_write" in source and "_call_socket_close" in source
    with contextlib.suppress(Exception):
        paho.Client(paho.CallbackAPIVersion.VERSION2)._sock_close()  # no socket: a no-op


# -- NEED 7: a cheap receive ----------------------------------------------------------------


def _publish_packet(topic: bytes, qos: int, mid: int, payload: bytes, properties: bytes = b"\x00") -> bytes:
    """A v5 PUBLISH after its fixed header: topic, packet id (QoS > 0), properties, payload."""
    return len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if qos else b"") + properties + payload


@settings(max_examples=200, deadline=None)
@given(  # a published topic names no wildcard

    topic=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00+#"), min_size=1, max_size=60),
    qos=st.sampled_from([0, 1]),
    mid=st.integers(1, 65535),
    dup=st.booleans(),
    retain=st.booleans(),
    payload=st.binary(max_size=300),
)
def test_lean_receive_decodes_a_publish_without_properties_as_paho_does(
    topic: str, qos: int, mid: int, dup: bool, retain: bool, payload: bytes
) -> None:
    command = 0x30 | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    packet = bytearray(_publish_packet(topic.encode(), qos, mid, payload))
    theirs = decode_publish(command, packet, MQTTProtocolVersion.MQTTv5)
    ours = decode_publish_lean(command, packet)
    assert ours is not None
    assert (ours.topic.value, ours.payload, ours.qos, ours.retain, ours.mid) == (
        theirs.topic.decode(), theirs.payload, theirs.qos, theirs.retain, theirs.mid)
    assert type(ours.payload) is type(theirs.payload) is bytes
    assert theirs.properties is not None and not theirs.properties.json()  # paho: an empty Properties, built
    assert ours.properties is None  # lean: none built


def test_lean_receive_leaves_every_other_publish_to_paho() -> None:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.UserProperty = ("k", "v")
    with_properties = _publish_packet(b"a/b", 1, 9, b"body", props.pack())  # type: ignore[no-untyped-call]
    assert decode_publish_lean(0x32, with_properties) is None
    assert decode_publish(0x32, with_properties, MQTTProtocolVersion.MQTTv5).properties.UserProperty == [("k", "v")]
    assert decode_publish_lean(0x34, _publish_packet(b"a/b", 2, 9, b"body")) is None  # QoS 2
    assert decode_publish_lean(0x32, _publish_packet(b"", 1, 9, b"body")) is None  # a topic alias
    assert decode_publish_lean(0x32, _publish_packet(b"a/b", 1, 9, b"")[:-1]) is None  # no property length


def test_paho_still_builds_properties_for_every_v5_publish() -> None:
    """NEED 7: when paho parses properties lazily (or cheaply), drop ``lean_receive``."""
    assert "properties = Properties(PacketTypes.PUBLISH)" in inspect.getsource(decode_publish)
    assert "_packet.decode_publish(" in inspect.getsource(paho.Client._handle_publish)
    assert "self._handle_publish()" in inspect.getsource(paho.Client._packet_handle)
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    assert [name for name in PAHO_INTERNALS if not hasattr(client, name)] == []
    assert set(client._in_packet) >= {"command", "packet"}


def test_aiomqtt_takes_every_message_through_on_message_alone() -> None:
    """NEED 7: the lean path fills aiomqtt's queue as its ``_on_message`` does, and skips per-topic callbacks."""
    source = inspect.getsource(aiomqtt.client)
    assert "message_callback_add" not in source
    assert "self._client.on_message = self._on_message" in source
    on_message = inspect.getsource(aiomqtt.Client._on_message)
    assert "Message._from_paho_message(message)" in on_message and "self._queue.put_nowait(m)" in on_message


@pytest.mark.broker
@pytest.mark.asyncio
async def test_lean_receive_on_a_real_broker(mosquitto: Mosquitto) -> None:
    """Through paho's read loop: plain publishes come without properties, others with theirs; queued at once."""
    client = AdaptedClient("127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5, manual_ack=True)
    client.lean_receive()
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.UserProperty = ("k", "v")
    async with client:
        await client.subscribe("lean/#", qos=1)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5) as sender:
            await sender.publish("lean/plain", b"one", qos=1)
            await sender.publish("lean/props", b"two", qos=1, properties=props)
            await sender.publish("lean/plain", b"three", qos=0)
        async with asyncio.timeout(10):
            first = await anext(aiter(client.messages))
            while len(client.messages) < 2:
                await asyncio.sleep(0.01)
        rest = client.take_queued(10)
        assert client.take_queued(10) == []
        for message in (first, *rest):
            client.ack(message)
    assert [(str(m.topic), m.payload, m.qos) for m in (first, *rest)] == [
        ("lean/plain", b"one", 1), ("lean/props", b"two", 1), ("lean/plain", b"three", 0)]
    assert first.properties is None and rest[1].properties is None
    assert rest[0].properties is not None and rest[0].properties.UserProperty == [("k", "v")]


@pytest.mark.broker
@pytest.mark.asyncio
async def test_lean_receive_drops_and_counts_what_a_full_queue_cannot_take(mosquitto: Mosquitto) -> None:
    client = AdaptedClient("127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5,
                           max_queued_incoming_messages=2)
    client.lean_receive()
    async with client:
        await client.subscribe("lean/#", qos=0)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5) as sender:
            for n in range(5):
                await sender.publish("lean/full", f"{n}".encode(), qos=0)
        async with asyncio.timeout(10):
            while len(client.messages) + client.discarded < 5:
                await asyncio.sleep(0.01)
        assert [m.payload for m in client.take_queued(10)] == [b"0", b"1"]
    assert client.discarded == 3
