"""Opening the clinic database: a URL to an engine, and the schema brought up to date with Alembic.

``sqlite:///path`` is the default (one clinic machine): WAL, a busy timeout
and foreign keys on every connection.  ``postgresql://`` URLs use psycopg 3
(``postgresql+psycopg://``) for a group of clinics sharing one database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from config.errors import PresspointError

MIGRATIONS = Path(__file__).with_name("migrations")
DEFAULT_DB_FILE = Path("clinic.sqlite3")


class DatabaseError(PresspointError):
    """A database URL that cannot be used; one line, never the password."""


def normalise_url(url: str) -> sa.URL:
    """``url`` as SQLAlchemy needs it: psycopg 3 for PostgreSQL; only SQLite and PostgreSQL are accepted."""
    try:
        parsed = sa.make_url(url)
    except ArgumentError:
        raise DatabaseError(f"--db {url!r}: not a database URL (sqlite:///FILE or postgresql://...)") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise DatabaseError("--db: the SQLite URL needs a file: sqlite:///clinic.sqlite3")
        return parsed
    raise DatabaseError(f"--db: unsupported database {backend!r}; use sqlite:///FILE or postgresql://...")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (not yet migrated: see ``migrate``)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 10})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(parsed, pool_size=5, max_overflow=5, pool_recycle=3600)


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run from several instances at once on PostgreSQL."""
    from alembic import command

    try:
        command.upgrade(alembic_config(engine), revision)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"database {engine.url.render_as_string(hide_password=True)}: {_first_line(exc)}") from None


def open_database(url: str) -> Engine:
    engine = make_engine(url)
    migrate(engine)
    return engine


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
