"""Medical alerts travel as problem-list Conditions on no tooth, and are never read as chart marks."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from odonto_desk.domain.alerts import AlertKind, MedicalAlert
from odonto_desk.domain.chart import ChartMark
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import from_fhir, to_fhir
from odonto_desk.fhir.resources.alerts import is_medical_alert
from odonto_desk.fhir.resources.chart import build_mark, on_chart
from odonto_desk.fhir.validate import validate
from odonto_desk.sandbox.chart_api import derive_mark
from odonto_desk.services.chart import _read_marks

LATEX = MedicalAlert(id="al-1", patient="p-1", text="latex allergy", kind="allergy", recorded=dt.date(2024, 5, 6))


def test_an_alert_is_a_problem_list_condition_with_its_kind_and_text():
    r = to_fhir(LATEX)
    validate(r)  # R4B structure and our code rules
    assert r["resourceType"] == "Condition" and r["code"] == {"text": "latex allergy"}
    cats = [c for cc in r["category"] for c in cc["coding"]]
    assert {"system": codes.CONDITION_CATEGORY, "code": "problem-list-item", "display": "Problem List Item"} in cats
    assert any(c["system"] == codes.CS_ALERT_KIND and c["code"] == "allergy" for c in cats)
    assert r["clinicalStatus"]["coding"][0]["code"] == "active" and r["recordedDate"] == "2024-05-06"
    assert r["subject"] == {"reference": "Patient/p-1"}
    assert "bodySite" not in r and "extension" not in r and codes.EXT_TOOTH_NUMBER not in json.dumps(r)


@pytest.mark.parametrize("kind", list(AlertKind))
@pytest.mark.parametrize("active", [True, False])
def test_an_alert_round_trips(kind, active):
    a = MedicalAlert(id="al-2", patient="p-1", text="something to know", kind=kind, active=active)
    r = to_fhir(a)
    validate(r)
    assert r["clinicalStatus"]["coding"][0]["code"] == ("active" if active else "inactive")
    assert from_fhir(r) == a and from_fhir(r, expect=MedicalAlert) == a


def test_an_unchanged_alert_keeps_the_servers_json():
    raw = {**to_fhir(LATEX), "meta": {"versionId": "3"}, "note": [{"text": "hives in 2010"}]}
    assert to_fhir(LATEX, base=copy.deepcopy(raw)) == raw
    edited = to_fhir(LATEX.model_copy(update={"active": False}), base=raw)
    assert edited["note"] == raw["note"] and edited["clinicalStatus"]["coding"][0]["code"] == "inactive"


def test_an_alert_is_not_a_chart_mark_on_either_side():
    r = to_fhir(LATEX)
    assert not on_chart(r)  # the client's chart skips it …
    assert _read_marks([r]) == ([], [])  # … without calling it unreadable
    assert derive_mark(r) == ""  # the sandbox's derived chart rows skip it too
    with pytest.raises(FhirMappingError):
        from_fhir(r, expect=ChartMark)


def test_a_tooth_condition_is_still_a_chart_mark_and_not_an_alert():
    mark = ChartMark(id="m-1", patient="p-1", tooth="30", kind="caries", status="cn", surfaces="MO")
    r = build_mark(mark)
    assert on_chart(r) and not is_medical_alert(r) and from_fhir(r) == mark and derive_mark(r)


def test_a_problem_list_condition_from_elsewhere_reads_as_a_condition_alert():
    r = {"resourceType": "Condition", "id": "x-1", "subject": {"reference": "Patient/p-1"},
         "clinicalStatus": {"coding": [{"system": codes.CONDITION_CLINICAL, "code": "active"}]},
         "category": [{"coding": [{"system": codes.CONDITION_CATEGORY, "code": "problem-list-item"}]}],
         "code": {"coding": [{"system": codes.SNOMED, "code": "44054006", "display": "Type 2 diabetes"}]}}
    validate(r)
    a = from_fhir(r)
    assert isinstance(a, MedicalAlert) and a.kind is AlertKind.CONDITION and a.text == "Type 2 diabetes"
    retired = {**r, "verificationStatus": {"coding": [{"system": codes.CONDITION_VER_STATUS,
                                                        "code": "entered-in-error"}]}}
    retired.pop("clinicalStatus")
    assert from_fhir(retired).active is False


def test_bad_alerts_from_the_server_name_the_element():
    r = to_fhir(LATEX)
    with pytest.raises(FhirMappingError) as err:
        from_fhir({**r, "code": {"text": "  "}})
    assert err.value.path == "Condition.code.text"
    bad_kind = copy.deepcopy(r)
    bad_kind["category"][1]["coding"][0]["code"] = "rumour"
    with pytest.raises(FhirMappingError) as err:
        from_fhir(bad_kind)
    assert err.value.path == "Condition.category[1]"
    with pytest.raises(FhirMappingError) as err:
        from_fhir({k: v for k, v in r.items() if k != "subject"})
    assert err.value.path == "Condition.subject"


def test_an_alert_entered_in_error_has_no_clinical_status_and_round_trips():
    wrong = LATEX.model_copy(update={"active": False, "entered_in_error": True})
    r = to_fhir(wrong)
    validate(r)
    assert "clinicalStatus" not in r  # FHIR's con-5
    assert r["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
    back = from_fhir(r)
    assert back == wrong and not back.active and back.entered_in_error
    # built on the server's copy: its other elements stay, the owned ones change
    server = {**to_fhir(LATEX), "meta": {"versionId": "3"}, "note": [{"text": "from the medical history form"}]}
    edited = to_fhir(wrong, base=server)
    assert edited["note"] == server["note"] and edited["meta"] == {"versionId": "3"}
    assert "clinicalStatus" not in edited and from_fhir(edited) == wrong
