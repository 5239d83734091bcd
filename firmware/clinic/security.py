"""The one gate every request passes: who is asking, may they, and the headers that keep a browser safe.

Everything except ``/login`` and ``/healthz`` needs a login session cookie
or an ``Authorization: Bearer`` API token; anonymous page requests are sent
to the login page, anonymous API requests get 401.  Doing this here rather
than per route means a route added later cannot forget it.  Form posts made
with the cookie must carry the session's CSRF token (``csrf`` field or
``X-CSRF-Token`` header); the cookie itself is HttpOnly, SameSite=Strict,
and Secure when the app is served over TLS.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from firmware.clinic.auth import session_user, token_user
from firmware.clinic.context import ctx

COOKIE = "pp_session"
PUBLIC = ("/login", "/healthz")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _refuse(request: Request, status: int, reason: str) -> Response:
    if request.url.path.startswith("/api/") or request.headers.get("authorization"):
        return JSONResponse({"error": reason}, status_code=status)
    if status == 401 and request.method == "GET" and "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/login", status_code=303)  # a page: log in first
    if status == 401:
        return PlainTextResponse(reason, status_code=401)  # an asset or a form post
    return PlainTextResponse(reason, status_code=status)


class SecurityMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request.state.user = None
        request.state.csrf = ""
        if request.url.path in PUBLIC:
            return _headers(await call_next(request))
        engine = ctx(request).engine
        authorization = request.headers.get("authorization", "")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            found = await run_in_threadpool(token_user, engine, token.strip()) if scheme.lower() == "bearer" else None
            if found is None:
                return _headers(_refuse(request, 401, "invalid API token"))
            request.state.user = found
        else:
            cookie = request.cookies.get(COOKIE)
            session = await run_in_threadpool(session_user, engine, cookie) if cookie else None
            if session is None:
                return _headers(_refuse(request, 401, "login required"))
            request.state.user, request.state.csrf = session
            if request.method not in SAFE_METHODS and not await _csrf_ok(request, session[1]):
                return _headers(_refuse(request, 403, "missing or wrong CSRF token; reload the page"))
        return _headers(await call_next(request))


async def _csrf_ok(request: Request, expected: str) -> bool:
    """The token from the header, or the ``csrf`` field of a URL-encoded form.

    The body is read as bytes (which the handler can read again), not with
    ``request.form()``, whose parse is not handed on to the route.
    """
    given = request.headers.get("x-csrf-token")
    if given is None and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        fields = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = fields.get("csrf", [None])[0]
    return given is not None and hmac.compare_digest(given, expected)
