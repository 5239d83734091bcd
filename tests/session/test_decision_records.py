"""Decision records: each kind's ``type`` is declared once, in its class header, and is its own."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from firmware.algometry.decisions import RateOff, TrialEnded, TrialOutcome
from firmware.algometry.standard import RateCue
from firmware.outcomes.rating_entry import RatingEntered
from firmware.session.decisions import Adjusted, AdjustRefused, CueDecision, DecisionRecord, decision_to_event
from firmware.session.states import Cue, Gesture


def test_each_record_serialises_with_its_own_type_and_fields_in_order() -> None:
    assert decision_to_event(Adjusted(1.0, Gesture.LESS, 8.0, 2)) == {
        "t": 1.0,
        "kind": "less",
        "target_n": 8.0,
        "spot": 2,
        "type": "adjustment",
    }
    refused = decision_to_event(AdjustRefused(2.0, Gesture.MORE, 8.0, 1, "a firmer target would reach it"))
    assert list(refused) == ["t", "kind", "target_n", "spot", "reason", "type"]
    assert refused["type"] == "adjust_refused"
    assert decision_to_event(RateOff(3.0, RateCue.TOO_FAST, 45.0))["type"] == "rate_off"
    ended = decision_to_event(TrialEnded(4.0, TrialOutcome.RECORDED))
    assert ended == {"t": 4.0, "outcome": "recorded", "type": "trial_ended"}
    assert decision_to_event(RatingEntered(5.0, 3)) == {"t": 5.0, "rating": 3, "type": "rating_entered"}
    assert decision_to_event(CueDecision(6.0, Cue.ADJUSTED))["type"] == "cue"


def test_a_second_record_with_a_type_already_taken_is_refused_when_it_is_declared() -> None:
    with pytest.raises(TypeError, match=r"'cue' of .*Impostor: already firmware\.session\.decisions\.CueDecision's"):

        @dataclass(frozen=True, slots=True)
        class Impostor(DecisionRecord, type="cue"):
            cue: Cue
