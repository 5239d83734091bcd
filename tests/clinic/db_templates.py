"""Seeded clinic databases built once per worker, then copied for each test that asks for one.

Building a seeded database (migrations, users with argon2 hashes, a person's
weeks) costs more than the test that reads it; a copy is the same database
(SQLite: the file after its engine closed, so the WAL is folded in;
PostgreSQL: ``CREATE DATABASE ... TEMPLATE``), and each test still gets its
own, so no test sees another's writes.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.clinic.postgres_server import PostgresServer

#: Builds a seeded database at the URL it is given (and closes every connection to it).
Seed = Callable[[str], None]


class DatabaseTemplates:
    """``copy(...)``: a fresh copy of the database ``seed`` built for ``name``; its URL."""

    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="presspoint-clinic-templates-"))
        self._built: dict[tuple[str, str], str] = {}

    def copy(self, name: str, seed: Seed, folder: Path, postgres: PostgresServer | None) -> str:
        """On SQLite (a file in ``folder``) when ``postgres`` is ``None``, else on that server."""
        backend = "sqlite" if postgres is None else "postgresql"
        template = self._built.get((backend, name))
        if template is None:
            template = self._build(name, seed, postgres)
            self._built[(backend, name)] = template
        if postgres is None:
            target = folder / "clinic.sqlite3"
            shutil.copyfile(template, target)
            return f"sqlite:///{target}"
        return postgres.create_database(template=template)

    def _build(self, name: str, seed: Seed, server: PostgresServer | None) -> str:
        if server is None:
            path = self._folder / f"{name}.sqlite3"
            seed(f"sqlite:///{path}")
            if path.with_name(path.name + "-wal").exists():
                raise RuntimeError(f"seed {name!r} left a connection open: its WAL would not be copied")
            return str(path)
        template = f"tpl_{name}_{uuid.uuid4().hex[:8]}"
        seed(server.create_database(name=template))
        return template

    def close(self) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)
