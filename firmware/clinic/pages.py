"""The server-rendered pages: login, devices, a device's live view, sessions, the plan editor, audit.

The persons pages are ``person_pages``.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from config.errors import PresspointError
from firmware.clinic import actions, exports, history, plan_form, queries, threshold_suggestion
from firmware.clinic.alerts import device_json
from firmware.clinic.auth import authenticate, end_session, start_session
from firmware.clinic.context import ctx, user
from firmware.clinic.requested import drawn, path_id, session_data
from firmware.clinic.security import COOKIE

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
LOGIN_CSRF_COOKIE = "pp_login_csrf"


def render(request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    values.setdefault("me", request.state.user)
    values.setdefault("csrf", request.state.csrf)
    return templates.TemplateResponse(request, name, values, status_code=status)


async def login_page(request: Request) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)  # two tabs share one
    response = render(request, "login.html", login_csrf=token, error=None)
    _cookie(request, response, LOGIN_CSRF_COOKIE, token)
    return response


async def login(request: Request) -> Response:
    context = ctx(request)
    form = await request.form()
    name, password, given = (str(form.get(k, "")) for k in ("name", "password", "csrf"))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    address = request.client.host if request.client else "?"

    def again(error: str, status: int) -> Response:
        token = secrets.token_urlsafe(24)
        response = render(request, "login.html", status, login_csrf=token, error=error)
        _cookie(request, response, LOGIN_CSRF_COOKIE, token)
        return response

    if not expected or not hmac.compare_digest(given, expected):
        return again("The form expired; please log in again.", 403)
    if await run_in_threadpool(context.limiter.blocked, address, name):
        return again("Too many failed attempts; wait a few minutes.", 429)
    found = await run_in_threadpool(authenticate, context.engine, name, password)
    if found is None:
        await run_in_threadpool(context.limiter.failed, address, name)
        return again("Wrong name or password.", 401)
    await run_in_threadpool(context.limiter.succeeded, address, name)
    session = await run_in_threadpool(start_session, context.engine, found)
    response = RedirectResponse("/devices", status_code=303)
    _cookie(request, response, COOKIE, session.cookie)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


def _cookie(request: Request, response: Response, name: str, value: str) -> None:
    secure = ctx(request).settings.secure_cookies or request.url.scheme == "https"
    response.set_cookie(name, value, httponly=True, samesite="strict", secure=secure, path="/")


async def logout(request: Request) -> Response:
    cookie = request.cookies.get(COOKIE)
    if cookie:
        await run_in_threadpool(end_session, ctx(request).engine, cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


async def home(request: Request) -> Response:
    return RedirectResponse("/devices", status_code=303)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def devices_page(request: Request) -> Response:
    rows = await run_in_threadpool(queries.devices, ctx(request).engine)
    return render(request, "devices.html", devices=[(row, device_json(row)) for row in rows])


async def device_page(request: Request) -> Response:
    device_id = path_id(request, "device_id", "device")
    refused = await run_in_threadpool(history.refusals, ctx(request).engine, device_id)
    return render(request, "device.html", device_id=device_id, refusals=refused[::-1])


async def sessions_page(request: Request) -> Response:
    device = request.query_params.get("device")
    engine = ctx(request).engine
    rows = await run_in_threadpool(lambda: queries.sessions(engine, device_id=device))
    refused = await run_in_threadpool(history.refusals, engine, device)
    return render(request, "sessions.html", sessions=rows, person=None, refusals=refused[::-1])


async def session_page(request: Request) -> Response:
    session_id = path_id(request, "session_id", "session")
    engine = ctx(request).engine
    data = await run_in_threadpool(queries.session_data, engine, session_id)
    row = await run_in_threadpool(queries.session_row, engine, session_id)
    if data is None or row is None:
        raise HTTPException(404, "no such session")
    return render(request, "session.html", data=data, row=row)


async def session_plot(request: Request) -> Response:
    data = await session_data(request)
    return Response(await drawn(exports.plot_svg, data), media_type="image/svg+xml")


async def plan_page(request: Request) -> Response:
    device_id = path_id(request, "device_id", "device")
    row = await run_in_threadpool(queries.device, ctx(request).engine, device_id)
    state = row.plan_state if row else None
    values = plan_form.values_of(state.plan) if state else {}
    engine, wanted = ctx(request).engine, request.query_params.get("suggestion")
    # the measurement picked (on a person's page, or the link below), else the device's latest one to offer
    ppt = await run_in_threadpool(threshold_suggestion.stored, engine, device_id, wanted or None)
    if wanted and ppt is not None:
        values = plan_form.suggestion_values(values, ppt)
    return _plan(request, device_id, values, {}, state=state, ppt=ppt)


def _plan(
    request: Request, device_id: str, values: dict[str, str], errors: dict[str, str], status: int = 200, **extra: Any
) -> Response:
    return render(
        request,
        "plan.html",
        status,
        device_id=device_id,
        fields=plan_form.fields(values, errors),
        may_change=user(request).may_change,
        **{"state": None, "ppt": None, "outcome": None, "diff": None, "problem": None, **extra},
    )


async def plan_submit(request: Request) -> Response:
    context = ctx(request)
    device_id = path_id(request, "device_id", "device")
    if not user(request).may_change:
        return PlainTextResponse("viewers cannot push plans", status_code=403)
    form = await request.form()
    values = {name: str(form.get(name, "")) for name in plan_form.field_names()}
    row = await run_in_threadpool(queries.device, context.engine, device_id)
    state = row.plan_state if row else None
    plan, errors = plan_form.parse(values, context.settings.device_max_n)
    if plan is None:
        return _plan(request, device_id, values, errors, 400, state=state)
    diff = plan_form.diff(state.plan if state else None, plan)
    if form.get("action") != "push":
        return _plan(request, device_id, values, {}, state=state, diff=diff)
    try:
        outcome = await actions.push(context, user(request), device_id, plan)
    except PresspointError as err:
        return _plan(request, device_id, values, {}, 502, state=state, diff=diff, problem=str(err))
    row = await run_in_threadpool(queries.device, context.engine, device_id)
    return _plan(
        request,
        device_id,
        values,
        {},
        state=outcome.state or (row.plan_state if row else None),
        diff=diff,
        outcome=outcome,
    )


async def audit_page(request: Request) -> Response:
    entries = await run_in_threadpool(actions.audit_entries, ctx(request).engine)
    return render(request, "audit.html", entries=entries)


ROUTES = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/", home, methods=["GET"]),
    Route("/devices", devices_page, methods=["GET"]),
    Route("/devices/{device_id}", device_page, methods=["GET"]),
    Route("/devices/{device_id}/plan", plan_page, methods=["GET"]),
    Route("/devices/{device_id}/plan", plan_submit, methods=["POST"]),
    Route("/sessions", sessions_page, methods=["GET"]),
    Route("/sessions/{session_id}", session_page, methods=["GET"]),
    Route("/sessions/{session_id}/plot.svg", session_plot, methods=["GET"]),
    Route("/audit", audit_page, methods=["GET"]),
]
