"""The clinic web app: pages, API, static assets, behind the security gate."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from firmware.clinic import api, live_api, pages, person_answers, person_pages
from firmware.clinic.context import ClinicContext
from firmware.clinic.openapi import with_plan_schema
from firmware.clinic.security import SecurityMiddleware

STATIC = Path(__file__).with_name("static")


def create_app(context: ClinicContext) -> Starlette:
    with_plan_schema()
    app = Starlette(
        routes=[
            *pages.ROUTES,
            *person_pages.ROUTES,
            *person_answers.ROUTES,
            *api.ROUTES,
            *live_api.ROUTES,
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(SecurityMiddleware)],
    )
    app.state.clinic = context
    return app
