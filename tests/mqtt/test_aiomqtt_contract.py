"""Contract tests: fail when aiomqtt (or paho) changes under ``firmware/mqtt/aiomqtt_adapter.py``.

The adapter leans on aiomqtt 2.5.1 internals for three needs its public API
does not cover (NEED 1-3 in its docstring).  Each test pins one fact it
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
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from firmware.mqtt.aiomqtt_adapter import CLIENT_INTERNALS, PAHO_METHODS, AdaptedClient

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
