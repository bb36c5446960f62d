"""The bulk generator: realistic patients, valid FHIR, the same bytes for the same seed, fast writes."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import random
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict

import httpx
import pytest
from helpers import token_for

from odonto_desk.domain.dentition import Dentition, DentitionMode, default_mode
from odonto_desk.domain.people import GPID_RE, VisitKind
from odonto_desk.domain.perio import ToothState
from odonto_desk.domain.teeth import Tooth
from odonto_desk.fhir import codes
from odonto_desk.fhir.validate import validate
from odonto_desk.sandbox import bulk
from odonto_desk.sandbox.app import ServerConfig
from odonto_desk.sandbox.chart_api import MARK_TYPES, derive_mark, warm_chart_marks
from odonto_desk.sandbox.fhir_api import TYPES
from odonto_desk.sandbox.fhirstore import FhirStore, Invalid, NewResource, VersionConflict, patient_of
from odonto_desk.sandbox.runner import start_in_thread

CHILD_AGE = 13  # under 13: a primary or mixed dentition


@pytest.fixture(scope="module")
def plans() -> list[bulk.PatientPlan]:
    return [bulk.plan_patient(n) for n in range(400)]


def _perio_code(r: dict) -> str:
    return next(c["code"] for c in r["code"]["coding"] if c["system"] == codes.CS_PERIO)


def _shape(r: dict) -> tuple[str, ...]:
    """What kind of resource this is, finer than its type (for sampling every kind)."""
    rtype = r["resourceType"]
    if rtype == "Observation":
        return rtype, _perio_code(r)
    if rtype in MARK_TYPES:
        kind = next(c["code"] for c in r["code"]["coding"] if c["system"] == codes.CS_MARK_KIND)
        return rtype, kind
    return (rtype,)


# --- the fast path is the mappers' output --------------------------------------------------------


def test_fast_path_writes_exactly_what_the_mappers_build(plans):
    render = bulk.Renderer()
    for p in plans[:80]:
        rows, derived = render.patient(p)
        reference = bulk.reference_resources(p)
        assert [r.text for r in rows] == [bulk._dump(r) for r in reference], p.id
        assert [(r.type, r.id) for r in rows] == [(r["resourceType"], r["id"]) for r in reference]
        assert all(r.patient == patient_of(ref) == p.id for r, ref in zip(rows, reference, strict=True))
        marks = {(r["resourceType"], r["id"]): r for r in reference if r["resourceType"] in MARK_TYPES}
        assert len(derived) == len(p.marks) == len(marks)
        for rtype, rid, version, mark in derived:
            assert version == 1 and mark == derive_mark(marks[(rtype, rid)])
            assert json.loads(mark)["tooth"] == marks[(rtype, rid)]["bodySite"][0]["coding"][0]["code"]


def test_practice_rows_are_the_mapped_practice():
    rows = bulk.practice_rows()
    assert [(r.type, r.id) for r in rows] == [("Organization", bulk.PRACTICE_ID)] + [
        ("Practitioner", i) for i in (*bulk.DENTISTS, *bulk.HYGIENISTS)]
    assert all(r.patient is None for r in rows)


# --- valid as the server's POST/PUT would check it ------------------------------------------------


def test_every_kind_of_generated_resource_validates_as_a_put_would(tmp_path):
    store = FhirStore(tmp_path / "bulk.sqlite")
    written = bulk.generate(store, patients=120)
    rows = store.connection.execute("SELECT type, id, json FROM current").fetchall()
    store.close()
    assert written == len(rows)
    by_shape: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    for rtype, rid, text in rows:
        r = json.loads(text)
        assert (r["resourceType"], r["id"]) == (rtype, rid) and r["meta"]["versionId"] == "1"
        by_shape[_shape(r)].append(r)
    types = {s[0] for s in by_shape}
    assert types == {"Patient", "Encounter", "Condition", "Procedure", "ServiceRequest", "CarePlan", "Observation",
                     "Organization", "Practitioner"}
    perio = {s[1] for s in by_shape if s[0] == "Observation"}
    assert {"chart", "pd", "gm", "bleeding", "suppuration", "tooth-state", "mobility", "furcation"} <= perio
    kinds = {s[1] for s in by_shape if s[0] in MARK_TYPES}
    assert {"caries", "filling", "crown", "rct", "implant", "extraction", "missing", "sealant", "watch",
            "pontic", "abutment", "impacted"} <= kinds
    rng = random.Random(3)
    checked = 0
    for _, found in sorted(by_shape.items()):
        for r in rng.sample(found, min(8, len(found))):
            validate(r, expected_type=r["resourceType"], allowed_types=TYPES)  # raises with the path
            checked += 1
    assert checked > 150


def test_the_server_reads_and_accepts_bulk_records_back(tmp_path):
    db = tmp_path / "apex.sqlite"
    store = FhirStore(db)
    bulk.generate(store, patients=6)
    store.close()
    plans = [bulk.plan_patient(n) for n in range(6)]
    adult = next(p for p in plans if p.exams and p.plan is not None and len(p.marks) > 5)
    with start_in_thread(ServerConfig(db_path=db)) as running:
        headers = {"Authorization": f"Bearer {token_for(running.base_url, 'admin')}",
                   "X-Apex-GPID": adult.patient.gpid}
        with httpx.Client(base_url=running.base_url, headers=headers, timeout=10) as c:
            r = c.get(f"/odonto/v1/chart/{adult.patient.gpid}")
            assert r.status_code == 200
            doc = r.json()
            assert doc["patient_id"] == adult.id
            assert sorted(m["id"] for m in doc["marks"]) == sorted(m.id for m in adult.marks)
            assert all(m["patient"] == adult.id for m in doc["marks"])
            # The chart goes back unchanged: every mark passes the PUT's checks, nothing is rewritten.
            w = c.put(f"/odonto/v1/chart/{adult.patient.gpid}", json={"marks": doc["marks"]},
                      headers={"If-Match": r.headers["etag"]})
            assert w.status_code == 200, w.text
            assert w.headers["etag"] == r.headers["etag"]
            # One resource of every type, PUT back as read: the FHIR write path validates each.
            exam = adult.exams[-1]
            ids = [("Patient", adult.id), ("Encounter", adult.visits[0].id), ("CarePlan", adult.plan.id),
                   ("Observation", exam.id), ("Observation", f"{exam.id}-pd-3-db")]
            ids += [(t, m.id) for t, m in ((derive_type(m), m) for m in adult.marks[:6])]
            for rtype, rid in ids:
                got = c.get(f"/fhir/{rtype}/{rid}")
                assert got.status_code == 200, (rtype, rid)
                body = got.json()
                body.pop("meta")
                put = c.put(f"/fhir/{rtype}/{rid}", json=body, headers={"If-Match": got.headers["etag"]})
                assert put.status_code == 200, (rtype, rid, put.text)
                assert put.json()["meta"]["versionId"] == "2"


def derive_type(m: bulk.MarkPlan) -> str:
    return {"cn": "Condition", "tp": "ServiceRequest", "r": "ServiceRequest"}.get(m.status, "Procedure")


# --- deterministic ---------------------------------------------------------------------------------


def _digest(rows) -> str:
    h = hashlib.sha256()
    for r in rows:
        h.update(f"{r.type}/{r.id}/{r.patient}/{r.identifiers}\n{r.text}\n".encode())
    return h.hexdigest()


def test_the_same_seed_gives_the_same_bytes_and_patients_do_not_depend_on_each_other():
    first = list(bulk.rows(range(40)))
    assert _digest(first) == _digest(bulk.rows(range(40)))
    assert _digest(first) != _digest(bulk.rows(range(40), seed=8))
    alone = list(bulk.rows([23]))
    assert [r.text for r in alone] == [r.text for r in first if r.patient == bulk.patient_id(23)]


def test_two_generated_stores_hold_the_same_records(tmp_path):
    texts = []
    for name in ("a", "b"):
        store = FhirStore(tmp_path / f"{name}.sqlite")
        bulk.generate(store, patients=10)
        rows = store.connection.execute("SELECT type, id, json FROM current ORDER BY type, id").fetchall()
        marks = store.connection.execute("SELECT type, id, version, mark FROM chart_mark ORDER BY type, id").fetchall()
        store.close()
        stripped = []
        for t, i, text in rows:
            r = json.loads(text)
            r["meta"].pop("lastUpdated")
            stripped.append((t, i, json.dumps(r, sort_keys=True)))
        texts.append((stripped, marks))
    assert texts[0] == texts[1]


# --- realistic -------------------------------------------------------------------------------------


def test_childrens_marks_sit_on_teeth_their_dentition_shows(plans):
    shown = {mode: {t.universal for t in Dentition(mode).shown()} for mode in DentitionMode}
    modes: Counter[DentitionMode] = Counter()
    tooth_kinds: Counter[tuple[DentitionMode, bool]] = Counter()
    for p in plans:
        if p.age >= CHILD_AGE:
            assert not any(Tooth(m.tooth).is_primary for m in p.marks), p.id
            continue
        mode = default_mode(p.age)
        assert mode in (DentitionMode.PRIMARY, DentitionMode.MIXED) and p.mode is mode
        modes[mode] += 1
        assert not p.exams, "children get no perio exam"
        for m in p.marks:
            t = Tooth(m.tooth)
            assert m.tooth in shown[mode], (p.id, p.age, m)
            if m.day is not None:
                assert m.tooth in shown[default_mode(p.age_on(m.day))], (p.id, m)
                assert p.age_on(m.day) >= 1
            if t.is_primary:
                assert m.kind not in ("crown", "root canal", "post and core", "implant", "bridge pontic",
                                      "bridge abutment", "veneer"), (p.id, m)
            tooth_kinds[(mode, t.is_primary)] += 1
            m.mark(p.id)  # a valid ChartMark
        if mode is DentitionMode.PRIMARY:
            assert all(Tooth(m.tooth).is_primary for m in p.marks)
    assert modes[DentitionMode.PRIMARY] >= 10 and modes[DentitionMode.MIXED] >= 30
    # Mixed dentitions carry marks on both kinds of teeth (primary molars, first permanent molars).
    assert tooth_kinds[(DentitionMode.MIXED, True)] >= 10 and tooth_kinds[(DentitionMode.MIXED, False)] >= 10


def test_the_mix_per_patient_is_about_200_resources(plans):
    render = bulk.Renderer()
    sizes = [len(render.patient(p)[0]) for p in plans[:300]]
    assert 180 <= sum(sizes) / len(sizes) <= 220
    children = [p for p in plans if p.age < CHILD_AGE]
    adults = [p for p in plans if p.age >= 18]
    assert 0.12 <= len(children) / len(plans) <= 0.3
    assert sum(1 for p in adults if p.exams) / len(adults) >= 0.7
    assert sum(1 for p in adults if len(p.exams) >= 2) / len(adults) >= 0.2
    assert sum(1 for p in plans if p.plan is not None) / len(plans) >= 0.3
    assert sum(len(p.marks) for p in children) / len(children) < sum(len(p.marks) for p in adults) / len(adults) / 2


def test_visits_exams_and_plans_fit_together(plans):
    alternates = 0
    for p in plans:
        days = [v.start.date() for v in p.visits]
        assert 3 <= len(p.visits) <= 10 and days == sorted(days) and days[-1] <= bulk.AS_OF
        assert p.visits[0].kind is VisitKind.EXAM and days[0] >= p.patient.birth_date
        assert days[-1] - days[0] >= dt.timedelta(days=300)
        recalls = {v.start.date() for v in p.visits if v.kind is VisitKind.HYGIENE}
        visit_days = set(days)
        assert all(m.day in visit_days for m in p.marks if m.day is not None), p.id
        assert len({m.tooth for m in p.marks if m.kind == "missing"}) == sum(m.kind == "missing" for m in p.marks)
        for a, b in itertools.pairwise(p.exams):
            assert (b.date - a.date).days >= 540
        for exam in p.exams:
            assert exam.date in recalls and p.age_on(exam.date) >= 18
            for m in p.marks:
                if m.kind in ("missing", "impacted", "bridge pontic"):
                    assert exam.is_missing(m.tooth), (p.id, m)
                if m.kind == "implant" and m.day is not None and m.day <= exam.date:
                    assert exam.tooth_state(m.tooth) is ToothState.IMPLANT
                if m.kind in ("filling", "crown", "caries") and m.status != "tp":
                    assert not exam.is_missing(m.tooth)
        if p.plan is not None:
            planned = {m.id: m for m in p.marks if m.status == "tp"}
            for item in p.plan.items:
                if item.service_request is not None:
                    m = planned[item.service_request]
                    assert (item.code, item.tooth.universal) == (m.code, m.tooth)
            groups = Counter(i.alternate_group for i in p.plan.items if i.alternate_group)
            assert all(n == 2 for n in groups.values())
            alternates += len(groups)
            assert (p.plan.care_plan_id is not None) == (p.plan.status.value == "active")
    assert alternates >= 10


# --- writing ---------------------------------------------------------------------------------------


def test_generate_keeps_the_charts_derived_marks_and_adds_to_an_earlier_run(tmp_path):
    store = FhirStore(tmp_path / "bulk.sqlite")
    first = bulk.generate(store, patients=12)
    assert first == store.count()
    marks = store.connection.execute(
        "SELECT c.type, c.id, c.version, c.json, cm.version, cm.mark FROM current c LEFT JOIN chart_mark cm "
        "ON cm.type = c.type AND cm.id = c.id WHERE c.type IN ('Condition', 'Procedure', 'ServiceRequest')").fetchall()
    assert len(marks) == sum(len(bulk.plan_patient(n).marks) for n in range(12))
    for _, _, version, text, derived_version, derived in marks:
        assert derived_version == version and derived == derive_mark(json.loads(text))
    assert warm_chart_marks(store) == 0  # nothing left to derive
    more = bulk.generate(store, patients=15)
    assert more == len(list(bulk.rows(range(12, 15))))
    assert bulk.generate(store, patients=15) == 0
    assert bulk.gpids(store) == [bulk.gpid_of(n) for n in range(15)]
    assert len(set(bulk.gpids(store))) == 15 and all(GPID_RE.match(g) for g in bulk.gpids(store))
    assert bulk.gpids(store, limit=4) == bulk.gpids(store)[:4]
    store.close()


def test_gpids_are_distinct_and_never_a_demo_one():
    from odonto_desk.domain.demo import demo_patients

    made = {bulk.gpid_of(n) for n in range(50_000)}
    assert len(made) == 50_000
    assert not made & {p.gpid for p in demo_patients()}


def test_mark_specs_stay_valid_on_every_molar_they_are_charted_on():
    from odonto_desk.domain.chart import ChartMark

    for tooth in ("2", "3", "14", "15", "18", "19", "30", "31"):
        for spec in bulk.MARK_SPECS:
            ChartMark(patient="p", tooth=tooth, **spec)


def test_load_stores_what_update_would_and_refuses_what_it_cannot(tmp_path):
    patient = {"resourceType": "Patient", "id": "p-1", "identifier": [{"system": codes.GPID_SYSTEM,
                                                                        "value": "APX-ABCDEFGH"}],
               "name": [{"family": "Ode", "given": ["Ana"]}], "birthDate": "1990-01-02"}
    loaded, updated = FhirStore(tmp_path / "a.sqlite"), FhirStore(tmp_path / "b.sqlite")
    text = json.dumps(patient, separators=(",", ":"), ensure_ascii=False)
    assert loaded.load([NewResource("Patient", "p-1", "p-1", text, ((codes.GPID_SYSTEM, "APX-ABCDEFGH"),))]) == 1
    updated.update("Patient", "p-1", patient)
    a, b = loaded.read("Patient", "p-1"), updated.read("Patient", "p-1")
    assert a.version == b.version == 1
    assert {**a.resource, "meta": {}} == {**b.resource, "meta": {}}
    assert a.resource["meta"]["versionId"] == "1" and list(a.resource) == list(b.resource)
    stored = [loaded.connection.execute(f"SELECT {cols} FROM {t}").fetchall()
              for t, cols in (("current", "patient, deleted"), ("history", "method, patient"))]
    assert stored == [[("p-1", 0)], [("PUT", "p-1")]]
    assert loaded.by_identifier("Patient", codes.GPID_SYSTEM, "APX-ABCDEFGH") == ["p-1"]
    # Later writes are ordered after the load, and loaded rows among themselves.
    loaded.load([NewResource("Encounter", f"e-{i}", "p-1", f'{{"resourceType":"Encounter","id":"e-{i}"}}')
                 for i in range(3)])
    s = loaded.update("Patient", "p-1", patient)[0]
    order = loaded.connection.execute("SELECT type, id, version FROM history ORDER BY last_updated").fetchall()
    assert order == [("Patient", "p-1", 1), ("Encounter", "e-0", 1), ("Encounter", "e-1", 1), ("Encounter", "e-2", 1),
                     ("Patient", "p-1", 2)]
    instants = [r[0] for r in loaded.connection.execute("SELECT last_updated FROM history")]
    assert len(set(instants)) == 5 and s.last_updated == max(instants)
    # An existing id refuses the whole load; so does text that is not a bare resource of that id.
    before = loaded.count()
    with pytest.raises(VersionConflict):
        loaded.load([NewResource("Encounter", "e-9", "p-1", '{"resourceType":"Encounter","id":"e-9"}'),
                     NewResource("Encounter", "e-1", "p-1", '{"resourceType":"Encounter","id":"e-1"}')])
    assert loaded.count() == before and loaded.current_version("Encounter", "e-9") is None
    for bad in ('{"resourceType":"Encounter","id":"e-7"}', '{"resourceType":"Encounter","id":"e-8","meta":{}}'):
        with pytest.raises(Invalid):
            loaded.load([NewResource("Encounter", "e-8", "p-1", bad)])
    loaded.close()
    updated.close()


_FIRST_PUT = r"""
import sys, httpx
from starlette.testclient import TestClient
from odonto_desk.sandbox import bulk
from odonto_desk.sandbox.app import ServerConfig, create_server
from odonto_desk.sandbox.fhirstore import FhirStore
db = sys.argv[1]
store = FhirStore(db); bulk.generate(store, patients=3); store.close()
server = create_server(ServerConfig(db_path=db))
if sys.argv[2] == "warm":
    for hook in server.on_startup:
        hook()
c = TestClient(server.app)
tok = c.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "demo-dentist",
                                   "client_secret": "sandbox-secret-dentist"}).json()["access_token"]
gpid = bulk.gpid_of(1)
h = {"Authorization": f"Bearer {tok}", "X-Apex-GPID": gpid}
r = c.get(f"/odonto/v1/chart/{gpid}", headers=h)
count = server.store.count()
before = set(sys.modules)
marks = r.json()["marks"] + [{"id": "new-1", "tooth": "3", "kind": "watch", "status": "cn", "surfaces": ["O"]}]
w = c.put(f"/odonto/v1/chart/{gpid}", json={"marks": marks}, headers={**h, "If-Match": r.headers["etag"]})
assert w.status_code == 200, w.text
print(count, sorted(m for m in set(sys.modules) - before if m.startswith("fhir.resources")))
for hook in server.on_shutdown:
    hook()
"""


def test_the_servers_warm_up_loads_what_the_first_chart_put_needs(tmp_path):
    out = {}
    for how in ("cold", "warm"):
        db = tmp_path / f"{how}.sqlite"
        run = subprocess.run([sys.executable, "-c", _FIRST_PUT, str(db), how], capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stderr
        count, loaded = run.stdout.strip().split(" ", 1)
        out[how] = (int(count), loaded)
    assert out["cold"][1] != "[]"  # without the warm-up, the first PUT loads R4 models inside its transaction
    assert out["warm"][1] == "[]"
    assert out["warm"][0] == out["cold"][0]  # and the warm-up wrote nothing


def _run_sandbox_cli(db, patients: int) -> tuple[int, str]:
    """``odonto-desk sandbox --bulk-patients N`` until it serves; (resources generated, base URL)."""
    proc = subprocess.Popen([sys.executable, "-m", "odonto_desk", "sandbox", "--port", "0", "--db", str(db),
                             "--bulk-patients", str(patients)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        assert proc.stdout is not None
        generated = None
        for line in proc.stdout:
            if m := re.match(r"generated (\d+) resources for (\d+) synthetic patients", line):
                generated = int(m.group(1))
                assert int(m.group(2)) == patients
            if m := re.search(r"FHIR R4 base\s+(http://\S+)/fhir", line):
                base = m.group(1)
                break
        assert generated is not None
        for _ in range(100):
            try:
                if httpx.get(f"{base}/status", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        gpid = bulk.gpid_of(patients - 1)
        headers = {"Authorization": f"Bearer {token_for(base, 'dentist')}"}
        r = httpx.get(f"{base}/odonto/v1/chart/{gpid}", headers=headers, timeout=10)
        assert r.status_code == 200
        assert sorted(m["id"] for m in r.json()["marks"]) == sorted(m.id for m in bulk.plan_patient(patients - 1).marks)
        return generated, base
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_sandbox_command_generates_serves_and_adds_only_what_a_rerun_lacks(tmp_path):
    db = tmp_path / "cli.sqlite"
    first, _ = _run_sandbox_cli(db, 3)
    assert first == len(bulk.practice_rows()) + len(list(bulk.rows(range(3))))
    again, _ = _run_sandbox_cli(db, 5)
    assert again == len(list(bulk.rows(range(3, 5))))
