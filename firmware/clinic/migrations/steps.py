"""What a revision adds, computed from ``firmware.clinic.schema`` (so no migration restates a table).

``revision_steps(previous, revision)`` gives a revision file its
``upgrade`` and ``downgrade``.  ``upgrade(previous, revision)`` creates the tables ``revision`` adds and adds
the columns and indexes it adds to older tables; ``downgrade`` takes them
away again.  ``previous`` is ``None`` for the first revision.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from firmware.clinic.schema import metadata_at


def _added(previous: str | None, revision: str) -> tuple[sa.MetaData, list[sa.Table], list[sa.Table]]:
    """``revision``'s metadata, its new tables, and its older tables (as ``revision`` has them)."""
    after = metadata_at(revision)
    before = set() if previous is None else set(metadata_at(previous).tables)
    new = [table for table in after.sorted_tables if table.name not in before]
    old = [table for table in after.sorted_tables if table.name in before]
    return after, new, old


def _previous_names(previous: str | None, table: sa.Table) -> tuple[set[str], set[str]]:
    """Column and index names ``table`` had at ``previous``."""
    if previous is None:
        return set(), set()
    earlier = metadata_at(previous).tables[table.name]
    return {c.name for c in earlier.columns}, {str(i.name) for i in earlier.indexes}


def upgrade(previous: str | None, revision: str) -> None:
    bind = op.get_bind()
    after, new, old = _added(previous, revision)
    after.create_all(bind, tables=new)
    for table in old:
        columns, indexes = _previous_names(previous, table)
        for column in table.columns:
            if column.name not in columns:
                op.add_column(table.name, column._copy())
        for index in table.indexes:
            if str(index.name) not in indexes:
                op.create_index(str(index.name), table.name, [c.name for c in index.columns], unique=index.unique)


def downgrade(previous: str | None, revision: str) -> None:
    bind = op.get_bind()
    after, new, old = _added(previous, revision)
    for table in old:
        columns, indexes = _previous_names(previous, table)
        with op.batch_alter_table(table.name) as batch:
            for index in table.indexes:
                if str(index.name) not in indexes:
                    batch.drop_index(str(index.name))
            for column in table.columns:
                if column.name not in columns:
                    batch.drop_column(column.name)
    after.drop_all(bind, tables=new)


def revision_steps(previous: str | None, revision: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """The ``upgrade`` and ``downgrade`` Alembic calls for ``revision`` (the one after ``previous``)."""

    def upgrade_revision() -> None:
        upgrade(previous, revision)

    def downgrade_revision() -> None:
        downgrade(previous, revision)

    return upgrade_revision, downgrade_revision
