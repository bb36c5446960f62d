"""Demo data for the reference server: the few patients the app starts with, and large sets.

``demo_resources()`` turns the domain's demo practice (``odonto_desk.domain.demo``) into FHIR
resources through the same mappers the client uses, in write order (organizations and people
first, then each patient's record). ``seed_demo_if_empty`` writes them into an empty server in one
transaction, each audited as written by ``seed``. They are fixed content, built by the mappers, so
they are validated by the tests (``tests/sandbox/test_seed_golden.py``) rather than at every
seeding, where checking some 2,700 resources against the R4B models took most of a first start. The golden bundle is made from the
same resources (``golden_bundle``), so the demo and the conformance contract cannot drift apart.

Large sets for benchmarks come from :mod:`odonto_desk.sandbox.bulk`.
"""

from __future__ import annotations

import json
from typing import Any

from odonto_desk.domain import demo
from odonto_desk.domain.perio import PerioExam
from odonto_desk.fhir.mapping import to_fhir
from odonto_desk.fhir.resources.perio import perio_to_observations
from odonto_desk.fhir.validate import validate
from odonto_desk.sandbox.fhirstore import FhirStore, patient_of

Resource = dict[str, Any]


def _as_resources(obj: Any) -> list[Resource]:
    if isinstance(obj, PerioExam):
        return perio_to_observations(obj)  # a panel and one Observation per value
    return [to_fhir(obj)]


def demo_resources(*, perio: str = "all", perio_patients: tuple[str, ...] | None = None,
                   validated: bool = True) -> list[Resource]:
    """Every demo resource, with ids, in an order where references point backwards.

    ``perio="latest"`` keeps only each patient's newest exam, and ``perio_patients`` limits exams to
    those patients (a full-mouth exam is ~450 Observations). ``validated=False`` skips checking each
    against the R4B models and our code rules (the seed: the tests check the same resources)."""
    practice = demo.demo_practice()
    out: list[Resource] = []
    for obj in (*practice.organizations, *practice.practitioners):
        out += _as_resources(obj)
    by_patient = {p.id: p for p in demo.demo_patients()}
    for patient in practice.patients:
        pid = patient.id
        out += _as_resources(patient)
        out += [to_fhir(a) for a in by_patient[pid].alerts]  # medical alerts: problem-list Conditions
        out += [to_fhir(e) for e in practice.encounters if e.patient == pid]
        out += [to_fhir(m) for m in by_patient[pid].marks]
        exams = demo.demo_perio_exams(pid) if perio_patients is None or pid in perio_patients else []
        for exam in exams[-1:] if perio == "latest" else exams:
            out += _as_resources(exam)
        for extra in demo.demo_clinical_extras(pid):
            out += _as_resources(extra)
        for group in (practice.coverages, practice.charges, practice.claims, practice.claim_responses):
            out += [to_fhir(x) for x in group if x.patient == pid]
    if validated:
        for r in out:
            validate(r)
    return out


def seed_demo_if_empty(server: Any) -> int:
    """Write the demo into a server with no patients; returns how many resources were written."""
    store: FhirStore = server.store
    if store.count("Patient"):
        return 0
    resources = demo_resources(validated=False)
    with store.transaction():
        for r in resources:
            s, _ = store.update(r["resourceType"], r["id"], r)
            server.audit.record("seed", "create", s.type, s.id, s.version, {"source": "demo"})
    return len(resources)


def golden_bundle(patients: tuple[str, ...] = ("demo-rivera", "demo-haddad")) -> Resource:
    """A transaction Bundle (PUT by id) with the shared resources and these patients' records."""
    keep: list[Resource] = []
    for r in demo_resources(perio="latest", perio_patients=("demo-haddad",)):
        owner = _owner(r)
        if owner is None or owner in patients:
            keep.append(r)
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r,
                       "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in keep]}


def _owner(r: Resource) -> str | None:
    return patient_of(r)


GOLDEN_NAME = "odonto-golden-bundle.r4.json"


def write_golden(path: str) -> None:
    """One entry a line: compact, and a change shows as a change of the entries it touches."""
    bundle = golden_bundle()
    head = json.dumps({k: v for k, v in bundle.items() if k != "entry"}, ensure_ascii=False)[:-1]
    lines = [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in bundle["entry"]]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(head + ', "entry": [\n' + ",\n".join(lines) + "\n]}\n")


if __name__ == "__main__":  # python -m odonto_desk.sandbox.seed odonto_desk/resources/odonto-golden-bundle.r4.json
    import sys

    write_golden(sys.argv[1])
