"""The JSON API under ``/api/v1/``: the same data as the pages, for scripts (bearer token) and the live view."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from config.errors import PresspointError
from config.loader import describe_validation_error
from config.plan import validate_plan
from firmware.clinic import actions, exports, history, person_queries, queries
from firmware.clinic.alerts import device_json
from firmware.clinic.context import ctx, user
from firmware.clinic.openapi import OPENAPI
from firmware.clinic.requested import drawn, path_id, session_data


def _limit(request: Request) -> int:
    text = request.query_params.get("limit", "200")
    if not text.isdigit() or not 0 < int(text) <= 10_000:
        raise HTTPException(400, "limit: a whole number 1-10000")
    return int(text)


async def devices(request: Request) -> Response:
    rows = await run_in_threadpool(queries.devices, ctx(request).engine)
    return JSONResponse([device_json(row) for row in rows])


async def persons(request: Request) -> Response:
    rows = await run_in_threadpool(person_queries.persons, ctx(request).engine)
    return JSONResponse([row.as_json() for row in rows])


async def sessions(request: Request) -> Response:
    limit = _limit(request)
    device, person = request.query_params.get("device"), request.query_params.get("person")
    rows = await run_in_threadpool(
        lambda: queries.sessions(ctx(request).engine, device_id=device, person=person, limit=limit)
    )
    return JSONResponse([row.as_json() for row in rows])


async def refusals(request: Request) -> Response:
    """Refused starts, newest first (``?device=``)."""
    device = request.query_params.get("device")
    rows = await run_in_threadpool(history.refusals, ctx(request).engine, device)
    return JSONResponse([{"at": r.at, "device_id": r.device_id, "reason": r.reason} for r in reversed(rows)])


async def session(request: Request) -> Response:
    session_id = path_id(request, "session_id", "session")
    text = await run_in_threadpool(queries.summary_text, ctx(request).engine, session_id)
    if text is None:
        raise HTTPException(404, "no summary stored for this session")
    return Response(text, media_type="application/json")


async def samples_csv(request: Request) -> Response:
    data = await session_data(request)
    return Response(
        exports.samples_csv(data),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{data.session_id}-samples.csv"'},
    )


async def report_pdf(request: Request) -> Response:
    data = await session_data(request)
    return Response(
        await drawn(exports.report_pdf, data),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{data.session_id}.pdf"'},
    )


async def push_plan(request: Request) -> Response:
    context = ctx(request)
    device_id = path_id(request, "device_id", "device")
    if not user(request).may_change:
        return JSONResponse({"error": "viewers cannot push plans"}, status_code=403)
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body must be a JSON plan object"}, status_code=400)
    if not isinstance(body, dict):
        return JSONResponse({"error": "the body must be a JSON plan object"}, status_code=400)
    try:
        plan = validate_plan(body, context.settings.device_max_n)
    except ValidationError as err:
        where, problem = describe_validation_error(err)
        return JSONResponse({"error": problem, "field": where}, status_code=422)
    try:
        outcome = await actions.push(context, user(request), device_id, plan)
    except PresspointError as err:
        return JSONResponse({"error": str(err)}, status_code=502)
    status = {"applied": 200, "unchanged": 200, "queued": 202, "refused": 409, "timeout": 504}[outcome.status]
    return JSONResponse(
        {"status": outcome.status, "version": outcome.version, "message": outcome.message}, status_code=status
    )


async def openapi(request: Request) -> Response:
    return JSONResponse(OPENAPI)


ROUTES = [
    Route("/api/v1/openapi.json", openapi, methods=["GET"]),
    Route("/api/v1/devices", devices, methods=["GET"]),
    Route("/api/v1/devices/{device_id}/plan", push_plan, methods=["POST"]),
    Route("/api/v1/persons", persons, methods=["GET"]),
    Route("/api/v1/refusals", refusals, methods=["GET"]),
    Route("/api/v1/sessions", sessions, methods=["GET"]),
    Route("/api/v1/sessions/{session_id}", session, methods=["GET"]),
    Route("/api/v1/sessions/{session_id}/samples.csv", samples_csv, methods=["GET"]),
    Route("/api/v1/sessions/{session_id}/report.pdf", report_pdf, methods=["GET"]),
]
