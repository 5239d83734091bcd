"""Clinic fixtures: a database on SQLite and on a real PostgreSQL (``db_url`` runs each test on both)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from firmware.clinic.database import open_database
from tests.clinic.db_templates import DatabaseTemplates
from tests.clinic.postgres_server import PostgresServer, running_postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        if server is None:
            pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/setup --test does it)")
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def db_server(request: pytest.FixtureRequest) -> PostgresServer | None:
    """``None`` for SQLite, else the worker's PostgreSQL: every test that asks for a database runs on both."""
    if request.param == "sqlite":
        return None
    server: PostgresServer = request.getfixturevalue("postgres")
    return server


@pytest.fixture(scope="session")
def db_templates() -> Iterator[DatabaseTemplates]:
    templates = DatabaseTemplates()
    yield templates
    templates.close()


def _migrated(url: str) -> None:
    open_database(url).dispose()


@pytest.fixture
def db_url(db_server: PostgresServer | None, db_templates: DatabaseTemplates, tmp_path: Path) -> str:
    """A new database at the head revision: a copy of one that ``open_database`` migrated from empty."""
    return db_templates.copy("migrated", _migrated, tmp_path, db_server)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = open_database(db_url)
    yield engine
    engine.dispose()
