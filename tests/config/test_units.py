import math

import pytest

from config.units import STANDARD_GRAVITY, kgf, parse_force


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
        ("3 kg", 3 * STANDARD_GRAVITY),
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
    ],
)
def test_parse_force_refuses_bad_input_with_a_reason(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_force(value)
