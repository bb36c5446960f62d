"""Sync over a bad link: a slow one and one whose responses break off mid-body, during push and pull.

The faults are made on the wire by the real loopback proxy (tests/proxy.py) in front of the real
reference server; the client and the engine are not patched. Every test ends the same way: once
the fault is lifted the outbox drains, and the server holds every edit exactly once.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from helpers import GPID, admin_client, proxied_client
from proxy import FaultProxy
from test_sync import (
    OPEN,
    ROLE,
    USER,
    history_versions,
    mark,
    note_of,
    patient_json,
    server_conditions,
    sync_until_settled,
    with_note,
)

from odonto_desk.api.auth import REFRESH_SHARE, ClientCredentials
from odonto_desk.api.client import ApexClient
from odonto_desk.api.errors import Gone
from odonto_desk.sandbox.app import ServerConfig
from odonto_desk.sandbox.runner import start_in_thread
from odonto_desk.services.sync import SyncBadge
from odonto_desk.store.cache import Cache
from odonto_desk.store.sync import SyncEngine


@pytest.fixture
def cache(tmp_path):
    c = Cache(tmp_path / "cache.sqlite")
    yield c
    assert c.integrity_check() == "ok"
    c.close()


class Scenario:
    """A patient with three conditions on the server, synced; then offline: creates, edits and a delete."""

    def __init__(self, apex: ApexClient, cache: Cache, engine: SyncEngine, load_example) -> None:
        self.apex, self.cache = apex, cache
        self.pid = apex.create(patient_json(load_example), gpid=GPID)["id"]
        s1, s2, s3 = (apex.create(mark(self.pid, str(t), note=f"server {t}"), gpid=GPID)["id"] for t in (2, 3, 4))
        assert engine.run_once().pull.stored == 4
        self.expected: dict[str, str] = {s1: "server 2", s2: "server 3"}  # local or server id → final note
        self.deleted = s3
        # Interleaved so that creates, updates and the delete all reach the wire in one push.
        self._create("offline 1")
        self._edit(s1, "edited offline")
        self._create("offline 2")
        cache.delete("Condition", s3, USER, ROLE, gpid=GPID)
        self._create("offline 3")
        self._edit(s2, "edited offline too")
        self.queued = len(cache.outbox.entries(OPEN))

    def _create(self, note: str) -> None:
        made = self.cache.create(mark(self.pid, "19", note=note), USER, ROLE, gpid=GPID)
        self.expected[made["id"]] = note

    def _edit(self, rid: str, note: str) -> None:
        self.cache.edit(with_note(self.cache.get("Condition", rid), note), USER, ROLE, gpid=GPID)
        self.expected[rid] = note

    def assert_landed_once(self) -> None:
        """The outbox is empty; the server holds each resource once, each edit once, the delete done."""
        cache, apex = self.cache, self.apex
        assert cache.outbox.entries(OPEN) == [] and cache.open_conflicts() == []
        want = {cache.server_id_for("Condition", rid) or rid: note for rid, note in self.expected.items()}
        server = {c["id"]: c for c in server_conditions(apex, self.pid)}
        assert {rid: note_of(c) for rid, c in server.items()} == want
        for rid, resource in server.items():
            assert history_versions(apex, "Condition", rid) == \
                list(range(1, int(resource["meta"]["versionId"]) + 1))  # no version written twice
            assert note_of(cache.get("Condition", rid)) == want[rid]
            assert cache.row("Condition", rid).version == resource["meta"]["versionId"]
        with pytest.raises(Gone):
            apex.read("Condition", self.deleted)
        assert cache.get("Condition", self.deleted) is None


# --- a response reset in the middle of its body -------------------------------------------------------


@pytest.mark.parametrize("transactions", [True, False], ids=["transaction", "per-item"])
def test_responses_reset_mid_body_during_push_lose_and_double_nothing(apex, proxy, cache, load_example,
                                                                       transactions):
    engine = SyncEngine(cache, proxied_client(proxy), types=("Patient", "Condition"), transactions=transactions)
    scene = Scenario(apex, cache, engine, load_example)
    proxy.reset_mid_body(40, every=2)  # every other answer breaks off: POSTs, PUTs, the DELETE, the GETs
    pushes = 0
    while cache.outbox.entries(OPEN) and pushes < 20:
        engine.push()
        pushes += 1
    assert proxy.resets >= 3
    assert pushes > 1  # a PUT or DELETE whose answer broke off is not repeated blindly: the push stopped
    proxy.reset_mid_body(0)
    sync_until_settled(engine, cache)
    scene.assert_landed_once()


def test_a_pull_whose_pages_break_off_stores_each_page_once_and_resumes_after_the_last_one(apex, proxy, cache,
                                                                                           load_example):
    engine = SyncEngine(cache, proxied_client(proxy), types=("Patient", "Condition"), page_size=2)
    scene = Scenario(apex, cache, engine, load_example)
    sync_until_settled(engine, cache)
    for t in range(5, 12):  # seven new conditions from elsewhere: four pages of two
        made = apex.create(mark(scene.pid, str(t), note=f"elsewhere {t}"), gpid=GPID)
        scene.expected[made["id"]] = f"elsewhere {t}"
    cursor = cache.cursor("Condition")

    proxy.reset_mid_body(8, every=2)  # every page breaks off once and comes on the retry
    report = engine.pull()
    assert report.stopped is None and proxy.resets >= 4 and report.stored == 7

    for t in range(12, 19):
        made = apex.create(mark(scene.pid, str(t), note=f"later {t}"), gpid=GPID)
        scene.expected[made["id"]] = f"later {t}"
    before = cache.cursor("Condition")
    assert before is not None and before > cursor
    # The Patient search passes; then the Condition search's first page; then its second page
    # breaks off more often than the client retries: the pull stops there.
    proxy.reset_mid_body(engine.client.retries + 1, after=2)
    stopped = engine.pull()
    assert stopped.stopped and "NetworkError" in stopped.stopped
    after_first_page = cache.cursor("Condition")
    assert after_first_page is not None and after_first_page > before  # page one is stored with its cursor
    assert len([c for c in cache.of_type("Condition") if note_of(c).startswith("later")]) == 2
    resumed = engine.pull()
    assert resumed.stopped is None and resumed.stored == 5  # only what it had not stored yet
    scene.assert_landed_once()


# --- a gateway answering 5xx for a failing server --------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
@pytest.mark.parametrize("transactions", [True, False], ids=["transaction", "per-item"])
def test_server_errors_during_push_and_pull_converge_with_nothing_lost_or_doubled(apex, proxy, cache, load_example,
                                                                                  transactions, status):
    engine = SyncEngine(cache, proxied_client(proxy), types=("Patient", "Condition"), transactions=transactions)
    scene = Scenario(apex, cache, engine, load_example)
    for t in range(5, 8):
        made = apex.create(mark(scene.pid, str(t), note=f"elsewhere {t}"), gpid=GPID)
        scene.expected[made["id"]] = f"elsewhere {t}"
    proxy.fail_requests(12, status=status, every=2)  # every other request, writes and reads alike
    rounds = 0
    while (cache.outbox.entries(OPEN) or proxy.failed < 12) and rounds < 30:
        engine.run_once()
        rounds += 1
    assert proxy.failed == 12 and rounds > 1  # the errors really came, and stopped a round or more
    proxy.fail_requests(0)
    sync_until_settled(engine, cache)
    scene.assert_landed_once()
    assert {note_of(c) for c in cache.of_type("Condition")} >= {"elsewhere 5", "elsewhere 6", "elsewhere 7"}


# --- a slow link ---------------------------------------------------------------------------------


def test_a_slow_link_within_the_timeout_syncs_everything(apex, proxy, cache, load_example):
    engine = SyncEngine(cache, proxied_client(proxy, timeout=2.0), types=("Patient", "Condition"), transactions=False)
    scene = Scenario(apex, cache, engine, load_example)
    proxy.latency(0.03)  # each chunk, either way
    started = time.perf_counter()
    sync_until_settled(engine, cache, rounds=1)
    assert time.perf_counter() - started > 0.03 * 2 * scene.queued  # the link really was slow
    scene.assert_landed_once()


@pytest.mark.parametrize("transactions", [True, False], ids=["transaction", "per-item"])
def test_a_link_slower_than_the_timeout_stops_the_sync_and_it_drains_once_the_link_is_fast(apex, proxy, cache,
                                                                                         load_example, transactions):
    client = proxied_client(proxy, timeout=0.25, retries=1)
    engine = SyncEngine(cache, client, types=("Patient", "Condition"), transactions=transactions)
    scene = Scenario(apex, cache, engine, load_example)
    proxy.latency(0.4)  # the request still reaches the server (and is written); its answer comes too late
    pushed = engine.push()
    assert pushed.stopped and "NetworkError" in pushed.stopped and pushed.confirmed == 0
    pulled = engine.pull()
    assert pulled.stopped and "NetworkError" in pulled.stopped
    assert len(cache.outbox.entries(OPEN)) == scene.queued
    time.sleep(0.5)  # let the last slow request through to the server before the link is fixed
    proxy.latency(0)
    sync_until_settled(engine, cache)
    scene.assert_landed_once()


# --- credentials that expire or are revoked in the middle of a sync -----------------------------------

TTL = 1.0  # seconds: the shortest token the server issues (expires_in is whole seconds)


@pytest.fixture
def short_tokens(tmp_path):
    """A server whose OAuth2 tokens live one second, and a proxy in front of it."""
    with start_in_thread(ServerConfig(db_path=tmp_path / "apex.sqlite", token_ttl=dt.timedelta(seconds=TTL))) as srv:
        p = FaultProxy(srv.host, srv.port)
        srv.proxy = p  # type: ignore[attr-defined]
        yield srv
        p.close()


def _tokens(srv) -> int:
    return srv.server.store.connection.execute("SELECT COUNT(*) FROM auth_token").fetchone()[0]


@pytest.mark.parametrize("clock", ["refresh-before-expiry", "expiry-found-by-401"])
def test_tokens_expiring_mid_push_and_mid_pull_are_renewed_and_nothing_is_lost_or_doubled(short_tokens, cache,
                                                                                        load_example, clock):
    srv, proxy = short_tokens, short_tokens.proxy
    apex = admin_client(srv.base_url)  # an API key: looks at the server without tokens
    creds = ClientCredentials(f"{proxy.url}/oauth/token", "demo-admin", "sandbox-secret-admin")
    if clock == "expiry-found-by-401":
        # A monotonic clock stands still while a laptop is suspended: the client believes its token
        # is fresh, and only the server's 401 says otherwise.
        creds.clock = lambda: 0.0
    client = ApexClient(proxy.url, credentials=creds, backoff_base=0.01, timeout=5.0)
    engine = SyncEngine(cache, client, types=("Patient", "Condition"), transactions=False, page_size=2)
    scene = Scenario(apex, cache, engine, load_example)
    for n in range(6):  # more offline work, so the push outlives several tokens
        scene._create(f"offline extra {n}")
    queued = len(cache.outbox.entries(OPEN))

    proxy.latency(0.1)
    before, started = _tokens(srv), time.perf_counter()
    pushed = engine.push()
    elapsed = time.perf_counter() - started
    issued = _tokens(srv) - before
    assert pushed.stopped is None and pushed.confirmed == queued and cache.outbox.entries(OPEN) == []
    assert elapsed > 2 * TTL  # at least one token expired during the push…
    assert issued >= 2  # …and was replaced (with a clock that stood still: only after a 401)
    print(f"push: {elapsed:.2f} s, {client.stats['requests']} requests, {issued} tokens")
    # A token serves every request until shortly before it expires, not one request each.
    assert issued <= elapsed / (TTL * (1 - REFRESH_SHARE)) + 2 and issued * 2 <= client.stats["requests"]

    for t in range(5, 17):  # twelve changes from elsewhere: six pages of two
        made = apex.create(mark(scene.pid, str(t), note=f"elsewhere {t}"), gpid=GPID)
        scene.expected[made["id"]] = f"elsewhere {t}"
    before, started = _tokens(srv), time.perf_counter()
    pulled = engine.pull()
    elapsed = time.perf_counter() - started
    assert pulled.stopped is None and pulled.stored == 12 and pulled.pages >= 7
    assert elapsed > 2 * TTL and _tokens(srv) - before >= 2
    proxy.latency(0)
    scene.assert_landed_once()
    assert len(cache.of_type("Condition")) == len(server_conditions(apex, scene.pid))
    assert engine.status(probe=False).state == "online"
    client.close()
    apex.close()


@pytest.mark.parametrize("transactions", [True, False], ids=["transaction", "per-item"])
def test_revoked_credentials_stop_the_sync_with_an_auth_error_keep_the_outbox_and_it_resumes(
        sandbox, apex, cache, load_example, caplog, transactions):
    auth, store = sandbox.server.auth, sandbox.server.store
    with store.transaction():
        auth.register("desk-7", "s3cret-of-desk-7", "dentist")  # this workstation's own client
    creds = ClientCredentials.for_role(f"{sandbox.base_url}/oauth/token", "desk-7", "s3cret-of-desk-7", "dentist")
    client = ApexClient(sandbox.base_url, credentials=creds, backoff_base=0.01)
    engine = SyncEngine(cache, client, types=("Patient", "Condition"), transactions=transactions)
    scene = Scenario(apex, cache, engine, load_example)  # synced once with the valid credentials
    queued = [(e.seq, e.idempotency_key, e.payload) for e in cache.outbox.entries(OPEN)]
    writes = store.connection.execute("SELECT COUNT(*) FROM history").fetchone()[0]

    with store.transaction():
        auth.set_active("desk-7", False)  # revoked: its token and its secret are refused from now on
    for _ in range(2):
        report = engine.run_once()
        assert report.pull is None and report.push.confirmed == 0
        assert report.push.stopped and "refuses our credentials" in report.push.stopped
    status = engine.status()
    assert status.state == "unauthorized" and status.queued == len(queued)
    assert "AuthError" in status.errors[0] and "token refused" in status.errors[0]
    assert SyncBadge(status.state, status.latency_ms, status.queued, status.last_sync, status.conflicts,
                     status.errors[0]).text.startswith("Sign-in refused")
    # The outbox is intact: every change, with the key and content it had; the server got nothing.
    assert [(e.seq, e.idempotency_key, e.payload) for e in cache.outbox.entries(OPEN)] == queued
    assert store.connection.execute("SELECT COUNT(*) FROM history").fetchone()[0] == writes
    assert "s3cret" not in caplog.text and all("s3cret" not in e for e in status.errors)

    with store.transaction():
        auth.set_active("desk-7", True)  # restored: the next sync resumes where it stopped
    sync_until_settled(engine, cache)
    scene.assert_landed_once()
    assert engine.status().state == "online"
    client.close()
