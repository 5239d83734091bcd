"""A real PostgreSQL for the clinic tests and benchmark, in a temp folder, as an unprivileged user.

``initdb`` and ``pg_ctl`` refuse to run as root (CI runs as root), so as
root the cluster belongs to the ``postgres`` user the Debian package
creates (or ``nobody``) and every command runs through ``runuser``.  Trust
authentication on loopback only, a free port, fsync off (a throw-away
cluster): never the system cluster the package may have started.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.mqtt_broker import accepts, free_port


def postgres_bin() -> Path | None:
    """The newest installed ``/usr/lib/postgresql/<version>/bin`` with initdb, or ``None``."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    return Path(found[-1]).parent if found else None


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and neither user postgres nor nobody exists")


class PostgresServer:
    """One cluster: ``start()``, ``create_database()`` -> URL, ``stop()``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.user = _unprivileged_user()
        self.root = Path(tempfile.mkdtemp(prefix="presspoint-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.log = self.root / "server.log"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout)

    def start(self) -> None:
        if self.user is not None:
            shutil.chown(self.root, self.user)
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "clinic", "--auth=trust", "-E", "UTF8")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=100"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        deadline = time.monotonic() + 30
        while not accepts(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not listen on {self.port}: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://clinic@127.0.0.1:{self.port}/{database}"

    def create_database(self, *, name: str | None = None, template: str | None = None) -> str:
        """A new database (empty, or a copy of the database ``template`` no one is connected to); its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        copy = f' TEMPLATE "{template}"' if template is not None else ""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def running_postgres() -> Iterator[PostgresServer | None]:
    """A started cluster, or ``None`` when PostgreSQL is not installed."""
    bindir = postgres_bin()
    if bindir is None:
        yield None
        return
    server = PostgresServer(bindir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
