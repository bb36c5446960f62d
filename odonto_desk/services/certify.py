"""``odonto-desk certify --server URL``: the Apex Odonto certification track, run against a server.

Each of the twelve items is checked by doing the thing against the server (never by reading our own
code) and reports PASS or FAIL with the evidence seen on the wire. The run exits non-zero when any
item fails, so it can gate a release.

Safety: every write goes to patients this run creates for itself — a test patient named "Certify
Test" with its own freshly drawn GPID (checked unused first), plus the two patients of the golden
bundle re-keyed to fresh ids and GPIDs. Writes carry only those GPIDs, so the server's GPID boundary
itself keeps a real practice's records out of reach. Nothing is deleted except a probe Condition of
the test patient (item 12 needs one tombstone).

The credentials must be allowed to write patients, care plans and webhooks and to read the audit
trail (on the reference server: the ``demo-admin`` client); ``--role`` names the role whose
least-privilege scopes item 2 asks for.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

import httpx
import yaml

from odonto_desk.api.auth import ROLE_SCOPES, ApiKey, ClientCredentials, Credentials
from odonto_desk.api.client import FHIR_JSON, ApexClient, new_key, version_etag
from odonto_desk.api.errors import ApiError
from odonto_desk.api.ratelimit import TokenBucket
from odonto_desk.api.webhooks import WebhookReceiver, sign
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirValidationError
from odonto_desk.fhir.validate import validate

CERTIFY_SYSTEM = "https://odonto-desk.org/fhir/sid/certify-run"
PLAN_UPDATED = "odonto.treatment_plan.updated"
GPID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
ETAG_RE = re.compile(r'^W/"(\d+)"$')
RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
TITLES: dict[int, str] = {
    1: "First authenticated API call",
    2: "Least-privilege scopes",
    3: "FHIR R4 read",
    4: "GPID boundary headers on writes",
    5: "Webhook HMAC-SHA256 verification",
    6: "Webhook idempotency by delivery id",
    7: "Rate-limit compliance",
    8: "Idempotent writes (Idempotency-Key)",
    9: "If-Match concurrency",
    10: "Golden-bundle conformance",
    11: "OpenAPI conformance",
    12: "Audit trail and retention",
}


class ItemFailed(Exception):
    """An item's check did not hold; the message is the evidence."""


@dataclass(frozen=True)
class ItemResult:
    id: int
    title: str
    passed: bool
    evidence: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.id}  {self.title}  — {self.evidence}"


@dataclass
class CertifyConfig:
    server: str
    client_id: str | None = None
    client_secret: str | None = None
    api_key: str | None = None
    role: str = "read_only"
    receiver_host: str = "127.0.0.1"
    receiver_port: int = 0
    webhook_url: str | None = None  # what the server should call, when it cannot reach the receiver directly
    webhook_timeout: float = 15.0
    burst: int = 120
    only: frozenset[int] = frozenset(TITLES)

    @property
    def base(self) -> str:
        return self.server.rstrip("/")


def ensure(condition: bool, evidence: str) -> None:
    """Fail the running item with ``evidence`` unless ``condition`` holds."""
    if not condition:
        raise ItemFailed(evidence)


def fresh_gpid() -> str:
    return "APX-" + "".join(secrets.choice(GPID_ALPHABET) for _ in range(8))


def is_outcome(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("resourceType") == "OperationOutcome"


def golden_bundle() -> dict[str, Any]:
    raw = resources.files("odonto_desk.resources").joinpath("odonto-golden-bundle.r4.json").read_text("utf-8")
    return dict(json.loads(raw))


def openapi_contract() -> dict[str, Any]:
    """The packaged contract: the vendor's promise, not what the server under test says about itself."""
    raw = resources.files("odonto_desk.resources").joinpath("apex-odonto-v1.openapi.yaml").read_text("utf-8")
    return dict(yaml.safe_load(raw))


# --- re-keying the golden bundle ------------------------------------------------------------------


def _replace_strings(node: Any, mapping: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _replace_strings(v, mapping) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_strings(v, mapping) for v in node]
    if isinstance(node, str):
        return mapping.get(node, node)
    return node


def rekey_bundle(bundle: dict[str, Any], tag: str) -> tuple[dict[str, Any], list[str]]:
    """The bundle with every resource id suffixed by ``tag`` and every patient given a fresh GPID.

    Replacing whole strings only (``Type/id`` references, urls and GPID values) keeps the content
    byte-for-byte otherwise, so what is read back can be compared field by field with what was
    sent. Returns the new bundle and the new GPIDs (the write's ``X-Apex-GPID`` list)."""
    mapping: dict[str, str] = {}
    gpids: list[str] = []
    for entry in bundle.get("entry") or []:
        res = entry["resource"]
        mapping[f"{res['resourceType']}/{res['id']}"] = f"{res['resourceType']}/{res['id']}-{tag}"
        for ident in res.get("identifier") or [] if res["resourceType"] == "Patient" else []:
            if ident.get("system") == codes.GPID_SYSTEM:
                mapping[ident["value"]] = fresh_gpid()
                gpids.append(mapping[ident["value"]])
    out = _replace_strings(bundle, mapping)
    for entry in out["entry"]:
        entry["resource"]["id"] = f"{entry['resource']['id']}-{tag}"
    return out, gpids


def differing_fields(sent: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """The top-level fields sent that did not come back equal (``meta`` is the server's to set)."""
    return sorted(k for k, v in sent.items() if k != "meta" and got.get(k) != v)


# --- the webhook receiver certify runs ---------------------------------------------------------------


@dataclass
class Captured:
    headers: dict[str, str]
    body: bytes
    status: int


class CapturingReceiver(WebhookReceiver):
    """The client's own receiver, plus a record of each raw delivery so item 6 can replay one exactly."""

    def __init__(self, secret: str, *, host: str, port: int) -> None:
        self.seen: set[str] = set()
        self.events: list[dict[str, Any]] = []
        self.captured: list[Captured] = []
        self._seen_lock = threading.Lock()
        super().__init__(lambda: [secret], self._first_time, self.events.append, host=host, port=port)

    def _first_time(self, delivery_id: str) -> bool:
        with self._seen_lock:
            if delivery_id in self.seen:
                return False
            self.seen.add(delivery_id)
            return True

    def _handle(self, path: str, headers: dict[str, str], stream: Any, length: int) -> int:
        body = stream.read(length)
        status = super()._handle(path, headers, io.BytesIO(body), len(body))
        self.captured.append(Captured({k.lower(): v for k, v in headers.items()}, body, status))
        return status


# --- the track ----------------------------------------------------------------------------------------


@dataclass
class Track:
    """State shared by the items: the clients, the test patient, what was written, the webhook side."""

    cfg: CertifyConfig
    credentials: Credentials
    client: ApexClient = field(init=False)
    raw: httpx.Client = field(init=False)
    run_tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    since: str | None = None
    writes: list[tuple[str, str, str]] = field(default_factory=list)  # (action, type, id)
    _patient: tuple[str, str] | None = None
    _patient_error: str | None = None
    receiver: CapturingReceiver | None = None
    webhook_secret: str = field(default_factory=lambda: "cert_" + secrets.token_urlsafe(24))
    subscription_id: str | None = None
    plan_id: str | None = None

    def __post_init__(self) -> None:
        self.client = ApexClient(self.cfg.base, credentials=self.credentials, retries=2)
        self.raw = httpx.Client(timeout=15.0, headers={"Accept": FHIR_JSON})

    @property
    def fhir(self) -> str:
        return self.client.fhir_base

    def auth_headers(self) -> dict[str, str]:
        return self.credentials.headers(self.raw)

    def close(self) -> None:
        if self.subscription_id is not None:
            # A server that cannot deactivate has already been reported by the items.
            with contextlib.suppress(ApiError, httpx.HTTPError):
                self.client.deactivate_webhook(self.subscription_id)
        if self.receiver is not None:
            self.receiver.stop()
        self.client.close()
        self.raw.close()

    # --- the test patient ------------------------------------------------------------------------

    def patient(self) -> tuple[str, str]:
        """(id, GPID) of this run's test patient, created on first use."""
        if self._patient is None and self._patient_error is None:
            try:
                self._patient = self._create_patient()
            except (ApiError, httpx.HTTPError, ItemFailed) as exc:
                self._patient_error = str(exc)
        if self._patient is None:
            raise ItemFailed(f"could not create the certification test patient: {self._patient_error}")
        return self._patient

    def _create_patient(self) -> tuple[str, str]:
        for _ in range(5):
            gpid = fresh_gpid()
            taken = self.client.search_page("Patient", {"identifier": f"{codes.GPID_SYSTEM}|{gpid}"})
            if not taken.get("entry"):
                break
        else:
            raise ItemFailed("five fresh GPIDs in a row were already in use")
        body = {"resourceType": "Patient",
                "identifier": [{"use": "usual", "system": codes.GPID_SYSTEM, "value": gpid},
                               {"system": CERTIFY_SYSTEM, "value": self.run_tag}],
                "name": [{"family": "Certify", "given": ["Test"], "text": "Certify Test"}], "gender": "unknown"}
        created = self.client.create(body, gpid=gpid)
        self.writes.append(("create", "Patient", created["id"]))
        return created["id"], gpid

    def probe(self, rtype: str = "Condition", marker: str | None = None) -> dict[str, Any]:
        """A small valid resource of the test patient, findable by a unique identifier."""
        pid, _ = self.patient()
        ident = [{"system": CERTIFY_SYSTEM, "value": marker or f"{self.run_tag}-{uuid.uuid4().hex[:12]}"}]
        if rtype == "Patient":  # another certification patient, with a GPID of its own
            return {"resourceType": "Patient", "name": [{"family": "Certify", "given": ["Probe"]}],
                    "identifier": [{"system": codes.GPID_SYSTEM, "value": fresh_gpid()}, *ident]}
        if rtype == "CarePlan":
            return {"resourceType": "CarePlan", "status": "active", "intent": "plan", "title": "Certification probe",
                    "identifier": [{"system": codes.CARE_PLAN_ID_SYSTEM, "value": f"CP-CERT-{uuid.uuid4().hex[:10]}"},
                                   *ident], "subject": {"reference": f"Patient/{pid}"}}
        if rtype == "Observation":
            return {"resourceType": "Observation", "status": "final", "identifier": ident,
                    "code": {"text": "Certification probe"}, "subject": {"reference": f"Patient/{pid}"},
                    "valueString": "probe"}
        if rtype == "Coverage":
            return {"resourceType": "Coverage", "status": "active", "identifier": ident,
                    "beneficiary": {"reference": f"Patient/{pid}"}, "payor": [{"reference": f"Patient/{pid}"}]}
        return {"resourceType": "Condition", "identifier": ident, "code": {"text": "Certification probe"},
                "subject": {"reference": f"Patient/{pid}"}}

    def count_by_marker(self, rtype: str, resource: dict[str, Any]) -> int:
        marker = next(i["value"] for i in resource["identifier"] if i["system"] == CERTIFY_SYSTEM)
        return len(list(self.client.search(rtype, {"identifier": f"{CERTIFY_SYSTEM}|{marker}"})))

    def post_raw(self, resource: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        """A FHIR create with exactly these extra headers (credentials added), for the negative checks."""
        h = {**self.auth_headers(), "Content-Type": FHIR_JSON, "Idempotency-Key": new_key(), **headers}
        return self.raw.post(f"{self.fhir}/{resource['resourceType']}", content=json.dumps(resource).encode(),
                             headers=h)

    # --- 1 ---------------------------------------------------------------------------------------

    def item_1(self) -> str:
        if isinstance(self.credentials, ClientCredentials):
            self.credentials.headers(self.raw)
            how = f"token issued by {self.credentials.token_url}"
        else:
            how = "API key"
        r = self.client.request("GET", f"{self.fhir}/Patient", params={"_count": "1"})
        ensure(r.json().get("resourceType") == "Bundle", f"GET /fhir/Patient answered {r.status_code} without a Bundle")
        anon = self.raw.get(f"{self.fhir}/Patient", params={"_count": "1"})
        ensure(anon.status_code == 401, f"{how}; authenticated read 200; but without credentials the server "
                                        f"answered {anon.status_code}, not 401")
        return f"{how}; GET /fhir/Patient with it → 200 Bundle; without credentials → 401"

    # --- 2 ---------------------------------------------------------------------------------------

    def _outside_write(self, scopes: tuple[str, ...]) -> str:
        for rtype in ("Patient", "Coverage", "CarePlan", "Observation"):
            if f"system/{rtype}.write" not in scopes and "system/*.write" not in scopes:
                return rtype
        raise ItemFailed(f"role {self.cfg.role} may write every probe type; no write outside its scopes to try")

    def item_2(self) -> str:
        role = self.cfg.role
        asked = ROLE_SCOPES[role]
        if isinstance(self.credentials, ClientCredentials):
            narrow = ClientCredentials(self.credentials.token_url, self.credentials.client_id,
                                       self.credentials.client_secret, asked)
            headers = narrow.headers(self.raw)
            granted = set(narrow.granted_scopes)
            ensure(granted == set(asked), f"asked for the {role} scopes {sorted(asked)}, granted {sorted(granted)}")
            said = f"token for role {role} granted exactly its {len(asked)} scopes"
        else:
            headers = self.auth_headers()
            said = f"API key used as role {role}"
        _, gpid = self.patient()
        rtype = self._outside_write(asked)
        resource = self.probe(rtype)
        if rtype == "Patient":
            gpid = resource["identifier"][0]["value"]
        h = {**headers, "Content-Type": FHIR_JSON, "Idempotency-Key": new_key(), "X-Apex-GPID": gpid}
        r = self.raw.post(f"{self.fhir}/{rtype}", content=json.dumps(resource).encode(), headers=h)
        ensure(r.status_code == 403, f"{said}; but a {rtype} write outside them answered {r.status_code}, not 403")
        ensure(self.count_by_marker(rtype, resource) == 0, f"{said}; the {rtype} write was refused but stored")
        return f"{said}; a {rtype} write outside them → 403, nothing stored"

    # --- 3 ---------------------------------------------------------------------------------------

    def item_3(self) -> str:
        cap = self.client.metadata()
        ensure(cap.get("resourceType") == "CapabilityStatement" and cap.get("fhirVersion") == "4.0.1",
               f"metadata is {cap.get('resourceType')} with fhirVersion {cap.get('fhirVersion')!r}, not 4.0.1")
        pid, _ = self.patient()
        r = self.client.request("GET", f"{self.fhir}/Patient/{pid}")
        etag = r.headers.get("etag", "")
        body = r.json()
        ensure(body.get("resourceType") == "Patient" and body.get("id") == pid, f"GET Patient/{pid} returned "
               f"{body.get('resourceType')}/{body.get('id')}")
        match = ETAG_RE.match(etag)
        if match is None:
            raise ItemFailed(f"GET Patient/{pid} has ETag {etag!r}, not W/\"<version>\"")
        version = (body.get("meta") or {}).get("versionId")
        ensure(str(version) == match.group(1), f"ETag {etag} disagrees with meta.versionId {version}")
        return f"CapabilityStatement fhirVersion 4.0.1; GET Patient/{pid} → 200 with ETag {etag}"

    # --- 4 ---------------------------------------------------------------------------------------

    def item_4(self) -> str:
        _, gpid = self.patient()
        missing = self.probe()
        r1 = self.post_raw(missing, {})
        ensure(r1.status_code in (400, 403), f"a write without X-Apex-GPID answered {r1.status_code}")
        ensure(self.count_by_marker("Condition", missing) == 0, "a write without X-Apex-GPID was refused but stored")
        other = fresh_gpid()
        wrong = self.probe()
        r2 = self.post_raw(wrong, {"X-Apex-GPID": other})
        ensure(r2.status_code == 403, f"a write with another patient's GPID {other} answered {r2.status_code}, not 403")
        ensure(self.count_by_marker("Condition", wrong) == 0, "a write with a mismatched GPID was refused but stored")
        right = self.probe()
        created = self.client.create(right, gpid=gpid)
        self.writes.append(("create", "Condition", created["id"]))
        ensure(self.count_by_marker("Condition", right) == 1, "a write with the right GPID was not stored once")
        return (f"missing GPID → {r1.status_code}, mismatched → 403, nothing stored by either; "
                f"right GPID {gpid} → 201 Condition/{created['id']}")

    # --- 5 and 6 -----------------------------------------------------------------------------------

    def _start_receiver(self) -> CapturingReceiver:
        receiver = CapturingReceiver(self.webhook_secret, host=self.cfg.receiver_host, port=self.cfg.receiver_port)
        self.receiver = receiver.start()
        return receiver

    def _wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()

    def item_5(self) -> str:
        _, gpid = self.patient()
        receiver = self._start_receiver()
        url = self.cfg.webhook_url or receiver.url
        sub = self.client.subscribe_webhook(url, [PLAN_UPDATED], secret=self.webhook_secret)
        self.subscription_id = str(sub["id"])
        plan = self.probe("CarePlan")
        created = self.client.create(plan, gpid=gpid)
        self.writes.append(("create", "CarePlan", created["id"]))
        self.plan_id = plan["identifier"][0]["value"]

        def ours() -> bool:
            return any(e.get("care_plan_id") == self.plan_id for e in receiver.events)

        if not self._wait_for(ours, self.cfg.webhook_timeout):
            reasons = sorted(set(receiver.rejected)) or ["nothing arrived"]
            raise ItemFailed(f"no verified delivery for CarePlan {self.plan_id} within {self.cfg.webhook_timeout:g} s "
                             f"({len(receiver.captured)} received; rejected: {'; '.join(reasons)})")
        good = next(c for c in receiver.captured if c.status == 204)
        ts = str(int(time.time()))
        forged = {"X-Apex-Delivery": f"dl_{uuid.uuid4().hex}", "X-Apex-Timestamp": ts,
                  "X-Apex-Signature": f"v1={sign('not-the-secret-' + secrets.token_hex(8), ts, good.body)}",
                  "Content-Type": "application/json"}
        before = len(receiver.events)
        r = self.raw.post(receiver.url, content=good.body, headers=forged)
        ensure(r.status_code == 401 and len(receiver.events) == before,
               f"a forged signature got {r.status_code} from the receiver and was "
               f"{'applied' if len(receiver.events) > before else 'not applied'}")
        return (f"delivery {good.headers.get('x-apex-delivery')} for {self.plan_id} verified (HMAC-SHA256 v1); "
                "a forged signature → 401, not applied")

    def item_6(self) -> str:
        receiver = self.receiver
        if receiver is None or not any(c.status == 204 for c in receiver.captured):
            raise ItemFailed("no verified delivery to replay (see item 5)")
        good = next(c for c in receiver.captured if c.status == 204)
        delivery = good.headers.get("x-apex-delivery", "")
        applied = len(receiver.events)
        replay = self.raw.post(receiver.url, content=good.body, headers={
            k: v for k, v in good.headers.items() if k.startswith("x-apex-") or k == "content-type"})
        ts = str(int(time.time()))
        redeliver = self.raw.post(receiver.url, content=good.body, headers={
            "Content-Type": "application/json", "X-Apex-Delivery": delivery, "X-Apex-Timestamp": ts,
            "X-Apex-Signature": f"v1={sign(self.webhook_secret, ts, good.body)}"})
        ensure(replay.status_code == 200 and redeliver.status_code == 200 and len(receiver.events) == applied,
               f"replay → {replay.status_code}, fresh-signed redelivery → {redeliver.status_code}; events applied "
               f"{applied} → {len(receiver.events)}")
        assert self.subscription_id is not None
        logged = {d["id"]: d for d in self.client.webhook_deliveries(self.subscription_id)}
        ensure(delivery in logged and logged[delivery].get("status") == "delivered",
               f"the server's delivery log has no delivered {delivery}")
        return (f"delivery {delivery} replayed and redelivered → 200 acknowledged, applied once; the server "
                "logs it delivered under the same id")

    # --- 7 ---------------------------------------------------------------------------------------

    def _limited_gets(self, pid: str) -> tuple[int, float, int]:
        time.sleep(1.0)  # let the server's burst bucket for this client refill
        started = time.monotonic()
        missing_headers = 0
        with ApexClient(self.cfg.base, credentials=self.credentials, limiter=TokenBucket(), retries=2) as c:
            for _ in range(self.cfg.burst):
                r = c.request("GET", f"{self.fhir}/Patient/{pid}")
                missing_headers += not all(h in r.headers for h in RATE_HEADERS)
            return c.stats["throttled"], time.monotonic() - started, missing_headers

    def _raw_burst(self, pid: str, n: int) -> tuple[httpx.Response | None, int]:
        stop = threading.Event()
        sent = iter(range(n))
        lock = threading.Lock()
        found: list[httpx.Response] = []
        count = [0]
        headers = {**self.auth_headers(), "Accept": FHIR_JSON}

        def worker() -> None:
            with httpx.Client(timeout=15.0, headers=headers) as h:
                while not stop.is_set():
                    with lock:
                        if next(sent, None) is None:
                            return
                        count[0] += 1
                    r = h.get(f"{self.fhir}/Patient/{pid}")
                    if r.status_code == 429:
                        found.append(r)
                        stop.set()

        with ThreadPoolExecutor(8) as pool:
            for _ in range(8):
                pool.submit(worker)
        return (found[0] if found else None), count[0]

    def item_7(self) -> str:
        pid, _ = self.patient()
        throttled, took, missing_headers = self._limited_gets(pid)
        ensure(throttled == 0, f"{self.cfg.burst} GETs through the client's limiter met {throttled}×429")
        ensure(missing_headers == 0, f"{missing_headers} of {self.cfg.burst} responses lacked the RateLimit-* headers")
        refused, sent = self._raw_burst(pid, 400)
        ensure(refused is not None, f"a raw burst of {sent} GETs past 80/s was never answered 429")
        assert refused is not None
        retry = refused.headers.get("retry-after", "")
        ensure(retry.isdigit(), f"429 without a whole-seconds Retry-After (got {retry!r})")
        ensure(all(h in refused.headers for h in RATE_HEADERS), "429 without the RateLimit-* headers")
        ensure(is_outcome(refused), "429 without an OperationOutcome body")
        time.sleep(min(float(retry), 5.0))
        return (f"{self.cfg.burst} GETs via the limiter in {took:.1f} s: 0×429, RateLimit-* on each; a raw burst got "
                f"429 after {sent} requests with Retry-After {retry} and RateLimit-Limit "
                f"{refused.headers.get('ratelimit-limit')}")

    # --- 8 ---------------------------------------------------------------------------------------

    def item_8(self) -> str:
        _, gpid = self.patient()
        res = self.probe()
        key = new_key()
        url = f"{self.fhir}/Condition"
        first = self.client.request("POST", url, json=res, gpid=gpid, idempotency_key=key)
        second = self.client.request("POST", url, json=res, gpid=gpid, idempotency_key=key)
        self.writes.append(("create", "Condition", first.json()["id"]))
        ensure(first.json().get("id") == second.json().get("id") and first.status_code == second.status_code,
               f"the same key twice gave {first.status_code} {first.json().get('id')} then "
               f"{second.status_code} {second.json().get('id')}")
        stored = self.count_by_marker("Condition", res)
        ensure(stored == 1, f"the same key twice stored {stored} Conditions")
        other = self.probe()
        try:
            self.client.request("POST", url, json=other, gpid=gpid, idempotency_key=key)
        except ApiError as exc:
            ensure(exc.status in (409, 422), f"the key with another body answered {exc.status}")
            ensure(self.count_by_marker("Condition", other) == 0, "the key with another body was refused but stored")
            return (f"same key twice → one Condition/{first.json()['id']}, same {first.status_code} response; "
                    f"same key with another body → {exc.status}")
        raise ItemFailed("the same Idempotency-Key with another body was accepted")

    # --- 9 ---------------------------------------------------------------------------------------

    def item_9(self) -> str:
        _, gpid = self.patient()
        res = self.probe("Observation")
        created = self.client.create(res, gpid=gpid)
        oid, v1 = created["id"], created["meta"]["versionId"]
        self.writes.append(("create", "Observation", oid))
        current = {**created, "valueString": "fresh edit"}
        updated = self.client.update(current, gpid=gpid, version=v1)
        v2 = updated["meta"]["versionId"]
        self.writes.append(("update", "Observation", oid))
        stale = {**created, "valueString": "stale edit"}
        r = self.raw.put(f"{self.fhir}/Observation/{oid}", content=json.dumps(stale).encode(),
                         headers={**self.auth_headers(), "Content-Type": FHIR_JSON, "X-Apex-GPID": gpid,
                                  "If-Match": version_etag(v1)})
        now = self.client.read("Observation", oid)
        ensure(r.status_code == 412, f"an update with stale If-Match {version_etag(v1)} answered {r.status_code}, "
                                     "not 412")
        ensure(now.get("valueString") == "fresh edit" and now["meta"]["versionId"] == v2,
               f"after the refused stale update the resource is version {now['meta']['versionId']} "
               f"with {now.get('valueString')!r}")
        return (f"If-Match {version_etag(v1)} → 200 version {v2}; the same stale If-Match again → 412, "
                "Observation unchanged")

    # --- 10 --------------------------------------------------------------------------------------

    def item_10(self) -> str:
        bundle, gpids = rekey_bundle(golden_bundle(), f"c{self.run_tag}")
        sent = [e["resource"] for e in bundle["entry"]]
        for i, res in enumerate(sent):
            try:
                validate(res)
            except FhirValidationError as exc:
                raise ItemFailed(f"the packaged golden bundle's entry {i} is not valid R4: {exc}") from None
        answer = self.client.transaction(bundle, gpid=",".join(gpids))
        statuses = [str((e.get("response") or {}).get("status", "")) for e in answer.get("entry") or []]
        ensure(len(statuses) == len(sent) and all(s[:3] in ("200", "201") for s in statuses),
               f"the transaction answered {len(statuses)} entries, statuses {sorted(set(statuses))}")
        reads = {"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": f"{r['resourceType']}/{r['id']}"}} for r in sent]}
        back = self.client.transaction(reads).get("entry") or []
        ensure(len(back) == len(sent), f"read back {len(back)} of {len(sent)} resources")
        for res, entry in zip(sent, back, strict=True):
            got = entry.get("resource") or {}
            where = f"{res['resourceType']}/{res['id']}"
            try:
                validate(got)
            except FhirValidationError as exc:
                raise ItemFailed(f"{where} read back is not valid R4: {exc}") from None
            diff = differing_fields(res, got)
            ensure(not diff, f"{where} read back differs in {', '.join(diff)}")
        return (f"{len(sent)} resources (patients {', '.join(gpids)}) valid R4B, written in one transaction and "
                "read back equal on every field sent")

    # --- 11 --------------------------------------------------------------------------------------

    def _path_values(self) -> dict[str, str]:
        pid, gpid = self.patient()
        return {"type": "Patient", "id": pid, "vid": "1", "gpid": gpid, "uploadId": "up_" + "0" * 32,
                "subscriptionId": self.subscription_id or "wh_" + "0" * 16}

    def _probe_operation(self, path: str, method: str, op: dict[str, Any], values: dict[str, str]) -> str | None:
        """Call one operation (a GET, or a write with a malformed body); the problem found, if any."""
        url = self.cfg.base + re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
        _, gpid = self.patient()
        headers = {**self.auth_headers(), "X-Apex-GPID": gpid}
        if method == "get":
            r = self.raw.get(url, headers=headers)
        else:
            headers.update({"Content-Type": "application/json", "Idempotency-Key": new_key()})
            r = self.raw.request(method.upper(), url, content=b'{"malformed": ', headers=headers)
            if r.status_code < 400:
                return f"{method.upper()} {path} with a malformed body → {r.status_code}"
        documented = op.get("responses") or {}
        answer = documented.get(str(r.status_code)) or documented.get("default")
        if answer is None:
            return f"{method.upper()} {path} → {r.status_code}, not a documented status"
        if r.status_code >= 400 and str(answer.get("$ref", "")).endswith("/Outcome") and not is_outcome(r):
            return f"{method.upper()} {path} → {r.status_code} without an OperationOutcome"
        return None

    def item_11(self) -> str:
        spec = openapi_contract()
        values = self._path_values()
        problems: list[str] = []
        probed = 0
        for path, ops in (spec.get("paths") or {}).items():
            if path.startswith("/oauth/"):
                continue  # form-encoded and answered with OAuth errors; item 1 exercised the token endpoint
            for method in ("get", "post", "put"):
                if method in ops:
                    probed += 1
                    problem = self._probe_operation(path, method, ops[method], values)
                    if problem:
                        problems.append(problem)
        ensure(not problems, "; ".join(problems[:4]) + (f" (+{len(problems) - 4} more)" if len(problems) > 4 else ""))
        return f"{probed} documented operations probed (GETs, malformed writes): documented statuses, errors as " \
               "OperationOutcome"

    # --- 12 --------------------------------------------------------------------------------------

    def item_12(self) -> str:
        _, gpid = self.patient()
        res = self.probe()
        created = self.client.create(res, gpid=gpid)
        cid = created["id"]
        self.writes.append(("create", "Condition", cid))
        self.client.delete("Condition", cid, gpid=gpid)
        self.writes.append(("delete", "Condition", cid))
        r = self.raw.get(f"{self.fhir}/Condition/{cid}", headers=self.auth_headers())
        ensure(r.status_code == 410, f"a read of deleted Condition/{cid} answered {r.status_code}, not 410")
        history = self.client.history("Condition", cid)
        versions = len(history.get("entry") or [])
        ensure(versions >= 2, f"the history of deleted Condition/{cid} holds {versions} version(s)")
        first = self.client.vread("Condition", cid, created["meta"]["versionId"])
        ensure(not differing_fields({k: v for k, v in created.items() if k != "id"}, first),
               f"version {created['meta']['versionId']} of the deleted Condition no longer reads back as written")
        params = {"since": self.since} if self.since else None
        trail = self.client.request("GET", f"{self.cfg.base}/odonto/v1/audit", params=params).json()
        ensure(bool((trail.get("chain") or {}).get("intact")), f"the audit hash chain does not verify: {trail.get('chain')}")
        logged = {(e.get("action"), e.get("type"), e.get("id")) for e in trail.get("entries") or []}
        unlogged = [w for w in self.writes if w not in logged]
        if unlogged:
            raise ItemFailed(f"{len(unlogged)} of this run's writes are not in the audit trail, e.g. {unlogged[0]}")
        return (f"deleted Condition/{cid} reads 410 with {versions} versions in history; all {len(self.writes)} "
                "writes of this run are in the audit trail and its hash chain verifies")

    # --- running -----------------------------------------------------------------------------------

    def run_item(self, item: int) -> ItemResult:
        check: Callable[[], str] = getattr(self, f"item_{item}")
        try:
            return ItemResult(item, TITLES[item], True, check())
        except ItemFailed as exc:
            return ItemResult(item, TITLES[item], False, str(exc))
        except ApiError as exc:
            return ItemResult(item, TITLES[item], False, f"the server refused: HTTP {exc.status}: {exc}")
        except (httpx.HTTPError, OSError, ValueError, KeyError, TypeError) as exc:
            return ItemResult(item, TITLES[item], False, f"{type(exc).__name__}: {exc}")

    def run(self) -> Iterator[ItemResult]:
        try:
            self.since = str(self.raw.get(f"{self.cfg.base}/status").json().get("time") or "") or None
        except (httpx.HTTPError, ValueError, AttributeError):
            self.since = None  # the audit item then reads the whole trail
        for item in sorted(self.cfg.only):
            yield self.run_item(item)


def credentials_for(cfg: CertifyConfig) -> Credentials:
    if cfg.api_key:
        return ApiKey(cfg.api_key)
    if cfg.client_id and cfg.client_secret:
        return ClientCredentials(f"{cfg.base}/oauth/token", cfg.client_id, cfg.client_secret)
    raise ValueError("give --client-id and --client-secret, or --api-key")


def certify(cfg: CertifyConfig, on_result: Callable[[ItemResult], None] | None = None) -> list[ItemResult]:
    """Run the chosen items in order; ``on_result`` sees each as it finishes (for live output)."""
    track = Track(cfg, credentials_for(cfg))
    results: list[ItemResult] = []
    try:
        for result in track.run():
            results.append(result)
            if on_result is not None:
                on_result(result)
    finally:
        track.close()
    return results


def _items(text: str) -> frozenset[int]:
    try:
        picked = frozenset(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of item numbers") from None
    if not picked or not picked <= set(TITLES):
        raise argparse.ArgumentTypeError(f"items are numbered 1 to {len(TITLES)}")
    return picked


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="odonto-desk certify",
                                description="Run the Apex Odonto certification track against a server.")
    p.add_argument("--server", required=True, help="the server's base URL, e.g. http://127.0.0.1:8765")
    p.add_argument("--client-id", help="OAuth client id (client credentials)")
    p.add_argument("--client-secret", help="OAuth client secret")
    p.add_argument("--api-key", help="an API key instead of client credentials")
    p.add_argument("--role", default="read_only", choices=sorted(ROLE_SCOPES),
                   help="the role whose least-privilege scopes item 2 asks for (default read_only)")
    p.add_argument("--json", action="store_true", help="print a JSON list of {id, title, passed, evidence}")
    p.add_argument("--only", type=_items, default=frozenset(TITLES), help="run only these items, e.g. 1,3,7")
    p.add_argument("--receiver-host", default="127.0.0.1", help="where the webhook receiver listens")
    p.add_argument("--receiver-port", type=int, default=0, help="the receiver's port (default: any free one)")
    p.add_argument("--webhook-url", help="the URL the server should deliver to, when it cannot reach the receiver "
                                         "directly (a tunnel or proxy that forwards to it)")
    p.add_argument("--webhook-timeout", type=float, default=15.0, help="seconds to wait for a delivery")
    return p


def certify_main(argv: list[str]) -> int:
    """0 when every item passed, 1 when any failed, 2 for a usage error."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if not args.api_key and not (args.client_id and args.client_secret):
        parser.print_usage(sys.stderr)
        print("odonto-desk certify: give --client-id and --client-secret, or --api-key", file=sys.stderr)
        return 2
    cfg = CertifyConfig(args.server, args.client_id, args.client_secret, args.api_key, args.role,
                        args.receiver_host, args.receiver_port, args.webhook_url, args.webhook_timeout,
                        only=args.only)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")  # the evidence lines use — and →
    live = None if args.json else (lambda r: print(r.line(), flush=True))
    results = certify(cfg, live)
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2, ensure_ascii=False))
    return 0 if results and all(r.passed for r in results) else 1
