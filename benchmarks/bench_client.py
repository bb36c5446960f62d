"""The client side: opening a patient from a big cache, a first sync, and draining the outbox.

- ``patient_open``: a cache of 400k resources (2,000 patients × 200, written through the cache's
  bulk path ``Cache.put_from_server``); opening a patient is what the chart screen does
  (``ChartService``): ``Cache.patient_resources`` of the chart types, read into ``ChartMark``s.
  Baseline: a bare indexed point query on the same file. ``all_types_p95``: the same open loading
  every type (perio Observations too), as this benchmark measured before it followed the screen.
- ``initial_sync``: ``SyncEngine.pull`` of 30k resources from a reference server (in a thread) into
  an empty cache. Baseline: one GET per resource, measured on a sample and extrapolated (capped by
  the portal's per-minute limit, which a resource-by-resource fetch would hit).
- ``outbox_drain``: 1,000 queued edits (half creates, half updates, through ``Cache.create``/``edit``)
  pushed until the outbox is empty; then the server is counted for duplicate identifiers.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _timing import percentiles, workdir

from odonto_desk.api.auth import ClientCredentials
from odonto_desk.api.client import ApexClient
from odonto_desk.sandbox.bulk import MARK_SPECS
from odonto_desk.store.cache import Cache

# What the chart screen reads (odonto_desk.services.chart.CHART_TYPES; not imported, so the
# benchmark does not load the services layer).
CHART_TYPES = ("Condition", "Procedure", "ServiceRequest")
USER, ROLE = "bench", "dentist"
MOLARS = ("2", "3", "14", "15", "18", "19", "30", "31")
# Of a patient's resources after the Patient: half chart marks, half perio findings (a few exams' worth).
MARK_SHARE = 0.5

# --- patient_open --------------------------------------------------------------------------------


def _template(resource: dict[str, Any]) -> str:
    text = json.dumps(resource, separators=(",", ":"), ensure_ascii=False)
    return text.replace("tmpl-id", "@ID@").replace("tmpl-pid", "@PID@")


def _mark_templates() -> list[str]:
    """Chart resources (one per molar × kind) as JSON text with ``@ID@``/``@PID@`` holes to fill."""
    from odonto_desk.domain.chart import ChartMark
    from odonto_desk.fhir.mapping import to_fhir

    return [_template(to_fhir(ChartMark(id="tmpl-id", patient="tmpl-pid", tooth=tooth, date="2024-05-01",
                                        provider="dr-1", **spec)))
            for tooth in MOLARS for spec in MARK_SPECS]


def _perio_templates() -> list[str]:
    """Probing-depth Observations (one per molar × site), the bulk of a perio exam."""
    from odonto_desk.domain.perio import Measure, Site
    from odonto_desk.domain.teeth import Tooth
    from odonto_desk.fhir.mapping import to_fhir
    from odonto_desk.fhir.resources.perio import PerioFinding

    return [_template(to_fhir(PerioFinding(id="tmpl-id", patient="tmpl-pid", measure=Measure.PD, tooth=Tooth.parse(tooth),
                                           site=site, value=3, effective="2024-05-01")))
            for tooth in MOLARS for site in Site]


def _meta(n: int) -> str:
    return f'"meta":{{"versionId":"1","lastUpdated":"2024-05-01T10:{n // 60 % 60:02d}:{n % 60:02d}+00:00"}}'


def _patient_texts(rng: random.Random, pid: str, per_patient: int, marks: list[str], perio: list[str]) -> list[str]:
    """One patient, chart marks (:data:`MARK_SHARE` of the rest) and perio Observations, as a server sends them."""
    texts = [f'{{"resourceType":"Patient","id":"{pid}",{_meta(0)},"active":true,'
             f'"name":[{{"family":"Bench","given":["P{pid[-6:]}"]}}],"birthDate":"1980-01-01"}}']
    n_marks = round((per_patient - 1) * MARK_SHARE)
    for m in range(per_patient - 1):
        body = rng.choice(marks if m < n_marks else perio).replace("@ID@", f"{pid}-r{m:04d}").replace("@PID@", pid)
        # Put meta after resourceType/id, where servers put it.
        head, rest = body.split(",", 1)
        ident, rest = rest.split(",", 1)
        texts.append(f"{head},{ident},{_meta(m)},{rest}")
    return texts


def build_cache(path: Path, patients: int, per_patient: int, seed: int = 11) -> list[str]:
    """Fill ``path`` through ``Cache.put_from_server`` (the pull's own write path); returns the patient ids."""
    rng = random.Random(seed)
    marks, perio = _mark_templates(), _perio_templates()
    pids = [f"bench-p{n:06d}" for n in range(patients)]
    with Cache(path) as cache:
        page: list[str] = []
        for pid in pids:
            page += _patient_texts(rng, pid, per_patient, marks, perio)
            if len(page) >= 5000:
                cache.put_from_server(page)
                page = []
        if page:
            cache.put_from_server(page)
        cache.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return pids


def chart_marks(resources: list[dict[str, Any]]) -> list[Any]:
    """The chart screen's reading of a patient's resources: its marks in effect, as domain objects."""
    from odonto_desk.fhir.resources.chart import on_chart, read_mark

    return [read_mark(r) for r in resources if r.get("resourceType") in CHART_TYPES and on_chart(r)]


def patient_open(quick: bool) -> list[dict]:
    patients, per_patient = (100, 200) if quick else (2000, 200)
    samples = 100 if quick else 300
    rng = random.Random(5)
    with workdir("client") as work:
        path = work / "cache.sqlite"
        t = time.perf_counter()
        pids = build_cache(path, patients, per_patient)
        build_s = time.perf_counter() - t
        with Cache(path) as cache:
            for pid in rng.sample(pids, 10):  # warm the connection and the statement cache
                chart_marks(cache.patient_resources(pid))
            lat, load, marks = [], [], 0
            for pid in rng.sample(pids, min(samples, len(pids))):
                t0 = time.perf_counter()
                resources = cache.patient_resources(pid, CHART_TYPES)
                t1 = time.perf_counter()
                marks += len(chart_marks(resources))
                t2 = time.perf_counter()
                lat.append((t2 - t0) * 1000)
                load.append((t1 - t0) * 1000)
            every_type = []
            for pid in rng.sample(pids, min(samples, len(pids))):
                t0 = time.perf_counter()
                chart_marks(cache.patient_resources(pid))
                every_type.append((time.perf_counter() - t0) * 1000)
            base = []
            conn = cache.db.conn
            for pid in rng.sample(pids, min(samples, len(pids))):
                t = time.perf_counter()
                conn.execute("SELECT raw FROM resource WHERE type = ? AND id = ?", ("Patient", pid)).fetchone()
                base.append((time.perf_counter() - t) * 1000)
        size_mb = path.stat().st_size / 1e6
    p50, p95, p99 = percentiles(lat, 50, 95, 99)
    return [{"name": "patient_open", "value": round(p95, 3), "unit": "ms p95",
             "baseline": round(percentiles(base, 95)[0], 4), "baseline_is": "indexed point query p95",
             "p50": round(p50, 3), "p99": round(p99, 3), "load_p95": round(percentiles(load, 95)[0], 3),
             "all_types_p95": round(percentiles(every_type, 95)[0], 3),
             "goal_p95_ms": 10, "met": p95 <= 10, "resources": patients * per_patient, "patients_opened": len(lat),
             "marks_per_open": round(marks / len(lat), 1), "cache_mb": round(size_mb, 1),
             "build_seconds": round(build_s, 1)}]


# --- the reference server for initial_sync and outbox_drain -----------------------------------------


@contextmanager
def _server(work: Path, patients: int) -> Iterator[Any]:
    """A reference server in a thread on a bulk-generated database (~200 resources a patient)."""
    from odonto_desk.sandbox.app import ServerConfig
    from odonto_desk.sandbox.bulk import generate
    from odonto_desk.sandbox.fhirstore import FhirStore
    from odonto_desk.sandbox.runner import start_in_thread

    db = work / "apex.sqlite"
    store = FhirStore(db)
    generate(store, patients=patients)
    store.close()
    running = start_in_thread(ServerConfig(db_path=db))
    try:
        yield running
    finally:
        running.stop()


def _client(base_url: str) -> ApexClient:
    creds = ClientCredentials.for_role(f"{base_url}/oauth/token", "demo-dentist", "sandbox-secret-dentist", "dentist")
    return ApexClient(base_url, credentials=creds)


# --- initial_sync --------------------------------------------------------------------------------


def initial_sync(quick: bool) -> list[dict]:
    from odonto_desk.store.sync import SyncEngine

    patients = 15 if quick else 150  # × ~200 resources
    sample = 100 if quick else 300
    with workdir("client") as work, _server(work, patients) as server:
        client = _client(server.base_url)
        with client, Cache(work / "cache.sqlite") as cache:
            engine = SyncEngine(cache, client)
            t = time.perf_counter()
            report = engine.pull()
            seconds = time.perf_counter() - t
            requests, throttled = client.stats["requests"], client.stats["throttled"]
            ids = [(r[0], r[1]) for r in cache.db.conn.execute("SELECT type, id FROM resource ORDER BY random() "
                                                               f"LIMIT {sample}")]
            t = time.perf_counter()
            for rtype, rid in ids:
                client.read(rtype, rid)
            one_by_one = time.perf_counter() - t
            throttled_baseline = client.stats["throttled"] - throttled
            per_minute_cap = client.limiter.per_minute
    rate = report.stored / seconds * 60
    baseline = min(len(ids) / one_by_one * 60, per_minute_cap)
    return [{"name": "initial_sync", "value": round(rate), "unit": "resources/min", "baseline": round(baseline),
             "baseline_is": f"one GET per resource ({len(ids)} sampled), capped at the {per_minute_cap}/min limit",
             "resources": report.stored, "seconds": round(seconds, 2), "requests": requests, "pages": report.pages,
             "http_429": throttled, "baseline_429": throttled_baseline, "skipped": len(report.skipped),
             "stopped": report.stopped, "goal": ">= 100000/min, 0 x 429", "met": rate >= 100_000 and throttled == 0}]


# --- outbox_drain --------------------------------------------------------------------------------


def _new_condition(pid: str, tooth: str) -> dict[str, Any]:
    from odonto_desk.domain.chart import ChartMark
    from odonto_desk.fhir.codes import LOCAL_ID_SYSTEM
    from odonto_desk.fhir.mapping import to_fhir

    resource = to_fhir(ChartMark(patient=pid, tooth=tooth, kind="caries", status="cn", surfaces="O"))
    resource.pop("id")
    resource["identifier"] = [{"system": LOCAL_ID_SYSTEM, "value": f"urn:uuid:{uuid.uuid4()}"}]
    return resource


def _queue_edits(cache: Cache, edits: int, rng: random.Random) -> set[str]:
    """Half updates of pulled chart marks, half new Conditions, patient by patient; returns the new identifiers."""
    from odonto_desk.fhir.codes import GPID_SYSTEM

    patients = cache.of_type("Patient")
    per_patient = max(1, edits // len(patients))
    made: set[str] = set()
    queued = 0
    for patient in patients:
        gpid = next(i["value"] for i in patient["identifier"] if i.get("system") == GPID_SYSTEM)
        marks = cache.patient_resources(patient["id"], ["Condition", "Procedure"])
        for n in range(per_patient):
            if queued >= edits:
                return made
            if n % 2 == 0 and marks:
                mark = marks.pop()
                cache.edit({**mark, "note": [{"text": f"bench edit {n}"}]}, USER, ROLE, gpid=gpid)
            else:
                resource = cache.create(_new_condition(patient["id"], rng.choice(["3", "14", "19", "30"])),
                                        USER, ROLE, gpid=gpid)
                made.add(resource["identifier"][0]["value"])
            queued += 1
    return made


def _duplicates(client: ApexClient, patient_ids: list[str], made: set[str]) -> tuple[int, int]:
    """(identifiers held more than once, identifiers missing) among the created Conditions."""
    from odonto_desk.fhir.codes import LOCAL_ID_SYSTEM

    seen: Counter[str] = Counter()
    for pid in patient_ids:
        for r in client.search("Condition", {"patient": pid, "_count": 1000}):
            for ident in r.get("identifier") or []:
                if ident.get("system") == LOCAL_ID_SYSTEM:
                    seen[ident["value"]] += 1
    return sum(c - 1 for c in seen.values() if c > 1), len(made - set(seen))


def outbox_drain(quick: bool) -> list[dict]:
    from odonto_desk.store.sync import SyncEngine

    edits = 100 if quick else 1000
    patients = max(1, edits // 20)  # 20 edits a patient: half of them updates of its ~14 pulled marks
    with workdir("client") as work, _server(work, patients) as server:
        client = _client(server.base_url)
        with client, Cache(work / "cache.sqlite") as cache:
            engine = SyncEngine(cache, client)
            engine.pull()
            made = _queue_edits(cache, edits, random.Random(3))
            queued = len(cache.outbox.entries(("pending",)))
            requests, throttled = client.stats["requests"], client.stats["throttled"]
            t = time.perf_counter()
            rounds = 0
            while cache.outbox.entries(("pending", "sending")) and rounds < 20:
                engine.push()
                rounds += 1
            seconds = time.perf_counter() - t
            requests, throttled = client.stats["requests"] - requests, client.stats["throttled"] - throttled
            left = len(cache.outbox.entries(("pending", "sending", "conflict")))
            duplicates, missing = _duplicates(client, [p["id"] for p in cache.of_type("Patient")], made)
    return [{"name": "outbox_drain", "value": round(seconds, 2), "unit": "s", "edits": queued,
             "creates": len(made), "requests": requests, "push_rounds": rounds, "http_429": throttled,
             "left_in_outbox": left, "duplicates": duplicates, "missing": missing,
             "goal": "<= 15 s, 0 duplicates", "met": seconds <= 15 and duplicates == 0 and left == 0}]


BENCHMARKS = {"patient_open": patient_open, "initial_sync": initial_sync, "outbox_drain": outbox_drain}
