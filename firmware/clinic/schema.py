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

from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

FIRST = "0001"
OUTCOMES = {"since": "0002"}  # refusals, follow-ups, person status, PPT per spot
CLINIC_ANSWERS = {"since": "0003"}  # ratings and follow-ups sent from the clinic, and what became of them

_ID = 64  # topic-level ids are 1-64 characters (firmware.protocol.topics)
_TIME = 40
_PERSON = 128


def _key(name: str) -> sa.Column[str]:
    """The row's own id (a device's, a message's, a session's): one 1-64 character key."""
    return sa.Column(name, sa.String(_ID), primary_key=True)


def _ref(name: str, *, nullable: bool = False) -> sa.Column[str]:
    """The id of what a row belongs to or answers (its device, its session, a request)."""
    return sa.Column(name, sa.String(_ID), nullable=nullable)


def _time(name: str, *, nullable: bool = False) -> sa.Column[str]:
    """An ISO 8601 UTC time ending in ``Z`` (it sorts as the instant it names)."""
    return sa.Column(name, sa.String(_TIME), nullable=nullable)


def _person(*, nullable: bool = True) -> sa.Column[str]:
    """The person a row is about, as the device names them."""
    return sa.Column("person", sa.String(_PERSON), nullable=nullable)


def _text(name: str, *, nullable: bool = False) -> sa.Column[str]:
    """Text kept as it came (a payload as published, a reason, a state)."""
    return sa.Column(name, sa.Text, nullable=nullable)


def _row_number() -> sa.Column[int]:
    """A key the database counts up, for rows with no id of their own."""
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def _user_ref() -> sa.Column[int]:
    """The user a row belongs to: deleting the user deletes the row."""
    return sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


devices = sa.Table(
    "devices",
    metadata,
    _key("device_id"),
    sa.Column("online", sa.Boolean, nullable=True),
    _time("availability_at", nullable=True),
    _text("status", nullable=True),
    _time("status_at", nullable=True),
    _time("first_seen"),
)

plan_states = sa.Table(
    "plan_states",
    metadata,
    _key("device_id"),
    sa.Column("version", sa.Integer, nullable=False),
    _text("state"),
    _time("updated_at"),
)

plan_errors = sa.Table(
    "plan_errors",
    metadata,
    _key("device_id"),
    _ref("request_id", nullable=True),
    _text("error"),
    _time("at"),
)

sessions = sa.Table(
    "sessions",
    metadata,
    _key("session_id"),
    _ref("device_id"),
    _person(),
    _time("started_at", nullable=True),
    sa.Column("outcome", sa.String(32), nullable=True),
    sa.Column("duration_s", sa.Float, nullable=True),
    sa.Column("peak_force_n", sa.Float, nullable=True),
    sa.Column("holds", sa.Integer, nullable=True),
    sa.Column("holds_completed", sa.Integer, nullable=True),
    _text("summary", nullable=True),
    _time("first_seen"),
    _time("summary_at", nullable=True),
    sa.Index("sessions_newest", "started_at", "session_id"),
    sa.Index("sessions_person", "person", "started_at"),
    sa.Index("sessions_device", "device_id", "started_at"),
)


def _session_stream(name: str, position: str, *columns: sa.Column[Any], unique: str) -> sa.Table:
    """A table of one kind of message a session streams in order (events, sample batches).

    Stored once by ``msg_id``, and once by the session and ``position`` too: the
    same position under another message id is a re-send, not new data.
    """
    return sa.Table(
        name,
        metadata,
        _key("msg_id"),
        _ref("device_id"),
        _ref("session_id"),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column(position, sa.Integer, nullable=False),
        *columns,
        _time("received_at"),
        sa.UniqueConstraint("session_id", position, name=unique),
    )


events = _session_stream(
    "events",
    "idx",
    sa.Column("t", sa.Float, nullable=True),
    sa.Column("type", sa.String(64), nullable=False),
    _text("body"),
    unique="events_session_idx",
)

sample_batches = _session_stream(
    "sample_batches",
    "batch",
    sa.Column("t0", sa.Float, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
    _text("payload"),
    unique="batches_session_batch",
)

ppt = sa.Table(
    "ppt",
    metadata,
    _key("measurement_id"),
    _ref("device_id"),
    _person(),
    _time("measured_at"),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("threshold_n", sa.Float, nullable=True),
    _text("payload"),
    _time("received_at"),
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
    _key("refusal_id"),
    _ref("device_id"),
    _time("at"),
    _text("reason"),
    sa.Column("source", sa.String(16), nullable=False),
    _time("received_at"),
    sa.Index("refusals_device", "device_id", "at"),
    info=OUTCOMES,
)

follow_ups = sa.Table(
    "follow_ups",
    metadata,
    _key("session_id"),
    sa.Column("answered_at", sa.String(_TIME), primary_key=True),
    _ref("device_id"),
    sa.Column("answer", sa.String(16), nullable=False),
    _text("payload"),
    _time("received_at"),
    info=OUTCOMES,
)

person_states = sa.Table(
    "person_states",
    metadata,
    _key("device_id"),
    _person(),
    sa.Column("flags", sa.String(200), nullable=False),
    _text("state"),
    _time("updated_at"),
    info=OUTCOMES,
)

clinic_answers = sa.Table(
    "clinic_answers",
    metadata,
    _key("request_id"),
    _ref("device_id"),
    _ref("session_id"),
    _person(nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value", sa.String(16), nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    _time("sent_at"),
    sa.Column("sent_by", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # sent | acknowledged | refused
    _time("state_at", nullable=True),
    _text("reason", nullable=True),
    sa.Index("clinic_answers_session", "session_id", "kind", "version"),
    sa.Index("clinic_answers_device", "device_id", "state"),
    info=CLINIC_ANSWERS,
)

rejected = sa.Table(
    "rejected",
    metadata,
    _row_number(),
    _text("topic"),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("payload_sha256", sa.String(64), nullable=False),
    _time("received_at"),
)

users = sa.Table(
    "users",
    metadata,
    _row_number(),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    _time("created_at"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    _row_number(),
    _user_ref(),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    _time("created_at"),
)

login_sessions = sa.Table(
    "login_sessions",
    metadata,
    sa.Column("id_sha256", sa.String(64), primary_key=True),
    _user_ref(),
    sa.Column("csrf", sa.String(64), nullable=False),
    _time("created_at"),
    _time("expires_at"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    _row_number(),
    _time("at"),
    sa.Column("user_name", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    _ref("device_id", nullable=True),
    _text("detail"),
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
