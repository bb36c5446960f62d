"""The 2017 AAP/EFP classifier: staging and grading boundaries, flags, and refused input.

Cases are built from a fully known baseline (every complexity input recorded as "none") so a test
changes one thing and sees exactly one rule move. Figures come from charting.md §2.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odonto_desk.domain.classification import (
    FLAGS,
    RULES,
    Classification,
    ExtentBasis,
    PerioCase,
    classify,
    classify_json,
)
from odonto_desk.domain.errors import DomainError, InvalidMeasurement, InvalidTooth

DOCS = Path(__file__).resolve().parents[2] / "docs" / "perio-classification.md"
ROMAN = ["I", "II", "III", "IV"]
# 28 teeth: the full permanent dentition without third molars.
FULL = [str(n) for n in range(2, 16)] + [str(n) for n in range(18, 32)]


def site(tooth: int | str, name: str, pd: int, gm: int = 0, **extra: Any) -> dict[str, Any]:
    return {"tooth": str(tooth), "site": name, "pd": pd, "gm": gm, **extra}


def base(**overrides: Any) -> dict[str, Any]:
    """A periodontitis case with nothing unknown: interdental CAL 3 mm at teeth 3 and 14, PD 3."""
    case: dict[str, Any] = {
        "age": 50,
        "teeth_present": FULL,
        "teeth_lost_to_periodontitis": 0,
        "sites": [site(3, "MB", 3), site(14, "DL", 3)],
        "rbl_percent": {},
        "vertical_defect_mm": {},
        "furcation": {},
        "mobility": {},
        "bite_collapse": False,
        "drifting_flaring": False,
        "masticatory_dysfunction": False,
        "secondary_occlusal_trauma": False,
        "ridge_defect": "none",
        "cigarettes_per_day": 0,
        "diabetes": False,
        "bop_percent": 20,
    }
    case.update(overrides)
    return case


def run(data: dict[str, Any], **kw: Any) -> Classification:
    return classify(PerioCase.from_dict(data), **kw)


def with_cal(cal: int, pd: int | None = None, **overrides: Any) -> Classification:
    """The baseline with interdental CAL ``cal`` at teeth 3 and 14 (PD ≤4 unless given)."""
    pd = min(cal, 4) if pd is None else pd
    sites = [site(3, "MB", pd, cal - pd), site(14, "DL", pd, cal - pd)]
    return run(base(sites=sites, **overrides))


# --- case definition and the non-periodontitis diagnoses ------------------------------------


def test_baseline_is_stage_ii_localized_and_only_lacks_radiographs() -> None:
    result = run(base())
    assert (result.diagnosis, result.stage, result.grade, result.extent) == ("periodontitis", "II", "B", "localized")
    assert result.rule_ids()[:2] == ["case.interdental_cal", "stage.cal.3to4"]
    missing = {f.flag for f in result.flags if f.kind == "missing_data"}
    assert missing == {"rbl_missing", "teeth_without_cal"}


def test_cal_at_two_adjacent_teeth_is_not_a_case() -> None:
    result = run(base(sites=[site(3, "MB", 4, 1), site(4, "DB", 4, 1)], bop_percent=5))
    assert result.diagnosis == "health"
    assert result.stage is None and result.grade is None
    assert "case_below_definition" in result.flag_ids()


def test_teeth_16_and_17_are_not_adjacent() -> None:
    everyone = [str(n) for n in range(1, 33)]
    pair = base(teeth_present=everyone, bop_percent=5)
    assert run({**pair, "sites": [site(15, "MB", 3), site(16, "DB", 3)]}).diagnosis == "health"
    assert run({**pair, "sites": [site(16, "MB", 3), site(17, "DB", 3)]}).diagnosis == "periodontitis"


def test_buccal_oral_route_needs_pd_over_3() -> None:
    buccal = [site(3, "B", 4, -1), site(19, "L", 4, 0)]  # CAL 3 with PD 4 at two teeth
    result = run(base(sites=buccal))
    assert result.diagnosis == "periodontitis"
    assert "case.buccal_oral_cal" in result.rule_ids()
    shallow = [site(3, "B", 3, 1), site(19, "L", 3, 1)]  # CAL 4 but PD 3
    assert run(base(sites=shallow)).diagnosis == "gingivitis"


def test_one_mm_interdental_cal_is_a_gray_zone_not_a_case() -> None:
    result = run(base(sites=[site(3, "MB", 1), site(14, "MB", 1)], bop_percent=0))
    assert result.diagnosis == "health"
    assert "case_cal_1mm" in result.flag_ids()


def test_non_periodontal_sites_do_not_count() -> None:
    sites = [site(3, "MB", 4, 2, non_periodontal=True), site(14, "DL", 3), site(30, "MB", 2)]
    result = run(base(sites=sites))
    assert result.stage == "II"  # 6 mm at 3 is excluded; 3 mm at 14 decides
    assert "tooth 3" not in result.reasons[1].text


def test_second_molar_distal_is_flagged() -> None:
    result = run(base(sites=[site(2, "DB", 3), site(14, "DL", 3)]))
    assert "second_molar_distal" in result.flag_ids()
    assert "second_molar_distal" not in run(base()).flag_ids()


@pytest.mark.parametrize(
    ("bop", "diagnosis", "extent"),
    [(0, "health", None), (9.9, "health", None), (10, "gingivitis", "localized"),
     (30, "gingivitis", "localized"), (30.1, "gingivitis", "generalized")],
)
def test_health_and_gingivitis_by_bop(bop: float, diagnosis: str, extent: str | None) -> None:
    result = run(base(sites=[site(3, "MB", 2, -1)], bop_percent=bop))
    assert (result.diagnosis, result.extent) == (diagnosis, extent)


def test_bop_derived_from_sites_when_not_given() -> None:
    bleeding = [site(3, s, 2, -1, bleeding=s in ("MB", "B")) for s in ("DB", "B", "MB", "DL", "L", "ML")]
    data = base(sites=bleeding)
    del data["bop_percent"]
    result = run(data)
    assert result.diagnosis == "gingivitis" and result.extent == "generalized"  # 2 of 6 = 33 %
    assert "BOP 33%" in result.reasons[0].text
    assert run({**data, "bop_percent": 5}).diagnosis == "health"  # the given figure wins


def test_no_bop_and_no_case_is_not_a_periodontitis_case() -> None:
    data = base(sites=[site(3, "MB", 2, -1)])
    del data["bop_percent"]
    result = run(data)
    assert result.diagnosis == "not_a_periodontitis_case"
    assert "bop_missing" in result.flag_ids()


# --- stage -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("cal", "stage"), [(2, "I"), (3, "II"), (4, "II"), (5, "III"), (9, "III")])
def test_stage_from_interdental_cal(cal: int, stage: str) -> None:
    assert with_cal(cal).stage == stage


def test_stage_follows_cal_not_the_maximum_with_rbl() -> None:
    result = with_cal(2, rbl_percent={"3": 40})
    assert result.stage == "I"
    assert "cal_rbl_disagree" in result.flag_ids()


@pytest.mark.parametrize(("rbl", "stage"), [(14.9, "I"), (15, "II"), (33, "II"), (33.5, "III")])
def test_stage_from_rbl_when_no_cal(rbl: float, stage: str) -> None:
    result = run(base(sites=[], rbl_percent={"3": rbl, "14": rbl}))
    assert result.diagnosis == "periodontitis" and result.stage == stage
    assert "case_provisional_from_rbl" in result.flag_ids()
    assert any(r.startswith("stage.rbl.") for r in result.rule_ids())


@pytest.mark.parametrize(("lost", "stage"), [(0, "II"), (1, "III"), (4, "III"), (5, "IV")])
def test_tooth_loss(lost: int, stage: str) -> None:
    present = FULL[: 32 - lost] if lost > 4 else FULL  # present + lost can be at most 32
    assert with_cal(3, teeth_lost_to_periodontitis=lost, teeth_present=present).stage == stage


def test_pd_complexity() -> None:
    assert with_cal(2, pd=4).stage == "I"
    assert with_cal(2, pd=5).stage == "II"  # Stage I allows PD ≤4
    assert with_cal(3, pd=5).stage == "II"  # Stage II allows PD ≤5
    result = with_cal(3, pd=6)
    assert result.stage == "III" and "stage.iii.pd_ge6" in result.rule_ids()


@pytest.mark.parametrize(("furcation", "stage"), [(1, "II"), ("I", "II"), (2, "III"), ("II", "III"), (3, "III")])
def test_furcation(furcation: int | str, stage: str) -> None:
    assert with_cal(3, furcation={"3": furcation}).stage == stage


def test_vertical_defect_and_ridge() -> None:
    assert with_cal(3, vertical_defect_mm={"3": 2.5}).stage == "II"
    assert with_cal(3, vertical_defect_mm={"3": 3}).stage == "III"
    assert with_cal(3, ridge_defect="moderate").stage == "III"
    assert with_cal(5, ridge_defect="severe").stage == "IV"


def test_one_complexity_factor_alone_is_flagged() -> None:
    assert "stage_single_complexity_factor" in with_cal(3, furcation={"3": 2}).flag_ids()
    assert "stage_single_complexity_factor" not in with_cal(3, furcation={"3": 2}, pd=6).flag_ids()


@pytest.mark.parametrize(("count", "stage"), [(19, "IV"), (20, "III")])
def test_fewer_than_20_teeth(count: int, stage: str) -> None:
    present = FULL[:count]
    sites = [site(3, "MB", 4, 1), site(14, "DL", 4, 1)]
    if "14" not in present:
        sites[1] = site(present[-1], "DL", 4, 1)
    result = run(base(teeth_present=present, sites=sites))
    assert result.stage == stage
    assert ("stage.iv.lt20_teeth" in result.rule_ids()) == (stage == "IV")


def test_stage_iv_complexity_needs_stage_iii_severity() -> None:
    result = with_cal(3, mobility={"8": 2})
    assert result.stage == "II"
    assert {"stage_iv_needs_confirmation", "stage_iv_cause_uncertain"} <= set(result.flag_ids())
    result = with_cal(5, mobility={"8": 2})
    assert result.stage == "IV" and "stage.iv.mobility_ge2" in result.rule_ids()
    assert with_cal(5, mobility={"8": 1}).stage == "III"


@pytest.mark.parametrize("flag", ["bite_collapse", "drifting_flaring", "masticatory_dysfunction",
                                  "secondary_occlusal_trauma"])
def test_each_stage_iv_factor_is_enough(flag: str) -> None:
    assert with_cal(5, **{flag: True}).stage == "IV"


def test_opposing_pairs_flag() -> None:
    upper_heavy = [str(n) for n in range(2, 16)] + ["18", "19", "20", "21", "22", "23"]  # 20 teeth
    result = run(base(teeth_present=upper_heavy, sites=[site(3, "MB", 4, 1), site(14, "DL", 4, 1)]))
    assert result.stage == "III"
    assert "opposing_pairs_lt10" in result.flag_ids()


def test_previous_stage_is_a_floor() -> None:
    result = with_cal(3, previous_stage="IV")
    assert result.stage == "IV"
    assert "stage_held_from_history" in result.flag_ids() and "stage.history" in result.rule_ids()
    raised = with_cal(5, previous_stage="II")
    assert raised.stage == "III" and "stage_held_from_history" not in raised.flag_ids()


def test_treated_patient_stays_a_periodontitis_patient() -> None:
    result = run(base(sites=[site(3, "MB", 2, -1)], bop_percent=0, previous_stage="III"))
    assert (result.diagnosis, result.stage) == ("periodontitis", "III")
    assert "case.history" in result.rule_ids()


def test_single_site_boundary_is_flagged() -> None:
    sites = [site(3, "MB", 4, 1), site(14, "DL", 4, 0)]
    assert "stage_single_site" in run(base(sites=sites)).flag_ids()
    assert "stage_single_site" not in with_cal(5).flag_ids()


# --- extent ----------------------------------------------------------------------------------


def _involving(teeth: list[str], present: list[str]) -> Classification:
    return run(base(teeth_present=present, sites=[site(t, "MB", 3) for t in teeth]))


def test_extent_30_percent_boundary() -> None:
    present = FULL[:20]  # teeth 2–15 and 18–23
    assert _involving(["2", "4", "6", "11", "13"], present).extent == "localized"  # 25 %
    assert _involving(["2", "4", "6", "11", "13", "15"], present).extent == "generalized"  # 30 %


def test_molar_incisor_pattern() -> None:
    result = _involving(["3", "8", "9", "14", "19", "24", "30"], FULL)
    assert result.extent == "molar-incisor"
    assert "molar_incisor_phenotype" in result.flag_ids()
    assert _involving(["3", "5", "14"], FULL).extent == "localized"  # a premolar breaks the pattern


def test_extent_on_stage_severity_basis() -> None:
    sites = [site(3, "MB", 4, 2), site(14, "DL", 3), site(19, "DL", 3), site(30, "MB", 3),
             site(8, "MB", 3), site(24, "MB", 3), site(12, "MB", 3), site(21, "MB", 3), site(5, "MB", 3)]
    data = base(sites=sites)
    assert run(data).extent == "generalized"  # 9 of 28 = 32 %
    severe = run(data, extent_basis=ExtentBasis.STAGE_SEVERITY)
    assert severe.extent == "localized" and "extent_basis_default" not in severe.flag_ids()


# --- grade -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("rbl", "age", "grade"),
                         [(12, 50, "A"), (12.5, 50, "B"), (50, 50, "B"), (51, 50, "C"), (10, 40, "B"), (9.9, 40, "A")])
def test_grade_ratio_boundaries(rbl: float, age: float, grade: str) -> None:
    assert with_cal(3, rbl_percent={"3": rbl}, age=age).grade == grade


def test_grade_uses_the_worst_tooth() -> None:
    result = with_cal(3, rbl_percent={"3": 10, "14": 30}, age=40)
    assert result.grade == "B" and "tooth 14" in next(r.text for r in result.reasons if r.rule == "grade.ratio.b")


@pytest.mark.parametrize(("loss", "grade"), [(0, "A"), (1.9, "B"), (2, "C")])
def test_direct_evidence_wins(loss: float, grade: str) -> None:
    result = with_cal(3, progression_5y_mm=loss, rbl_percent={"3": 60}, age=40)  # ratio alone says C
    assert result.grade == grade


@pytest.mark.parametrize(("cigs", "grade"), [(0, "A"), (9.9, "B"), (10, "C"), (25, "C")])
def test_smoking_modifier(cigs: float, grade: str) -> None:
    assert with_cal(3, rbl_percent={"3": 5}, cigarettes_per_day=cigs).grade == grade


@pytest.mark.parametrize(("diabetes", "hba1c", "grade"),
                         [(False, None, "A"), (True, 6.9, "B"), (True, 7.0, "C"), (None, 7.0, "C"), (True, None, "B")])
def test_diabetes_modifier(diabetes: bool | None, hba1c: float | None, grade: str) -> None:
    assert with_cal(3, rbl_percent={"3": 5}, diabetes=diabetes, hba1c=hba1c).grade == grade


def test_hba1c_without_diabetes_status_is_flagged_not_guessed() -> None:
    result = with_cal(3, rbl_percent={"3": 5}, diabetes=None, hba1c=6.9)
    assert result.grade == "A" and "diabetes_unknown" in result.flag_ids()


def test_modifiers_never_lower_the_grade() -> None:
    assert with_cal(3, rbl_percent={"3": 60}, age=40, cigarettes_per_day=5, diabetes=True, hba1c=6).grade == "C"


def test_grade_defaults_to_b_without_evidence() -> None:
    result = with_cal(3, rbl_percent={})
    assert result.grade == "B"
    assert "grade.default_b" in result.rule_ids() and "rbl_missing" in result.flag_ids()


# --- unknown input gives flags ----------------------------------------------------------------


def test_empty_case_is_undetermined() -> None:
    result = run({})
    assert result.diagnosis == "undetermined" and result.flag_ids() == ["cal_missing"]


def test_unknowns_are_flagged_not_fatal() -> None:
    result = run({"sites": [site(3, "MB", 4, 1), site(14, "DL", 3)]})
    assert (result.diagnosis, result.stage, result.grade) == ("periodontitis", "III", "B")
    expected = {"teeth_lost_missing", "complexity_unknown", "teeth_present_missing", "rbl_missing",
                "age_missing", "smoking_unknown", "diabetes_unknown"}
    assert expected <= set(result.flag_ids())


def test_null_fields_mean_unknown() -> None:
    data = {k: None for k in base()} | {"sites": [site(3, "MB", 3), site(14, "DL", 3)]}
    result = run(data)
    assert result.stage == "II" and "teeth_lost_missing" in result.flag_ids()


# --- refused input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error", "field"),
    [
        ({"sites": [site(3, "MB", 3)] * 3 + [site(4, "MB", 16)]}, InvalidMeasurement, "sites[3].pd"),
        ({"sites": [site(3, "MB", -1)]}, InvalidMeasurement, "sites[0].pd"),
        ({"sites": [site(3, "MB", 4.5)]}, InvalidMeasurement, "sites[0].pd"),
        ({"sites": [site(3, "MB", 3, 16)]}, InvalidMeasurement, "sites[0].gm"),
        ({"sites": [site(3, "XB", 3)]}, InvalidMeasurement, "sites[0].site"),
        ({"sites": [site(99, "MB", 3)]}, InvalidTooth, "sites[0].tooth"),
        ({"sites": [site("A", "MB", 3)]}, InvalidTooth, "sites[0].tooth"),
        ({"sites": [site(3, "MB", 3), site(3, "MB", 4)]}, InvalidMeasurement, "sites[1].site"),
        ({"teeth_present": ["3", "x"]}, InvalidTooth, "teeth_present[1]"),
        ({"teeth_present": ["3"], "sites": [site(4, "MB", 3)]}, InvalidTooth, "sites[0].tooth"),
        ({"teeth_present": ["3"], "mobility": {"4": 1}}, InvalidTooth, "mobility.4"),
        ({"furcation": {"3": 4}}, InvalidMeasurement, "furcation.3"),
        ({"rbl_percent": {"52": 10}}, InvalidTooth, "rbl_percent.52"),
        ({"rbl_percent": {"3": 101}}, DomainError, "rbl_percent.3"),
        ({"age": -3}, DomainError, "age"),
        ({"previous_stage": "V"}, DomainError, "previous_stage"),
        ({"cigarets_per_day": 3}, DomainError, "cigarets_per_day"),
    ],
)
def test_bad_input_names_the_field(data: dict[str, Any], error: type[DomainError], field: str) -> None:
    with pytest.raises(error) as info:
        PerioCase.from_dict(data)
    assert info.value.field == field


@pytest.mark.parametrize(("text", "message"), [("{", "not valid JSON"), ("[1, 2]", "JSON object")])
def test_classify_json_refuses_bad_text(text: str, message: str) -> None:
    with pytest.raises(DomainError, match=message) as info:
        classify_json(text)
    assert info.value.field == "case"


def test_classify_json_round_trips() -> None:
    out = json.loads(classify_json(json.dumps(base())))
    assert list(out) == ["diagnosis", "stage", "grade", "extent", "flags", "reasons"]
    assert out["stage"] == "II" and out["reasons"][0]["rule"] == "case.interdental_cal"
    assert Classification.model_validate(out) == run(base())


# --- catalogue and properties ------------------------------------------------------------------


def test_every_rule_and_flag_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z0-9_.]+)`", text))
    assert set(RULES) <= documented
    assert set(FLAGS) <= documented


def test_worked_examples_in_the_docs_are_current() -> None:
    """The docs paste CLI output; re-running each example input must give exactly that output."""
    examples = DOCS.read_text(encoding="utf-8").split("## Worked examples", 1)[1]
    blocks = re.findall(r"```json\n(.*?)\n```", examples, flags=re.DOTALL)
    assert len(blocks) == 4
    for case_text, output in zip(blocks[::2], blocks[1::2], strict=True):
        assert classify_json(case_text) == output


cal_sites = st.lists(
    st.tuples(st.sampled_from(FULL), st.sampled_from(["DB", "B", "MB", "DL", "L", "ML"]),
              st.integers(0, 15), st.integers(-3, 8)),
    max_size=20, unique_by=lambda x: (x[0], x[1]),
)
cases = st.fixed_dictionaries(
    {"sites": cal_sites.map(lambda xs: [site(t, s, pd, gm) for t, s, pd, gm in xs])},
    optional={
        "teeth_lost_to_periodontitis": st.integers(0, 4),
        "rbl_percent": st.dictionaries(st.sampled_from(FULL), st.floats(0, 100), max_size=3),
        "mobility": st.dictionaries(st.sampled_from(FULL), st.integers(0, 3), max_size=3),
        "furcation": st.dictionaries(st.sampled_from(["3", "14", "19", "30"]), st.integers(0, 3), max_size=2),
        "age": st.floats(15, 90),
        "cigarettes_per_day": st.sampled_from([0, 5, 10, 30]),
        "hba1c": st.floats(4, 12),
        "bite_collapse": st.booleans(),
        "previous_stage": st.sampled_from(ROMAN),
    },
)


def _rank(stage: str | None) -> int:
    return 0 if stage is None else ROMAN.index(stage) + 1


@given(cases)
def test_every_fired_rule_and_flag_is_catalogued(data: dict[str, Any]) -> None:
    result = run(data)
    assert set(result.rule_ids()) <= set(RULES)
    assert set(result.flag_ids()) <= set(FLAGS)
    assert (result.stage is None) or result.diagnosis == "periodontitis"


@given(cases, st.sampled_from(ROMAN))
def test_stage_never_below_previous_stage(data: dict[str, Any], previous: str) -> None:
    result = run({**data, "previous_stage": previous})
    assert result.diagnosis == "periodontitis"
    assert _rank(result.stage) >= _rank(previous)


@given(cases, st.integers(0, 10))
def test_more_attachment_loss_never_lowers_the_stage(data: dict[str, Any], extra: int) -> None:
    before = run(data)
    worse = [{**s, "gm": min(15, s["gm"] + extra)} for s in data["sites"]]
    after = run({**data, "sites": worse})
    if before.diagnosis == "periodontitis" and after.diagnosis == "periodontitis":
        assert _rank(after.stage) >= _rank(before.stage)


@given(cases, st.sampled_from([5, 10, 40]), st.floats(4, 12))
def test_risk_factors_never_lower_the_grade(data: dict[str, Any], cigs: int, hba1c: float) -> None:
    plain = run({**data, "cigarettes_per_day": 0, "diabetes": False, "hba1c": None})
    risky = run({**data, "cigarettes_per_day": cigs, "diabetes": True, "hba1c": hba1c})
    if plain.grade is not None:
        assert risky.grade is not None and risky.grade >= plain.grade
        assert risky.grade != "A"
