"""FHIR REST behaviour of the reference server, over real HTTP on loopback."""

from __future__ import annotations

import copy
import threading

import httpx
import pytest
from helpers import GPID

PATIENT_URL = "Patient"


def _patient(c: httpx.Client, load_example, gpid: str = GPID) -> str:
    p = copy.deepcopy(load_example("patient.json"))
    p["identifier"][0]["value"] = gpid
    r = c.post("/Patient", json=p, headers={"X-Apex-GPID": gpid})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _condition(load_example, pid: str) -> dict:
    cond = copy.deepcopy(load_example("condition-caries-tooth30-mo.json"))
    cond["subject"] = {"reference": f"Patient/{pid}"}
    cond.pop("id")
    return cond


def test_create_read_vread_update_with_versions(client_for, load_example):
    c = client_for()
    pid = _patient(c, load_example)
    r = c.post("/Condition", json=_condition(load_example, pid))
    assert r.status_code == 201
    assert r.headers["location"].endswith("/_history/1")
    cid = r.json()["id"]
    body = r.json()
    body["note"] = [{"text": "rechecked"}]
    r2 = c.put(f"/Condition/{cid}", json=body, headers={"If-Match": 'W/"1"'})
    assert r2.status_code == 200 and r2.headers["etag"] == 'W/"2"'
    assert r2.headers["last-modified"]
    assert c.get(f"/Condition/{cid}/_history/1").json()["note"][0]["text"].startswith("Radiolucency")
    assert c.get(f"/Condition/{cid}").json()["note"] == [{"text": "rechecked"}]


def test_stale_if_match_is_412_and_nothing_changes(client_for, load_example):
    c = client_for()
    pid = _patient(c, load_example)
    cid = c.post("/Condition", json=_condition(load_example, pid)).json()["id"]
    cur = c.get(f"/Condition/{cid}").json()
    assert c.put(f"/Condition/{cid}", json={**cur, "note": [{"text": "a"}]}, headers={"If-Match": 'W/"1"'}).status_code == 200
    r = c.put(f"/Condition/{cid}", json={**cur, "note": [{"text": "b"}]}, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 412
    assert r.json()["resourceType"] == "OperationOutcome"
    assert c.get(f"/Condition/{cid}").json()["note"] == [{"text": "a"}]


def test_delete_is_a_tombstone(client_for, load_example):
    c = client_for()
    pid = _patient(c, load_example)
    cid = c.post("/Condition", json=_condition(load_example, pid)).json()["id"]
    assert c.delete(f"/Condition/{cid}").status_code == 204
    assert c.get(f"/Condition/{cid}").status_code == 410
    hist = c.get(f"/Condition/{cid}/_history").json()["entry"]
    assert [e["request"]["method"] for e in hist] == ["DELETE", "POST"]
    assert c.get(f"/Condition/{cid}/_history/1").status_code == 200  # the old version is kept
    assert c.get("/Condition", params={"_id": cid}).json()["entry"] == []


def test_conditional_create(client_for, load_example):
    c = client_for()
    pid = _patient(c, load_example)
    cond = _condition(load_example, pid)
    cond["identifier"] = [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:7b0b8c2e-4b36-4f5e-9d4a-1f1f0f6c3a11"}]
    cond_header = {"If-None-Exist": "identifier=urn:ietf:rfc:3986|urn:uuid:7b0b8c2e-4b36-4f5e-9d4a-1f1f0f6c3a11"}
    first = c.post("/Condition", json=cond, headers=cond_header)
    second = c.post("/Condition", json=cond, headers=cond_header)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert len(c.get("/Condition", params={"patient": pid}).json()["entry"]) == 1


def test_transaction_is_atomic_when_one_if_match_is_stale(client_for, load_example):
    c = client_for()
    pid = _patient(c, load_example)
    a = c.post("/Condition", json=_condition(load_example, pid)).json()
    b = c.post("/Condition", json=_condition(load_example, pid)).json()
    c.put(f"/Condition/{b['id']}", json={**b, "note": [{"text": "moved on"}]})  # b is now at version 2
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {**a, "note": [{"text": "tx-a"}]}, "request": {"method": "PUT", "url": f"Condition/{a['id']}",
                                                                   "ifMatch": 'W/"1"'}},
        {"resource": _condition(load_example, pid), "request": {"method": "POST", "url": "Condition"}},
        {"resource": {**b, "note": [{"text": "tx-b"}]}, "request": {"method": "PUT", "url": f"Condition/{b['id']}",
                                                                   "ifMatch": 'W/"1"'}},
    ]}
    before = len(c.get("/Condition", params={"patient": pid, "_count": 100}).json()["entry"])
    r = c.post("", json=bundle)
    assert r.status_code == 412
    assert "entry[2]" in r.json()["issue"][0]["expression"][0]
    assert c.get(f"/Condition/{a['id']}").json()["meta"]["versionId"] == "1"
    assert len(c.get("/Condition", params={"patient": pid, "_count": 100}).json()["entry"]) == before


def test_transaction_resolves_placeholders(client_for, load_example):
    c = client_for(gpid="APX-22222222")
    p = copy.deepcopy(load_example("patient.json"))
    p["identifier"][0]["value"] = "APX-22222222"
    cond = _condition(load_example, "x")
    cond["subject"] = {"reference": "urn:uuid:11111111-2222-3333-4444-555555555555"}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": cond, "request": {"method": "POST", "url": "Condition"}},
        {"fullUrl": "urn:uuid:11111111-2222-3333-4444-555555555555", "resource": p,
         "request": {"method": "POST", "url": "Patient"}}]}
    r = c.post("", json=bundle)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["type"] == "transaction-response"
    cond_loc, pat_loc = (e["response"]["location"] for e in out["entry"])
    pid = pat_loc.split("/")[1]
    got = c.get("/" + cond_loc.split("/_history")[0]).json()
    assert got["subject"]["reference"] == f"Patient/{pid}"


def test_batch_entries_succeed_or_fail_alone(client_for, load_example):
    c = client_for()
    pid = _patient(c, load_example)
    bad = _condition(load_example, pid)
    bad["clinicalStatus"]["coding"][0]["code"] = "sleeping"
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": _condition(load_example, pid), "request": {"method": "POST", "url": "Condition"}},
        {"resource": bad, "request": {"method": "POST", "url": "Condition"}}]}
    r = c.post("", json=bundle)
    assert r.status_code == 200
    statuses = [e["response"]["status"] for e in r.json()["entry"]]
    assert statuses[0].startswith("201") and statuses[1] == "400"


def test_paging_has_no_loss_or_duplicates_while_writes_happen(client_for, load_example):
    c = client_for()
    pid = _patient(c, load_example)
    ids = set()
    for _ in range(45):
        ids.add(c.post("/Condition", json=_condition(load_example, pid)).json()["id"])
    writer = client_for()
    stop = threading.Event()

    def write_more() -> None:
        n = 0
        while not stop.is_set() and n < 60:
            cur = writer.get(f"/Condition/{sorted(ids)[n % len(ids)]}").json()
            writer.put(f"/Condition/{cur['id']}", json={**cur, "note": [{"text": f"edit {n}"}]})
            writer.post("/Condition", json=_condition(load_example, pid))
            n += 1

    t = threading.Thread(target=write_more)
    seen: list[str] = []
    url = "/Condition?patient=" + pid + "&_count=7"
    t.start()
    try:
        while url:
            page = c.get(url).json()
            seen += [e["resource"]["id"] for e in page["entry"]]
            nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
            url = nxt[0].replace(c.base_url.__str__().rstrip("/"), "") if nxt else ""
    finally:
        stop.set()
        t.join()
    assert len(seen) == len(set(seen)), "a resource came twice"
    assert ids <= set(seen), "a resource that existed before paging started was lost"


def test_last_updated_filters_and_sort(client_for, load_example):
    c = client_for()
    pid = _patient(c, load_example)
    first = c.post("/Condition", json=_condition(load_example, pid)).json()
    second = c.post("/Condition", json=_condition(load_example, pid)).json()
    since = first["meta"]["lastUpdated"]
    got = c.get("/Condition", params={"_lastUpdated": f"gt{since}"}).json()["entry"]
    assert [e["resource"]["id"] for e in got] == [second["id"]]
    desc = c.get("/Condition", params={"_sort": "-_lastUpdated"}).json()["entry"]
    assert [e["resource"]["id"] for e in desc][:2] == [second["id"], first["id"]]


@pytest.mark.parametrize("params", [{"bodysite": "30"}, {"_sort": "name"}, {"_count": "x"},
                                    {"_lastUpdated": "gtyesterday"}])
def test_unsupported_or_bad_search_is_400(client_for, params):
    r = client_for().get("/Condition", params=params)
    assert r.status_code == 400
    assert r.json()["resourceType"] == "OperationOutcome"


def test_type_history_and_system_history(client_for, load_example):
    c = client_for()
    pid = _patient(c, load_example)
    cid = c.post("/Condition", json=_condition(load_example, pid)).json()["id"]
    types = {e["fullUrl"].split("/")[-2] for e in c.get("/_history").json()["entry"]}
    assert {"Patient", "Condition"} <= types
    assert c.get("/Condition/_history").json()["entry"][0]["fullUrl"].endswith(cid)


@pytest.mark.parametrize("query", ["_count=", "_count=x", "_count=1001", "_since="])
def test_history_refuses_a_blank_or_bad_parameter_rather_than_ignoring_it(client_for, query):
    c = client_for()
    for path in ("/_history", "/Condition/_history"):
        r = c.get(f"{path}?{query}")
        assert r.status_code == 400, (path, query, r.status_code)
        assert r.json()["resourceType"] == "OperationOutcome"
