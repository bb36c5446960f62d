"""The SDK against the real reference server on loopback, with network faults from a real proxy."""

from __future__ import annotations

import base64
import copy
import hashlib
import threading

import httpx
import pytest
from helpers import GPID, STUDY_UID, make_dicom
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
from odonto_desk.fhir import codes
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


# --- the /odonto/v1 writes, each with a refusal that writes nothing ---------------------------------


def _writes(sandbox) -> int:
    """Every version the server has ever stored (a refusal that wrote nothing leaves it unchanged)."""
    return sandbox.server.store.connection.execute("SELECT COUNT(*) FROM history").fetchone()[0]


def _chart_mark(mid: str, tooth: str, **fields) -> dict:
    fields = {"kind": "caries", "status": "cn", "surfaces": "MO", **fields}
    return ChartMark(id=mid, tooth=tooth, **fields).model_dump(mode="json")


def test_put_chart_replaces_the_chart_and_a_stale_etag_or_bad_mark_writes_nothing(sandbox, apex):
    empty, first_etag = apex.get_chart(GPID)
    assert empty["marks"] == [] and empty["patient_id"] == apex.pid
    caries = _chart_mark("m-caries-3", "3")
    filling = _chart_mark("m-fill-30", "30", kind="filling", status="ec", material="amalgam", code="D2150")
    saved, etag = apex.put_chart(GPID, [caries, filling], first_etag)
    assert etag != first_etag and saved["etag"] == etag
    assert [m["id"] for m in saved["marks"]] == ["m-caries-3", "m-fill-30"]
    assert apex.read("Condition", "m-caries-3")["subject"] == {"reference": f"Patient/{apex.pid}"}
    assert apex.get_chart(GPID) == (saved, etag)

    before = _writes(sandbox)
    with pytest.raises(VersionConflict) as stale:
        apex.put_chart(GPID, [], first_etag)  # edited from the empty chart someone has since changed
    assert stale.value.status == 412
    with pytest.raises(ServerRejected) as bad:
        apex.put_chart(GPID, [caries, {**filling, "surfaces": ["Q"]}], etag)
    assert bad.value.status == 400 and bad.value.expression == "marks[1].surfaces"
    with pytest.raises(ServerRejected):
        apex.put_chart("APX-not-one", [caries], etag)  # not a GPID
    with pytest.raises(NotFound):
        apex.put_chart("APX-ZZZZZZZZ", [caries], etag)  # nobody's GPID
    assert _writes(sandbox) == before and apex.get_chart(GPID) == (saved, etag)

    kept, after = apex.put_chart(GPID, [filling], etag)  # a mark left out is deleted (its history stays)
    assert [m["id"] for m in kept["marks"]] == ["m-fill-30"] and after != etag
    with pytest.raises(Gone):
        apex.read("Condition", "m-caries-3")


def _procedure(load_example, pid: str) -> dict:
    proc = copy.deepcopy(load_example("procedure-d2392-tooth30-mo.json"))
    proc["subject"] = {"reference": f"Patient/{pid}"}
    for k in ("basedOn", "reasonReference"):
        proc.pop(k)
    return proc


def _charge(pid: str, proc_id: str) -> dict:
    return {"resourceType": "ChargeItem", "id": "ch-1", "status": "billable",
            "code": {"coding": [{"system": codes.CDT, "code": "D2392"}]},
            "subject": {"reference": f"Patient/{pid}"}, "service": [{"reference": f"Procedure/{proc_id}"}],
            "priceOverride": {"value": 210.0, "currency": "USD"}}


def _planned(apex, load_example, sr_id: str) -> None:
    plan = copy.deepcopy(load_example("careplan-treatment-plan.json"))
    plan["subject"] = {"reference": f"Patient/{apex.pid}"}
    for k in ("identifier", "addresses"):
        plan.pop(k)
    plan["activity"][0]["detail"].pop("reasonReference")
    apex.post_treatment_plan(GPID, plan, [_mark(apex.pid, sr_id, status="tp")])


def test_post_procedures_writes_once_per_key_and_a_refusal_writes_nothing(sandbox, apex, load_example):
    _planned(apex, load_example, "sr-9")
    proc = _procedure(load_example, apex.pid)
    charge = _charge(apex.pid, proc["id"])
    before = _writes(sandbox)
    with pytest.raises(ScopeError):  # another patient's GPID
        apex.post_procedures("APX-ZZZZZZZZ", [proc], [charge], ["sr-9"], idempotency_key="post-key-0001")
    with pytest.raises(ServerRejected) as bad:
        apex.post_procedures(GPID, [{**proc, "status": "in-progress"}], [charge], ["sr-9"])
    assert bad.value.expression == "procedures[0].status"
    assert _writes(sandbox) == before and apex.read("ServiceRequest", "sr-9")["status"] != "completed"

    # The refusal was not remembered: the same key with the right GPID is a first request.
    first = apex.post_procedures(GPID, [proc], [charge], ["sr-9"], idempotency_key="post-key-0001")
    again = apex.post_procedures(GPID, [proc], [charge], ["sr-9"], idempotency_key="post-key-0001")
    assert first == again and first["completed"] == ["sr-9"]
    assert [p["id"] for p in first["procedures"]] == [proc["id"]]
    assert _writes(sandbox) == before + 3  # procedure, charge item, the completed plan item: once
    assert apex.read("Procedure", proc["id"])["meta"]["versionId"] == "1"
    assert apex.read("ServiceRequest", "sr-9")["status"] == "completed"
    assert sandbox.server.store.count("ChargeItem") == 1


def _lab_order(apex, **changes) -> dict:
    org = apex.create({"resourceType": "Organization", "name": "Crown Lab"})["id"]
    sr = {"resourceType": "ServiceRequest", "id": "lab-1", "status": "active", "intent": "order",
          "category": [{"coding": [{"system": codes.CS_SERVICE_CATEGORY,
                                    "code": "lab_appliance"}]}],
          "code": {"coding": [{"system": codes.CDT, "code": "D2740"}], "text": "Zirconia crown #19"},
          "subject": {"reference": f"Patient/{apex.pid}"}, "performer": [{"reference": f"Organization/{org}"}],
          "occurrenceDateTime": "2026-12-04"}
    return {**sr, **changes}


def test_post_lab_order_writes_order_and_task_once_and_a_refusal_writes_nothing(sandbox, apex):
    sr = _lab_order(apex)
    before = _writes(sandbox)
    with pytest.raises(ServerRejected) as bad:
        apex.post_lab_order(GPID, {k: v for k, v in sr.items() if k != "performer"})
    assert bad.value.expression == "service_request.performer"
    with pytest.raises(ServerRejected) as elsewhere:
        apex.post_lab_order(GPID, sr, {"resourceType": "Task", "status": "requested", "intent": "order",
                                       "focus": {"reference": "ServiceRequest/other"},
                                       "for": {"reference": f"Patient/{apex.pid}"}})
    assert elsewhere.value.expression == "task.focus"
    with pytest.raises(ScopeError):
        apex.post_lab_order("APX-ZZZZZZZZ", sr)
    assert _writes(sandbox) == before

    first = apex.post_lab_order(GPID, sr, idempotency_key="lab-key-0001")
    again = apex.post_lab_order(GPID, sr, idempotency_key="lab-key-0001")
    assert first == again and first["service_request"] == {"id": "lab-1", "version": 1}
    assert _writes(sandbox) == before + 2
    task = apex.read("Task", first["task"]["id"])
    assert task["focus"] == {"reference": "ServiceRequest/lab-1"} and task["status"] == "requested"
    moved = apex.post_lab_order(GPID, {**sr, "status": "completed"})  # a new key: a status move
    assert moved["service_request"]["version"] == 2 and sandbox.server.store.count("Task") == 2


def _record_counts(sandbox) -> dict[str, int]:
    return {t: sandbox.server.store.count(t) for t in ("Binary", "DocumentReference", "ImagingStudy")}


def test_upload_image_stores_a_dicom_and_refuses_a_corrupt_one_whole(sandbox, apex):
    data = make_dicom(150_000)
    done = apex.upload_image(GPID, apex.pid, data, filename="bw.dcm", content_type="application/dicom",
                             kind="bitewing", teeth=("30",), chunk_size=64 * 1024)
    assert done["status"] == "complete" and done["received"] == len(data)
    study = apex.read("ImagingStudy", done["result"]["imaging_study"].split("/")[1])
    assert study["identifier"][0]["value"] == f"urn:oid:{STUDY_UID}"
    assert study["subject"] == {"reference": f"Patient/{apex.pid}"}
    binary = apex.read("Binary", done["result"]["binary"].split("/")[1])
    assert hashlib.sha256(base64.b64decode(binary["data"])).digest() == hashlib.sha256(data).digest()
    counts, before = _record_counts(sandbox), _writes(sandbox)
    assert counts == {"Binary": 1, "DocumentReference": 1, "ImagingStudy": 1}

    corrupt = data[:-5000]  # the pixel data is cut short
    with pytest.raises(ServerRejected, match="truncated") as refused:
        apex.upload_image(GPID, apex.pid, corrupt, filename="cut.dcm", content_type="application/dicom",
                          kind="bitewing", chunk_size=64 * 1024)
    assert refused.value.status == 422
    assert _record_counts(sandbox) == counts and _writes(sandbox) == before
    failed = sandbox.server.store.connection.execute(
        "SELECT status, error FROM imaging_upload WHERE sha256 = ?", (hashlib.sha256(corrupt).hexdigest(),)).fetchall()
    assert [s for s, _ in failed] == ["failed"] and "truncated" in failed[0][1]


def test_announcing_an_upload_again_with_the_same_key_opens_it_once(sandbox, apex):
    data = make_dicom(20_000)
    a = apex.start_upload(GPID, apex.pid, data, filename="bw.dcm", content_type="application/dicom",
                          idempotency_key="img-key-0001")
    b = apex.start_upload(GPID, apex.pid, data, filename="bw.dcm", content_type="application/dicom",
                          idempotency_key="img-key-0001")
    assert a["upload_id"] == b["upload_id"]
    assert sandbox.server.store.connection.execute("SELECT COUNT(*) FROM imaging_upload").fetchone()[0] == 1
    with pytest.raises(ScopeError):  # another patient's GPID: nothing opened
        apex.start_upload("APX-ZZZZZZZZ", apex.pid, data, filename="bw.dcm", content_type="application/dicom")
    assert sandbox.server.store.connection.execute("SELECT COUNT(*) FROM imaging_upload").fetchone()[0] == 1
