"""The perio section of GET/PUT /odonto/v1/chart/{gpid}: exams stored as their Observations (a panel
and one per value), saved over what is stored (created, updated, cleared values retired, nothing
deleted), sections omitted from the body left untouched, bad values refused with their path."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from helpers import GPID

from odonto_desk.domain.perio import Flag, PerioExam, Site
from odonto_desk.fhir.resources.perio import member_id


@pytest.fixture
def chart(sandbox, client_for, load_example):
    c = client_for("admin")
    r = c.post("/Patient", json=load_example("patient.json"))
    assert r.status_code == 201
    api = httpx.Client(base_url=f"{sandbox.base_url}/odonto/v1", headers=dict(c.headers), timeout=10)
    yield api, c, r.json()["id"]
    api.close()


def _exam(pid: str, exam_id: str = "exam-1") -> PerioExam:
    exam = PerioExam(id=exam_id, patient=pid, date=dt.date(2026, 11, 25), note="recall")
    exam.set_pd(3, Site.MB, 5)
    exam.set_pd(3, Site.B, 2)
    exam.set_gm(3, Site.MB, 1)
    exam.set_flag(3, Site.MB, Flag.BLEEDING)
    exam.set_mobility(30, 1)
    exam.set_furcation(30, "B", 2)
    exam.mark_missing(1)
    return exam


def _put(api, body, etag):
    return api.put(f"/chart/{GPID}", json=body, headers={"If-Match": etag})


def _observations(fhir, pid):
    bundle = fhir.get("/Observation", params={"patient": pid, "_count": 500}).json()
    return {e["resource"]["id"]: e["resource"] for e in bundle.get("entry") or []}


def test_put_then_get_round_trips_the_exam_as_observations_with_the_ids_sent(chart, sandbox):
    api, fhir, pid = chart
    r = api.get(f"/chart/{GPID}")
    assert r.json()["perio_exams"] == []
    exam = _exam(pid)
    r = _put(api, {"perio_exams": [exam.to_dict()]}, r.headers["etag"])
    assert r.status_code == 200, r.text
    assert [PerioExam.from_dict(e) for e in r.json()["perio_exams"]] == [exam]
    got = api.get(f"/chart/{GPID}")
    assert got.headers["etag"] == r.headers["etag"]
    assert [PerioExam.from_dict(e) for e in got.json()["perio_exams"]] == [exam]
    # FHIR clients see the panel (with the exam's id) and one Observation per value, ids derived from it.
    stored = _observations(fhir, pid)
    panel = stored["exam-1"]
    members = {m["reference"].split("/")[1] for m in panel["hasMember"]}
    assert members == set(stored) - {"exam-1"}
    assert member_id("exam-1", "pd-3-mb") in members and member_id("exam-1", "state-1") in members
    assert stored[member_id("exam-1", "pd-3-mb")]["valueQuantity"]["value"] == 5
    assert len(members) == 7  # PD ×2, GM, bleeding, mobility, furcation, tooth 1 missing
    # every write is in the server's audit trail
    assert sandbox.server.audit.entries("Observation", "exam-1")[-1].action == "create"
    assert all(sandbox.server.audit.entries("Observation", m) for m in members)


def test_a_second_save_updates_what_changed_and_retires_what_was_cleared(chart, sandbox):
    api, fhir, pid = chart
    exam = _exam(pid)
    etag = _put(api, {"perio_exams": [exam.to_dict()]}, api.get(f"/chart/{GPID}").headers["etag"]).headers["etag"]
    before = _observations(fhir, pid)
    exam.set_pd(3, Site.B, None)  # cleared
    exam.set_pd(3, Site.MB, 6)  # changed
    exam.set_pd(14, Site.L, 4)  # new
    r = _put(api, {"perio_exams": [exam.to_dict()]}, etag)
    assert r.status_code == 200, r.text
    assert [PerioExam.from_dict(e) for e in r.json()["perio_exams"]] == [exam]
    after = _observations(fhir, pid)
    cleared = after[member_id("exam-1", "pd-3-b")]
    assert cleared["status"] == "entered-in-error" and cleared["meta"]["versionId"] == "2"  # kept, marked
    assert after[member_id("exam-1", "pd-3-mb")]["valueQuantity"]["value"] == 6
    assert after[member_id("exam-1", "pd-14-l")]["meta"]["versionId"] == "1"
    unchanged = member_id("exam-1", "gm-3-mb")
    assert after[unchanged]["meta"]["versionId"] == before[unchanged]["meta"]["versionId"] == "1"
    assert set(before) <= set(after)  # nothing deleted
    assert [e.action for e in sandbox.server.audit.entries("Observation", member_id("exam-1", "pd-3-b"))] == \
        ["create", "update"]
    # typed again: the retired value comes back as a new version of the same Observation
    exam.set_pd(3, Site.B, 3)
    r = _put(api, {"perio_exams": [exam.to_dict()]}, r.headers["etag"])
    back = _observations(fhir, pid)[member_id("exam-1", "pd-3-b")]
    assert back["status"] == "final" and back["valueQuantity"]["value"] == 3 and back["meta"]["versionId"] == "3"


def test_sections_and_exams_left_out_of_the_body_are_untouched(chart):
    api, _, pid = chart
    etag = api.get(f"/chart/{GPID}").headers["etag"]
    mark = {"id": "m-1", "tooth": "30", "kind": "caries", "status": "cn", "surfaces": ["M", "O"]}
    etag = _put(api, {"marks": [mark]}, etag).headers["etag"]
    first, second = _exam(pid, "exam-1"), _exam(pid, "exam-2")
    second.date = dt.date(2026, 12, 1)
    r = _put(api, {"perio_exams": [first.to_dict(), second.to_dict()]}, etag)
    assert r.status_code == 200, r.text
    assert [m["id"] for m in r.json()["marks"]] == ["m-1"]  # a perio save leaves the marks
    second.set_pd(5, Site.DB, 7)
    r = _put(api, {"perio_exams": [second.to_dict()]}, r.headers["etag"])  # exam-1 not sent
    assert [PerioExam.from_dict(e) for e in r.json()["perio_exams"]] == [first, second]
    r = _put(api, {"marks": []}, r.headers["etag"])  # a mark save leaves the perio exams
    assert r.json()["marks"] == []
    assert [PerioExam.from_dict(e) for e in api.get(f"/chart/{GPID}").json()["perio_exams"]] == [first, second]




@pytest.mark.parametrize(("change", "expression"), [
    (lambda e: e["sites"].append({"tooth": "20", "site": "B", "pd": 25}), "perio_exams[0].sites[{n}].pd"),
    (lambda e: e["sites"].append({"tooth": "33", "site": "B", "pd": 2}), "perio_exams[0].sites[{n}].tooth"),
    (lambda e: e["sites"].append({"tooth": "1", "site": "B", "pd": 2}), "perio_exams[0].sites[{n}].tooth"),
    (lambda e: e["sites"].append({"tooth": "20", "site": "B", "gm": -11}), "perio_exams[0].sites[{n}].gm"),
    (lambda e: e["mobility"].append({"tooth": "1", "grade": 1, "scale": "miller"}),
     "perio_exams[0].mobility[1].tooth"),
    (lambda e: e.update(id="../x"), "perio_exams[0].id"),
    (lambda e: e.update(date=None), "perio_exams[0].date"),
])
def test_a_bad_value_refuses_the_whole_document_and_nothing_is_written(chart, change, expression):
    api, fhir, pid = chart
    got = api.get(f"/chart/{GPID}")
    exam = _exam(pid, "exam-9").to_dict()
    for n in range(10):  # good sites first, so the bad one is at sites[12]
        exam["sites"].append({"tooth": str(5 + n), "site": "B", "pd": 3})
    n = len(exam["sites"])
    assert n == 12
    change(exam)
    mark = {"id": "m-1", "tooth": "30", "kind": "caries", "status": "cn", "surfaces": ["M", "O"]}
    r = _put(api, {"marks": [mark], "perio_exams": [_exam(pid, "exam-ok").to_dict(), exam][::-1]}, got.headers["etag"])
    assert r.status_code == 400, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert r.json()["issue"][0]["expression"] == [expression.format(n=n)]
    again = api.get(f"/chart/{GPID}")
    assert again.json()["marks"] == [] and again.json()["perio_exams"] == []
    assert again.headers["etag"] == got.headers["etag"]
    assert _observations(fhir, pid) == {}


def test_an_exam_id_taken_by_another_observation_is_refused(chart):
    api, fhir, pid = chart
    lab = {"resourceType": "Observation", "id": "taken", "status": "final",
           "code": {"text": "blood pressure"}, "subject": {"reference": f"Patient/{pid}"}}
    assert fhir.put("/Observation/taken", json=lab).status_code in (200, 201)
    r = _put(api, {"perio_exams": [_exam(pid, "taken").to_dict()]}, api.get(f"/chart/{GPID}").headers["etag"])
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["perio_exams[0].id"]
    assert fhir.get("/Observation/taken").json()["code"] == {"text": "blood pressure"}


def test_the_etag_covers_perio_and_a_stale_one_is_refused(chart):
    api, fhir, pid = chart
    etag0 = api.get(f"/chart/{GPID}").headers["etag"]
    exam = _exam(pid)
    etag1 = _put(api, {"perio_exams": [exam.to_dict()]}, etag0).headers["etag"]
    assert etag1 != etag0
    exam.set_pd(3, Site.MB, 9)
    r = _put(api, {"perio_exams": [exam.to_dict()]}, etag0)
    assert r.status_code == 412
    # a change to one value over plain FHIR moves the ETag too
    obs = fhir.get(f"/Observation/{member_id('exam-1', 'pd-3-mb')}").json()
    obs["valueQuantity"]["value"] = 4
    assert fhir.put(f"/Observation/{obs['id']}", json=obs).status_code == 200
    assert api.get(f"/chart/{GPID}").headers["etag"] != etag1
    assert _put(api, {"perio_exams": [exam.to_dict()]}, etag1).status_code == 412
    assert PerioExam.from_dict(api.get(f"/chart/{GPID}").json()["perio_exams"][0]).pd(3, Site.MB) == 4
