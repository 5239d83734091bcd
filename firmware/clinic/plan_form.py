"""The plan editor's form: fields from the plan's JSON Schema, field-level errors, a diff against the plan in force.

Form values are text.  Forces accept what plan files accept (``29.4``,
``"3 kgf"``, ``"6.6 lbf"``); the other numbers must be plain numbers.  The
whole plan goes through ``validate_plan`` against the device's maximum, so
the web form refuses exactly what a plan file or the device would, and every
problem is reported on its field - nothing is signed until all are fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from config.loader import describe_validation_error
from config.plan import TherapyPlan, validate_plan
from firmware.clinic.threshold_suggestion import ThresholdSuggestion

FORCE_FIELDS = ("target", "tolerance", "therapist_max", "contact_threshold", "stroke_max")
#: Plan keys the form does not edit yet (a plan's spots keep their defaults: one spot).
NOT_IN_FORM = ("spots",)


@dataclass(frozen=True)
class FormField:
    name: str
    description: str
    value: str
    error: str | None
    unit: str


def field_names() -> list[str]:
    return [name for name in TherapyPlan.model_json_schema()["properties"] if name not in NOT_IN_FORM]


def _unit(name: str) -> str:
    if name in FORCE_FIELDS:
        return "N or kgf/lbf"
    return "s" if name.endswith("_s") else ("ms" if name.endswith("_ms") else "")


def fields(values: dict[str, str], errors: dict[str, str]) -> list[FormField]:
    properties = TherapyPlan.model_json_schema()["properties"]
    return [
        FormField(name, str(spec.get("description", "")), values.get(name, ""), errors.get(name), _unit(name))
        for name, spec in properties.items()
    ]


def values_of(plan: dict[str, Any]) -> dict[str, str]:
    """Form text for a plan's values (newtons for forces), ``plan`` as a device reports it."""
    return {name: _text(plan[name]) for name in field_names() if name in plan}


def _text(value: object) -> str:
    """Enough digits that a plan read back from the form is the plan shown (a therapist max of 5 kgf stays exact)."""
    if value is None:  # an optional key left to its default (stroke_max)
        return ""
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def suggestion_values(current: dict[str, str], suggestion: ThresholdSuggestion) -> dict[str, str]:
    """``current`` with the target, tolerance and therapist max a threshold measurement suggests; the rest
    stays the plan in force (``firmware.clinic.threshold_suggestion``)."""
    return {
        **current,
        "target": _text(suggestion.target_n),
        "tolerance": _text(suggestion.tolerance_n),
        "therapist_max": _text(suggestion.therapist_max_n),
    }


def parse(form: dict[str, str], device_max_n: float) -> tuple[TherapyPlan | None, dict[str, str]]:
    """The plan, or the problems by field name (an empty field keeps the default, except required ones)."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    schema = TherapyPlan.model_json_schema()["properties"]
    names = field_names()
    for name in names:
        text = form.get(name, "").strip()
        if not text:
            continue
        if name in FORCE_FIELDS:
            data[name] = _number(text) if _is_number(text) else text
        elif schema[name].get("type") == "integer":
            if text.lstrip("-").isdigit():
                data[name] = int(text)
            else:
                errors[name] = "a whole number"
        elif _is_number(text):
            data[name] = _number(text)
        else:
            errors[name] = "a number"
    if errors:
        return None, errors
    try:
        return validate_plan(data, device_max_n), {}
    except ValidationError as err:
        for problem in err.errors():
            single = ValidationError.from_exception_data(err.title, [problem])  # type: ignore[list-item]
            where, message = describe_validation_error(single)
            errors.setdefault(where if where in names else next(iter(names)), message)
        return None, errors


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _number(text: str) -> float:
    return float(text)


def diff(current: dict[str, Any] | None, proposed: TherapyPlan) -> list[tuple[str, str, str]]:
    """(field, in force, proposed) for every field that changes."""
    new = proposed.model_dump()
    old = current or {}
    return [
        (name, _text(old[name]) if name in old else "—", _text(value))
        for name, value in new.items()
        if name not in NOT_IN_FORM and _changed(old.get(name), value, name in old)
    ]


def _changed(old: Any, new: Any, known: bool) -> bool:
    if not known:
        return True
    if old is None or new is None:
        return old is not new
    return abs(float(old) - float(new)) > 1e-9 * max(1.0, abs(float(new)))
