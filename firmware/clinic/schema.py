"""The clinic database: one SQLAlchemy Core schema for SQLite and PostgreSQL.

Payloads are kept as the text the device published (``Text``, not a JSON
type), so ``GET /api/v1/sessions/{id}`` returns the summary byte for byte and
both databases store the same thing.  Times are ISO 8601 UTC strings ending
in ``Z``: they sort the same as the instants they name on both databases.

Every message table is keyed on the message's own id (``msg_id``,
``measurement_id``, ``session_id`` for a summary), so two collectors that
both receive a message store it once.  Pain ratings and the course travel in
the stored summary; follow-ups, the person's retained status and refused
starts have tables of their own.

This file is the one statement of the schema: each Alembic revision under
``migrations/versions`` builds what it adds from here (``metadata_at``).  A
table, column or index added later says so with ``info={"since": REV}``;
``tests/clinic/test_storage.py`` fails while the migrations and this file disagree.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

FIRST = "0001"
OUTCOMES = {"since": "0002"}  # refusals, follow-ups, person status, PPT per spot
CLINIC_ANSWERS = {"since": "0003"}  # ratings and follow-ups sent from the clinic, and what became of them

_ID = 64  # topic-level ids are 1-64 characters (firmware.protocol.topics)
_TIME = 40

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("device_id", sa.String(_ID), primary_key=True),
    sa.Column("online", sa.Boolean, nullable=True),
    sa.Column("availability_at", sa.String(_TIME), nullable=True),
    sa.Column("status", sa.Text, nullable=True),
    sa.Column("status_at", sa.String(_TIME), nullable=True),
    sa.Column("first_seen", sa.String(_TIME), nullable=False),
)

plan_states = sa.Table(
    "plan_states",
    metadata,
    sa.Column("device_id", sa.String(_ID), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("updated_at", sa.String(_TIME), nullable=False),
)

plan_errors = sa.Table(
    "plan_errors",
    metadata,
    sa.Column("device_id", sa.String(_ID), primary_key=True),
    sa.Column("request_id", sa.String(_ID), nullable=True),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("at", sa.String(_TIME), nullable=False),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("session_id", sa.String(_ID), primary_key=True),
    sa.Column("device_id", sa.String(_ID), nullable=False),
    sa.Column("person", sa.String(128), nullable=True),
    sa.Column("started_at", sa.String(_TIME), nullable=True),
    sa.Column("outcome", sa.String(32), nullable=True),
    sa.Column("duration_s", sa.Float, nullable=True),
    sa.Column("peak_force_n", sa.Float, nullable=True),
    sa.Column("holds", sa.Integer, nullable=True),
    sa.Column("holds_completed", sa.Integer, nullable=True),
    sa.Column("summary", sa.Text, nullable=True),
    sa.Column("first_seen", sa.String(_TIME), nullable=False),
    sa.Column("summary_at", sa.String(_TIME), nullable=True),
    sa.Index("sessions_newest", "started_at", "session_id"),
    sa.Index("sessions_person", "person", "started_at"),
    sa.Index("sessions_device", "device_id", "started_at"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("msg_id", sa.String(_ID), primary_key=True),
    sa.Column("device_id", sa.String(_ID), nullable=False),
    sa.Column("session_id", sa.String(_ID), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("t", sa.Float, nullable=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("received_at", sa.String(_TIME), nullable=False),
    sa.UniqueConstraint("session_id", "idx", name="events_session_idx"),
)

sample_batches = sa.Table(
    "sample_batches",
    metadata,
    sa.Column("msg_id", sa.String(_ID), primary_key=True),
    sa.Column("device_id", sa.String(_ID), nullable=False),
    sa.Column("session_id", sa.String(_ID), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("batch", sa.Integer, nullable=False),
    sa.Column("t0", sa.Float, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("received_at", sa.String(_TIME), nullable=False),
    sa.UniqueConstraint("session_id", "batch", name="batches_session_batch"),
)

ppt = sa.Table(
    "ppt",
    metadata,
    sa.Column("measurement_id", sa.String(_ID), primary_key=True),
    sa.Column("device_id", sa.String(_ID), nullable=False),
    sa.Column("person", sa.String(128), nullable=True),
    sa.Column("measured_at", sa.String(_TIME), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("threshold_n", sa.Float, nullable=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("received_at", sa.String(_TIME), nullable=False),
    sa.Column("schema_name", sa.String(40), nullable=True, info=OUTCOMES),
    sa.Column("spot", sa.String(_ID), nullable=True, info=OUTCOMES),
    sa.Column("mean_kpa", sa.Float, nullable=True, info=OUTCOMES),
    sa.Column("change_kpa", sa.Float, nullable=True, info=OUTCOMES),
    sa.Column("real_change", sa.Boolean, nullable=True, info=OUTCOMES),
    sa.Index("ppt_device", "device_id", "measured_at"),
)

refusals = sa.Table(
    "refusals",
    metadata,
    sa.Column("refusal_id", sa.String(_ID), primary_key=True),
    sa.Column("device_id", sa.String(_ID), nullable=False),
    sa.Column("at", sa.String(_TIME), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("received_at", sa.String(_TIME), nullable=False),
    sa.Index("refusals_device", "device_id", "at"),
    info=OUTCOMES,
)

follow_ups = sa.Table(
    "follow_ups",
    metadata,
    sa.Column("session_id", sa.String(_ID), primary_key=True),
    sa.Column("answered_at", sa.String(_TIME), primary_key=True),
    sa.Column("device_id", sa.String(_ID), nullable=False),
    sa.Column("answer", sa.String(16), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("received_at", sa.String(_TIME), nullable=False),
    info=OUTCOMES,
)

person_states = sa.Table(
    "person_states",
    metadata,
    sa.Column("device_id", sa.String(_ID), primary_key=True),
    sa.Column("person", sa.String(128), nullable=True),
    sa.Column("flags", sa.String(200), nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("updated_at", sa.String(_TIME), nullable=False),
    info=OUTCOMES,
)

clinic_answers = sa.Table(
    "clinic_answers",
    metadata,
    sa.Column("request_id", sa.String(_ID), primary_key=True),
    sa.Column("device_id", sa.String(_ID), nullable=False),
    sa.Column("session_id", sa.String(_ID), nullable=False),
    sa.Column("person", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value", sa.String(16), nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("sent_at", sa.String(_TIME), nullable=False),
    sa.Column("sent_by", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # sent | acknowledged | refused
    sa.Column("state_at", sa.String(_TIME), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Index("clinic_answers_session", "session_id", "kind", "version"),
    sa.Index("clinic_answers_device", "device_id", "state"),
    info=CLINIC_ANSWERS,
)

rejected = sa.Table(
    "rejected",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("payload_sha256", sa.String(64), nullable=False),
    sa.Column("received_at", sa.String(_TIME), nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.String(_TIME), nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.String(_TIME), nullable=False),
)

login_sessions = sa.Table(
    "login_sessions",
    metadata,
    sa.Column("id_sha256", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", sa.String(_TIME), nullable=False),
    sa.Column("expires_at", sa.String(_TIME), nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(_TIME), nullable=False),
    sa.Column("user_name", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("device_id", sa.String(_ID), nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
)


def since(item: sa.Table | sa.Column[object] | sa.Index) -> str:
    """The revision that added ``item`` (``FIRST`` unless its ``info`` says later)."""
    return str(item.info.get("since", FIRST))


def metadata_at(revision: str) -> sa.MetaData:
    """The schema as it was at ``revision``: what the migrations build, taken from the tables above."""
    out = sa.MetaData()
    for table in metadata.sorted_tables:
        if since(table) > revision:
            continue
        columns = [column._copy() for column in table.columns if since(column) <= revision]
        named_unique = [
            sa.UniqueConstraint(*(c.name for c in constraint.columns), name=constraint.name)
            for constraint in table.constraints
            if isinstance(constraint, sa.UniqueConstraint) and constraint.name  # unnamed ones come with a column
        ]
        foreign = [
            sa.ForeignKeyConstraint(
                [c.name for c in fk.columns], [e.target_fullname for e in fk.elements], name=fk.name,
                ondelete=fk.ondelete,
            )
            for fk in table.foreign_key_constraints
        ]
        indexes = [
            sa.Index(index.name, *(c.name for c in index.columns), unique=index.unique)
            for index in table.indexes
            if since(index) <= revision and all(since(c) <= revision for c in index.columns)
        ]
        sa.Table(table.name, out, *columns, *named_unique, *foreign, *indexes)
    return out
