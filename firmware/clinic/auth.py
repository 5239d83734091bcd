"""Users, passwords, API tokens and login sessions of the clinic app.

Passwords are hashed with argon2id (argon2-cffi's defaults).  Login session
ids and API tokens are random 256-bit values shown once; the database keeps
only their SHA-256, so a stolen database grants no access.  Login sessions
live in the database, so any instance of a group can serve any page.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection, Engine

from config.errors import PresspointError
from firmware.clinic import schema as t
from firmware.clinic.ingest import now_iso

Role = Literal["therapist", "viewer"]
ROLES: tuple[Role, ...] = ("therapist", "viewer")
SESSION_LIFETIME = timedelta(hours=12)
_hasher = PasswordHasher()


class UserError(PresspointError):
    """A user command that cannot be done: unknown user, a name taken, a bad password file."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role

    @property
    def may_change(self) -> bool:
        """Push plans, clear flags, erase data: therapists only."""
        return self.role == "therapist"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_password(password: str) -> str:
    if len(password) < 10:
        raise UserError("a password needs at least 10 characters")
    return password


def add_user(engine: Engine, name: str, role: Role, password: str) -> None:
    with engine.begin() as conn:
        if conn.execute(sa.select(t.users.c.id).where(t.users.c.name == name)).first() is not None:
            raise UserError(f"user {name!r} exists already (clinic user passwd changes the password)")
        conn.execute(
            t.users.insert().values(
                name=name, role=role, password_hash=_hasher.hash(check_password(password)), created_at=now_iso()
            )
        )


def _user_id(conn: Connection, name: str) -> int:
    """The id of user ``name``; ``UserError`` when there is none."""
    user_id: int | None = conn.execute(sa.select(t.users.c.id).where(t.users.c.name == name)).scalar()
    if user_id is None:
        raise UserError(f"no user {name!r}")
    return user_id


def set_password(engine: Engine, name: str, password: str) -> None:
    with engine.begin() as conn:
        user_id = _user_id(conn, name)
        conn.execute(
            t.users.update().where(t.users.c.id == user_id).values(password_hash=_hasher.hash(check_password(password)))
        )
        conn.execute(t.login_sessions.delete().where(t.login_sessions.c.user_id == user_id))


def remove_user(engine: Engine, name: str) -> None:
    with engine.begin() as conn:
        user_id = _user_id(conn, name)
        for table in (t.login_sessions, t.api_tokens):
            conn.execute(table.delete().where(table.c.user_id == user_id))
        conn.execute(t.users.delete().where(t.users.c.id == user_id))


def create_token(engine: Engine, name: str) -> str:
    """A new API token for user ``name``; returned once, stored only as a hash."""
    token = "ppc_" + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        user_id = _user_id(conn, name)
        conn.execute(t.api_tokens.insert().values(user_id=user_id, token_sha256=_digest(token), created_at=now_iso()))
    return token


def authenticate(engine: Engine, name: str, password: str) -> User | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(t.users.c.id, t.users.c.name, t.users.c.role, t.users.c.password_hash).where(
                t.users.c.name == name
            )
        ).first()
    if row is None:
        _hasher.hash(password)  # the same work as for a real user: no timing hint that the name is unknown
        return None
    try:
        _hasher.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return User(row.id, row.name, row.role)


@dataclass(frozen=True)
class LoginSession:
    cookie: str
    csrf: str


def start_session(engine: Engine, user: User) -> LoginSession:
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            t.login_sessions.insert().values(
                id_sha256=_digest(cookie),
                user_id=user.id,
                csrf=csrf,
                created_at=now_iso(),
                expires_at=(now + SESSION_LIFETIME).isoformat(timespec="seconds"),
            )
        )
    return LoginSession(cookie, csrf)


def session_user(engine: Engine, cookie: str) -> tuple[User, str] | None:
    """The user and CSRF token of a live login session."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    query = (
        sa.select(t.users.c.id, t.users.c.name, t.users.c.role, t.login_sessions.c.csrf)
        .select_from(t.login_sessions.join(t.users, t.users.c.id == t.login_sessions.c.user_id))
        .where(t.login_sessions.c.id_sha256 == _digest(cookie))
        .where(t.login_sessions.c.expires_at > now)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else (User(row.id, row.name, row.role), row.csrf)


def end_session(engine: Engine, cookie: str) -> None:
    with engine.begin() as conn:
        conn.execute(t.login_sessions.delete().where(t.login_sessions.c.id_sha256 == _digest(cookie)))


def token_user(engine: Engine, token: str) -> User | None:
    query = (
        sa.select(t.users.c.id, t.users.c.name, t.users.c.role)
        .select_from(t.api_tokens.join(t.users, t.users.c.id == t.api_tokens.c.user_id))
        .where(t.api_tokens.c.token_sha256 == _digest(token))
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else User(row.id, row.name, row.role)
