import math

import pytest

from config.units import STANDARD_GRAVITY, force_text, kgf, parse_force


@pytest.mark.parametrize(
    ("text", "newtons"),
    [
        (3, 3.0),
        (29.4, 29.4),
        ("29.4 N", 29.4),
        ("29.4N", 29.4),
        ("29.4 n", 29.4),
        ("3 kgf", 3 * STANDARD_GRAVITY),
        ("3kgf", 3 * STANDARD_GRAVITY),
        ("3 KGF", 3 * STANDARD_GRAVITY),
        ("6.6 lbf", 6.6 * 0.45359237 * STANDARD_GRAVITY),
        ("  .5 kgf ", 0.5 * STANDARD_GRAVITY),
        ("1e1 N", 10.0),
        ("12", 12.0),
    ],
)
def test_parse_force_accepts_numbers_and_units(text: object, newtons: float) -> None:
    assert math.isclose(parse_force(text), newtons, rel_tol=1e-12)


def test_kgf_is_exact_standard_gravity() -> None:
    assert kgf(1.0) == 9.80665
    assert math.isclose(parse_force("6.6 lbf"), 29.357, rel_tol=1e-4)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("3 stone", "unknown force unit 'stone'"),
        ("three kgf", "cannot read"),
        ("", "cannot read"),
        ("3 kgf extra", "cannot read"),
        (True, "must be a number"),
        (None, "must be a number"),
        ([3], "must be a number"),
        (float("inf"), "not a finite"),
        ("1e400 N", "not a finite"),
        ("3 kg", "kg is a mass, not a force; write kgf"),
        ("3KG", "kg is a mass"),
        ("1e300 N", "above the limit of 2000 N"),
        (2000.1, "above the limit of 2000 N"),
        ("205 kgf", "above the limit"),
        ("x" * 10_000, "cannot read"),
    ],
)
def test_parse_force_refuses_bad_input_with_a_reason(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_force(value)


def test_the_force_limit_is_inclusive() -> None:
    assert parse_force(2000) == 2000.0
    assert parse_force("-2000 N") == -2000.0


def test_errors_never_repeat_a_long_value_whole() -> None:
    with pytest.raises(ValueError) as info:
        parse_force("9" * 5000 + " stone")
    assert len(str(info.value)) < 200


def test_force_text_stays_short_for_absurd_numbers() -> None:
    assert force_text(kgf(4.0)) == "39.23 N (4.00 kgf)"
    assert len(force_text(1e308)) < 30
