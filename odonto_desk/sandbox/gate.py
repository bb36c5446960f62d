"""What every API request passes before it touches data: credentials, rate limit, scope, the GPID
boundary on writes, and idempotency of POSTs.

* GPID: a write that belongs to a patient carries ``X-Apex-GPID: APX-XXXXXXXX``. A missing or
  malformed header is refused with 400, a header naming another patient with 403; nothing is written.
  A transaction or batch Bundle that writes to several patients lists their GPIDs, comma-separated;
  every entry must belong to one of them.
  Writes that belong to no patient (Practitioner, Organization) need no GPID.
* Idempotency: a POST with ``Idempotency-Key`` is remembered per client with a hash of its method,
  path and body. The same key and body again returns the first response (``Idempotent-Replayed:
  true``) and writes nothing; the same key with another body is refused with 422. The key row and
  the write it guards are committed in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from odonto_desk.fhir import codes
from odonto_desk.sandbox.auth import Auth, Principal
from odonto_desk.sandbox.fhirstore import FhirStore, Gone, NotFound, patient_of
from odonto_desk.sandbox.outcome import ApiError
from odonto_desk.sandbox.ratelimit import RateLimiter

GPID_HEADER = "X-Apex-GPID"
GPID_RE = re.compile(r"^APX-[A-Z0-9]{8}$")
IDEMPOTENCY_HEADER = "Idempotency-Key"
_KEY_RE = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    client_id TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, status INTEGER NOT NULL,
    headers TEXT NOT NULL, body BLOB NOT NULL, created TEXT NOT NULL,
    PRIMARY KEY (client_id, key)
);
"""


@dataclass
class Gate:
    store: FhirStore
    auth: Auth
    limiter: RateLimiter

    def __post_init__(self) -> None:
        self.store.connection.executescript(_SCHEMA)

    # --- who and how often ------------------------------------------------------------------

    def enter(self, request: Request) -> Principal:
        """Authenticate and rate-limit; the decision's headers go on the response (see app)."""
        with self.store.transaction():
            principal = self.auth.authenticate(request.headers.get("authorization"),
                                               request.headers.get("x-api-key"))
        decision = self.limiter.check(principal.client_id)
        request.state.rate_headers = decision.headers()
        if not decision.allowed:
            raise ApiError(429, "throttled",
                           f"rate limit: {self.limiter.burst} requests a second and {self.limiter.per_minute} "
                           "a minute per client; retry after the Retry-After seconds",
                           headers=decision.headers())
        request.state.principal = principal
        return principal

    # --- the patient boundary -------------------------------------------------------------------

    def gpid_of_patient(self, patient_id: str) -> str | None:
        try:
            patient = self.store.read("Patient", patient_id).resource or {}
        except (NotFound, Gone):
            return None
        return gpid_in(patient)

    def require_gpid(self, request: Request, resource: dict[str, Any] | None, *,
                     patient_id: str | None = None, expression: str | None = None) -> str | None:
        """Check the header against the patient ``resource`` (or ``patient_id``) belongs to."""
        if resource is not None and resource.get("resourceType") == "Patient":
            target = gpid_in(resource)
            if target is None:
                raise ApiError(400, "required", "a Patient needs a GPID identifier (APX- + 8 characters)",
                               expression="Patient.identifier")
        else:
            pid = patient_id or (patient_of(resource) if resource is not None else None)
            if pid is None:
                return None  # not patient data
            target = self.gpid_of_patient(pid)
            if target is None:
                raise ApiError(400, "not-found", f"Patient/{pid} is not known here",
                               expression=expression or "subject")
        return check_gpid_header(request, target)

    # --- idempotent POSTs ---------------------------------------------------------------------

    def once(self, request: Request, p: Principal, path: str, raw: bytes, work: Callable[[], Response]) -> Response:
        """Run ``work`` in one transaction, once per ``Idempotency-Key`` (required): a repeat of the
        same request gets the first response back and writes nothing; the key with another body is 422."""
        key = idempotency_key(request, required=True)
        assert key is not None
        rhash = request_hash("POST", path, raw)
        with self.store.transaction() as conn:
            again = replay(conn, p.client_id, key, rhash)
            if again is not None:
                return again
            response = work()
            remember(conn, p.client_id, key, rhash, response, self.store.now())
        return response


def json_object(raw: bytes, *, empty: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, or 400. ``empty``: no body at all means ``{}``."""
    if empty and not raw:
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "structure", f"the body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ApiError(400, "structure", "the body must be a JSON object")
    return body


def header_gpids(request: Request) -> list[str] | None:
    """The GPIDs of the header: one, or — on a Bundle POSTed to the FHIR base only — a comma-separated
    list, one per patient the Bundle writes to. None when absent; ApiError when malformed."""
    header = request.headers.get(GPID_HEADER)
    if header is None:
        return None  # a blank header is present and malformed, not absent
    bundle = request.method == "POST" and request.url.path.rstrip("/").endswith("/fhir")
    values = [v.strip() for v in header.split(",")] if bundle else [header]
    for v in values:
        if not GPID_RE.match(v):
            raise ApiError(400, "invalid", f"{GPID_HEADER} {v!r} is not a GPID (APX- + 8 letters or digits)")
    return values


def check_gpid_header(request: Request, target: str) -> str:
    gpids = header_gpids(request)
    if gpids is None:
        raise ApiError(400, "required", f"writes to patient data need the {GPID_HEADER} header")
    if target not in gpids:
        raise ApiError(403, "forbidden", f"{GPID_HEADER} {', '.join(gpids)} does not match the patient this write "
                       "belongs to; nothing was written")
    return target


def gpid_in(patient: dict[str, Any]) -> str | None:
    for ident in patient.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") == codes.GPID_SYSTEM:
            value = ident.get("value")
            return value if isinstance(value, str) else None
    return None


# --- idempotency ---------------------------------------------------------------------------------


def request_hash(method: str, path: str, body: bytes) -> str:
    h = hashlib.sha256()
    h.update(method.encode() + b" " + path.encode() + b"\n")
    h.update(body)
    return h.hexdigest()


def idempotency_key(request: Request, *, required: bool) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        if required:
            raise ApiError(400, "required", f"POST needs an {IDEMPOTENCY_HEADER} header (8–128 characters)")
        return None
    if not _KEY_RE.match(key):
        raise ApiError(400, "invalid", f"{IDEMPOTENCY_HEADER} must be 8–128 letters, digits or . _ : -")
    return key


def replay(conn: sqlite3.Connection, client_id: str, key: str, rhash: str) -> Response | None:
    row = conn.execute("SELECT request_hash, status, headers, body FROM idempotency WHERE client_id=? AND key=?",
                       (client_id, key)).fetchone()
    if row is None:
        return None
    if row[0] != rhash:
        raise ApiError(422, "business-rule", f"{IDEMPOTENCY_HEADER} {key} was used before with another request")
    headers = json.loads(row[2])
    headers["Idempotent-Replayed"] = "true"
    return Response(content=row[3], status_code=row[1], headers=headers)


def remember(conn: sqlite3.Connection, client_id: str, key: str, rhash: str, response: Response,
             created: str) -> None:
    keep = {k: v for k, v in response.headers.items()
            if k.lower() in ("content-type", "location", "etag", "last-modified")}
    conn.execute("INSERT INTO idempotency VALUES (?,?,?,?,?,?,?)",
                 (client_id, key, rhash, response.status_code, json.dumps(keep), bytes(response.body), created))
