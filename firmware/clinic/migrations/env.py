"""Alembic environment: runs on the engine ``firmware.clinic.database`` hands over (no alembic.ini)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from firmware.clinic.schema import metadata

_LOCK_KEY = 0x70707031  # "ppp1": one migrating instance at a time on PostgreSQL


def run_migrations_online() -> None:
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
