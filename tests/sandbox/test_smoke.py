from __future__ import annotations

import httpx


def test_metadata_and_status_over_real_http(sandbox):
    r = httpx.get(f"{sandbox.fhir_base}/metadata")
    assert r.status_code == 200
    assert r.json()["fhirVersion"] == "4.0.1"
    assert httpx.get(f"{sandbox.base_url}/status").json()["status"] == "operational"


def test_patient_create_and_read(client_for, load_example):
    c = client_for("front_desk")
    r = c.post("/Patient", json=load_example("patient.json"))
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    got = c.get(f"/Patient/{pid}")
    assert got.status_code == 200
    assert got.headers["etag"] == 'W/"1"'
    assert got.json()["identifier"][0]["value"] == "APX-1A2B3C4D"
