"""The client's webhook receiver: real deliveries from the sandbox, forged, stale and replayed ones."""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
import time

import httpx
import pytest
from helpers import GPID

from odonto_desk.api.auth import ApiKey
from odonto_desk.api.client import ApexClient
from odonto_desk.api.webhooks import WebhookReceiver, sign
from odonto_desk.sandbox.app import ServerConfig
from odonto_desk.sandbox.runner import start_in_thread

SECRET = "receiver-secret-0123456789"


class SeenIds:
    """A durable set of delivery ids in SQLite (what the cache provides in the app)."""

    def __init__(self, path) -> None:
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY)")
        self.lock = threading.Lock()

    def first_time(self, delivery_id: str) -> bool:
        with self.lock:
            return self.conn.execute("INSERT OR IGNORE INTO seen VALUES (?)", (delivery_id,)).rowcount == 1


@pytest.fixture
def receiving(tmp_path):
    events: list[dict] = []
    seen = SeenIds(tmp_path / "seen.sqlite")
    r = WebhookReceiver(lambda: [SECRET], seen.first_time, events.append).start()
    yield r, events, seen
    r.stop()


def _deliver(url: str, body: bytes, *, secret: str = SECRET, ts: int | None = None, delivery: str = "dl_1") -> int:
    ts = int(time.time()) if ts is None else ts
    return httpx.post(url, content=body, headers={
        "X-Apex-Delivery": delivery, "X-Apex-Timestamp": str(ts),
        "X-Apex-Signature": f"v1={sign(secret, ts, body)}", "Content-Type": "application/json"}).status_code


BODY = json.dumps({"event": "odonto.treatment_plan.updated", "care_plan_id": "CP-001",
                   "patient_gpid": GPID, "procedures_added": 1}).encode()


def test_a_signed_delivery_is_applied_once_and_a_replay_is_acknowledged_not_applied(receiving):
    r, events, _ = receiving
    assert _deliver(r.url, BODY) == 204
    assert _deliver(r.url, BODY) == 200
    assert events == [json.loads(BODY)]


def test_a_replay_is_refused_after_a_restart_too(tmp_path, receiving):
    r, events, _ = receiving
    assert _deliver(r.url, BODY, delivery="dl_keep") == 204
    r.stop()
    again = WebhookReceiver(lambda: [SECRET], SeenIds(tmp_path / "seen.sqlite").first_time, events.append).start()
    try:
        assert _deliver(again.url, BODY, delivery="dl_keep") == 200
        assert len(events) == 1
    finally:
        again.stop()


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"secret": "an-attackers-guess-000000"}, "does not match"),
    ({"ts": int(time.time()) - 3600}, "tolerance"),
    ({"ts": int(time.time()) + 3600}, "tolerance"),
])
def test_forged_and_stale_deliveries_are_refused(receiving, kwargs, reason):
    r, events, _ = receiving
    assert _deliver(r.url, BODY, **kwargs) == 401
    assert events == [] and reason in r.rejected[-1]


def test_a_body_altered_in_transit_is_refused(receiving):
    r, events, _ = receiving
    ts = int(time.time())
    sig = sign(SECRET, ts, BODY)
    tampered = BODY.replace(b'"procedures_added": 1', b'"procedures_added": 9')
    code = httpx.post(r.url, content=tampered, headers={"X-Apex-Delivery": "dl_t", "X-Apex-Timestamp": str(ts),
                                                        "X-Apex-Signature": f"v1={sig}"}).status_code
    assert code == 401 and events == []


def test_unsigned_and_malformed_deliveries_are_refused(receiving):
    r, events, _ = receiving
    assert httpx.post(r.url, content=BODY).status_code == 401
    assert _deliver(r.url, b"[1, 2]") == 400
    assert _deliver(r.url, b"x" * 70_000) == 413
    assert httpx.post(r.url.replace("/apex/webhooks", "/other"), content=BODY).status_code == 404
    assert events == []


def test_deliveries_from_the_reference_server_arrive(tmp_path, receiving, load_example):
    r, events, _ = receiving
    with start_in_thread(ServerConfig(db_path=tmp_path / "apex.sqlite")) as srv:
        c = ApexClient(srv.base_url, credentials=ApiKey("apx_sandbox_admin_key"))
        pid = c.create(load_example("patient.json"), gpid=GPID)["id"]
        c.subscribe_webhook(r.url, ["odonto.treatment_plan.updated"], secret=SECRET)
        plan = copy.deepcopy(load_example("careplan-treatment-plan.json"))
        plan["subject"] = {"reference": f"Patient/{pid}"}
        for k in ("identifier", "addresses"):
            plan.pop(k)
        plan["activity"][0]["detail"].pop("reasonReference")
        out = c.post_treatment_plan(GPID, plan, [])
        deadline = time.monotonic() + 10
        while not events and time.monotonic() < deadline:
            time.sleep(0.05)
        assert events == [{"event": "odonto.treatment_plan.updated", "care_plan_id": out["care_plan_id"],
                           "patient_gpid": GPID, "procedures_added": len(plan["activity"])}]
        c.close()
