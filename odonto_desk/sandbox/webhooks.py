"""Webhook subscriptions and delivery: ``odonto.treatment_plan.updated``, signed, retried, logged.

* Subscribe with ``POST /webhooks`` ``{"url", "events", "secret"?}``; the answer carries the secret
  once (a generated ``whsec_…`` when none was given). ``GET /webhooks`` lists the client's own
  subscriptions without secrets; ``DELETE /webhooks/{id}`` deactivates one (the row and its log stay).
* ``POST /webhooks/{id}/rotate`` issues a new secret; the old one stays valid for ``grace_seconds``
  (a day by default). Meanwhile every delivery is signed with both, so a receiver can switch secrets
  whenever it likes within the grace.
* Events are recorded by a change listener **inside the write's transaction**: a CarePlan change by
  any path (FHIR create/update/delete/transaction, ``/odonto/v1/treatment-plans``, procedure posting)
  commits together with its event and one delivery row per matching subscription, or not at all.
* A worker thread posts due deliveries. Each carries ``X-Apex-Event``, ``X-Apex-Delivery`` (the same
  id on every retry, so receivers can drop duplicates), ``X-Apex-Timestamp`` (unix seconds, fresh per
  attempt) and ``X-Apex-Signature: v1=<hex>[,v1=<hex>]``: HMAC-SHA256 over ``f"{timestamp}.{body}"``.
  A 2xx ends it; anything else is retried with exponential backoff and jitter up to ``max_attempts``,
  then marked failed. Every attempt is logged (``GET /webhooks/{id}/deliveries``).

The body has exactly the seed's fields: ``event``, ``care_plan_id`` (the Apex ``CP-…`` id, else the
resource id), ``patient_gpid`` and ``procedures_added`` (activities in the new version that the
previous version did not have).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import secrets
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from odonto_desk.fhir import codes
from odonto_desk.sandbox.auth import Principal
from odonto_desk.sandbox.fhirstore import FhirStore, Stored, patient_of
from odonto_desk.sandbox.gate import Gate, json_object
from odonto_desk.sandbox.outcome import ApiError

PLAN_UPDATED = "odonto.treatment_plan.updated"
EVENTS = frozenset({PLAN_UPDATED})
SCOPE = "odonto/webhooks.write"
DEFAULT_GRACE = 24 * 3600
_ID_RE = re.compile(r"^(wh|dl)_[0-9a-f]{16,32}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_subscription (
    id TEXT PRIMARY KEY, client_id TEXT NOT NULL, url TEXT NOT NULL, events TEXT NOT NULL,
    secret TEXT NOT NULL, previous_secret TEXT, previous_expires REAL, active INTEGER NOT NULL DEFAULT 1,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_event (
    id INTEGER PRIMARY KEY, event TEXT NOT NULL, body BLOB NOT NULL, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_delivery (
    id TEXT PRIMARY KEY, subscription_id TEXT NOT NULL REFERENCES webhook_subscription(id),
    event_id INTEGER NOT NULL REFERENCES webhook_event(id), status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt REAL NOT NULL, last_status INTEGER, last_error TEXT,
    created TEXT NOT NULL, delivered TEXT
);
CREATE INDEX IF NOT EXISTS webhook_delivery_due ON webhook_delivery (status, next_attempt);
CREATE TABLE IF NOT EXISTS webhook_attempt (
    delivery_id TEXT NOT NULL REFERENCES webhook_delivery(id), attempt INTEGER NOT NULL, at TEXT NOT NULL,
    status INTEGER, error TEXT, millis REAL NOT NULL, PRIMARY KEY (delivery_id, attempt)
);
"""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _activity_refs(plan: dict[str, Any] | None) -> set[str]:
    out: set[str] = set()
    for i, act in enumerate((plan or {}).get("activity") or []):
        if not isinstance(act, dict):
            continue
        ref = (act.get("reference") or {}).get("reference") if isinstance(act.get("reference"), dict) else None
        out.add(ref if isinstance(ref, str) else f"#detail-{i}:{json.dumps(act.get('detail'), sort_keys=True)}")
    return out


def _check_url(url: Any) -> str:
    if not isinstance(url, str) or len(url) > 2000:
        raise ApiError(400, "required", "url must be an http(s) URL", expression="url")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(400, "invalid", f"url {url!r} is not an http(s) URL with a host", expression="url")
    return url


def _check_events(events: Any) -> list[str]:
    if not isinstance(events, list) or not events:
        raise ApiError(400, "required", f"events must be a non-empty list of {sorted(EVENTS)}", expression="events")
    for i, e in enumerate(events):
        if e not in EVENTS:
            raise ApiError(400, "code-invalid", f"unknown event {e!r}; known: {', '.join(sorted(EVENTS))}",
                           expression=f"events[{i}]")
    return sorted(set(events))


def _check_secret(value: Any, where: str) -> str:
    if value is None:
        return "whsec_" + secrets.token_urlsafe(32)
    if not isinstance(value, str) or not 16 <= len(value) <= 200:
        raise ApiError(400, "invalid", "a webhook secret is 16–200 characters", expression=where)
    return value


class WebhookHub:
    """Subscriptions, the event listener and the delivery worker."""

    def __init__(self, store: FhirStore, gate: Gate, *, retry_base: float = 2.0, max_attempts: int = 8,
                 timeout: float = 5.0, wall: Callable[[], float] = time.time) -> None:
        self.store = store
        self.gate = gate
        self.retry_base = retry_base
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.wall = wall
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        store.connection.executescript(_SCHEMA)  # outside a transaction: executescript commits

    # --- events (called inside the write's transaction) ------------------------------------------

    def on_change(self, rtype: str, stored: Stored, previous: dict[str, Any] | None, actor: str) -> None:
        if rtype != "CarePlan":
            return
        plan = stored.resource or previous or {}
        plan_id = next((i.get("value") for i in plan.get("identifier") or []
                        if isinstance(i, dict) and i.get("system") == codes.CARE_PLAN_ID_SYSTEM), None) or stored.id
        pid = patient_of(plan)
        added = 0 if stored.resource is None else len(_activity_refs(stored.resource) - _activity_refs(previous))
        body = json.dumps({"event": PLAN_UPDATED, "care_plan_id": plan_id,
                           "patient_gpid": self.gate.gpid_of_patient(pid) if pid else None,
                           "procedures_added": added}, separators=(",", ":")).encode()
        self.emit(PLAN_UPDATED, body)

    def emit(self, event: str, body: bytes) -> int:
        conn = self.store.connection
        now = self.store.now()
        cur = conn.execute("INSERT INTO webhook_event (event, body, created) VALUES (?,?,?)", (event, body, now))
        event_id = int(cur.lastrowid or 0)
        subs = conn.execute("SELECT id, events FROM webhook_subscription WHERE active=1").fetchall()
        due = self.wall()
        for sid, events in subs:
            if event in json.loads(events):
                conn.execute("INSERT INTO webhook_delivery (id, subscription_id, event_id, status, next_attempt, "
                             "created) VALUES (?,?,?,?,?,?)", (f"dl_{uuid.uuid4().hex}", sid, event_id, "pending",
                                                               due, now))
        self._wake.set()
        return event_id

    # --- the HTTP side ----------------------------------------------------------------------------

    def _owned(self, p: Principal, sid: str) -> tuple[Any, ...]:
        if not _ID_RE.match(sid):
            raise ApiError(404, "not-found", "no such webhook subscription")
        row = self.store.connection.execute(
            "SELECT id, url, events, active, created, previous_expires, client_id FROM webhook_subscription "
            "WHERE id=?", (sid,)).fetchone()
        if row is None or row[6] != p.client_id:
            raise ApiError(404, "not-found", f"no webhook subscription {sid} for this client")
        return tuple(row)

    @staticmethod
    def _view(row: tuple[Any, ...]) -> dict[str, Any]:
        out = {"id": row[0], "url": row[1], "events": json.loads(row[2]), "active": bool(row[3]),
               "created": row[4]}
        if row[5] is not None:
            out["previous_secret_expires"] = int(row[5])
        return out

    def _idempotent(self, request: Request, p: Principal, raw: bytes, path: str,
                    work: Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]) -> Response:
        p.require(SCOPE)
        body = json_object(raw, empty=True)

        def write() -> Response:
            status, payload = work(body)
            return JSONResponse(payload, status, headers={"Cache-Control": "no-store"})

        return self.gate.once(request, p, path, raw, write)

    def subscribe(self, request: Request, p: Principal, raw: bytes) -> Response:
        def work(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            unknown = sorted(set(body) - {"url", "events", "secret"})
            if unknown:
                raise ApiError(400, "structure", f"unknown field {unknown[0]!r}", expression=unknown[0])
            url, events = _check_url(body.get("url")), _check_events(body.get("events"))
            secret = _check_secret(body.get("secret"), "secret")
            sid = f"wh_{uuid.uuid4().hex[:16]}"
            now = self.store.now()
            self.store.connection.execute(
                "INSERT INTO webhook_subscription (id, client_id, url, events, secret, created) VALUES (?,?,?,?,?,?)",
                (sid, p.client_id, url, json.dumps(events), secret, now))
            return 201, {"id": sid, "url": url, "events": events, "active": True, "created": now, "secret": secret}

        return self._idempotent(request, p, raw, "/webhooks", work)

    def rotate(self, request: Request, p: Principal, sid: str, raw: bytes) -> Response:
        def work(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            row = self._owned(p, sid)
            if not row[3]:
                raise ApiError(409, "conflict", f"webhook subscription {sid} is inactive")
            grace = body.get("grace_seconds", DEFAULT_GRACE)
            if not isinstance(grace, int) or isinstance(grace, bool) or not 0 <= grace <= 7 * 24 * 3600:
                raise ApiError(400, "invalid", "grace_seconds is a whole number from 0 to 604800",
                               expression="grace_seconds")
            secret = _check_secret(body.get("secret"), "secret")
            expires = self.wall() + grace
            self.store.connection.execute(
                "UPDATE webhook_subscription SET previous_secret=secret, previous_expires=?, secret=? WHERE id=?",
                (expires, secret, sid))
            return 200, {"id": sid, "secret": secret, "previous_secret_expires": int(expires)}

        return self._idempotent(request, p, raw, f"/webhooks/{sid}/rotate", work)

    def list(self, p: Principal) -> Response:
        p.require(SCOPE)
        rows = self.store.connection.execute(
            "SELECT id, url, events, active, created, previous_expires FROM webhook_subscription WHERE client_id=? "
            "ORDER BY created, id", (p.client_id,)).fetchall()
        return JSONResponse({"subscriptions": [self._view(tuple(r)) for r in rows]})

    def get(self, p: Principal, sid: str) -> Response:
        p.require(SCOPE)
        return JSONResponse(self._view(self._owned(p, sid)))

    def deactivate(self, p: Principal, sid: str) -> Response:
        p.require(SCOPE)
        with self.store.transaction() as conn:
            self._owned(p, sid)
            conn.execute("UPDATE webhook_subscription SET active=0 WHERE id=?", (sid,))
            conn.execute("UPDATE webhook_delivery SET status='cancelled' WHERE subscription_id=? AND "
                         "status='pending'", (sid,))
        return Response(status_code=204)

    def deliveries(self, p: Principal, sid: str, query: str) -> Response:
        p.require(SCOPE)
        self._owned(p, sid)
        params = urllib.parse.parse_qs(query)
        if set(params) - {"status"}:
            raise ApiError(400, "not-supported", "deliveries can be filtered by status only")
        status = params.get("status", [None])[0]
        sql = ("SELECT d.id, e.event, d.status, d.attempts, d.last_status, d.last_error, d.created, d.delivered, "
               "d.next_attempt, e.body FROM webhook_delivery d JOIN webhook_event e ON e.id = d.event_id "
               "WHERE d.subscription_id=?")
        args: list[Any] = [sid]
        if status:
            sql += " AND d.status=?"
            args.append(status)
        rows = self.store.connection.execute(sql + " ORDER BY d.created DESC, d.id LIMIT 200", args).fetchall()
        out = []
        for r in rows:
            attempts = self.store.connection.execute(
                "SELECT attempt, at, status, error, millis FROM webhook_attempt WHERE delivery_id=? ORDER BY attempt",
                (r[0],)).fetchall()
            out.append({"id": r[0], "event": r[1], "status": r[2], "attempts": r[3], "last_status": r[4],
                        "last_error": r[5], "created": r[6], "delivered": r[7],
                        "next_attempt": int(r[8]) if r[2] == "pending" else None, "body": json.loads(r[9]),
                        "log": [{"attempt": a[0], "at": a[1], "status": a[2], "error": a[3],
                                 "millis": round(a[4], 1)} for a in attempts]})
        return JSONResponse({"deliveries": out})

    # --- delivery -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="apex-webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout, follow_redirects=False, trust_env=False) as client:
            while not self._stop.is_set():
                try:
                    sent = self.deliver_due(client)
                except Exception:
                    sent = 0
                if not sent:
                    self._wake.wait(0.5)
                    self._wake.clear()

    def _backoff(self, attempts: int) -> float:
        return min(3600.0, self.retry_base * 2 ** (attempts - 1)) * random.uniform(0.8, 1.2)

    def deliver_due(self, client: httpx.Client, limit: int = 20) -> int:
        """Post what is due now; returns how many were attempted."""
        with self.store.transaction() as conn:
            due = conn.execute(
                "SELECT d.id, d.attempts, s.url, s.secret, s.previous_secret, s.previous_expires, e.event, e.body "
                "FROM webhook_delivery d JOIN webhook_subscription s ON s.id = d.subscription_id "
                "JOIN webhook_event e ON e.id = d.event_id WHERE d.status='pending' AND d.next_attempt <= ? "
                "ORDER BY d.next_attempt LIMIT ?", (self.wall(), limit)).fetchall()
        for did, attempts, url, secret, prev, prev_expires, event, body in due:
            ts = int(self.wall())
            sigs = [f"v1={sign(secret, ts, body)}"]
            if prev and prev_expires and prev_expires > self.wall():
                sigs.append(f"v1={sign(prev, ts, body)}")
            headers = {"Content-Type": "application/json", "User-Agent": "Apex-Odonto-Webhooks/1.0",
                       "X-Apex-Event": event, "X-Apex-Delivery": did, "X-Apex-Timestamp": str(ts),
                       "X-Apex-Signature": ",".join(sigs)}
            started = time.perf_counter()
            status: int | None = None
            error: str | None = None
            try:
                status = client.post(url, content=body, headers=headers).status_code
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
            millis = (time.perf_counter() - started) * 1000
            n = attempts + 1
            with self.store.transaction() as conn:
                conn.execute("INSERT INTO webhook_attempt VALUES (?,?,?,?,?,?)",
                             (did, n, self.store.now(), status, error, millis))
                if error is None:
                    conn.execute("UPDATE webhook_delivery SET status='delivered', attempts=?, last_status=?, "
                                 "last_error=NULL, delivered=? WHERE id=?", (n, status, self.store.now(), did))
                else:
                    final = n >= self.max_attempts
                    conn.execute("UPDATE webhook_delivery SET status=?, attempts=?, last_status=?, last_error=?, "
                                 "next_attempt=? WHERE id=?",
                                 ("failed" if final else "pending", n, status, error,
                                  self.wall() + self._backoff(n), did))
        return len(due)
