"""Webhooks end to end: subscriptions, the CarePlan event by every path, signatures, retries, rotation.

The receiver is a real HTTP server on a loopback port; the sandbox's worker posts to it.
"""

from __future__ import annotations

import copy
import http.server
import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from helpers import GPID, token_for

from odonto_desk.api.webhooks import WebhookRejected, verify
from odonto_desk.domain.chart import ChartMark
from odonto_desk.fhir.mapping import to_fhir
from odonto_desk.sandbox.app import ServerConfig
from odonto_desk.sandbox.runner import start_in_thread

SECRET = "test-secret-0123456789abcdef"


class Receiver:
    """Records every POST; answers with the next status in ``script`` (then 200)."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.script: list[int] = []
        self.arrived = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = outer.script.pop(0) if outer.script else 200
                with outer.arrived:
                    outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    outer.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.received) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {n} deliveries, got {len(self.received)}")
                self.arrived.wait(left)
        return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.httpd.shutdown()


@pytest.fixture
def fast_sandbox(tmp_path):
    running = start_in_thread(ServerConfig(db_path=tmp_path / "apex.sqlite", webhook_retry_base=0.05,
                                           webhook_max_attempts=3))
    yield running
    running.stop()


@pytest.fixture
def api(fast_sandbox, load_example):
    token = token_for(fast_sandbox.base_url, "admin")
    c = httpx.Client(base_url=fast_sandbox.base_url, timeout=10,
                     headers={"Authorization": f"Bearer {token}", "X-Apex-GPID": GPID})
    c.pid = c.post("/fhir/Patient", json=load_example("patient.json")).json()["id"]  # type: ignore[attr-defined]
    yield c
    c.close()


_n = iter(range(10**6))


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f"webhook-test-{next(_n):06d}"}


def _subscribe(api: httpx.Client, url: str, secret: str | None = SECRET) -> dict:
    body = {"url": url, "events": ["odonto.treatment_plan.updated"]}
    if secret:
        body["secret"] = secret
    r = api.post("/webhooks", json=body, headers=_key())
    assert r.status_code == 201, r.text
    return r.json()


def _plan(load_example, pid: str) -> dict:
    plan = copy.deepcopy(load_example("careplan-treatment-plan.json"))
    plan["subject"] = {"reference": f"Patient/{pid}"}
    for k in ("identifier", "addresses"):
        plan.pop(k)
    plan["activity"][0]["detail"].pop("reasonReference")
    return plan


def _item(pid: str, mark_id: str, tooth: str = "30") -> dict:
    return to_fhir(ChartMark(id=mark_id, patient=pid, tooth=tooth, kind="filling", status="tp", surfaces="MO",
                             material="composite", code="D2392"))


def _post_plan(api: httpx.Client, load_example, items: list[dict]) -> dict:
    plan = _plan(load_example, api.pid)  # type: ignore[attr-defined]
    plan["activity"] = [{"reference": {"reference": f"ServiceRequest/{i['id']}"}} for i in items]
    r = api.post("/odonto/v1/treatment-plans", json={"care_plan": plan, "service_requests": items},
                 headers=_key())
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_a_new_plan_is_delivered_signed_with_exactly_the_seed_fields(api, receiver, load_example):
    _subscribe(api, receiver.url)
    pid = api.pid
    out = _post_plan(api, load_example, [_item(pid, "sr-1"), _item(pid, "sr-2", "19")])
    headers, body = receiver.wait_for(1)[0]
    assert json.loads(body) == {"event": "odonto.treatment_plan.updated", "care_plan_id": out["care_plan_id"],
                                "patient_gpid": GPID, "procedures_added": 2}
    assert headers["x-apex-event"] == "odonto.treatment_plan.updated"
    assert headers["x-apex-delivery"].startswith("dl_")
    verify(headers["x-apex-signature"], [SECRET], headers["x-apex-timestamp"], body)  # raises if wrong
    with pytest.raises(WebhookRejected, match="does not match"):
        verify(headers["x-apex-signature"], ["another-secret-0123456789"], headers["x-apex-timestamp"], body)


def test_a_plan_changed_over_plain_fhir_fires_too_and_counts_only_new_items(api, receiver, load_example):
    _subscribe(api, receiver.url)
    pid = api.pid
    out = _post_plan(api, load_example, [_item(pid, "sr-1")])
    receiver.wait_for(1)
    r = api.post("/fhir/ServiceRequest", json=_item(pid, "sr-x", "3"))
    new_id = r.json()["id"]
    plan = api.get(f"/fhir/CarePlan/{out['id']}").json()
    plan["activity"].append({"reference": {"reference": f"ServiceRequest/{new_id}"}})
    r = api.put(f"/fhir/CarePlan/{out['id']}", json=plan, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    _, body = receiver.wait_for(2)[1]
    assert json.loads(body)["procedures_added"] == 1
    assert json.loads(body)["care_plan_id"] == out["care_plan_id"]


def test_a_refused_write_emits_nothing(api, receiver, load_example, fast_sandbox):
    sub = _subscribe(api, receiver.url)
    bad = _item(api.pid, "sr-bad")
    bad["bodySite"][0]["coding"][0]["code"] = "33"  # no tooth 33: the whole plan is refused
    plan = _plan(load_example, api.pid)
    r = api.post("/odonto/v1/treatment-plans", json={"care_plan": plan, "service_requests": [bad]}, headers=_key())
    assert r.status_code == 400
    time.sleep(0.3)
    assert receiver.received == []
    assert api.get(f"/webhooks/{sub['id']}/deliveries").json()["deliveries"] == []


def test_failures_are_retried_with_the_same_delivery_id_and_logged(api, receiver, load_example):
    sub = _subscribe(api, receiver.url)
    receiver.script = [500, 503]
    _post_plan(api, load_example, [_item(api.pid, "sr-1")])
    got = receiver.wait_for(3)
    ids = {h["x-apex-delivery"] for h, _ in got}
    assert len(ids) == 1
    assert len({b for _, b in got}) == 1  # the same body every time
    deadline = time.monotonic() + 5
    while True:
        log = api.get(f"/webhooks/{sub['id']}/deliveries").json()["deliveries"]
        if (log and log[0]["status"] == "delivered") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    d = log[0]
    assert (d["status"], d["attempts"], d["last_status"]) == ("delivered", 3, 200)
    assert [a["status"] for a in d["log"]] == [500, 503, 200]


def test_after_max_attempts_a_delivery_is_marked_failed(api, receiver, load_example):
    sub = _subscribe(api, receiver.url)
    receiver.script = [500, 500, 500, 500]
    _post_plan(api, load_example, [_item(api.pid, "sr-1")])
    receiver.wait_for(3)
    time.sleep(0.5)
    d = api.get(f"/webhooks/{sub['id']}/deliveries?status=failed").json()["deliveries"]
    assert len(d) == 1 and d[0]["attempts"] == 3 and d[0]["last_error"] == "HTTP 500"
    assert len(receiver.received) == 3


def test_rotation_signs_with_both_secrets_during_the_grace(api, receiver, load_example):
    sub = _subscribe(api, receiver.url)
    r = api.post(f"/webhooks/{sub['id']}/rotate", json={"grace_seconds": 3600}, headers=_key())
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new.startswith("whsec_") and new != SECRET
    _post_plan(api, load_example, [_item(api.pid, "sr-1")])
    headers, body = receiver.wait_for(1)[0]
    assert headers["x-apex-signature"].count("v1=") == 2
    for secret in (SECRET, new):  # a receiver holding either secret accepts it
        verify(headers["x-apex-signature"], [secret], headers["x-apex-timestamp"], body)
    r = api.post(f"/webhooks/{sub['id']}/rotate", json={"grace_seconds": 0}, headers=_key())
    newest = r.json()["secret"]
    _post_plan(api, load_example, [_item(api.pid, "sr-2")])
    headers, body = receiver.wait_for(2)[1]
    assert headers["x-apex-signature"].count("v1=") == 1
    verify(headers["x-apex-signature"], [newest], headers["x-apex-timestamp"], body)
    with pytest.raises(WebhookRejected):
        verify(headers["x-apex-signature"], [new], headers["x-apex-timestamp"], body)


def test_a_deactivated_subscription_gets_nothing_and_keeps_its_log(api, receiver, load_example):
    sub = _subscribe(api, receiver.url)
    _post_plan(api, load_example, [_item(api.pid, "sr-1")])
    receiver.wait_for(1)
    assert api.delete(f"/webhooks/{sub['id']}").status_code == 204
    _post_plan(api, load_example, [_item(api.pid, "sr-2")])
    time.sleep(0.4)
    assert len(receiver.received) == 1
    listed = api.get("/webhooks").json()["subscriptions"]
    assert [(s["id"], s["active"]) for s in listed] == [(sub["id"], False)]
    assert "secret" not in listed[0]
    assert len(api.get(f"/webhooks/{sub['id']}/deliveries").json()["deliveries"]) == 1


@pytest.mark.parametrize(("body", "status", "where"), [
    ({"url": "ftp://x/y", "events": ["odonto.treatment_plan.updated"]}, 400, "url"),
    ({"url": "http://127.0.0.1:9/h", "events": ["odonto.plan.deleted"]}, 400, "events[0]"),
    ({"url": "http://127.0.0.1:9/h", "events": []}, 400, "events"),
    ({"url": "http://127.0.0.1:9/h", "events": ["odonto.treatment_plan.updated"], "secret": "short"}, 400, "secret"),
    ({"url": "http://127.0.0.1:9/h", "events": ["odonto.treatment_plan.updated"], "colour": 1}, 400, "colour"),
])
def test_bad_subscriptions_are_refused_naming_the_field(api, body, status, where):
    r = api.post("/webhooks", json=body, headers=_key())
    assert r.status_code == status
    assert r.json()["issue"][0]["expression"] == [where]
    assert api.get("/webhooks").json()["subscriptions"] == []


def test_subscribing_needs_the_scope_an_idempotency_key_and_sees_only_its_own(api, fast_sandbox, receiver):
    hyg = httpx.Client(base_url=fast_sandbox.base_url,
                       headers={"Authorization": f"Bearer {token_for(fast_sandbox.base_url, 'hygienist')}"})
    body = {"url": receiver.url, "events": ["odonto.treatment_plan.updated"]}
    assert hyg.post("/webhooks", json=body, headers=_key()).status_code == 403
    assert api.post("/webhooks", json=body).status_code == 400  # no Idempotency-Key
    mine = _subscribe(api, receiver.url)
    desk = httpx.Client(base_url=fast_sandbox.base_url,
                        headers={"Authorization": f"Bearer {token_for(fast_sandbox.base_url, 'front_desk')}"})
    assert desk.get("/webhooks").json()["subscriptions"] == []
    assert desk.get(f"/webhooks/{mine['id']}").status_code == 404
    assert desk.delete(f"/webhooks/{mine['id']}").status_code == 404
    assert api.get("/webhooks/..%2F..%2Fetc").status_code == 404
    hyg.close()
    desk.close()


def test_events_written_before_a_restart_are_delivered_after_it(tmp_path, receiver, load_example):
    db = tmp_path / "apex.sqlite"
    first = start_in_thread(ServerConfig(db_path=db, webhook_retry_base=0.05))
    first.server.webhooks.stop()  # the worker is down: the delivery stays pending in the database
    token = token_for(first.base_url, "admin")
    c = httpx.Client(base_url=first.base_url, headers={"Authorization": f"Bearer {token}", "X-Apex-GPID": GPID})
    c.pid = c.post("/fhir/Patient", json=load_example("patient.json")).json()["id"]  # type: ignore[attr-defined]
    _subscribe(c, receiver.url)
    _post_plan(c, load_example, [_item(c.pid, "sr-1")])
    c.close()
    first.stop()
    assert receiver.received == []
    second = start_in_thread(ServerConfig(db_path=db, webhook_retry_base=0.05))
    try:
        assert json.loads(receiver.wait_for(1)[0][1])["procedures_added"] == 1
    finally:
        second.stop()
