"""A real Mosquitto broker for tests (and the MQTT benchmark), plus a subscriber that records.

Pytest plugin: ``pytest_plugins = ["tests.mqtt_broker"]`` in ``tests/conftest.py``
gives the fixtures ``mosquitto`` (anonymous broker on a free loopback port),
``mosquitto_factory`` (brokers with users, ACLs, TLS) and ``test_pki`` (a CA,
a server and a client certificate made with the ``openssl`` CLI).

Run as root, Mosquitto drops privileges to user ``mosquitto`` and then cannot
read files in pytest's 0700 temp dirs; the config says ``user root`` (ignored
when not root) so the broker keeps the test's own user.  Brokers are stopped
with SIGTERM, which makes Mosquitto save its persistence file: restart tests
depend on the broker keeping a subscriber's session and its queued messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def free_port() -> int:
    """A TCP port nobody listens on right now (loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True)
class Pki:
    """Files of a throw-away PKI: CA, server (CN/SAN 127.0.0.1, localhost), client."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_cert: Path  # a CA that signed nothing here: for "untrusted" tests


def make_pki(directory: Path) -> Pki:
    """Make a CA and certificates with the openssl CLI (EC P-256: fast)."""
    directory.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=30)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    for name in ("ca", "other-ca"):
        run("req", "-x509", *ec, "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
            "-subj", f"/CN=presspoint test {name}")
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (directory / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, ext in (("server", "server.ext"), ("client", "client.ext")):
        run("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", ext)
    return Pki(
        directory / "ca.crt", directory / "server.crt", directory / "server.key",
        directory / "client.crt", directory / "client.key", directory / "other-ca.crt",
    )


class Mosquitto:
    """One Mosquitto process with its own config, persistence and log in ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        users: dict[str, str] | None = None,
        acl: str | None = None,
        pki: Pki | None = None,
        require_certificate: bool = False,
        max_inflight: int = 20,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.users = users
        self.acl = acl
        self.pki = pki
        self.require_certificate = require_certificate
        self.max_inflight = max_inflight  # QoS 1 messages sent to a client and not yet acknowledged (0: no limit)
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = workdir / "mosquitto.conf"
        self.log_file = workdir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.pki else 'mqtt'}://127.0.0.1:{self.port}"

    def _write_config(self) -> None:
        lines = [
            "user root",
            f"listener {self.port} 127.0.0.1",
            "persistence true",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            f"log_dest file {self.log_file}",
            "log_type all",
            "max_queued_messages 100000",
            f"max_inflight_messages {self.max_inflight}",
        ]
        if self.users is None:
            lines.append("allow_anonymous true")
        else:
            pw = self.workdir / "passwd"
            pw.unlink(missing_ok=True)
            for i, (user, password) in enumerate(self.users.items()):
                flags = ["-c"] if i == 0 else []
                subprocess.run([MOSQUITTO_PASSWD, "-b", *flags, str(pw), user, password], check=True,
                               capture_output=True, timeout=10)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        if self.acl is not None:
            acl_file = self.workdir / "acl"
            acl_file.write_text(self.acl)
            lines.append(f"acl_file {acl_file}")
        if self.pki is not None:
            lines += [
                f"cafile {self.pki.ca_cert}",
                f"certfile {self.pki.server_cert}",
                f"keyfile {self.pki.server_key}",
                f"require_certificate {'true' if self.require_certificate else 'false'}",
            ]
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, timeout_s: float = 5.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self._write_config()
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout_s
        while not accepts(self.port):
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited ({self.proc.returncode}): {err.strip()} {self.log_text()[-500:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not accept on port {self.port} within {timeout_s} s")
            time.sleep(0.005)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 5.0) -> None:
        """Stop it (SIGTERM saves persistence; SIGKILL does not) and wait until the port is free."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout_s)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def set_acl(self, acl: str) -> None:
        """Replace the ACL and make the running broker reload it (SIGHUP)."""
        self.acl = acl
        (self.workdir / "acl").write_text(acl)
        if self.proc is not None:
            self.proc.send_signal(signal.SIGHUP)

    def log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    props: dict[str, str] = field(default_factory=dict)


class Collector:
    """A separate subscriber that records what the broker delivered, through broker restarts.

    MQTT v5 with a persistent session (clean start off, session expiry 1 h)
    and QoS 1, so messages published while it is reconnecting (or while it
    waits for a restarted broker) are queued for it by the broker.
    """

    def __init__(self, port: int, topics: list[str], *, tls: Any = None, username: str | None = None,
                 password: str | None = None) -> None:
        self.port = port
        self.topics = topics
        self.tls = tls
        self.username = username
        self.password = password
        self.identifier = f"collector-{uuid.uuid4().hex[:8]}"
        self.messages: list[Received] = []
        self.subscribed = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Collector:
        self._task = asyncio.create_task(self._run())
        async with asyncio.timeout(10):
            await self.subscribed.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        while True:
            try:
                client = aiomqtt.Client(
                    "127.0.0.1", self.port, identifier=self.identifier, protocol=aiomqtt.ProtocolVersion.V5,
                    clean_start=False, properties=props, tls_context=self.tls, username=self.username,
                    password=self.password, keepalive=5,
                )
                async with client:
                    for topic in self.topics:
                        await client.subscribe(topic, qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        user = dict(getattr(message.properties, "UserProperty", []) or [])
                        raw = message.payload
                        payload = raw if isinstance(raw, bytes) else str(raw).encode()
                        self.messages.append(Received(str(message.topic), payload, bool(message.retain), user))
                        self._changed.set()
            except aiomqtt.MqttError:
                await asyncio.sleep(0.05)

    async def wait_for(self, predicate: Callable[[list[Received]], bool], timeout_s: float = 10.0) -> None:
        """Wait (real time, bounded) until ``predicate(messages)`` holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not predicate(self.messages):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"collector: condition not met within {timeout_s} s; got {len(self.messages)} "
                                     f"messages: {[m.topic for m in self.messages[-10:]]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()

    def on(self, suffix: str) -> list[Received]:
        return [m for m in self.messages if m.topic.endswith(suffix)]


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def test_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """``make(**options)`` starts a broker; all are stopped after the test."""
    if not os.path.exists(MOSQUITTO):
        pytest.skip("mosquitto not installed")
    brokers: list[Mosquitto] = []

    def make(**options: Any) -> Mosquitto:
        broker = Mosquitto(tmp_path / f"broker{len(brokers)}", **options)
        brokers.append(broker)
        broker.start()
        return broker

    yield make
    for broker in brokers:
        broker.stop(signal.SIGKILL)


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., Mosquitto]) -> Mosquitto:
    """An anonymous broker on a free loopback port."""
    return mosquitto_factory()
