"""Refusals: each with the right status, an OperationOutcome, and nothing written."""

from __future__ import annotations

import copy
import datetime as dt

import httpx
import pytest
from helpers import GPID, token_for

from odonto_desk.sandbox.app import ServerConfig
from odonto_desk.sandbox.runner import start_in_thread


def _count(sandbox, rtype: str) -> int:
    return sandbox.server.store.count(rtype)


def test_no_credentials_is_401(sandbox):
    r = httpx.get(f"{sandbox.fhir_base}/Patient")
    assert r.status_code == 401
    assert r.json()["issue"][0]["code"] == "login"
    assert "WWW-Authenticate" in r.headers


@pytest.mark.parametrize("header", ["Bearer nonsense", "Basic abc", "Bearer", "Token x"])
def test_bad_credentials_are_401(sandbox, header):
    assert httpx.get(f"{sandbox.fhir_base}/Patient", headers={"Authorization": header}).status_code == 401


def test_wrong_secret_and_unknown_client(sandbox):
    r = httpx.post(f"{sandbox.base_url}/oauth/token", data={"grant_type": "client_credentials",
                                                          "client_id": "demo-dentist", "client_secret": "nope"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = httpx.post(f"{sandbox.base_url}/oauth/token", data={"grant_type": "password"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


def test_scope_beyond_the_role_is_refused(sandbox):
    r = httpx.post(f"{sandbox.base_url}/oauth/token", data={
        "grant_type": "client_credentials", "client_id": "demo-hygienist", "client_secret": "sandbox-secret-hygienist",
        "scope": "system/Claim.write"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"


def test_least_privilege_token_only_gets_what_it_asked(sandbox, load_example):
    tok = token_for(sandbox.base_url, "front_desk", scope="system/*.read")
    r = httpx.post(f"{sandbox.fhir_base}/Patient", json=load_example("patient.json"),
                   headers={"Authorization": f"Bearer {tok}", "X-Apex-GPID": GPID})
    assert r.status_code == 403
    assert _count(sandbox, "Patient") == 0


def test_wrong_scope_is_403(client_for, sandbox, load_example):
    r = client_for("read_only").post("/Patient", json=load_example("patient.json"))
    assert r.status_code == 403
    assert _count(sandbox, "Patient") == 0


def test_api_key(sandbox):
    r = httpx.get(f"{sandbox.fhir_base}/Patient", headers={"X-API-Key": "apx_sandbox_read_only_key"})
    assert r.status_code == 200
    assert httpx.get(f"{sandbox.fhir_base}/Patient", headers={"X-API-Key": "apx_wrong"}).status_code == 401


def test_revoked_token_is_401(sandbox):
    tok = token_for(sandbox.base_url, "dentist")
    h = {"Authorization": f"Bearer {tok}"}
    assert httpx.get(f"{sandbox.fhir_base}/Patient", headers=h).status_code == 200
    assert httpx.post(f"{sandbox.base_url}/oauth/revoke", data={"token": tok}).status_code == 200
    r = httpx.get(f"{sandbox.fhir_base}/Patient", headers=h)
    assert r.status_code == 401 and "revoked" in r.json()["issue"][0]["diagnostics"]


def test_expired_token_is_401(tmp_path):
    now = [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)]
    running = start_in_thread(ServerConfig(db_path=tmp_path / "db.sqlite", clock=lambda: now[0]))
    try:
        tok = token_for(running.base_url, "dentist")
        h = {"Authorization": f"Bearer {tok}"}
        assert httpx.get(f"{running.fhir_base}/Patient", headers=h).status_code == 200
        now[0] += dt.timedelta(minutes=6)
        r = httpx.get(f"{running.fhir_base}/Patient", headers=h)
        assert r.status_code == 401 and r.json()["issue"][0]["code"] == "expired"
    finally:
        running.stop()


@pytest.mark.parametrize(("gpid", "status"), [(None, 400), ("APX-12", 400), ("APX-99999999", 403)])
def test_gpid_boundary(client_for, sandbox, load_example, gpid, status):
    c = client_for(gpid=None)
    c.headers.pop("X-Apex-GPID", None)
    headers = {"X-Apex-GPID": gpid} if gpid else {}
    r = c.post("/Patient", json=load_example("patient.json"), headers=headers)
    assert r.status_code == status
    assert _count(sandbox, "Patient") == 0


def test_gpid_of_the_subject_is_checked(client_for, sandbox, load_example):
    c = client_for()
    pid = c.post("/Patient", json=load_example("patient.json")).json()["id"]
    cond = copy.deepcopy(load_example("condition-caries-tooth30-mo.json"))
    cond["subject"] = {"reference": f"Patient/{pid}"}
    r = c.post("/Condition", json=cond, headers={"X-Apex-GPID": "APX-00000000"})
    assert r.status_code == 403
    assert _count(sandbox, "Condition") == 0


def test_malformed_and_invalid_bodies(client_for, sandbox, load_example):
    c = client_for()
    assert c.post("/Patient", content=b"{not json", headers={"Content-Type": "application/fhir+json"}).status_code == 400
    assert c.post("/Patient", content=b"[1, 2]").status_code == 400
    bad = copy.deepcopy(load_example("patient.json"))
    bad["birthDate"] = "12/04/1987"
    r = c.post("/Patient", json=bad)
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["Patient.birthDate"]
    r = c.post("/Condition", json=load_example("patient.json"))
    assert r.status_code == 400 and "expected a Condition" in r.json()["issue"][0]["diagnostics"]
    assert _count(sandbox, "Patient") == 0


def test_oversized_body_is_413(client_for, sandbox):
    c = client_for()
    r = c.post("/Patient", content=b"{" + b" " * (9 * 1024 * 1024) + b"}")
    assert r.status_code == 413
    assert _count(sandbox, "Patient") == 0


@pytest.mark.parametrize("path", ["/Patient/..%2F..%2Fetc%2Fpasswd", "/Patient/a%20b", "/Patient/" + "x" * 65,
                                  "/Patient/%00", "/Patient/a;b"])
def test_path_tricks_in_ids(client_for, path):
    r = client_for().get(path)
    assert r.status_code in (400, 404)
    assert r.json()["resourceType"] == "OperationOutcome"


def test_path_tricks_in_put_write_nothing(client_for, sandbox, load_example):
    r = client_for().put("/Patient/..%2Fx", json=load_example("patient.json"))
    assert r.status_code in (400, 404)
    assert r.json()["resourceType"] == "OperationOutcome"
    assert _count(sandbox, "Patient") == 0


def test_unknown_type_is_404(client_for):
    r = client_for().get("/Appointment")
    assert r.status_code == 404 and r.json()["issue"][0]["code"] == "not-supported"


def test_idempotency_key_replays_and_refuses_a_different_body(client_for, sandbox, load_example):
    c = client_for()
    p = load_example("patient.json")
    h = {"Idempotency-Key": "key-0000001"}
    first = c.post("/Patient", json=p, headers=h)
    again = c.post("/Patient", json=p, headers=h)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert first.json()["id"] == again.json()["id"]
    other = c.post("/Patient", json={**p, "gender": "male"}, headers=h)
    assert other.status_code == 422
    assert _count(sandbox, "Patient") == 1


def test_rate_limit_storm_gets_429_with_retry_after(tmp_path):
    running = start_in_thread(ServerConfig(db_path=tmp_path / "db.sqlite", burst=5, per_second=1.0))
    try:
        tok = token_for(running.base_url, "read_only")
        h = {"Authorization": f"Bearer {tok}"}
        with httpx.Client(headers=h) as c:
            codes = [c.get(f"{running.fhir_base}/Patient") for _ in range(12)]
        limited = [r for r in codes if r.status_code == 429]
        assert len(limited) >= 6
        assert int(limited[0].headers["retry-after"]) >= 1
        assert limited[0].headers["ratelimit-limit"] == "2000"
        assert codes[0].headers["ratelimit-remaining"] == "1999"
    finally:
        running.stop()
