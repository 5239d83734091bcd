"""The API's OpenAPI 3.1 description (hand-written: the routes are few and their shapes are stable)."""

from __future__ import annotations

from typing import Any

_BEARER: list[dict[str, list[str]]] = [{"bearer": []}, {"cookie": []}]


def _get(summary: str, content: str = "application/json", params: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "security": _BEARER,
            "parameters": [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params],
            "responses": {"200": {"description": "OK", "content": {content: {}}}, "401": {"description": "no login"}},
        }
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "presspoint clinic API", "version": "1"},
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "clinic token create NAME"},
            "cookie": {"type": "apiKey", "in": "cookie", "name": "pp_session"},
        }
    },
    "paths": {
        "/api/v1/devices": _get("every device: online, phase, force, last outcome, alerts"),
        "/api/v1/devices/{device_id}/live": _get(
            "samples and events after a counter (?after=N)", params=("device_id",)
        ),
        "/api/v1/devices/{device_id}/live/stream": _get(
            "the same, pushed as Server-Sent Events as it arrives (id: token:counter; Last-Event-ID resumes)",
            "text/event-stream",
            ("device_id",),
        ),
        "/api/v1/devices/{device_id}/plan": {
            "post": {
                "summary": "sign the plan with the server-held key, push it and wait for the device's answer",
                "security": _BEARER,
                "parameters": [{"name": "device_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Plan"}}}},
                "responses": {
                    "200": {"description": "applied or unchanged"},
                    "202": {"description": "queued behind a running session"},
                    "409": {"description": "refused by the device"},
                    "422": {"description": "invalid plan (field named)"},
                    "504": {"description": "no answer in time"},
                },
            }
        },
        "/api/v1/persons": _get("every pseudonym: sessions, device, plan version, course, flags, follow-ups due"),
        "/api/v1/refusals": _get("refused starts, newest first: at, device_id, reason (?device=)"),
        "/api/v1/sessions": _get("sessions, newest first (?device=, ?person=, ?limit=)"),
        "/api/v1/sessions/{session_id}": _get("the summary as the device published it", params=("session_id",)),
        "/api/v1/sessions/{session_id}/samples.csv": _get("samples: time_s,force_n", "text/csv", ("session_id",)),
        "/api/v1/sessions/{session_id}/report.pdf": _get("the session report", "application/pdf", ("session_id",)),
    },
}


def with_plan_schema() -> dict[str, Any]:
    from config.plan import TherapyPlan

    OPENAPI["components"]["schemas"] = {"Plan": TherapyPlan.model_json_schema()}
    return OPENAPI
