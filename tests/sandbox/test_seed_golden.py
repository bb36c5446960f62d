"""The demo seed and the golden bundle: every one of the 16 types, loaded as one transaction."""

from __future__ import annotations

import json
from importlib import resources

import httpx
import pytest
from helpers import token_for

from odonto_desk.fhir import codes
from odonto_desk.fhir.validate import ODONTO_TYPES, validate
from odonto_desk.sandbox.seed import GOLDEN_NAME, demo_resources, golden_bundle, seed_demo_if_empty


def _committed() -> dict:
    return json.loads(resources.files("odonto_desk.resources").joinpath(GOLDEN_NAME).read_text(encoding="utf-8"))


def test_the_committed_golden_bundle_is_what_the_demo_makes():
    # Regenerate with: python -m odonto_desk.sandbox.seed odonto_desk/resources/odonto-golden-bundle.r4.json
    assert _committed() == golden_bundle()


def test_the_golden_bundle_covers_the_contract():
    bundle = _committed()
    res = [e["resource"] for e in bundle["entry"]]
    assert bundle["type"] == "transaction"
    assert {r["resourceType"] for r in res} >= set(ODONTO_TYPES) and len(ODONTO_TYPES) == 16
    gpids = {i["value"] for r in res if r["resourceType"] == "Patient" for i in r["identifier"]
             if i["system"] == codes.GPID_SYSTEM}
    assert len(gpids) >= 2
    text = json.dumps(bundle)
    assert codes.EXT_TOOTH_NUMBER in text and codes.EXT_TOOTH_SURFACE in text
    claim = next(r for r in res if r["resourceType"] == "Claim")
    assert claim["type"]["coding"][0]["code"] == "oral" and claim["item"][0]["bodySite"]
    assert any(r["resourceType"] == "ClaimResponse" for r in res)
    plan = next(r for r in res if r["resourceType"] == "CarePlan")
    assert "alternate" in json.dumps(plan)  # the crown on 19 and its onlay alternate
    lab = [r for r in res if r["resourceType"] == "ServiceRequest" and "lab_appliance" in json.dumps(r)]
    assert len(lab) == 1
    assert any(r["resourceType"] == "ImagingStudy" for r in res)


def _strip_meta(r: dict) -> dict:
    return {k: v for k, v in r.items() if k != "meta"}


def test_the_golden_bundle_loads_as_one_transaction_and_reads_back_equal(sandbox):
    bundle = _committed()
    res = [e["resource"] for e in bundle["entry"]]
    gpids = sorted({i["value"] for r in res if r["resourceType"] == "Patient" for i in r["identifier"]
                    if i["system"] == codes.GPID_SYSTEM})
    headers = {"Authorization": f"Bearer {token_for(sandbox.base_url, 'admin')}"}
    with httpx.Client(base_url=sandbox.fhir_base, headers=headers, timeout=60) as c:
        r = c.post("", json=bundle, headers={"X-Apex-GPID": ",".join(gpids)})
        assert r.status_code == 200, r.text[:500]
        answers = r.json()["entry"]
        assert len(answers) == len(res) and all(a["response"]["status"].startswith("201") for a in answers)
        stored = {}
        for rtype in sorted({x["resourceType"] for x in res}):  # one search a type: inside the rate limit
            page = c.get(f"/{rtype}", params={"_count": 1000}).json()
            assert not [link for link in page.get("link", []) if link["relation"] == "next"]
            stored |= {(rtype, e["resource"]["id"]): _strip_meta(e["resource"]) for e in page.get("entry", [])}
        assert stored == {(x["resourceType"], x["id"]): _strip_meta(x) for x in res}


def test_a_bundle_for_two_patients_needs_both_gpids(sandbox):
    bundle = _committed()
    one = next(i["value"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
               for i in e["resource"]["identifier"] if i["system"] == codes.GPID_SYSTEM)
    headers = {"Authorization": f"Bearer {token_for(sandbox.base_url, 'admin')}", "X-Apex-GPID": one}
    with httpx.Client(base_url=sandbox.fhir_base, headers=headers, timeout=60) as c:
        assert c.post("", json=bundle).status_code == 403
        assert not c.get("/Patient").json().get("entry")  # nothing was written


@pytest.fixture
def seeded(sandbox):
    return sandbox, seed_demo_if_empty(sandbox.server)


def test_every_resource_the_seed_writes_validates(seeded):
    # The seed does not validate (it took most of a first start): this is where its content is checked.
    sandbox, written = seeded
    resources = demo_resources(validated=False)
    for r in resources:
        validate(r)  # R4B structure and our code rules; raises naming the resource and element
    assert written == len(resources) == sandbox.server.store.count()
    assert len({(r["resourceType"], r["id"]) for r in resources}) == written


def test_the_demo_seed_writes_once_and_the_charts_read(seeded):
    sandbox, written = seeded
    assert written > 2000
    assert seed_demo_if_empty(sandbox.server) == 0
    headers = {"Authorization": f"Bearer {token_for(sandbox.base_url, 'dentist')}"}
    doc = httpx.get(f"{sandbox.base_url}/odonto/v1/chart/APX-1A2B3C4D", headers=headers).json()
    assert {m["tooth"] for m in doc["marks"]} >= {"30", "19", "8"}
    seeded_rows = [e for e in sandbox.server.audit.entries("Patient") if e.actor == "seed"]
    assert len(seeded_rows) == 3
