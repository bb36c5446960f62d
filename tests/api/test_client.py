"""The SDK against the real reference server on loopback, with network faults from a real proxy."""

from __future__ import annotations

import copy
import hashlib
import threading

import httpx
import pytest
from helpers import GPID
from proxy import FaultProxy

from odonto_desk.api.auth import ApiKey, ClientCredentials, StaticToken
from odonto_desk.api.client import ApexClient
from odonto_desk.api.errors import (
    ApiError,
    AuthError,
    Gone,
    NetworkError,
    NotFound,
    ScopeError,
    ServerRejected,
    VersionConflict,
)
from odonto_desk.api.ratelimit import TokenBucket
from odonto_desk.domain.chart import ChartMark
from odonto_desk.fhir.mapping import to_fhir
from odonto_desk.sandbox.app import ServerConfig
from odonto_desk.sandbox.runner import start_in_thread


def _creds(base: str, role: str) -> ClientCredentials:
    slug = role.replace("_", "-")
    return ClientCredentials.for_role(f"{base}/oauth/token", f"demo-{slug}", f"sandbox-secret-{slug}", role)


def _admin(base: str) -> ClientCredentials:
    return ClientCredentials(f"{base}/oauth/token", "demo-admin", "sandbox-secret-admin")


@pytest.fixture
def apex(sandbox, load_example):
    c = ApexClient(sandbox.base_url, credentials=_admin(sandbox.base_url), backoff_base=0.01)
    c.pid = c.create(load_example("patient.json"), gpid=GPID)["id"]  # type: ignore[attr-defined]
    yield c
    c.close()


def _mark(pid: str, mid: str | None = None, tooth: str = "30", status: str = "cn", surfaces: str = "MO") -> dict:
    kind, code = ("caries", None) if status == "cn" else ("filling", "D2392")
    extra = {"id": mid} if mid else {}
    return to_fhir(ChartMark(**extra, patient=pid, tooth=tooth, kind=kind, status=status, surfaces=surfaces,
                             material="composite" if code else None, code=code))


def _token_rows(sandbox) -> int:
    return sandbox.server.store.connection.execute("SELECT COUNT(*) FROM auth_token").fetchone()[0]


def test_one_token_serves_many_requests_and_a_revoked_one_is_replaced(sandbox, apex):
    before = _token_rows(sandbox)
    for _ in range(5):
        apex.read("Patient", apex.pid)
    assert _token_rows(sandbox) == before  # cached, not fetched per call
    token = apex.credentials._token
    httpx.post(f"{sandbox.base_url}/oauth/revoke", data={"token": token})
    assert apex.read("Patient", apex.pid)["id"] == apex.pid  # 401 → re-auth once → success
    assert apex.credentials._token != token and _token_rows(sandbox) == before + 1


def test_a_token_is_refreshed_before_it_expires(sandbox):
    now = [1000.0]
    creds = _creds(sandbox.base_url, "read_only")
    creds.clock = lambda: now[0]
    with ApexClient(sandbox.base_url, credentials=creds) as c:
        c.metadata()
        first = creds._token
        now[0] += 280  # 5-minute tokens are replaced 30 s before expiry
        c.metadata()
        assert creds._token != first


def test_each_role_asks_only_for_its_own_scopes(sandbox, apex):
    hyg = _creds(sandbox.base_url, "hygienist")
    with ApexClient(sandbox.base_url, credentials=hyg) as c:
        c.read("Patient", apex.pid)
        assert "system/Claim.write" not in hyg.granted_scopes
        assert "odonto/chart.write" in hyg.granted_scopes
        with pytest.raises(ScopeError):
            c.create({"resourceType": "Organization", "name": "Lab"})


def test_bad_secret_is_an_auth_error(sandbox):
    creds = ClientCredentials(f"{sandbox.base_url}/oauth/token", "demo-dentist", "wrong-secret")
    with ApexClient(sandbox.base_url, credentials=creds) as c, pytest.raises(AuthError, match="token refused"):
        c.metadata()


def test_api_key_works_too(sandbox, apex):
    with ApexClient(sandbox.base_url, credentials=ApiKey("apx_sandbox_read_only_key")) as c:
        assert c.read("Patient", apex.pid)["id"] == apex.pid


def test_typed_errors_carry_the_servers_outcome(apex):
    with pytest.raises(NotFound):
        apex.read("Condition", "nope")
    bad = _mark(apex.pid)
    bad["bodySite"][0]["coding"][0]["code"] = "33"
    with pytest.raises(ServerRejected) as err:
        apex.create(bad, gpid=GPID)
    assert err.value.status == 400 and "33" in str(err.value) and err.value.expression
    created = apex.create(_mark(apex.pid), gpid=GPID)
    created["note"] = [{"text": "first edit"}]
    apex.update(created, gpid=GPID, version=1)
    with pytest.raises(VersionConflict):
        apex.update(created, gpid=GPID, version=1)  # based on a version that is no longer current
    apex.delete("Condition", created["id"], gpid=GPID)
    with pytest.raises(Gone):
        apex.read("Condition", created["id"])
    with pytest.raises(ScopeError):
        apex.create(_mark(apex.pid), gpid="APX-ZZZZZZZZ")


def test_search_follows_next_links_without_loss_or_duplicates(apex):
    ids = {apex.create(_mark(apex.pid, tooth=str(t), surfaces="M"), gpid=GPID)["id"] for t in range(1, 26)}
    got = [r["id"] for r in apex.search("Condition", {"patient": apex.pid, "_count": 7})]
    assert sorted(got) == sorted(ids)


def test_history_and_vread(apex):
    c = apex.create(_mark(apex.pid), gpid=GPID)
    c["note"] = [{"text": "v2"}]
    apex.update(c, gpid=GPID, version=1)
    assert apex.vread("Condition", c["id"], 1).get("note") is None
    hist = apex.history("Condition", c["id"])
    assert [e["resource"]["meta"]["versionId"] for e in hist["entry"]] == ["2", "1"]


def test_the_client_stays_under_the_servers_burst_limit(tmp_path, load_example):
    with start_in_thread(ServerConfig(db_path=tmp_path / "a.sqlite", burst=5, per_second=5.0)) as srv:
        paced = TokenBucket(per_second=5.0, burst=5)
        with ApexClient(srv.base_url, credentials=ApiKey("apx_sandbox_admin_key"), limiter=paced) as c:
            # /metadata is open; a search passes the server's rate limiter
            threads = [threading.Thread(target=c.search_page, args=("Patient",)) for _ in range(12)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert c.stats["throttled"] == 0 and c.stats["requests"] == 12


def test_a_429_pauses_the_client_for_retry_after_and_it_succeeds(tmp_path):
    with start_in_thread(ServerConfig(db_path=tmp_path / "a.sqlite", burst=3, per_second=3.0)) as srv:
        greedy = TokenBucket(per_second=1000.0, burst=1000)  # paced far above the server's limit
        with ApexClient(srv.base_url, credentials=ApiKey("apx_sandbox_admin_key"), limiter=greedy) as c:
            for _ in range(8):
                c.search_page("Patient")
            assert c.stats["throttled"] >= 1 and greedy.waited > 0


def test_a_lost_answer_to_a_post_is_retried_and_writes_once(sandbox, apex, load_example):
    proxy = FaultProxy(sandbox.host, sandbox.port)
    c = ApexClient(proxy.url, credentials=_admin(sandbox.base_url), backoff_base=0.01)
    plan = copy.deepcopy(load_example("careplan-treatment-plan.json"))
    plan["subject"] = {"reference": f"Patient/{apex.pid}"}
    for k in ("identifier", "addresses"):
        plan.pop(k)
    plan["activity"][0]["detail"].pop("reasonReference")
    c.metadata()  # the token is fetched before the fault
    proxy.lose_responses(1)
    out = c.post_treatment_plan(GPID, plan, [_mark(apex.pid, "sr-1", status="tp")])
    assert proxy.lost == 1 and c.stats["retries"] >= 1
    assert out["care_plan_id"] == "CP-001"
    plans = list(apex.search("CarePlan", {"patient": apex.pid}))
    assert len(plans) == 1  # the retry replayed the first answer; nothing was written twice
    c.close()
    proxy.close()


def test_a_put_whose_answer_is_lost_is_not_blindly_repeated(sandbox, apex):
    proxy = FaultProxy(sandbox.host, sandbox.port)
    c = ApexClient(proxy.url, credentials=_admin(sandbox.base_url), backoff_base=0.01)
    res = c.create(_mark(apex.pid), gpid=GPID)
    res["note"] = [{"text": "edited"}]
    proxy.lose_responses(1)
    with pytest.raises(NetworkError):
        c.update(res, gpid=GPID, version=1)
    assert apex.read("Condition", res["id"])["meta"]["versionId"] == "2"  # it landed once; the caller re-reads
    c.close()
    proxy.close()


def test_reads_ride_out_a_short_outage(sandbox, apex):
    proxy = FaultProxy(sandbox.host, sandbox.port)
    c = ApexClient(proxy.url, credentials=_admin(sandbox.base_url), backoff_base=0.05, retries=6)
    c.metadata()
    proxy.down()
    threading.Timer(0.2, proxy.up).start()
    assert c.read("Patient", apex.pid)["id"] == apex.pid
    proxy.down()
    with pytest.raises(NetworkError):
        ApexClient(proxy.url, credentials=_admin(sandbox.base_url), retries=1, backoff_base=0.01).metadata()
    c.close()
    proxy.close()


def test_plain_fhir_mode_has_no_odonto_operations(sandbox, apex):
    token = apex.credentials._token
    with ApexClient(fhir_base=sandbox.fhir_base, credentials=StaticToken(token)) as c:
        assert c.read("Patient", apex.pid)["id"] == apex.pid
        assert c.metadata()["fhirVersion"].startswith("4.0")
        assert not c.has_odonto
        with pytest.raises(ApiError, match="plain FHIR server"):
            c.get_chart(GPID)


def test_an_image_upload_resumes_after_the_connection_drops(sandbox, apex):
    proxy = FaultProxy(sandbox.host, sandbox.port)
    front = _creds(sandbox.base_url, "front_desk")
    c = ApexClient(proxy.url, credentials=front, backoff_base=0.01)
    data = bytes(range(256)) * 4800  # 1.2 MB, sent in 64 KiB chunks
    started = c.start_upload(GPID, apex.pid, data, filename="scan.stl", content_type="model/stl",
                             kind="intraoral-scan")
    progress: list[int] = []
    proxy.lose_responses(2)  # two chunks land but their answers are lost
    done = c.send_upload(GPID, started["upload_id"], data, chunk_size=64 * 1024,
                         on_progress=lambda got, _size: progress.append(got))
    assert done["status"] == "complete" and progress[-1] == len(data)
    doc = apex.read("DocumentReference", done["result"]["document_reference"].split("/")[1])
    attachment = doc["content"][0]["attachment"]
    assert attachment["size"] == len(data)
    stored = c.request("GET", attachment["url"]).content
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    c.close()
    proxy.close()


def test_webhook_subscriptions_through_the_sdk(sandbox):
    desk = ApexClient(sandbox.base_url, credentials=ApiKey("apx_sandbox_front_desk_key"))
    sub = desk.subscribe_webhook("http://127.0.0.1:9/hook", ["odonto.treatment_plan.updated"])
    assert sub["secret"].startswith("whsec_")
    rotated = desk.rotate_webhook_secret(sub["id"], grace_seconds=60)
    assert rotated["secret"] != sub["secret"]
    assert [w["id"] for w in desk.webhooks()] == [sub["id"]]
    desk.deactivate_webhook(sub["id"])
    assert desk.webhooks()[0]["active"] is False
    assert desk.webhook_deliveries(sub["id"]) == []
    desk.close()
