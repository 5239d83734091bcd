"""The persons pages: the list, a person's history with trends, its CSV and PDF, and the therapist's actions.

Clearing the soreness flag, resetting the course (the signed clear of
``reevaluate``) and erasing are therapists' actions (a viewer gets 403) and
forms, so the security gate has already checked their CSRF token.  Erasing
asks first: the history page links to a confirm page whose form posts.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from config.errors import PresspointError
from firmware.clinic import actions, clinic_answers, exports, person_queries, person_report
from firmware.clinic.context import ctx, user
from firmware.clinic.pages import render
from firmware.outcomes.records import Flag


def _person(request: Request) -> str:
    person = str(request.path_params["person"])
    if not 0 < len(person) <= 128:
        raise HTTPException(404, "no such person")
    return person


async def persons_page(request: Request) -> Response:
    rows = await run_in_threadpool(person_queries.persons, ctx(request).engine)
    return render(request, "persons.html", persons=rows)


async def person_page(request: Request) -> Response:
    return await _history(request)


Records = tuple[person_queries.PersonOverview, list[person_queries.SpotVisit], list[person_queries.PptPoint]]


async def _records(request: Request, person: str) -> Records:
    """The person's overview, sessions per spot and thresholds; 404 for a person with no session."""
    engine = ctx(request).engine

    def load() -> Records | None:
        found = person_queries.overview(engine, person)
        if found is None:
            return None
        return found, person_queries.history(engine, person), person_queries.ppt_history(engine, person)

    loaded = await run_in_threadpool(load)
    if loaded is None:
        raise HTTPException(404, "no such person")
    return loaded


async def _history(request: Request, status: int = 200, **extra: object) -> Response:
    person = _person(request)
    found, visits, ppt = await _records(request, person)
    spots: dict[str, list[person_queries.SpotVisit]] = {}
    for visit in visits:
        spots.setdefault(visit.spot, []).append(visit)
    sent = await run_in_threadpool(clinic_answers.latest, ctx(request).engine, person)
    values = {
        "sent": sent,
        "p": found,
        "spots": spots,
        "ppt": ppt,
        "quoted": quote(person, safe=""),
        "cleared": None,
        "cleared_flag": None,
        "problem": None,
        **extra,
    }
    return render(request, "person.html", status, **values)


async def person_trends(request: Request) -> Response:
    person = _person(request)
    _found, visits, ppt = await _records(request, person)
    svg = await run_in_threadpool(person_report.trends_svg, person, visits, ppt)
    return Response(svg, media_type="image/svg+xml")


def _attachment(person: str, suffix: str) -> dict[str, str]:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in person)
    return {"Content-Disposition": f'attachment; filename="{safe}-{suffix}"'}


async def person_csv(request: Request) -> Response:
    person = _person(request)
    text = await run_in_threadpool(exports.person_csv, ctx(request).engine, person)
    return Response(text, media_type="text/csv", headers=_attachment(person, "sessions.csv"))


async def person_pdf(request: Request) -> Response:
    person = _person(request)
    found, visits, ppt = await _records(request, person)
    sent = await run_in_threadpool(clinic_answers.latest, ctx(request).engine, person)
    pdf = await run_in_threadpool(person_report.person_pdf, found, visits, ppt, sent)
    return Response(pdf, media_type="application/pdf", headers=_attachment(person, "report.pdf"))


async def erase_confirm(request: Request) -> Response:
    person = _person(request)
    if not user(request).may_change:
        return PlainTextResponse("viewers cannot erase data", status_code=403)
    found = await run_in_threadpool(person_queries.overview, ctx(request).engine, person)
    return render(
        request, "erase.html", person=person, quoted=quote(person, safe=""), sessions=found.sessions if found else 0
    )


async def person_erase(request: Request) -> Response:
    person = _person(request)
    form = await request.form()
    if form.get("confirm") != "yes":
        return PlainTextResponse("tick the box to confirm", status_code=400)
    context = ctx(request)
    try:
        await run_in_threadpool(actions.erase_person, context.engine, user(request), person)
    except actions.NotAllowed as err:
        return PlainTextResponse(str(err), status_code=403)
    if context.store is not None:  # its cache says the erased sessions' rows exist
        context.store.forget()
    return RedirectResponse("/persons", status_code=303)


async def _clear(request: Request, flag: Flag) -> Response:
    person = _person(request)
    if not user(request).may_change:
        what = "reset courses" if flag is Flag.REEVALUATE else "clear flags"
        return PlainTextResponse(f"viewers cannot {what}", status_code=403)
    found = await run_in_threadpool(person_queries.overview, ctx(request).engine, person)
    if found is None or found.device_id is None:
        raise HTTPException(404, "no such person")
    try:
        version = await actions.clear_flag(ctx(request), user(request), found.device_id, person, flag)
    except PresspointError as err:
        return await _history(request, 502, problem=str(err))
    return await _history(request, cleared=version, cleared_flag=flag.value)


async def person_clear(request: Request) -> Response:
    return await _clear(request, Flag.SORENESS_NOT_IMPROVING)


async def course_reset(request: Request) -> Response:
    return await _clear(request, Flag.REEVALUATE)


ROUTES = [
    Route("/persons", persons_page, methods=["GET"]),
    Route("/persons/{person}", person_page, methods=["GET"]),
    Route("/persons/{person}/trends.svg", person_trends, methods=["GET"]),
    Route("/persons/{person}/sessions.csv", person_csv, methods=["GET"]),
    Route("/persons/{person}/report.pdf", person_pdf, methods=["GET"]),
    Route("/persons/{person}/erase", erase_confirm, methods=["GET"]),
    Route("/persons/{person}/erase", person_erase, methods=["POST"]),
    Route("/persons/{person}/clear", person_clear, methods=["POST"]),
    Route("/persons/{person}/course-reset", course_reset, methods=["POST"]),
]
