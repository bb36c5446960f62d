"""GET/PUT /odonto/v1/chart/{gpid}: the odontogram as one document, with ETag / If-Match."""

from __future__ import annotations

import httpx
import pytest
from helpers import GPID


@pytest.fixture
def chart(sandbox, client_for, load_example):
    c = client_for("admin")
    r = c.post("/Patient", json=load_example("patient.json"))
    assert r.status_code == 201
    api = httpx.Client(base_url=f"{sandbox.base_url}/odonto/v1", headers=dict(c.headers), timeout=10)
    yield api, c
    api.close()


def _mark(**kw):
    return {"tooth": "30", "kind": "filling", "status": "tp", "surfaces": ["M", "O"], "material": "composite",
            "code": "D2392", **kw}


def test_empty_chart_then_put_and_get(chart):
    api, fhir = chart
    r = api.get(f"/chart/{GPID}")
    assert r.status_code == 200 and r.json()["marks"] == []
    etag = r.headers["etag"]
    marks = [_mark(id="m-1"), {"id": "m-2", "tooth": "30", "kind": "caries", "status": "cn", "surfaces": "MO"}]
    r = api.put(f"/chart/{GPID}", json={"marks": marks}, headers={"If-Match": etag})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert {m["id"] for m in doc["marks"]} == {"m-1", "m-2"}
    assert r.headers["etag"] != etag
    # FHIR clients see the same chart.
    assert fhir.get("/ServiceRequest/m-1").json()["code"]["coding"][0]["code"] == "D2392"
    assert fhir.get("/Condition/m-2").status_code == 200


def test_put_needs_if_match_and_refuses_stale(chart):
    api, _ = chart
    etag = api.get(f"/chart/{GPID}").headers["etag"]
    assert api.put(f"/chart/{GPID}", json={"marks": []}).status_code == 428
    assert api.put(f"/chart/{GPID}", json={"marks": [_mark(id="a")]}, headers={"If-Match": etag}).status_code == 200
    r = api.put(f"/chart/{GPID}", json={"marks": [_mark(id="b")]}, headers={"If-Match": etag})
    assert r.status_code == 412
    assert [m["id"] for m in api.get(f"/chart/{GPID}").json()["marks"]] == ["a"]


def test_status_change_moves_the_mark_and_removal_is_a_tombstone(chart):
    api, fhir = chart
    etag = api.get(f"/chart/{GPID}").headers["etag"]
    etag = api.put(f"/chart/{GPID}", json={"marks": [_mark(id="x")]}, headers={"If-Match": etag}).headers["etag"]
    r = api.put(f"/chart/{GPID}", json={"marks": [_mark(id="x", status="c", date="2026-11-25")]},
                headers={"If-Match": etag})
    assert r.status_code == 200
    assert fhir.get("/ServiceRequest/x").status_code == 410
    assert fhir.get("/Procedure/x").json()["status"] == "completed"
    r = api.put(f"/chart/{GPID}", json={"marks": []}, headers={"If-Match": r.headers["etag"]})
    assert r.json()["marks"] == []
    assert fhir.get("/Procedure/x").status_code == 410
    assert fhir.get("/Procedure/x/_history/1").status_code == 200


@pytest.mark.parametrize(("mark", "expression"), [
    (_mark(id="t", tooth="33"), "marks[0].tooth"),
    (_mark(id="t", tooth="8", surfaces=["O"]), "marks[0].surfaces"),
    (_mark(id="t", surfaces=["M", "O", "D"]), "marks[0].surfaces"),
    (_mark(id="../x"), "marks[0].id"),
])
def test_bad_marks_refuse_the_whole_document(chart, mark, expression):
    api, _ = chart
    etag = api.get(f"/chart/{GPID}").headers["etag"]
    r = api.put(f"/chart/{GPID}", json={"marks": [_mark(id="good"), mark][::-1]}, headers={"If-Match": etag})
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == [expression]
    assert api.get(f"/chart/{GPID}").json()["marks"] == []


def test_unknown_gpid_and_wrong_header(chart):
    api, _ = chart
    assert api.get("/chart/APX-00000000").status_code == 404
    assert api.get("/chart/nope").status_code == 400
    etag = api.get(f"/chart/{GPID}").headers["etag"]
    r = api.put(f"/chart/{GPID}", json={"marks": []}, headers={"If-Match": etag, "X-Apex-GPID": "APX-00000000"})
    assert r.status_code == 403


def test_a_mark_changed_over_plain_fhir_shows_in_the_next_chart_read(chart):
    api, fhir = chart
    etag = api.get(f"/chart/{GPID}").headers["etag"]
    api.put(f"/chart/{GPID}", json={"marks": [_mark(id="m-1")]}, headers={"If-Match": etag})
    assert api.get(f"/chart/{GPID}").json()["marks"][0]["surfaces"] == ["M", "O"]  # derived row now cached
    sr = fhir.get("/ServiceRequest/m-1").json()
    sr["note"] = [{"text": "patient asked to wait until June"}]
    sub = fhir.put("/ServiceRequest/m-1", json=sr, headers={"If-Match": 'W/"1"'})
    assert sub.status_code == 200, sub.text
    assert api.get(f"/chart/{GPID}").json()["marks"][0]["note"] == "patient asked to wait until June"
