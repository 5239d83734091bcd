"""The pain-rating gesture: presses count, the device counts back, quiet confirms, nothing skips."""

from __future__ import annotations

from firmware.outcomes.rating_entry import CountBack, EntryOutput, RatingEntered, RatingEntry, RatingSkipped


def run(entry: RatingEntry, events: list[tuple[float, str]], until: float) -> list[EntryOutput]:
    out: list[EntryOutput] = []
    t = 0.0
    pending = sorted(events)
    while t <= until and not entry.finished:
        while pending and pending[0][0] <= t + 1e-9:
            _, kind = pending.pop(0)
            out += getattr(entry, kind)(t)
        out += entry.tick(t)
        t = round(t + 0.1, 6)
    return out


def test_four_presses_count_back_four_and_quiet_confirms() -> None:
    entry = RatingEntry(0.0)
    out = run(entry, [(1.0, "press"), (1.3, "press"), (1.6, "press"), (1.9, "press")], until=20)
    assert out[0] == CountBack(4.4, 4)
    assert isinstance(out[-1], RatingEntered) and out[-1].rating == 4 and entry.rating == 4
    assert out[-1].t >= 4.4 + 4 * 0.4 + 4.0 - 1e-9


def test_a_long_hold_with_no_press_is_zero_and_more_than_ten_presses_is_ten() -> None:
    zero = RatingEntry(0.0)
    run(zero, [(1.0, "hold")], until=20)
    assert zero.rating == 0
    many = RatingEntry(0.0)
    run(many, [(1.0 + 0.1 * n, "press") for n in range(14)], until=30)
    assert many.rating == 10


def test_a_hold_during_the_count_back_starts_again() -> None:
    entry = RatingEntry(0.0)
    out = run(entry, [(1.0, "press"), (4.0, "hold"), (5.0, "press"), (5.2, "press")], until=30)
    assert [o.rating for o in out if isinstance(o, CountBack)] == [1, 2]
    assert entry.rating == 2


def test_no_answer_skips_and_a_session_button_skips_at_once() -> None:
    idle = RatingEntry(0.0)
    out = run(idle, [], until=30)
    assert out == [RatingSkipped(10.0, "no answer")] and idle.rating is None
    busy = RatingEntry(0.0)
    busy.press(1.0)
    assert busy.cancel(1.05) == [RatingSkipped(1.05, "button pressed for a session")]
    assert busy.finished and busy.tick(50.0) == []
