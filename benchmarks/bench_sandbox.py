"""sandbox_chart_latency: chart GET and PUT at 80 requests/s against a ~200k-resource database.

The database is the bulk generator's (``odonto_desk.sandbox.bulk``): 1,000 realistic patients
(100 for --quick) of ~200 resources each — visits, charts of ~16 marks, plans, perio exams.

The server runs in its own process (as `odonto-desk sandbox`), the load comes from this one, open
loop: request i is sent at t0 + i/80 whatever the earlier ones did, so slow answers show up as
latency instead of as a lower rate. Three demo clients share the load to stay inside the per-client
limit of 2,000 requests a minute. The baseline is `GET /status` measured the same way in the same run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from _timing import percentiles

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
GENERATOR_VERSION = 2  # bump when odonto_desk.sandbox.bulk changes what it writes


def _database(patients: int) -> tuple[Path, int]:
    """A generated database, cached between runs, and how many resources it holds."""
    from odonto_desk.sandbox.bulk import generate
    from odonto_desk.sandbox.fhirstore import FhirStore

    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"bulk-v{GENERATOR_VERSION}-{patients}.sqlite"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            p.unlink(missing_ok=True)
        store = FhirStore(tmp)
        generate(store, patients=patients)
        store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()
        tmp.rename(path)
    # The generator writes the chart's derived marks with the resources; warming checks that
    # nothing is left to derive (a no-op on a generated database).
    from odonto_desk.sandbox.chart_api import warm_chart_marks

    store = FhirStore(path)
    warm_chart_marks(store)
    resources = store.count()
    store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return path, resources


def _start_server(db: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """The sandbox on a copy of ``db`` in a new folder (the caller removes it); (process, base URL, folder)."""
    from odonto_desk.sandbox.runner import free_port

    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="odonto-bench-"))
    copy = work / "db.sqlite"
    # The server writes: never touch the cached file. Copy it durably, block by block: an
    # unflushed copy (1.9 GB for the full run) was written back by the server's first WAL
    # checkpoint, whose fsync then held the store's lock for a second, under load.
    with db.open("rb") as src, copy.open("wb") as dst:
        shutil.copyfileobj(src, dst, 16 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    proc = subprocess.Popen([sys.executable, "-m", "odonto_desk", "sandbox", "--port", str(port), "--db", str(copy),
                             "--no-demo"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/status", timeout=1).status_code == 200:
                return proc, base, work
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    shutil.rmtree(work, ignore_errors=True)
    raise RuntimeError("the sandbox did not start")


def _tokens(base: str) -> list[str]:
    out = []
    for role in ("dentist", "hygienist", "admin"):
        r = httpx.post(f"{base}/oauth/token", data={"grant_type": "client_credentials", "client_id": f"demo-{role}",
                                                   "client_secret": f"sandbox-secret-{role}"})
        r.raise_for_status()
        out.append(r.json()["access_token"])
    return out


def _drive(rate: float, seconds: float, work) -> tuple[list[float], int]:  # type: ignore[no-untyped-def]
    """Call ``work(i)`` at ``rate`` per second for ``seconds`` (open loop); latencies in ms."""
    n = int(rate * seconds)
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def one(i: int, due: float) -> None:
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t = time.perf_counter()
        ok = work(i)
        ms = (time.perf_counter() - t) * 1000
        with lock:
            if ok:
                lat.append(ms)
            else:
                errors[0] += 1

    t0 = time.perf_counter() + 0.2
    with ThreadPoolExecutor(max_workers=32) as pool:
        for i in range(n):
            pool.submit(one, i, t0 + i / rate)
    return lat, errors[0]


def sandbox_chart_latency(quick: bool) -> list[dict]:
    from odonto_desk.sandbox.bulk import gpids
    from odonto_desk.sandbox.fhirstore import FhirStore

    patients = 100 if quick else 1000
    seconds = 8.0 if quick else 60.0
    db, resources = _database(patients)
    store = FhirStore(db)
    targets = gpids(store)
    store.close()
    proc, base, work = _start_server(db)
    try:
        tokens = _tokens(base)
        clients = [httpx.Client(base_url=base, headers={"Authorization": f"Bearer {t}"}, timeout=10,
                                limits=httpx.Limits(max_connections=16)) for t in tokens]

        def status(i: int) -> bool:
            return clients[i % 3].get("/status").status_code == 200

        base_lat, _ = _drive(80.0, min(seconds, 10.0), status)
        time.sleep(1.5)  # let the per-second buckets refill
        put_lat: list[float] = []
        get_lat: list[float] = []
        failures: list[int] = []

        def chart(i: int) -> bool:
            # One pair: read the chart, then write it back with its ETag (toggle a watch mark).
            gpid = targets[i % len(targets)]
            c = clients[i % 3]
            t = time.perf_counter()
            r = c.get(f"/odonto/v1/chart/{gpid}")
            get_lat.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200:
                failures.append(r.status_code)
                return False
            marks = [m for m in r.json()["marks"] if m["id"] != f"bench-{gpid}"]
            if i % 2:
                marks.append({"id": f"bench-{gpid}", "tooth": "3", "kind": "watch", "status": "cn", "surfaces": ["O"]})
            t = time.perf_counter()
            w = c.put(f"/odonto/v1/chart/{gpid}", json={"marks": marks},
                      headers={"If-Match": r.headers["etag"], "X-Apex-GPID": gpid})
            put_lat.append((time.perf_counter() - t) * 1000)
            if w.status_code != 200:
                failures.append(w.status_code)
            return w.status_code == 200

        _, errors = _drive(40.0, seconds, chart)  # 40 pairs/s = 80 requests/s
        lat = get_lat + put_lat
        for c in clients:
            c.close()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)  # the copy: 1.9 GB after a full run
    p50, p95, p99 = percentiles(lat, 50, 95, 99)
    b95 = percentiles(base_lat, 95)[0]
    g95 = percentiles(get_lat, 95)[0] if get_lat else 0.0
    w95 = percentiles(put_lat, 95)[0] if put_lat else 0.0
    common = {"resources": resources, "patients": patients, "rate_per_s": 80, "seconds": seconds, "requests": len(lat),
              "errors": errors, "error_statuses": sorted(set(failures))}
    return [
        {"name": "sandbox_chart_latency", "value": round(p95, 2), "unit": "ms p95", "baseline": round(b95, 2),
         "p50": round(p50, 2), "p99": round(p99, 2), "get_p95": round(g95, 2), "put_p95": round(w95, 2),
         "baseline_is": "GET /status p95", **common},
    ]


BENCHMARKS = {"sandbox_chart_latency": sandbox_chart_latency}
