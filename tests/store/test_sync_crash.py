"""A sync process killed with SIGKILL at random points, again and again, then run to completion:
nothing is lost, nothing is written twice on the server, and the cache file stays sound."""

from __future__ import annotations

import copy
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import GPID

from odonto_desk.api.auth import ApiKey
from odonto_desk.api.client import ApexClient
from odonto_desk.api.errors import Gone
from odonto_desk.domain.chart import ChartMark
from odonto_desk.fhir.mapping import to_fhir
from odonto_desk.store.cache import Cache
from odonto_desk.store.sync import SyncEngine

USER, ROLE = "dr.lee", "dentist"
ADMIN_KEY = "apx_sandbox_admin_key"
ROOT = Path(__file__).resolve().parents[2]
KILLS = 20  # the figure: twenty SIGKILLs, each at a random point of a push or pull
MAX_ROUNDS = 60  # a child that finished before its kill came counts as a round, not a kill

# The child: sync until the outbox is empty and a pull went through, paced so a kill lands mid-push.
CHILD = """
import sys
from odonto_desk.api.auth import ApiKey
from odonto_desk.api.client import ApexClient
from odonto_desk.api.ratelimit import TokenBucket
from odonto_desk.store.cache import Cache
from odonto_desk.store.sync import SyncEngine

path, base, mode = sys.argv[1:4]
cache = Cache(path)
client = ApexClient(base, credentials=ApiKey("apx_sandbox_admin_key"), backoff_base=0.01,
                    limiter=TokenBucket(per_second=12.0, burst=1))
engine = SyncEngine(cache, client, types=("Patient", "Condition"), transactions=mode == "tx", batch_size=3)
print("ready", flush=True)
while True:
    report = engine.run_once()
    if report.pull is not None and not report.pull.stopped and not cache.outbox.entries(("pending", "sending")):
        break
print("done", flush=True)
"""


def _mark(pid: str, tooth: int, note: str) -> dict:
    resource = to_fhir(ChartMark(patient=pid, tooth=str(tooth), kind="caries", status="cn", surfaces="M", note=note))
    resource.pop("id")
    return resource


def _note(resource: dict) -> str:
    return " ".join(n.get("text", "") for n in resource.get("note") or [])


def _child(cache_path: Path, base: str, mode: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(cache_path), base, mode], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT, env=env)


def test_sync_killed_at_random_points_loses_and_duplicates_nothing(sandbox, tmp_path, load_example):
    apex = ApexClient(sandbox.base_url, credentials=ApiKey(ADMIN_KEY))
    patient = copy.deepcopy(load_example("patient.json"))
    patient.pop("id")
    pid = apex.create(patient, gpid=GPID)["id"]
    on_server = [apex.create(_mark(pid, t, f"server {t}"), gpid=GPID)["id"] for t in (1, 2, 3, 4)]
    path = tmp_path / "cache.sqlite"
    cache = Cache(path)
    SyncEngine(cache, apex, types=("Patient", "Condition")).run_once()

    expected: dict[str, str] = {}  # client or server id → the note it must end with
    for n in range(24):
        made = cache.create(_mark(pid, 5 + n % 27, f"offline {n}"), USER, ROLE, gpid=GPID)
        expected[made["id"]] = f"offline {n}"
        if n % 3 == 0:
            edited = {**cache.get("Condition", made["id"]), "note": [{"text": f"offline {n} edited"}]}
            cache.edit(edited, USER, ROLE, gpid=GPID)
            expected[made["id"]] = f"offline {n} edited"
    for rid in on_server[:3]:
        cache.edit({**cache.get("Condition", rid), "note": [{"text": f"{rid} edited"}]}, USER, ROLE, gpid=GPID)
        expected[rid] = f"{rid} edited"
    cache.delete("Condition", on_server[3], USER, ROLE, gpid=GPID)

    rng = random.Random(2024)
    kills = rounds = mid_push = 0
    while kills < KILLS and rounds < MAX_ROUNDS:
        child = _child(path, sandbox.base_url, "tx" if rounds % 2 == 0 else "single")
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.02, 0.4))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait(10)
        # Rows frozen by an attempt and never confirmed: this kill landed between a send and its answer's write-back.
        mid_push += child.returncode == -signal.SIGKILL and bool(cache.outbox.entries(("sending",)))
        child.stdout.close()
        # Work goes on between crashes: new edits queued behind the frozen ones.
        for n in range(3):
            made = cache.create(_mark(pid, 1 + (rounds * 3 + n) % 32, f"between {rounds}.{n}"), USER, ROLE, gpid=GPID)
            expected[made["id"]] = f"between {rounds}.{n}"
        rid = rng.choice(sorted(expected))
        rid = cache.server_id_for("Condition", rid) or rid
        cache.edit({**cache.get("Condition", rid), "note": [{"text": f"{rid} again {rounds}"}]}, USER, ROLE, gpid=GPID)
        expected = {k: (f"{rid} again {rounds}" if (cache.server_id_for("Condition", k) or k) == rid else v)
                    for k, v in expected.items()}
        rounds += 1
    assert kills == KILLS, f"only {kills} of {rounds} children were still syncing when the kill came"
    assert mid_push >= KILLS // 2, f"only {mid_push} kills landed between a send and its write-back"

    final = _child(path, sandbox.base_url, "tx")
    out, _ = final.communicate(timeout=60)
    assert final.returncode == 0 and out.split() == ["ready", "done"]

    assert cache.integrity_check() == "ok"
    assert cache.outbox.entries(("pending", "sending", "conflict")) == [] and cache.open_conflicts() == []
    server = {c["id"]: c for c in apex.search("Condition", {"patient": pid, "_count": 1000})}
    want = {cache.server_id_for("Condition", rid) or rid: note for rid, note in expected.items()}
    assert {rid: _note(c) for rid, c in server.items()} == want  # every edit once, the last one wins
    for rid, resource in server.items():
        versions = sorted(int(e["response"]["etag"].strip('W/"')) for e in apex.history("Condition", rid)["entry"])
        assert versions == list(range(1, int(resource["meta"]["versionId"]) + 1))  # no write lost or doubled
        assert _note(cache.get("Condition", rid)) == want[rid]
    try:
        apex.read("Condition", on_server[3])
        raise AssertionError("the deleted condition is still there")
    except Gone:
        pass
    cache.close()
    apex.close()
