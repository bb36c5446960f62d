"""POST /odonto/v1/treatment-plans, /procedures/post and /lab/orders over real HTTP."""

from __future__ import annotations

import copy

import httpx
import pytest

from odonto_desk.domain.chart import ChartMark
from odonto_desk.fhir import codes
from odonto_desk.fhir.mapping import to_fhir


@pytest.fixture
def ops(sandbox, client_for, load_example):
    fhir = client_for("admin")
    pid = fhir.post("/Patient", json=load_example("patient.json")).json()["id"]
    api = httpx.Client(base_url=f"{sandbox.base_url}/odonto/v1", headers=dict(fhir.headers), timeout=10)
    yield api, fhir, pid
    api.close()


def _plan(load_example, pid: str) -> dict:
    plan = copy.deepcopy(load_example("careplan-treatment-plan.json"))
    plan["subject"] = {"reference": f"Patient/{pid}"}
    plan.pop("identifier")
    plan.pop("addresses")
    plan["activity"][0]["detail"].pop("reasonReference")
    return plan


def _item(pid: str, mark_id: str, tooth: str = "30") -> dict:
    mark = ChartMark(id=mark_id, patient=pid, tooth=tooth, kind="filling", status="tp", surfaces="MO",
                     material="composite", code="D2392")
    return to_fhir(mark)


def _key(n: int) -> dict:
    return {"Idempotency-Key": f"test-key-{n:06d}"}


def test_plan_gets_an_apex_id_and_items_are_stored(ops, load_example):
    api, fhir, pid = ops
    r = api.post("/treatment-plans", json={"care_plan": _plan(load_example, pid),
                                           "service_requests": [_item(pid, "sr-1"), _item(pid, "sr-2", "19")]},
                 headers=_key(1))
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["care_plan_id"] == "CP-001"
    assert [s["id"] for s in out["service_requests"]] == ["sr-1", "sr-2"]
    stored = fhir.get(f"/CarePlan/{out['id']}").json()
    assert {"system": codes.CARE_PLAN_ID_SYSTEM, "value": "CP-001"} in stored["identifier"]
    assert fhir.get("/ServiceRequest/sr-2").json()["bodySite"][0]["coding"][0]["code"] == "19"
    again = api.post("/treatment-plans", json={"care_plan": _plan(load_example, pid)}, headers=_key(2))
    assert again.json()["care_plan_id"] == "CP-001"  # a new version of the same plan keeps its number
    other = api.post("/treatment-plans", json={"care_plan": {**_plan(load_example, pid), "id": "odonto-tp-2"}},
                     headers=_key(11))
    assert other.json()["care_plan_id"] == "CP-002"


def test_repeat_with_same_key_writes_nothing(ops, load_example, sandbox):
    api, _, pid = ops
    body = {"care_plan": _plan(load_example, pid)}
    a = api.post("/treatment-plans", json=body, headers=_key(3))
    b = api.post("/treatment-plans", json=body, headers=_key(3))
    assert a.json() == b.json() and b.headers["idempotent-replayed"] == "true"
    assert sandbox.server.store.count("CarePlan") == 1
    assert api.post("/treatment-plans", json={**body, "extra": 1}, headers=_key(3)).status_code == 422


def test_key_is_required(ops, load_example, sandbox):
    api, _, pid = ops
    r = api.post("/treatment-plans", json={"care_plan": _plan(load_example, pid)})
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["issue"][0]["diagnostics"]
    assert sandbox.server.store.count("CarePlan") == 0


def test_a_bad_item_refuses_the_whole_plan(ops, load_example, sandbox):
    api, _, pid = ops
    bad = _item(pid, "sr-bad")
    bad["extension"][1]["valueCoding"]["code"] = "33"
    r = api.post("/treatment-plans", json={"care_plan": _plan(load_example, pid),
                                           "service_requests": [_item(pid, "sr-ok"), bad]}, headers=_key(4))
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"][0].startswith("service_requests[1].")
    assert sandbox.server.store.count("CarePlan") == 0 and sandbox.server.store.count("ServiceRequest") == 0


def test_posting_completes_planned_items_once(ops, load_example, sandbox):
    api, fhir, pid = ops
    api.post("/treatment-plans", json={"care_plan": _plan(load_example, pid),
                                       "service_requests": [_item(pid, "sr-9")]}, headers=_key(5))
    proc = copy.deepcopy(load_example("procedure-d2392-tooth30-mo.json"))
    proc["subject"] = {"reference": f"Patient/{pid}"}
    proc.pop("basedOn")
    proc.pop("reasonReference")
    charge = {"resourceType": "ChargeItem", "id": "ch-1", "status": "billable",
              "code": {"coding": [{"system": codes.CDT, "code": "D2392"}]},
              "subject": {"reference": f"Patient/{pid}"}, "service": [{"reference": f"Procedure/{proc['id']}"}],
              "priceOverride": {"value": 210.0, "currency": "USD"}}
    body = {"procedures": [proc], "charge_items": [charge], "completes": ["sr-9"]}
    first = api.post("/procedures/post", json=body, headers=_key(6))
    again = api.post("/procedures/post", json=body, headers=_key(6))  # the double click
    assert first.status_code == again.status_code == 201, first.text
    assert first.json()["completed"] == ["sr-9"]
    assert fhir.get("/ServiceRequest/sr-9").json()["status"] == "completed"
    assert sandbox.server.store.count("Procedure") == 1 and sandbox.server.store.count("ChargeItem") == 1
    assert fhir.get(f"/Procedure/{proc['id']}").json()["meta"]["versionId"] == "1"


def test_lab_order_gets_a_task(ops, load_example):
    api, fhir, pid = ops
    org = fhir.post("/Organization", json={"resourceType": "Organization", "name": "Crown Lab"}).json()["id"]
    sr = {"resourceType": "ServiceRequest", "id": "lab-1", "status": "active", "intent": "order",
          "category": [{"coding": [{"system": codes.CS_SERVICE_CATEGORY, "code": "lab_appliance"}]}],
          "code": {"coding": [{"system": codes.CDT, "code": "D2740"}], "text": "Zirconia crown #19"},
          "subject": {"reference": f"Patient/{pid}"}, "performer": [{"reference": f"Organization/{org}"}],
          "occurrenceDateTime": "2026-12-04"}
    r = api.post("/lab/orders", json={"service_request": sr}, headers=_key(7))
    assert r.status_code == 201, r.text
    task = fhir.get(f"/Task/{r.json()['task']['id']}").json()
    assert task["focus"]["reference"] == "ServiceRequest/lab-1" and task["status"] == "requested"
    no_lab = {**sr, "id": "lab-2", "category": []}
    assert api.post("/lab/orders", json={"service_request": no_lab}, headers=_key(8)).status_code == 400


def test_scope_and_gpid_are_enforced(ops, load_example, client_for, sandbox):
    api, _, pid = ops
    hyg = client_for("hygienist")
    r = httpx.post(f"{sandbox.base_url}/odonto/v1/treatment-plans", json={"care_plan": _plan(load_example, pid)},
                   headers={**dict(hyg.headers), **_key(9)})
    assert r.status_code == 403
    r = api.post("/treatment-plans", json={"care_plan": _plan(load_example, pid)},
                 headers={**_key(10), "X-Apex-GPID": "APX-00000000"})
    assert r.status_code == 403
    assert sandbox.server.store.count("CarePlan") == 0
