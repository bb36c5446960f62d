"""The sync engine against the real reference server on loopback, with a real SQLite cache file.

Network faults come from a real TCP proxy (tests/proxy.py); the client is never patched.
"""

from __future__ import annotations

import copy
import json
import random
import time

import httpx
import pytest
from helpers import ADMIN_KEY, GPID, admin_client, proxied_client

from odonto_desk.api.auth import ApiKey
from odonto_desk.api.client import ApexClient
from odonto_desk.api.ratelimit import TokenBucket
from odonto_desk.api.webhooks import WebhookReceiver, sign
from odonto_desk.domain.chart import ChartMark
from odonto_desk.fhir.codes import GPID_SYSTEM
from odonto_desk.fhir.mapping import to_fhir
from odonto_desk.sandbox.app import ServerConfig
from odonto_desk.sandbox.runner import start_in_thread
from odonto_desk.store.cache import Cache
from odonto_desk.store.sync import TYPES, SyncEngine, build_transaction, same_content

USER, ROLE = "dr.lee", "dentist"
OPEN = ("pending", "sending", "conflict")


# --- set-up ----------------------------------------------------------------------------------------


@pytest.fixture
def cache_file(tmp_path):
    caches: list[Cache] = []

    def open_cache(name: str = "cache.sqlite") -> Cache:
        c = Cache(tmp_path / name)
        caches.append(c)
        return c

    yield open_cache
    for c in caches:
        assert c.integrity_check() == "ok"
        c.close()


def patient_json(load_example, gpid: str = GPID) -> dict:
    p = copy.deepcopy(load_example("patient.json"))
    p.pop("id")
    p["identifier"][0]["value"] = gpid
    p["identifier"] = p["identifier"][:1]
    return p


def mark(pid: str, tooth: str = "30", note: str = "", status: str = "cn") -> dict:
    kind, code = ("caries", None) if status == "cn" else ("filling", "D2392")
    resource = to_fhir(ChartMark(patient=pid, tooth=tooth, kind=kind, status=status, surfaces="M",
                                 material="composite" if code else None, code=code, note=note))
    resource.pop("id")
    return resource


def note_of(resource: dict) -> str:
    return " ".join(n.get("text", "") for n in resource.get("note") or [])


def with_note(resource: dict, text: str) -> dict:
    out = copy.deepcopy(resource)
    out["note"] = [{"text": text}]
    return out


def open_rows(cache: Cache) -> list:
    return cache.outbox.entries(OPEN)


def server_conditions(apex: ApexClient, pid: str) -> list[dict]:
    return list(apex.search("Condition", {"patient": pid, "_count": 1000}))


def history_versions(apex: ApexClient, rtype: str, rid: str) -> list[int]:
    return sorted(int(e["response"]["etag"].strip('W/"')) for e in apex.history(rtype, rid)["entry"])


def sync_until_settled(engine: SyncEngine, cache: Cache, rounds: int = 40):
    for _ in range(rounds):
        report = engine.run_once()
        if report.pull is not None and not report.pull.stopped and not open_rows(cache):
            return report
    raise AssertionError(f"sync did not settle: {open_rows(cache)}")


# --- pure parts --------------------------------------------------------------------------------------


def test_a_transaction_bundle_is_the_same_bytes_every_time_and_links_its_creates():
    from odonto_desk.store.outbox import PushItem

    pid, cid = "0b7e2f0e-2f55-4a55-9d39-2b1e0b7b0a11", "5a1f..x"
    items = [PushItem((1,), "Patient", pid, "create", {"resourceType": "Patient", "id": pid}, None, "k1", GPID),
             PushItem((2,), "Condition", cid, "create",
                      {"resourceType": "Condition", "id": cid, "subject": {"reference": f"Patient/{pid}"}},
                      None, "k2", GPID),
             PushItem((3,), "Condition", "c9", "update", {"resourceType": "Condition", "id": "c9"}, "4", "k3", GPID)]
    bundle = build_transaction(items)
    assert json.dumps(bundle) == json.dumps(build_transaction(copy.deepcopy(items)))
    first, second, third = bundle["entry"]
    assert first["fullUrl"] == f"urn:uuid:{pid}" and "id" not in first["resource"]
    assert second["resource"]["subject"]["reference"] == f"urn:uuid:{pid}"
    assert second["fullUrl"].startswith("urn:uuid:")  # a non-uuid client id gets a stable uuid
    assert third["request"] == {"method": "PUT", "url": "Condition/c9", "ifMatch": 'W/"4"'}


def test_same_content_ignores_only_server_bookkeeping():
    a = {"resourceType": "Condition", "id": "x", "meta": {"versionId": "1", "lastUpdated": "t"}, "note": [1]}
    assert same_content(a, {"resourceType": "Condition", "note": [1]})
    assert not same_content(a, {"resourceType": "Condition", "note": [2]})
    assert not same_content(a, {**a, "meta": {"versionId": "2", "tag": [{"code": "x"}]}})
    assert not same_content(a, None)


# --- push ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transactions", [True, False], ids=["transaction", "per-item"])
def test_a_chart_mark_made_offline_arrives_once_under_the_servers_ids(apex, proxy, cache_file, load_example,
                                                                       transactions):
    cache = cache_file()
    engine = SyncEngine(cache, proxied_client(proxy), transactions=transactions)
    proxy.down()
    patient = cache.create(patient_json(load_example), USER, ROLE, gpid=GPID)
    local = cache.create(mark(patient["id"], note="offline mark"), USER, ROLE, gpid=GPID)
    stopped = engine.push()
    assert stopped.stopped and stopped.confirmed == 0
    status = engine.status()
    assert status.state == "offline" and status.queued == 2 and status.errors

    proxy.up()
    report = engine.run_once()
    assert report.push.confirmed == 2 and report.push.transactions == (1 if transactions else 0)
    pid = cache.server_id_for("Patient", patient["id"])
    cid = cache.server_id_for("Condition", local["id"])
    assert pid and cid and pid != patient["id"] and cid != local["id"]
    on_server = server_conditions(apex, pid)
    assert [c["id"] for c in on_server] == [cid]
    assert on_server[0]["subject"]["reference"] == f"Patient/{pid}" and note_of(on_server[0]) == "offline mark"
    assert len(list(apex.search("Patient", {"identifier": f"{GPID_SYSTEM}|{GPID}"}))) == 1
    cached = cache.get("Condition", cid)
    assert cached is not None and cached["subject"]["reference"] == f"Patient/{pid}"
    assert cache.get("Condition", local["id"]) is None and cache.row("Condition", cid).version == "1"
    assert [r["id"] for r in cache.patient_resources(pid, ["Condition"])] == [cid]
    assert open_rows(cache) == []
    status = engine.status()
    assert (status.state, status.queued, status.conflicts) == ("online", 0, 0) and status.last_sync
    assert status.latency_ms is not None and status.latency_ms >= 0


def test_a_hundred_offline_edits_arrive_exactly_once_and_in_order(apex, proxy, cache_file, load_example):
    gpids = ["APX-AAAA0001", "APX-AAAA0002", "APX-AAAA0003"]
    pids = [apex.create(patient_json(load_example, g), gpid=g)["id"] for g in gpids]
    for pid, g in zip(pids, gpids, strict=True):
        apex.create(mark(pid, note="from the server"), gpid=g)
    cache = cache_file()
    engine = SyncEngine(cache, proxied_client(proxy))
    assert engine.run_once().pull.fetched == 6

    proxy.down()
    assert engine.push().stopped is None  # nothing queued yet: nothing to send
    rng = random.Random(7)
    new_patient = cache.create(patient_json(load_example, "APX-AAAA0004"), USER, ROLE, gpid="APX-AAAA0004")
    gpids.append("APX-AAAA0004")
    pids.append(new_patient["id"])
    known = [r for pid in pids[:3] for r in cache.patient_resources(pid, ["Condition"])]
    targets = [(r["id"], gpids[pids.index(r["subject"]["reference"][8:])]) for r in known]
    last_note: dict[str, str] = {r["id"]: note_of(r) for r in known}
    edits = 1
    while edits < 100:
        n = rng.randrange(len(pids))
        if rng.random() < 0.35 or not targets:
            made = cache.create(mark(pids[n], tooth=str(rng.randint(1, 32)), note=f"edit {edits}"),
                                USER, ROLE, gpid=gpids[n])
            targets.append((made["id"], gpids[n]))
            last_note[made["id"]] = f"edit {edits}"
        else:
            rid, g = rng.choice(targets)
            cache.edit(with_note(cache.get("Condition", rid), f"edit {edits}"), USER, ROLE, gpid=g)
            last_note[rid] = f"edit {edits}"
        edits += 1
    assert engine.push().stopped and engine.status().state == "offline"
    assert engine.status(probe=False).queued == 100

    proxy.up()
    report = sync_until_settled(engine, cache)
    assert report.push.rejected == [] and report.push.conflicts == [] and cache.open_conflicts() == []
    server_pids = [cache.server_id_for("Patient", p) or p for p in pids]
    on_server = {c["id"]: c for pid in server_pids for c in server_conditions(apex, pid)}
    expected = {cache.server_id_for("Condition", rid) or rid: text for rid, text in last_note.items()}
    assert len(on_server) == len(expected)  # every create once, none twice
    assert {rid: note_of(c) for rid, c in on_server.items()} == expected  # the last edit won everywhere
    new_pid = server_pids[3]
    born = apex.read("Patient", new_pid)["meta"]["lastUpdated"]
    for rid, resource in on_server.items():
        versions = history_versions(apex, "Condition", rid)
        assert versions == list(range(1, len(versions) + 1)) and versions[-1] == int(resource["meta"]["versionId"])
        if resource["subject"]["reference"] == f"Patient/{new_pid}":
            assert apex.vread("Condition", rid, 1)["meta"]["lastUpdated"] > born  # the patient came first
    assert engine.status().queued == 0


@pytest.mark.parametrize("transactions", [True, False], ids=["transaction", "per-item"])
def test_lost_answers_during_a_push_make_no_duplicates(sandbox, apex, proxy, cache_file, load_example, transactions):
    pid = apex.create(patient_json(load_example), gpid=GPID)["id"]
    existing = apex.create(mark(pid, note="v1"), gpid=GPID)
    cache = cache_file()
    # No client retries: every lost answer reaches the engine, which must repeat the request safely.
    engine = SyncEngine(cache, proxied_client(proxy, retries=0), transactions=transactions)
    engine.pull()
    made = [cache.create(mark(pid, tooth=str(t), note=f"new {t}"), USER, ROLE, gpid=GPID) for t in (3, 14, 19)]
    for _ in range(3):  # the creates land, their answers do not
        proxy.lose_responses(1)
        assert engine.push().stopped
    assert engine.push().stopped is None and not open_rows(cache)
    assert proxy.lost == 3
    for m in made:
        assert cache.get("Condition", cache.server_id_for("Condition", m["id"]))["meta"]["versionId"] == "1"

    cache.edit(with_note(cache.get("Condition", existing["id"]), "v2 offline"), USER, ROLE, gpid=GPID)
    proxy.lose_responses(1)  # the PUT lands, its answer does not; a PUT is never repeated blindly
    assert engine.push().stopped
    report = engine.push()  # If-Match on v1 now fails: our own write, recognised, not a conflict
    assert report.confirmed == 1 and report.conflicts == [] and cache.open_conflicts() == []
    assert cache.row("Condition", existing["id"]).version == "2" and not open_rows(cache)
    conditions = server_conditions(apex, pid)
    assert sorted(note_of(c) for c in conditions) == ["new 14", "new 19", "new 3", "v2 offline"]
    assert history_versions(apex, "Condition", existing["id"]) == [1, 2]  # the PUT landed once
    for m in made:
        assert history_versions(apex, "Condition", cache.server_id_for("Condition", m["id"])) == [1]


def test_an_edit_queued_behind_an_unconfirmed_create_follows_it_to_the_servers_id(apex, proxy, cache_file,
                                                                                 load_example):
    pid = apex.create(patient_json(load_example), gpid=GPID)["id"]
    cache = cache_file()
    engine = SyncEngine(cache, proxied_client(proxy), transactions=False)
    engine.pull()
    proxy.down()
    made = cache.create(mark(pid, note="first"), USER, ROLE, gpid=GPID)
    assert engine.push().stopped  # the create is now frozen, not confirmed
    bad = with_note(cache.get("Condition", made["id"]), "second")
    bad["bodySite"][0]["coding"][0]["code"] = "33"
    cache.edit(bad, USER, ROLE, gpid=GPID)
    proxy.up()
    report = engine.push()  # the create lands; the edit queued behind it is refused
    assert report.confirmed == 1 and [r[0] for r in report.rejected] == ["Condition"]
    cid = cache.server_id_for("Condition", made["id"])
    assert cid and cache.get("Condition", cid)["id"] == cid  # the waiting local edit carries the new id
    fixed = with_note(cache.get("Condition", cid), "third")
    fixed["bodySite"][0]["coding"][0]["code"] = "30"
    cache.edit(fixed, USER, ROLE, gpid=GPID)
    report = engine.push()  # the fix replaces the refused edit; the refused one is not sent after it
    assert report.stopped is None and report.rejected == [] and report.conflicts == [] and not open_rows(cache)
    assert note_of(apex.read("Condition", cid)) == "third"
    assert history_versions(apex, "Condition", cid) == [1, 2]
    assert [c["id"] for c in server_conditions(apex, pid)] == [cid]


def test_two_clients_editing_the_same_resource_get_a_conflict_and_resolve_it(sandbox, apex, cache_file, load_example):
    pid = apex.create(patient_json(load_example), gpid=GPID)["id"]
    cid = apex.create(mark(pid, note="v1"), gpid=GPID)["id"]
    a, b = cache_file("a.sqlite"), cache_file("b.sqlite")
    ea, eb = SyncEngine(a, admin_client(sandbox.base_url)), SyncEngine(b, admin_client(sandbox.base_url))
    ea.run_once()
    eb.run_once()

    a.edit(with_note(a.get("Condition", cid), "from A"), USER, ROLE, gpid=GPID)
    b.edit(with_note(b.get("Condition", cid), "from B"), USER, ROLE, gpid=GPID)
    assert ea.push().confirmed == 1
    pushed = eb.push()
    assert pushed.conflicts == [("Condition", cid)] and pushed.confirmed == 0
    assert note_of(apex.read("Condition", cid)) == "from A"  # A's edit is not overwritten
    assert note_of(b.get("Condition", cid)) == "from B"  # nor is B's
    [conflict] = b.open_conflicts()
    assert note_of(conflict.server) == "from A" and conflict.server_version == "2"
    assert eb.status(probe=False).conflicts == 1
    assert eb.run_once().push.confirmed == 0  # held until resolved; a pull does not bury it
    assert note_of(b.get("Condition", cid)) == "from B" and len(b.open_conflicts()) == 1

    b.resolve(conflict.cid, "mine", USER, ROLE)
    eb.run_once()
    server = apex.read("Condition", cid)
    assert note_of(server) == "from B" and server["meta"]["versionId"] == "3"
    ea.run_once()
    assert note_of(a.get("Condition", cid)) == "from B"

    a.edit(with_note(a.get("Condition", cid), "A again"), USER, ROLE, gpid=GPID)
    b.edit(with_note(b.get("Condition", cid), "B again"), USER, ROLE, gpid=GPID)
    ea.push()
    assert eb.push().conflicts == [("Condition", cid)]
    [conflict] = b.open_conflicts()
    assert b.resolve(conflict.cid, "theirs", USER, ROLE) is None
    report = eb.run_once()
    assert report.push.confirmed == 0 and not open_rows(b)
    assert note_of(b.get("Condition", cid)) == "A again" and b.row("Condition", cid).local_state == "clean"
    assert apex.read("Condition", cid)["meta"]["versionId"] == "4"  # "theirs" sends nothing


def test_a_transaction_refused_for_one_stale_edit_sends_the_rest_and_holds_only_that_one(sandbox, apex, cache_file,
                                                                                          load_example):
    pid = apex.create(patient_json(load_example), gpid=GPID)["id"]
    first, second = (apex.create(mark(pid, tooth=t, note="v1"), gpid=GPID) for t in ("2", "3"))
    cache = cache_file()
    engine = SyncEngine(cache, admin_client(sandbox.base_url), transactions=True)
    engine.pull()
    apex.update(with_note(first, "changed on the server"), gpid=GPID, version=1)
    cache.edit(with_note(cache.get("Condition", first["id"]), "mine"), USER, ROLE, gpid=GPID)
    cache.edit(with_note(cache.get("Condition", second["id"]), "mine too"), USER, ROLE, gpid=GPID)
    made = cache.create(mark(pid, tooth="4", note="new"), USER, ROLE, gpid=GPID)
    report = engine.push()
    assert report.transactions == 0 and report.confirmed == 2 and report.conflicts == [("Condition", first["id"])]
    assert note_of(apex.read("Condition", first["id"])) == "changed on the server"
    assert note_of(apex.read("Condition", second["id"])) == "mine too"
    assert note_of(apex.read("Condition", cache.server_id_for("Condition", made["id"]))) == "new"
    assert len(server_conditions(apex, pid)) == 3 and [c.id for c in cache.open_conflicts()] == [first["id"]]


def test_a_rejected_edit_is_reported_and_does_not_block_the_queue(sandbox, apex, cache_file, load_example):
    pid = apex.create(patient_json(load_example), gpid=GPID)["id"]
    cache = cache_file()
    engine = SyncEngine(cache, admin_client(sandbox.base_url))
    engine.pull()
    bad = mark(pid, note="bad")
    bad["bodySite"][0]["coding"][0]["code"] = "33"  # not a tooth: the server refuses it
    cache.create(bad, USER, ROLE, gpid=GPID)
    cache.create(mark(pid, note="good"), USER, ROLE, gpid=GPID)
    report = engine.run_once()
    assert [r[0] for r in report.push.rejected] == ["Condition"] and "33" in report.push.rejected[0][2]
    assert report.push.confirmed == 1 and report.pull is not None
    assert [note_of(c) for c in server_conditions(apex, pid)] == ["good"]
    [left] = open_rows(cache)
    assert left.state == "sending" and "33" in left.last_error
    status = engine.status()
    assert status.queued == 1 and any("33" in e for e in status.errors)


# --- pull ---------------------------------------------------------------------------------------------


def test_pull_pages_through_everything_then_fetches_only_what_changed(sandbox, apex, cache_file, load_example):
    pid = apex.create(patient_json(load_example), gpid=GPID)["id"]
    for start in range(0, 249, 83):
        bundle = {"resourceType": "Bundle", "type": "transaction",
                  "entry": [{"resource": mark(pid, tooth=str(1 + n % 32), note=f"n{n}"),
                             "request": {"method": "POST", "url": "Condition"}} for n in range(start, start + 83)]}
        apex.transaction(bundle, gpid=GPID)
    client = admin_client(sandbox.base_url)
    cache = cache_file()
    engine = SyncEngine(cache, client, page_size=100)
    before = client.stats["requests"]
    report = engine.pull()
    assert (report.fetched, report.stored, report.skipped) == (250, 250, [])
    assert report.pages == len(TYPES) + 2  # Condition took 3 pages
    # …and per type one look at its _history for deletes, after one look at the CapabilityStatement
    assert client.stats["requests"] - before == report.pages + 1 + len(TYPES)
    assert len(cache.patient_resources(pid, ["Condition"])) == 249

    changed = server_conditions(apex, pid)[100]
    apex.update(with_note(changed, "changed on the server"), gpid=GPID, version=1)
    before = client.stats["requests"]
    report = engine.pull()
    assert (report.fetched, report.stored) == (1, 1)
    assert client.stats["requests"] - before == 2 * len(TYPES)
    assert note_of(cache.get("Condition", changed["id"])) == "changed on the server"
    assert engine.pull().fetched == 0


def test_a_malformed_resource_on_the_server_is_skipped_and_reported(sandbox, apex, cache_file, load_example):
    pid = apex.create(patient_json(load_example), gpid=GPID)["id"]
    good = [apex.create(mark(pid, tooth=str(t)), gpid=GPID)["id"] for t in (2, 3, 4)]
    store = sandbox.server.store  # written behind the API's validation
    store.update("Condition", "bad id!", {**mark(pid, tooth="5"), "resourceType": "Condition"})
    store.update("Condition", "wrong-type", {**mark(pid, tooth="6"), "resourceType": "Procedure"})
    apex.create(mark(pid, tooth="7", note="after the bad ones"), gpid=GPID)
    cache = cache_file()
    engine = SyncEngine(cache, admin_client(sandbox.base_url))
    report = engine.pull()
    assert sorted(s[1] for s in report.skipped) == ["bad id!", "wrong-type"]
    assert report.stored == 5 and report.stopped is None
    ids = {r["id"] for r in cache.patient_resources(pid, ["Condition"])}
    assert len(ids) == 4 and set(good) <= ids
    assert cache.integrity_check() == "ok"
    assert len(engine.status(probe=False).errors) == 2
    assert engine.pull().fetched == 0  # the cursor moved past them: not fetched (and reported) forever


def test_a_plain_fhir_server_works_too(sandbox, apex, cache_file, load_example):
    pid = apex.create(patient_json(load_example), gpid=GPID)["id"]
    client = ApexClient(fhir_base=sandbox.fhir_base, credentials=ApiKey(ADMIN_KEY), backoff_base=0.01)
    cache = cache_file()
    engine = SyncEngine(cache, client, transactions=False)
    engine.run_once()
    made = cache.create(mark(pid, note="plain"), USER, ROLE, gpid=GPID)
    cache.queue_op("procedures/post", {"procedures": []}, USER, ROLE, gpid=GPID)
    report = engine.run_once()
    assert report.push.confirmed == 1 and "plain FHIR" in report.push.rejected[0][2]
    cid = cache.server_id_for("Condition", made["id"])
    assert note_of(apex.read("Condition", cid)) == "plain"
    apex.update(with_note(apex.read("Condition", cid), "edited elsewhere"), gpid=GPID, version=1)
    engine.pull()
    assert note_of(cache.get("Condition", cid)) == "edited elsewhere"
    assert engine.status().state == "online"


def test_a_429_storm_is_ridden_out_without_duplicates(tmp_path, cache_file, load_example):
    with start_in_thread(ServerConfig(db_path=tmp_path / "busy.sqlite", burst=5, per_second=5.0)) as srv:
        greedy = TokenBucket(per_second=1000.0, burst=1000)  # far above what the server allows
        client = admin_client(srv.base_url, limiter=greedy, retries=1)
        cache = cache_file()
        engine = SyncEngine(cache, client, types=("Patient", "Condition"), transactions=False)
        patient = cache.create(patient_json(load_example), USER, ROLE, gpid=GPID)
        for t in range(1, 13):
            cache.create(mark(patient["id"], tooth=str(t), note=f"m{t}"), USER, ROLE, gpid=GPID)
        report = sync_until_settled(engine, cache)
        assert client.stats["throttled"] > 0 and report.pull.stopped is None
        pid = cache.server_id_for("Patient", patient["id"])
        notes = sorted(note_of(c) for c in server_conditions(admin_client(srv.base_url), pid))
        assert notes == sorted(f"m{t}" for t in range(1, 13))
        assert len(cache.patient_resources(pid, ["Condition"])) == 12


# --- webhooks and the background loop ------------------------------------------------------------------


SECRET = "sync-test-secret-0123456789"


def test_a_webhook_pulls_the_plan_and_a_replay_is_not_applied_twice(sandbox, apex, cache_file, load_example):
    pid = apex.create(patient_json(load_example), gpid=GPID)["id"]
    cache = cache_file()
    client = admin_client(sandbox.base_url)
    engine = SyncEngine(cache, client)
    engine.run_once()
    receiver = WebhookReceiver(lambda: [SECRET], engine.first_delivery, engine.on_webhook).start()
    try:
        sub = apex.subscribe_webhook(receiver.url, ["odonto.treatment_plan.updated"], secret=SECRET)
        plan = copy.deepcopy(load_example("careplan-treatment-plan.json"))
        plan["subject"] = {"reference": f"Patient/{pid}"}
        for k in ("identifier", "addresses"):
            plan.pop(k)
        plan["activity"][0]["detail"].pop("reasonReference")
        out = apex.post_treatment_plan(GPID, plan, [])
        deadline = time.monotonic() + 10
        # The event counts as applied once its pull has finished; the page's rows land just before.
        while engine.webhooks_applied == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        [cached] = cache.patient_resources(pid, ["CarePlan"])
        assert cached["title"] == plan["title"] and engine.webhooks_applied == 1
        assert out["care_plan_id"]
        [delivery] = apex.webhook_deliveries(sub["id"])
        requests = client.stats["requests"]
        body = json.dumps({"event": "odonto.treatment_plan.updated", "care_plan_id": out["care_plan_id"],
                           "patient_gpid": GPID, "procedures_added": 1}).encode()
        ts = int(time.time())
        replayed = httpx.post(receiver.url, content=body, headers={
            "X-Apex-Delivery": delivery["id"], "X-Apex-Timestamp": str(ts),
            "X-Apex-Signature": f"v1={sign(SECRET, ts, body)}"})
        assert replayed.status_code == 200  # acknowledged, not applied
        assert engine.webhooks_applied == 1 and client.stats["requests"] == requests
    finally:
        receiver.stop()


def test_the_background_loop_syncs_on_its_own_connection(sandbox, apex, cache_file, load_example):
    pid = apex.create(patient_json(load_example), gpid=GPID)["id"]
    cache = cache_file()
    engine = SyncEngine(cache, admin_client(sandbox.base_url), types=("Patient", "Condition"))
    engine.start(interval=0.05)
    try:
        deadline = time.monotonic() + 10
        while cache.get("Patient", pid) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        made = cache.create(mark(pid, note="from the loop"), USER, ROLE, gpid=GPID)
        engine.wake()
        while cache.server_id_for("Condition", made["id"]) is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        engine.stop()
    cid = cache.server_id_for("Condition", made["id"])
    assert cid and note_of(apex.read("Condition", cid)) == "from the loop"
    assert engine.status(probe=False).last_sync is not None


# --- deletes on the server that a search does not report ---------------------------------------------


@pytest.mark.parametrize("history_type", [True, False], ids=["type-history", "plain-server-id-check"])
def test_a_resource_deleted_on_the_server_is_marked_deleted_by_the_next_pull(tmp_path, cache_file, load_example,
                                                                            history_type):
    """Another client deletes two conditions; one of them has a local edit waiting here."""
    config = ServerConfig(db_path=tmp_path / "apex.sqlite", history_type=history_type)
    with start_in_thread(config) as srv:
        other = admin_client(srv.base_url)  # another desk
        pid = other.create(patient_json(load_example), gpid=GPID)["id"]
        gone, edited, kept = (other.create(mark(pid, t, note=f"server {t}"), gpid=GPID)["id"] for t in ("2", "3", "4"))
        cache = cache_file()
        engine = SyncEngine(cache, admin_client(srv.base_url), types=("Patient", "Condition"),
                            delete_check_interval=0)
        assert engine.run_once().pull.stored == 4
        assert engine.pull().deleted == []  # nothing deleted yet: nothing marked

        cache.edit(with_note(cache.get("Condition", edited), "edited here"), USER, ROLE, gpid=GPID)
        other.delete("Condition", gone, gpid=GPID)
        other.delete("Condition", edited, gpid=GPID)
        report = engine.pull()
        assert report.stopped is None
        assert report.deleted == [("Condition", gone)] and report.conflicts == [("Condition", edited)]

        row = cache.row("Condition", gone)  # kept, flagged, no longer shown
        assert row is not None and row.deleted and note_of(row.content) == "server 2"
        assert cache.get("Condition", gone) is None
        assert {r["id"] for r in cache.patient_resources(pid, ["Condition"])} == {edited, kept}
        assert [(e.user, e.action) for e in cache.audit.entries("Condition", gone)] == [("server", "deleted")]
        assert cache.audit.verify() is None

        # The local edit is held as a conflict against the delete, not dropped and not sent.
        [conflict] = cache.open_conflicts()
        assert (conflict.id, conflict.server, note_of(conflict.local)) == (edited, None, "edited here")
        assert {e.state for e in cache.outbox.entries() if e.id == edited} == {"conflict"}
        assert engine.push().confirmed == 0
        assert note_of(cache.get("Condition", edited)) == "edited here"

        again = engine.pull()
        assert again.deleted == [] and again.conflicts == []  # seen once
        cache.resolve(conflict.cid, "theirs", USER, ROLE)
        assert cache.get("Condition", edited) is None and cache.row("Condition", edited).deleted
        assert {r["id"] for r in cache.patient_resources(pid, ["Condition"])} == {kept}
        assert cache.outbox.entries(OPEN) == []
