"""The conflicts panel's words: what a conflicting record is and where the two versions differ."""

from __future__ import annotations

from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.services.sync import ConflictChange, conflict_changes, conflict_title


def test_a_deleted_side_is_said_as_deleted_not_diffed():
    assert conflict_changes(None, {"resourceType": "Condition", "status": "active"}) == (
        ConflictChange("record", "deleted", "kept"),)
    assert conflict_changes({"resourceType": "Condition"}, None) == (ConflictChange("record", "kept", "deleted"),)


def test_values_are_read_as_words_and_meta_is_left_out():
    mine = {"resourceType": "Observation", "meta": {"versionId": "1"}, "status": "final",
            "valueQuantity": {"value": 5, "unit": "mm"}, "performer": [{"reference": "Practitioner/a"}],
            "extension": [{"url": "x", "valueCoding": {"code": "MO", "display": "mesial-occlusal"}}]}
    theirs = {**mine, "meta": {"versionId": "2"}, "valueQuantity": {"value": 6, "unit": "mm"},
              "performer": [{"reference": "Practitioner/b"}], "extension": [{"url": "x", "valueString": "O"}],
              "effectiveDateTime": "2024-11-05"}
    assert conflict_changes(mine, theirs) == (
        ConflictChange("effective date time", "—", "2024-11-05"),
        ConflictChange("tooth and surfaces", "mesial-occlusal", "O"),
        ConflictChange("performer", "Practitioner/a", "Practitioner/b"),
        ConflictChange("value", "5 mm", "6 mm"),
    )


def test_a_long_value_is_cut_with_an_ellipsis():
    change, = conflict_changes({"note": [{"text": "a" * 200}]}, {"note": []})
    assert change.mine == "a" * 89 + "…" and change.theirs == "—"


def test_a_record_that_is_not_a_chart_mark_is_named_by_what_it_holds():
    assert conflict_title("CarePlan", None, {"resourceType": "CarePlan"}, NumberingSystem.UNIVERSAL) == "Treatment plan"
    assert conflict_title("Basic", None, {"resourceType": "Basic"}, NumberingSystem.UNIVERSAL) == "Basic"
    # A Condition without a tooth cannot be read as a mark: its kind of record is still named.
    assert conflict_title("Condition", {"resourceType": "Condition"}, None, NumberingSystem.FDI) == "Finding"
