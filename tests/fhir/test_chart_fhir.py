from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from odonto_desk.domain.chart import ChartMark, MarkKind, MarkStatus, Material
from odonto_desk.domain.teeth import ALL_TEETH
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import from_fhir, to_fhir
from odonto_desk.fhir.validate import validate

EXAMPLES = ["condition-caries-tooth30-mo.json", "procedure-d2392-tooth30-mo.json"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_map_in_and_out_without_loss(name, load_example):
    ex = load_example(name)
    mark = from_fhir(ex)
    assert to_fhir(mark, base=ex) == ex
    fresh = to_fhir(mark)
    validate(fresh)
    assert from_fhir(fresh) == mark


def test_condition_example_reads_as_caries_mo(load_example):
    mark = from_fhir(load_example("condition-caries-tooth30-mo.json"))
    assert (mark.tooth.universal, mark.surface_string, mark.kind, mark.status) == (
        "30", "MO", MarkKind.CARIES, MarkStatus.CONDITION)
    assert (mark.patient, mark.provider, str(mark.date)) == ("odonto-patient-1", "odonto-dds-1", "2025-03-03")


def test_procedure_example_reads_kind_from_the_cdt_code(load_example):
    mark = from_fhir(load_example("procedure-d2392-tooth30-mo.json"))
    assert (mark.kind, mark.material, mark.code, mark.status) == (
        MarkKind.FILLING, Material.COMPOSITE, "D2392", MarkStatus.COMPLETED)


def test_a_change_lands_and_unknown_elements_survive(load_example):
    ex = load_example("procedure-d2392-tooth30-mo.json")
    mark = from_fhir(ex)
    changed = ChartMark(**{**mark.model_dump(), "surfaces": "MOD", "code": "D2393"})
    out = to_fhir(changed, base=ex)
    validate(out)
    assert from_fhir(out) == changed
    assert out["basedOn"] == ex["basedOn"] and out["reasonReference"] == ex["reasonReference"]
    assert "text" not in out  # the old narrative no longer describes the resource
    surfaces = [e["valueCoding"]["code"] for e in out["extension"] if e["url"] == codes.EXT_TOOTH_SURFACE]
    assert surfaces == ["M", "O", "D"]


STATUS_TYPE = {MarkStatus.CONDITION: "Condition", MarkStatus.TREATMENT_PLANNED: "ServiceRequest",
               MarkStatus.REFERRED: "ServiceRequest", MarkStatus.COMPLETED: "Procedure",
               MarkStatus.EXISTING_CURRENT: "Procedure", MarkStatus.EXISTING_OTHER: "Procedure"}


@given(st.sampled_from(ALL_TEETH), st.sampled_from(list(MarkKind)), st.sampled_from(list(MarkStatus)),
       st.sets(st.sampled_from(list("MODBLVI")), max_size=4), st.sampled_from([None, *Material]),
       st.dates().map(lambda d: d).filter(lambda d: d.year > 1900) | st.none())
def test_every_mark_round_trips_and_validates(tooth, kind, status, surfaces, material, date):
    try:
        mark = ChartMark(patient="p-1", tooth=tooth, kind=kind, status=status, surfaces="".join(surfaces),
                         material=material, date=date, provider="dr-1", note="n")
    except ValidationError:
        return
    res = to_fhir(mark)
    assert res["resourceType"] == STATUS_TYPE[status]
    validate(res)
    assert from_fhir(res) == mark
    tooth_ext = [e for e in res["extension"] if e["url"] == codes.EXT_TOOTH_NUMBER]
    assert tooth_ext[0]["valueCoding"]["code"] == tooth.universal


def test_v_is_kept_on_the_chart_and_sent_as_facial_letter():
    mark = ChartMark(patient="p", tooth="8", kind="filling", status="c", surfaces="V", material="composite")
    res = to_fhir(mark)
    quals = res["contained"][0]["locationQualifier"][0]["coding"]
    assert quals[0] == {"system": codes.ADA_SURFACE, "code": "F", "display": "Facial"}
    assert from_fhir(res).surfaces == mark.surfaces


@pytest.mark.parametrize(("mutate", "path"), [
    (lambda r: r["extension"][1]["valueCoding"].update(code="33"), "Condition.extension[1]"),
    (lambda r: r["extension"][2]["valueCoding"].update(code="I"), "Condition.extension[2]"),
    (lambda r: r["code"].update(coding=[{"system": "http://example.org", "code": "x"}]), "Condition.code"),
    (lambda r: r.update(onsetDateTime="yesterday"), "Condition.onsetDateTime"),
])
def test_bad_resources_raise_with_a_path(mutate, path, load_example):
    ex = copy.deepcopy(load_example("condition-caries-tooth30-mo.json"))
    mutate(ex)
    with pytest.raises(FhirMappingError) as err:
        from_fhir(ex)
    assert err.value.path == path


def test_wrong_resource_type_is_refused(load_example):
    with pytest.raises(FhirMappingError, match="expected a resource for ChartMark"):
        from_fhir(load_example("patient.json"), expect=ChartMark)
    with pytest.raises(FhirMappingError, match="resourceType"):
        from_fhir({"id": "x"})


def test_plain_string_extensions_from_other_servers_are_read():
    res = {"resourceType": "Condition", "id": "c1",
           "extension": [{"url": codes.EXT_TOOTH_NUMBER, "valueString": "30"},
                         {"url": codes.EXT_TOOTH_SURFACE, "valueString": "MO"}],
           "code": {"coding": [{"system": codes.SNOMED, "code": codes.SNOMED_CARIES}]},
           "subject": {"reference": "Patient/p"}}
    mark = from_fhir(res)
    assert mark.tooth.universal == "30" and mark.surface_string == "MO"
