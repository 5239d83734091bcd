"""Users signed in ahead, in a seeded template, so that a test's client need not check a password again.

Checking a password is argon2id's 0.3 s of CPU by design, and the pages
tests sign in dozens of times.  A template's seed signs its users in once,
through the ``authenticate`` and ``start_session`` the login form calls; every
copy of the template holds those login sessions, and ``cookie_for`` gives a
test the one for its user.  A user whose stored hash was not signed in ahead
(a password set since, a user the test added) gets ``None``: the test logs
in through the form, which, with its limits, stays tested in ``test_web``.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from firmware.clinic import schema
from firmware.clinic.auth import authenticate, session_user, start_session

#: (the user's stored password hash, the password) -> the cookie of a login session made with them.
_AHEAD: dict[tuple[str, str], str] = {}


def sign_in_ahead(engine: Engine, password: str, *names: str) -> None:
    """Sign ``names`` in with ``password`` now, for every copy of the database ``engine`` seeds."""
    for name in names:
        user = authenticate(engine, name, password)
        stored = _stored_hash(engine, name)
        assert user is not None and stored is not None, f"{name} cannot sign in with that password"
        _AHEAD[(stored, password)] = start_session(engine, user).cookie


def cookie_for(engine: Engine, name: str, password: str) -> str | None:
    """The cookie of ``name``'s login session made ahead in this database, if there is one still open."""
    stored = _stored_hash(engine, name)
    cookie = None if stored is None else _AHEAD.get((stored, password))
    return cookie if cookie is not None and session_user(engine, cookie) is not None else None


def _stored_hash(engine: Engine, name: str) -> str | None:
    with engine.connect() as conn:
        found: str | None = conn.execute(
            sa.select(schema.users.c.password_hash).where(schema.users.c.name == name)
        ).scalar()
    return found
