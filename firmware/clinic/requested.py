"""What a request's path names, checked: an id, a stored session, a drawing of it; 404 where there is none.

The pages, the JSON API and the live view share these, so a malformed id, a
session that is not stored and one that cannot be drawn are answered the
same way everywhere.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request

from config.errors import PresspointError
from firmware.clinic import queries
from firmware.clinic.context import ctx
from firmware.protocol.topics import check_level


def path_id(request: Request, param: str, what: str) -> str:
    """The id in the path's ``param``, checked as a topic level: a malformed one names nothing (404)."""
    try:
        return check_level(request.path_params[param], what)
    except ValueError:
        raise HTTPException(404, f"no such {what}") from None


async def session_data(request: Request) -> queries.SessionData:
    """The stored data of the path's ``session_id``."""
    session_id = path_id(request, "session_id", "session")
    data = await run_in_threadpool(queries.session_data, ctx(request).engine, session_id)
    if data is None:
        raise HTTPException(404, "no such session")
    return data


async def drawn(draw: Callable[[queries.SessionData], bytes], data: queries.SessionData) -> bytes:
    """``draw(data)`` off the event loop; a session with nothing to draw is a 404 saying why."""
    try:
        return await run_in_threadpool(draw, data)
    except PresspointError as err:
        raise HTTPException(404, str(err)) from None
