from __future__ import annotations

import copy
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.perio import SITES, Measure, PerioExam, Site, furcation_entrances
from odonto_desk.domain.teeth import PERMANENT_TEETH
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import from_fhir, to_fhir
from odonto_desk.fhir.resources.perio import (
    PerioFinding,
    PerioPanel,
    perio_from_observations,
    perio_to_observations,
)
from odonto_desk.fhir.validate import validate

EXAMPLE = "observation-perio-probing-depth.json"


def test_example_maps_in_and_out_without_loss(load_example):
    ex = load_example(EXAMPLE)
    finding = from_fhir(ex, expect=PerioFinding)
    assert to_fhir(finding, base=ex) == ex
    fresh = to_fhir(finding)
    validate(fresh)
    assert from_fhir(fresh) == finding


def test_example_reads_as_pd_5_at_30_db(load_example):
    f = from_fhir(load_example(EXAMPLE))
    assert (f.measure, f.tooth.universal, f.site, f.value) == (Measure.PD, "30", Site.DB, 5)
    assert (f.patient, f.provider, f.date) == ("odonto-patient-1", "odonto-dds-1", dt.date(2025, 3, 3))
    exam = perio_from_observations([load_example(EXAMPLE)])  # values without a panel still make an exam
    assert exam.pd("30", "DB") == 5 and exam.patient == "odonto-patient-1" and exam.date == dt.date(2025, 3, 3)


def _exam() -> PerioExam:
    exam = PerioExam(id="exam-1", patient="p-1", date=dt.date(2025, 3, 3), provider="dr-1", note="Full mouth",
                     furcation_scale="glickman")
    exam.set_pd("30", "DB", 5)
    exam.set_gm("30", "DB", -2)
    exam.set_mgj("30", "B", 3)
    exam.set_flag("30", "DB", "bleeding")
    exam.set_flag("8", "L", "plaque")
    exam.set_mobility("8", 2)
    exam.set_furcation("3", "B", 4)
    exam.set_furcation("30", "L", 1, scale="hamp")
    exam.mark_implant("19")
    return exam


def test_an_exam_becomes_a_panel_and_findings_and_comes_back():
    exam = _exam()
    resources = perio_to_observations(exam)
    for r in resources:
        validate(r)
    panel, *findings = resources
    assert panel["id"] == "exam-1" and len(panel["hasMember"]) == len(findings) == 9
    assert perio_from_observations(list(reversed(resources))) == exam
    header = from_fhir(panel)
    assert header == PerioPanel(id="exam-1", patient="p-1", date=dt.date(2025, 3, 3), provider="dr-1",
                                note="Full mouth", furcation_scale="glickman", members=tuple(f["id"] for f in findings))
    assert to_fhir(header) == panel
    by_code = {f["code"]["coding"][-1]["code"]: f for f in findings}
    pd = next(f for f in findings if f["id"] == "exam-1-pd-30-db")
    assert pd["code"]["coding"][0] == {"system": codes.LOINC, "code": "64042-5",
                                       "display": pd["code"]["coding"][0]["display"]}
    assert pd["valueQuantity"] == {"value": 5, "unit": "mm", "system": codes.UCUM, "code": "mm"}
    surfaces = [e["valueCoding"]["code"] for e in pd["extension"] if e["url"] == codes.EXT_TOOTH_SURFACE]
    assert surfaces == ["D", "B"]
    assert by_code["mobility"]["valueInteger"] == 2
    assert by_code["tooth-state"]["valueCodeableConcept"]["coding"][0]["code"] == "implant"
    plaque = next(f for f in findings if f["id"] == "exam-1-plaque-8-l")
    assert plaque["valueBoolean"] is True and plaque["bodySite"]["coding"][0]["code"] == "8"


def test_values_of_a_missing_tooth_are_not_sent():
    exam = _exam()
    exam.mark_missing("30")
    resources = perio_to_observations(exam)
    teeth = {f.get("bodySite", {}).get("coding", [{}])[0].get("code") for f in resources[1:]}
    assert "30" in teeth  # only as its tooth-state
    thirty = [r for r in resources[1:] if r["bodySite"]["coding"][0]["code"] == "30"]
    assert [r["valueCodeableConcept"]["coding"][0]["code"] for r in thirty] == ["missing"]
    back = perio_from_observations(resources)
    assert back.is_missing("30") and back.pd("3", "DB") is None and back.furcation("3", "B").value == 4


@pytest.mark.parametrize(("mutate", "path"), [
    (lambda r: r["valueQuantity"].update(value=20), "Observation.valueQuantity"),
    (lambda r: r["valueQuantity"].update(code="cm", unit="cm"), "Observation.valueQuantity.code"),
    (lambda r: r["extension"].pop(), "Observation.extension"),
    (lambda r: r["extension"][1]["valueCoding"].update(code="33"), "Observation.extension[1]"),
    (lambda r: r.pop("valueQuantity"), "Observation.value[x]"),
])
def test_bad_findings_name_the_path(load_example, mutate, path):
    ex = load_example(EXAMPLE)
    mutate(ex)
    with pytest.raises(FhirMappingError) as e:
        from_fhir(ex)
    assert e.value.path == path


def test_findings_the_exam_would_refuse_cannot_be_built():
    with pytest.raises(DomainError) as e:
        PerioFinding(measure="mgj", tooth="3", site="L", value=3)
    assert e.value.field == "mgj"
    with pytest.raises(DomainError) as e:
        PerioFinding(measure="pd", tooth="A", site="B", value=3)
    assert e.value.field == "tooth"
    with pytest.raises(DomainError) as e:
        PerioFinding(measure="furcation", tooth="8", entrance="B", value=1)
    assert e.value.field == "furcation"
    with pytest.raises(DomainError) as e:
        PerioFinding(measure="pd", tooth="30", value=3)
    assert e.value.field == "site"


def test_whole_exam_errors_point_into_the_list():
    resources = perio_to_observations(_exam())
    with pytest.raises(FhirMappingError) as e:
        perio_from_observations(resources[:-1])
    assert e.value.path == "[0].hasMember"
    extra = copy.deepcopy(resources[1])
    extra["id"] = "stray"
    with pytest.raises(FhirMappingError) as e:
        perio_from_observations([*resources, extra])
    assert e.value.path == f"[{len(resources)}].id"
    bad = copy.deepcopy(resources)
    i = next(i for i, r in enumerate(bad) if r["id"] == "exam-1-gm-30-db")
    bad[i]["valueQuantity"]["value"] = -40
    with pytest.raises(FhirMappingError) as e:
        perio_from_observations(bad)
    assert e.value.path == f"[{i}].Observation.valueQuantity"
    with pytest.raises(FhirMappingError) as e:
        perio_from_observations([resources[0], resources[0]])
    assert e.value.path == "[1].Observation.code"


def test_wrong_resource_type_is_refused(load_example):
    with pytest.raises(FhirMappingError) as e:
        from_fhir(load_example("condition-caries-tooth30-mo.json"), expect=PerioFinding)
    assert e.value.path == "resourceType"
    other = {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": codes.LOINC,
                                                                                     "code": "8867-4"}]}}
    with pytest.raises(FhirMappingError) as e:
        from_fhir(other)
    assert e.value.path == "resourceType"


# --- property: any exam round-trips ---------------------------------------------------------------

_SITE_VALUES = st.tuples(st.sampled_from(PERMANENT_TEETH), st.sampled_from(SITES), st.none() | st.integers(0, 15),
                         st.none() | st.integers(-10, 15), st.booleans(), st.booleans())
_MOLARS = [t for t in PERMANENT_TEETH if furcation_entrances(t)]


@given(st.lists(_SITE_VALUES, max_size=25),
       st.dictionaries(st.sampled_from(PERMANENT_TEETH), st.integers(0, 3), max_size=5),
       st.dictionaries(st.sampled_from(_MOLARS), st.integers(0, 3), max_size=4),
       st.sets(st.sampled_from(PERMANENT_TEETH), max_size=3))
def test_any_exam_round_trips_through_observations(sites, mobility, furcation, implants):
    exam = PerioExam(id="e", patient="p", date=dt.date(2024, 1, 2))
    for tooth, site, pd, gm, bleeding, suppuration in sites:
        exam.set_pd(tooth, site, pd)
        exam.set_gm(tooth, site, gm)
        exam.set_flag(tooth, site, "bleeding", bleeding)
        exam.set_flag(tooth, site, "suppuration", suppuration)
    for tooth, grade in mobility.items():
        exam.set_mobility(tooth, grade)
    for tooth, grade in furcation.items():
        exam.set_furcation(tooth, furcation_entrances(tooth)[0], grade)
    for tooth in implants - set(furcation):
        exam.mark_implant(tooth)
    resources = perio_to_observations(exam)
    assert perio_from_observations(resources) == exam
    for r in resources[:3]:
        validate(r)
