"""FHIR R4 REST for the 16 resource types of the Required Odonto set (plus Task).

read, vread, create (conditional with ``If-None-Exist``), update with ``If-Match`` (412 on a stale
version), delete as a tombstone (410 on read), instance / type / system ``_history``, search by
``_id``, ``patient``, ``identifier``, ``_lastUpdated`` (gt/ge/lt/le/eq), ``_sort`` and ``_count`` with
``next`` links, transaction (atomic) and batch Bundles, and ``/metadata``.

Every resource written is validated (structure with R4B, codes, teeth and surfaces); a refusal is a
400 OperationOutcome naming the path, and nothing is stored. Unknown search parameters are refused
(400) rather than silently ignored, so a sync never mistakes an unfiltered result for a filtered one.
"""

from __future__ import annotations

import copy
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from odonto_desk.fhir.errors import FhirValidationError
from odonto_desk.fhir.validate import MAX_RESOURCE_BYTES, ODONTO_TYPES, parse_json, validate
from odonto_desk.sandbox.auth import Principal
from odonto_desk.sandbox.fhirstore import (
    FhirStore,
    Invalid,
    MultipleMatches,
    Stored,
    StoreError,
    VersionConflict,
    format_instant,
    parse_instant,
)
from odonto_desk.sandbox.gate import Gate, idempotency_key, remember, replay, request_hash
from odonto_desk.sandbox.outcome import ApiError, fhir_response, outcome

TYPES: tuple[str, ...] = (*ODONTO_TYPES, "Task")
ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
MAX_COUNT = 1000
DEFAULT_COUNT = 50
SEARCH_PARAMS = {"_id", "patient", "subject", "identifier", "_lastUpdated", "_sort", "_count", "_at", "_cursor",
                 "_format"}

# (resource type, what was stored, the previous content or None, the client that wrote it). Listeners run
# inside the write's transaction, so what they record (webhook events, audit) commits or rolls back with it.
ChangeListener = Callable[[str, Stored, dict[str, Any] | None, str], None]


def check_type(rtype: str) -> None:
    if rtype not in TYPES:
        raise ApiError(404, "not-supported", f"resource type {rtype!r} is not served here; supported: "
                       + ", ".join(TYPES))


def check_id(rid: str) -> None:
    if not ID_RE.match(rid):
        raise ApiError(400, "invalid", f"{rid!r} is not a FHIR id (1–64 letters, digits, '-' or '.')")


def parse_count(params: dict[str, list[str]], default: int, *, minimum: int) -> int:
    """``_count``: a whole number from ``minimum`` to 1,000 (more is refused, not silently capped)."""
    if "_count" not in params:
        return default
    raw = params["_count"][0]
    if not raw.strip().isdigit() or not minimum <= int(raw) <= MAX_COUNT:
        raise ApiError(400, "invalid", f"_count must be a whole number from {minimum} to {MAX_COUNT}",
                       expression="_count")
    return int(raw)


def parse_etag(value: str | None, header: str = "If-Match") -> int | None:
    if value is None:
        return None
    m = re.match(r'^\s*(?:W/)?"?(\d+)"?\s*$', value)
    if not m:
        raise ApiError(400, "invalid", f"{header} {value!r} is not a version ETag such as W/\"3\"")
    return int(m.group(1))


def _store_error(err: StoreError) -> ApiError:
    return ApiError(err.status, err.code, err.message, expression=err.expression)


def _validate(resource: dict[str, Any], rtype: str, prefix: str = "") -> None:
    try:
        validate(resource, expected_type=rtype, allowed_types=TYPES)
    except FhirValidationError as exc:
        raise ApiError(400, "invalid", exc.message, expression=f"{prefix}{exc.path}" if exc.path else None) \
            from None


def _headers(s: Stored, base: str) -> dict[str, str]:
    return {"ETag": s.etag, "Last-Modified": s.last_updated,
            "Location": f"{base}/{s.type}/{s.id}/_history/{s.version}"}


class FhirApi:
    """The FHIR endpoints' logic, independent of the web framework's routing."""

    def __init__(self, store: FhirStore, gate: Gate) -> None:
        self.store = store
        self.gate = gate
        self.listeners: list[ChangeListener] = []

    # --- helpers ----------------------------------------------------------------------------

    def notify(self, changes: list[tuple[str, Stored, dict[str, Any] | None]], actor: str) -> None:
        """Tell the listeners; call inside the write's transaction."""
        for rtype, stored, previous in changes:
            for listener in self.listeners:
                listener(rtype, stored, previous, actor)

    def _previous(self, rtype: str, rid: str) -> dict[str, Any] | None:
        try:
            return self.store.read(rtype, rid).resource
        except StoreError:
            return None

    @staticmethod
    def _body(raw: bytes, rtype: str | None) -> dict[str, Any]:
        try:
            data = parse_json(raw, max_bytes=MAX_RESOURCE_BYTES)
        except FhirValidationError as exc:
            status = 413 if "limit" in exc.message else 400
            raise ApiError(status, "too-costly" if status == 413 else "structure", exc.message) from None
        return data

    # --- endpoints --------------------------------------------------------------------------------

    def read(self, p: Principal, rtype: str, rid: str, base: str) -> Response:
        check_type(rtype)
        check_id(rid)
        p.require(f"system/{rtype}.read")
        try:
            s = self.store.read(rtype, rid)
        except StoreError as e:
            raise _store_error(e) from None
        h = _headers(s, base)
        h.pop("Location")
        return fhir_response(s.resource, 200, h)

    def vread(self, p: Principal, rtype: str, rid: str, vid: str, base: str) -> Response:
        check_type(rtype)
        check_id(rid)
        p.require(f"system/{rtype}.read")
        if not vid.isdigit():
            raise ApiError(400, "invalid", f"{vid!r} is not a version number")
        try:
            s = self.store.vread(rtype, rid, int(vid))
        except StoreError as e:
            raise _store_error(e) from None
        return fhir_response(s.resource, 200, {"ETag": s.etag, "Last-Modified": s.last_updated})

    def create(self, request: Request, p: Principal, rtype: str, raw: bytes, base: str) -> Response:
        check_type(rtype)
        p.require(f"system/{rtype}.write")
        resource = self._body(raw, rtype)
        _validate(resource, rtype)
        key = idempotency_key(request, required=False)
        rhash = request_hash("POST", f"/{rtype}", raw)
        changes: list[tuple[str, Stored, dict[str, Any] | None]] = []
        with self.store.transaction() as conn:
            if key:
                again = replay(conn, p.client_id, key, rhash)
                if again is not None:
                    return again
            self.gate.require_gpid(request, resource)
            cond = request.headers.get("if-none-exist")
            existing = self._conditional_match(rtype, cond) if cond else None
            if existing is not None:
                s = self.store.read(rtype, existing)
                response = fhir_response(s.resource, 200, _headers(s, base))
            else:
                resource.pop("id", None)
                s = self.store.create(rtype, resource)
                changes.append((rtype, s, None))
                response = fhir_response(s.resource, 201, _headers(s, base))
            if key:
                remember(conn, p.client_id, key, rhash, response, self.store.now())
            self.notify(changes, p.client_id)
        return response

    def _conditional_match(self, rtype: str, query: str) -> str | None:
        params = urllib.parse.parse_qs(query.lstrip("?"), keep_blank_values=True)
        if set(params) - {"identifier", "_id"} or not params:
            raise ApiError(400, "not-supported", "If-None-Exist supports identifier=system|value or _id")
        ids: list[str] | None = None
        if "identifier" in params:
            system, sep, value = params["identifier"][0].rpartition("|")
            ids = self.store.by_identifier(rtype, system if sep else None, value if sep else system)
        if "_id" in params:
            want = params["_id"][0]
            ids = [i for i in (ids if ids is not None else [want]) if i == want]
            ids = [i for i in ids if self.store.current_version(rtype, i) is not None and self._exists(rtype, i)]
        if not ids:
            return None
        if len(ids) > 1:
            raise _store_error(MultipleMatches(f"If-None-Exist matched {len(ids)} {rtype} resources"))
        return ids[0]

    def _exists(self, rtype: str, rid: str) -> bool:
        try:
            self.store.read(rtype, rid)
            return True
        except StoreError:
            return False

    def update(self, request: Request, p: Principal, rtype: str, rid: str, raw: bytes, base: str) -> Response:
        check_type(rtype)
        check_id(rid)
        p.require(f"system/{rtype}.write")
        resource = self._body(raw, rtype)
        if resource.get("id") not in (None, rid):
            raise ApiError(400, "invalid", f"the body's id {resource.get('id')!r} differs from the URL's {rid!r}",
                           expression=f"{rtype}.id")
        _validate(resource, rtype)
        if_match = parse_etag(request.headers.get("if-match"))
        with self.store.transaction():
            previous = self._previous(rtype, rid)
            self.gate.require_gpid(request, resource)
            if previous is not None:
                # Old and new must both belong to the header's patient: data never moves between
                # patients, and a Patient's GPID never changes by an update.
                self.gate.require_gpid(request, previous)
            try:
                s, created = self.store.update(rtype, rid, resource, if_match=if_match)
            except StoreError as e:
                raise _store_error(e) from None
            self.notify([(rtype, s, previous)], p.client_id)
        h = _headers(s, base)
        return fhir_response(s.resource, 201 if created else 200, h)

    def delete(self, request: Request, p: Principal, rtype: str, rid: str) -> Response:
        check_type(rtype)
        check_id(rid)
        p.require(f"system/{rtype}.write")
        if_match = parse_etag(request.headers.get("if-match"))
        with self.store.transaction():
            previous = self._previous(rtype, rid)
            if previous is not None:
                self.gate.require_gpid(request, previous)
            try:
                s = self.store.delete(rtype, rid, if_match=if_match)
            except StoreError as e:
                raise _store_error(e) from None
            if s is not None:
                self.notify([(rtype, s, previous)], p.client_id)
        if s is not None:
            return fhir_response(None, 204, {"ETag": s.etag})
        return fhir_response(outcome("not-found", f"{rtype}/{rid} did not exist or was already deleted",
                                     severity="warning"), 200)

    def search(self, p: Principal, rtype: str, query: str, base: str) -> Response:
        check_type(rtype)
        p.require(f"system/{rtype}.read")
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        unknown = sorted(set(params) - SEARCH_PARAMS)
        if unknown:
            raise ApiError(400, "not-supported", f"search parameter(s) not supported: {', '.join(unknown)}; "
                           f"supported: {', '.join(sorted(SEARCH_PARAMS - {'_at', '_cursor', '_format'}))}")
        count = parse_count(params, DEFAULT_COUNT, minimum=0)
        sort = params.get("_sort", ["_lastUpdated"])[0]
        if sort not in ("_lastUpdated", "-_lastUpdated"):
            raise ApiError(400, "not-supported", "_sort supports _lastUpdated and -_lastUpdated")
        ids = [i for v in params.get("_id", []) for i in v.split(",") if i]
        for i in ids:
            check_id(i)
        patient = (params.get("patient") or params.get("subject") or [None])[0]
        if patient:
            patient = patient.removeprefix("Patient/")
            check_id(patient)
        updated = []
        for v in params.get("_lastUpdated", []):
            op, instant = (v[:2], v[2:]) if v[:2] in ("gt", "ge", "lt", "le", "eq") else ("eq", v)
            try:
                parse_instant(instant)
            except Invalid as e:
                raise _store_error(e) from None
            updated.append((op, instant))
        identifier = None
        if "identifier" in params:
            system, sep, value = params["identifier"][0].rpartition("|")
            identifier = (system or None, value) if sep else (None, system)
        at = params.get("_at", [None])[0]
        if at:
            try:
                at = format_instant(parse_instant(at))
            except Invalid as e:
                raise _store_error(e) from None
        after = None
        if "_cursor" in params:
            lu, sep, last_id = params["_cursor"][0].partition("|")
            if not sep or not at:
                raise ApiError(400, "invalid", "_cursor is only valid in a next link")
            after = (lu, last_id)
        try:
            rows, snapshot = self.store.search(rtype, ids=ids or None, patient=patient, updated=updated,
                                               identifier=identifier, descending=sort.startswith("-"),
                                               count=count + 1, after=after, at=at)
        except Invalid as e:
            raise _store_error(e) from None
        more = len(rows) > count
        rows = rows[:count]
        keep = [(k, v) for k, vs in params.items() if k not in ("_at", "_cursor") for v in vs]
        links = [{"relation": "self", "url": f"{base}/{rtype}?{urllib.parse.urlencode(keep)}"}]
        if more and rows:
            nxt = [*keep, ("_at", snapshot), ("_cursor", f"{rows[-1].last_updated}|{rows[-1].id}")]
            links.append({"relation": "next", "url": f"{base}/{rtype}?{urllib.parse.urlencode(nxt)}"})
        bundle = {"resourceType": "Bundle", "type": "searchset", "meta": {"lastUpdated": snapshot},
                  "link": links,
                  "entry": [{"fullUrl": f"{base}/{s.type}/{s.id}", "resource": s.resource,
                             "search": {"mode": "match"}} for s in rows]}
        return fhir_response(bundle, 200, {"X-Snapshot": snapshot})

    def history(self, p: Principal, rtype: str | None, rid: str | None, query: str, base: str) -> Response:
        if rtype:
            check_type(rtype)
            p.require(f"system/{rtype}.read")
        else:
            p.require("system/*.read")
        if rid:
            check_id(rid)
        params = urllib.parse.parse_qs(query, keep_blank_values=True)  # "_count=" is refused, not ignored
        unknown = sorted(set(params) - {"_since", "_count", "_at", "_cursor"})
        if unknown:
            raise ApiError(400, "not-supported", f"history parameter(s) not supported: {', '.join(unknown)}")
        count = max(1, parse_count(params, DEFAULT_COUNT, minimum=0))
        since = params.get("_since", [None])[0]
        if since is not None and not since.strip():
            raise ApiError(400, "invalid", "_since needs an instant", expression="_since")
        at = params.get("_at", [None])[0] or self.store.now()
        before = None
        if "_cursor" in params:
            parts = params["_cursor"][0].split("|")
            if len(parts) != 4 or not parts[3].isdigit():
                raise ApiError(400, "invalid", "_cursor is only valid in a next link")
            before = (parts[0], parts[1], parts[2], int(parts[3]))
        try:
            rows = self.store.history(rtype, rid, since=since, count=count + 1, before_key=before, at=at)
        except Invalid as e:
            raise _store_error(e) from None
        more = len(rows) > count
        rows = rows[:count]
        path = "/".join(x for x in (rtype, rid, "_history") if x)
        keep = [(k, v) for k, vs in params.items() if k not in ("_at", "_cursor") for v in vs]
        links = [{"relation": "self", "url": f"{base}/{path}?{urllib.parse.urlencode(keep)}"}]
        if more and rows:
            last = rows[-1]
            nxt = [*keep, ("_at", at), ("_cursor", f"{last.last_updated}|{last.type}|{last.id}|{last.version}")]
            links.append({"relation": "next", "url": f"{base}/{path}?{urllib.parse.urlencode(nxt)}"})
        entries = []
        for s in rows:
            e: dict[str, Any] = {"fullUrl": f"{base}/{s.type}/{s.id}",
                                 "request": {"method": "DELETE" if s.deleted else ("POST" if s.version == 1 else "PUT"),
                                             "url": f"{s.type}/{s.id}" if s.version > 1 or s.deleted else s.type},
                                 "response": {"status": "204" if s.deleted else ("201" if s.version == 1 else "200"),
                                              "etag": s.etag, "lastModified": s.last_updated}}
            if s.resource is not None:
                e["resource"] = s.resource
            entries.append(e)
        return fhir_response({"resourceType": "Bundle", "type": "history", "link": links, "entry": entries})

    # --- bundles --------------------------------------------------------------------------------

    def bundle(self, request: Request, p: Principal, raw: bytes, base: str) -> Response:
        bundle = self._body(raw, "Bundle")
        if bundle.get("resourceType") != "Bundle":
            raise ApiError(400, "invalid", "POST to the base takes a Bundle", expression="resourceType")
        btype = bundle.get("type")
        if btype not in ("transaction", "batch"):
            raise ApiError(400, "invalid", "Bundle.type must be transaction or batch", expression="Bundle.type")
        entries = bundle.get("entry") or []
        if not isinstance(entries, list):
            raise ApiError(400, "structure", "Bundle.entry must be a list", expression="Bundle.entry")
        key = idempotency_key(request, required=False)
        rhash = request_hash("POST", "/", raw)
        changes: list[tuple[str, Stored, dict[str, Any] | None]] = []
        with self.store.transaction() as conn:
            if key:
                again = replay(conn, p.client_id, key, rhash)
                if again is not None:
                    return again
            if btype == "transaction":
                results = self._transaction(request, p, entries, base, changes)
            else:
                results = self._batch(request, p, entries, base, changes)
            response = fhir_response({"resourceType": "Bundle", "type": f"{btype}-response", "entry": results})
            if key:
                remember(conn, p.client_id, key, rhash, response, self.store.now())
            self.notify(changes, p.client_id)
        return response

    def _batch(self, request: Request, p: Principal, entries: list[Any], base: str,
               changes: list[tuple[str, Stored, dict[str, Any] | None]]) -> list[dict[str, Any]]:
        out = []
        for i, entry in enumerate(entries):
            mine: list[tuple[str, Stored, dict[str, Any] | None]] = []
            try:
                with self.store.transaction():
                    out.append(self._entry(request, p, entry, i, base, {}, mine))
                changes.extend(mine)
            except ApiError as err:
                out.append({"response": {"status": str(err.status),
                                         "outcome": outcome(err.code, err.message, expression=err.expression)}})
        return out

    def _transaction(self, request: Request, p: Principal, entries: list[Any], base: str,
                     changes: list[tuple[str, Stored, dict[str, Any] | None]]) -> list[dict[str, Any]]:
        # FHIR's processing order: DELETE, POST, PUT/PATCH, GET; responses in entry order.
        order = {"DELETE": 0, "POST": 1, "PUT": 2, "GET": 3}
        methods = []
        for i, entry in enumerate(entries):
            method = ((entry or {}).get("request") or {}).get("method") if isinstance(entry, dict) else None
            if method not in order:
                raise ApiError(400, "invalid", f"request.method {method!r} is not DELETE, POST, PUT or GET",
                               expression=f"Bundle.entry[{i}].request.method")
            methods.append(method)
        # Resolve urn:uuid placeholders of POSTed entries before anything is written.
        ids: dict[str, str] = {}
        import uuid as _uuid

        for i, entry in enumerate(entries):
            full = entry.get("fullUrl")
            if methods[i] == "POST" and isinstance(full, str) and full.startswith("urn:uuid:"):
                rtype = ((entry.get("resource") or {}).get("resourceType")) or ""
                ids[full] = f"{rtype}/{_uuid.uuid4()}"
        results: dict[int, dict[str, Any]] = {}

        def key(k: int) -> tuple[int, int, int]:
            # Within the POSTs, Patients first: the GPID boundary of the other entries is checked
            # against the patient they point to, which may be created by this same transaction.
            is_patient = ((entries[k].get("resource") or {}).get("resourceType")) == "Patient"
            return (order[methods[k]], 0 if is_patient else 1, k)

        for i in sorted(range(len(entries)), key=key):
            results[i] = self._entry(request, p, entries[i], i, base, ids, changes)
        return [results[i] for i in range(len(entries))]

    def _entry(self, request: Request, p: Principal, entry: dict[str, Any], i: int, base: str,
               ids: dict[str, str], changes: list[tuple[str, Stored, dict[str, Any] | None]]) -> dict[str, Any]:
        req = entry.get("request") or {}
        method, url = req.get("method"), str(req.get("url") or "")
        where = f"Bundle.entry[{i}]"
        path = url.split("?")[0].strip("/")
        parts = path.split("/") if path else []
        if not parts or any(x in ("", "..", ".") for x in parts):
            raise ApiError(400, "invalid", f"request.url {url!r} is not Type or Type/id", expression=f"{where}.request.url")
        rtype = parts[0]
        check_type(rtype)
        if len(parts) > 1:
            check_id(parts[1])
        resource = entry.get("resource")
        if resource is not None:
            resource = _rewrite_refs(copy.deepcopy(resource), ids)
        if method in ("POST", "PUT"):
            if not isinstance(resource, dict):
                raise ApiError(400, "required", f"{method} needs a resource", expression=f"{where}.resource")
            p.require(f"system/{rtype}.write")
            _validate(resource, rtype, prefix=f"{where}.resource.")
        if method == "POST":
            if len(parts) != 1:
                raise ApiError(400, "invalid", "POST url is the type only", expression=f"{where}.request.url")
            self.gate.require_gpid(request, resource, expression=f"{where}.resource")
            cond = req.get("ifNoneExist")
            existing = self._conditional_match(rtype, cond) if cond else None
            if existing is not None:
                s = self.store.read(rtype, existing)
                return {"response": {"status": "200 OK", "location": f"{rtype}/{s.id}/_history/{s.version}",
                                     "etag": s.etag, "lastModified": s.last_updated}}
            full = entry.get("fullUrl")
            new_id = ids[full].split("/")[1] if isinstance(full, str) and full in ids else None
            assert resource is not None
            resource.pop("id", None)
            s = self.store.create(rtype, resource, rid=new_id)
            changes.append((rtype, s, None))
            return {"response": {"status": "201 Created", "location": f"{rtype}/{s.id}/_history/{s.version}",
                                 "etag": s.etag, "lastModified": s.last_updated}}
        if method == "PUT":
            if len(parts) != 2:
                raise ApiError(400, "invalid", "PUT url is Type/id", expression=f"{where}.request.url")
            assert resource is not None
            if resource.get("id") not in (None, parts[1]):
                raise ApiError(400, "invalid", "the resource id differs from the url", expression=f"{where}.resource.id")
            previous = self._previous(rtype, parts[1])
            self.gate.require_gpid(request, resource, expression=f"{where}.resource")
            if previous is not None:
                self.gate.require_gpid(request, previous)
            try:
                s, created = self.store.update(rtype, parts[1], resource,
                                               if_match=parse_etag(req.get("ifMatch"), "ifMatch"))
            except VersionConflict as e:
                raise ApiError(412, "conflict", f"{where}: {e.message}", expression=f"{where}.request.ifMatch") \
                    from None
            changes.append((rtype, s, previous))
            return {"response": {"status": "201 Created" if created else "200 OK",
                                 "location": f"{rtype}/{s.id}/_history/{s.version}", "etag": s.etag,
                                 "lastModified": s.last_updated}}
        if method == "DELETE":
            if len(parts) != 2:
                raise ApiError(400, "invalid", "DELETE url is Type/id", expression=f"{where}.request.url")
            p.require(f"system/{rtype}.write")
            previous = self._previous(rtype, parts[1])
            if previous is not None:
                self.gate.require_gpid(request, previous)
            try:
                s = self.store.delete(rtype, parts[1], if_match=parse_etag(req.get("ifMatch"), "ifMatch"))
            except VersionConflict as e:
                raise ApiError(412, "conflict", f"{where}: {e.message}", expression=f"{where}.request.ifMatch") \
                    from None
            if s is not None:
                changes.append((rtype, s, previous))
            return {"response": {"status": "204 No Content"}}
        # GET inside a bundle: a read.
        p.require(f"system/{rtype}.read")
        if len(parts) != 2:
            raise ApiError(400, "not-supported", "GET in a bundle supports Type/id reads", expression=f"{where}.request.url")
        try:
            s = self.store.read(rtype, parts[1])
        except StoreError as e:
            raise ApiError(e.status, e.code, f"{where}: {e.message}") from None
        return {"resource": s.resource, "response": {"status": "200 OK", "etag": s.etag,
                                                     "lastModified": s.last_updated}}


def _rewrite_refs(node: Any, ids: dict[str, str]) -> Any:
    """Replace ``urn:uuid:`` references of this transaction with the ids the server gave them."""
    if not ids:
        return node
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "reference" and isinstance(v, str) and v in ids:
                node[k] = ids[v]
            else:
                node[k] = _rewrite_refs(v, ids)
    elif isinstance(node, list):
        return [_rewrite_refs(v, ids) for v in node]
    return node


def capability_statement(base: str, now: str, *, history_type: bool = True) -> dict[str, Any]:
    interactions = [{"code": c} for c in ("read", "vread", "update", "delete", "history-instance",
                                          "history-type", "create", "search-type")
                    if history_type or c != "history-type"]
    params = [{"name": "_id", "type": "token"}, {"name": "_lastUpdated", "type": "date"},
              {"name": "patient", "type": "reference"}, {"name": "identifier", "type": "token"}]
    return {
        "resourceType": "CapabilityStatement", "status": "active", "date": now[:10], "kind": "instance",
        "software": {"name": "Odonto Desk reference Apex server"},
        "implementation": {"description": "Apex Odonto sandbox", "url": base},
        "fhirVersion": "4.0.1", "format": ["application/fhir+json"],
        "rest": [{"mode": "server",
                  "security": {"service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                                        "code": "OAuth"}]}]},
                  "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}],
                  "resource": [{"type": t, "versioning": "versioned-update", "readHistory": True,
                                "updateCreate": True, "conditionalCreate": True, "conditionalDelete": "not-supported",
                                "interaction": interactions, "searchParam": params} for t in TYPES]}],
    }
