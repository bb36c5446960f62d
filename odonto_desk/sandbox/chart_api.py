"""``GET/PUT /odonto/v1/chart/{gpid}``: the patient's odontogram (and perio chart) as one document.

The document is the domain's JSON, not FHIR: ``{"gpid", "patient_id", "etag", "last_updated",
"marks": [ChartMark…], "perio_exams": [...]}``. Underneath, every mark is the FHIR resource the
mapping gives it (Condition, Procedure or ServiceRequest), so FHIR clients see the same chart.

``PUT`` replaces the chart as a whole and needs ``If-Match`` with the document's ETag (428 without
it, 412 when stale): marks in the body are created or updated, marks missing from it are deleted
as tombstones (their history stays). All of it is one transaction; a bad mark refuses the whole
document with the path of the field (``marks[3].surfaces``) and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from odonto_desk.domain.chart import ChartMark
from odonto_desk.domain.errors import from_validation_error
from odonto_desk.domain.teeth import Tooth
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import from_fhir, to_fhir
from odonto_desk.fhir.validate import validate
from odonto_desk.sandbox.auth import Principal
from odonto_desk.sandbox.fhir_api import FhirApi, check_id
from odonto_desk.sandbox.fhirstore import FhirStore, Stored, StoreError
from odonto_desk.sandbox.gate import GPID_RE, Gate, check_gpid_header
from odonto_desk.sandbox.outcome import ApiError, fhir_response

MARK_TYPES = ("Condition", "Procedure", "ServiceRequest")


def chart_etag(rows: list[Stored] | list[Head]) -> str:
    h = hashlib.sha256()
    for s in sorted(rows, key=lambda r: (r.type, r.id)):
        h.update(f"{s.type}/{s.id}/{s.version};".encode())
    return f'W/"{h.hexdigest()[:20]}"'


_SCHEMA = """
CREATE TABLE IF NOT EXISTS chart_mark (
    type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, mark TEXT NOT NULL,
    PRIMARY KEY (type, id)
);
"""


class Head(NamedTuple):
    """What the chart's ETag and ``last_updated`` need of a row, without its JSON."""

    type: str
    id: str
    version: int
    last_updated: str


def derive_mark(resource: dict[str, Any]) -> str:
    """The mark's JSON for a stored resource, or '' when it is not a chart mark."""
    try:
        return from_fhir(resource, expect=ChartMark).model_dump_json()
    except FhirMappingError:
        return ""  # not a chart mark (e.g. a lab order, a prophylaxis without a tooth)


def record_marks(store: FhirStore, rows: Iterable[tuple[str, str, int, str]]) -> None:
    """Keep derived marks that a bulk load made with its resources: ``(type, id, version, mark JSON)``,
    each equal to :func:`derive_mark` of that version (the load renders both from one template).
    Call inside the load's transaction, so the derived rows are never behind the resources."""
    conn = store.connection
    conn.execute(_SCHEMA)
    conn.executemany("INSERT OR REPLACE INTO chart_mark VALUES (?,?,?,?)", rows)


def warm_chart_marks(store: FhirStore, batch: int = 2000) -> int:
    """Derive the chart marks of every current resource now (after a bulk load); returns how many."""
    store.connection.executescript(_SCHEMA)
    kinds = ",".join("?" * len(MARK_TYPES))
    done = 0
    while True:
        with store.transaction() as conn:
            rows = conn.execute(
                f"SELECT c.type, c.id, c.version, c.json FROM current c LEFT JOIN chart_mark cm ON cm.type = c.type "
                f"AND cm.id = c.id WHERE c.deleted = 0 AND c.type IN ({kinds}) AND (cm.version IS NULL OR "
                f"cm.version != c.version) LIMIT ?", (*MARK_TYPES, batch)).fetchall()
            conn.executemany("INSERT OR REPLACE INTO chart_mark VALUES (?,?,?,?)",
                             [(t, i, v, derive_mark(json.loads(j))) for t, i, v, j in rows])
        done += len(rows)
        if len(rows) < batch:
            return done


class ChartApi:
    """Marks are kept twice: as FHIR (the record) and, derived from it, as the mark's own JSON in
    ``chart_mark`` with the version it was derived from. Reading a chart of 100 marks through the
    FHIR mapping costs ~10 ms of CPU; from the derived rows, well under 1 ms. A derived row whose
    version is not the current one is recomputed on read, so writes by any path (FHIR, transactions,
    bulk loads) never show a stale mark."""

    def __init__(self, store: FhirStore, gate: Gate, fhir: FhirApi) -> None:
        self.store = store
        self.gate = gate
        self.fhir = fhir  # its listeners (webhooks, audit) hear about chart writes too
        store.connection.executescript(_SCHEMA)

    def warm_up(self) -> None:
        """Run a PUT's per-mark work once for each resource type a mark becomes, writing nothing.

        The first PUT otherwise loads the R4 models and builds their validators inside its
        transaction (150–370 ms), and every request behind it waits on the store's lock: a server
        under load starts with a convoy that alone made the p95 of a short run. Called before the
        server takes requests (``Server.on_startup``)."""
        for raw in ({"kind": "caries", "status": "cn", "surfaces": "MO"},
                    {"kind": "filling", "status": "tp", "surfaces": "MO", "material": "composite", "code": "D2392"},
                    {"kind": "filling", "status": "c", "surfaces": "MO", "material": "composite", "code": "D2392",
                     "date": "2024-01-02"}):
            mark = ChartMark.model_validate({**raw, "id": "warm-up", "patient": "warm-up", "tooth": "30"})
            resource = to_fhir(mark, base=to_fhir(mark))
            validate(resource, expected_type=resource["resourceType"])
            derive_mark(resource)
            mark.model_dump(mode="json")
            mark.model_dump_json()

    def _patient_id(self, gpid: str) -> str:
        if not GPID_RE.match(gpid):
            raise ApiError(400, "invalid", f"{gpid!r} is not a GPID (APX- + 8 letters or digits)")
        ids = self.store.by_identifier("Patient", "https://schemas.parkerapex.com/fhir/sid/gpid", gpid)
        if not ids:
            raise ApiError(404, "not-found", f"no patient has GPID {gpid}")
        return ids[0]

    def _marks(self, patient_id: str) -> tuple[dict[str, tuple[Head, dict[str, Any]]], list[Head]]:
        """({mark id: (row, mark JSON)}, every chart-type row) of the patient, current versions.
        Call inside a transaction: stale derived rows are refreshed."""
        conn = self.store.connection
        kinds = ",".join("?" * len(MARK_TYPES))
        rows = conn.execute(
            f"SELECT c.type, c.id, c.version, c.last_updated, cm.mark, CASE WHEN cm.version = c.version THEN NULL "
            f"ELSE c.json END FROM current c LEFT JOIN chart_mark cm ON cm.type = c.type AND cm.id = c.id "
            f"WHERE c.patient = ? AND c.deleted = 0 AND c.type IN ({kinds})", (patient_id, *MARK_TYPES)).fetchall()
        heads: list[Head] = []
        out: dict[str, tuple[Head, dict[str, Any]]] = {}
        fresh = []
        for rtype, rid, version, updated, mark, raw in rows:
            head = Head(rtype, rid, version, updated)
            heads.append(head)
            if raw is not None:
                mark = derive_mark(json.loads(raw))
                fresh.append((rtype, rid, version, mark))
            if mark:
                data = json.loads(mark)
                out[data["id"]] = (head, data)
        if fresh:
            conn.executemany("INSERT OR REPLACE INTO chart_mark VALUES (?,?,?,?)", fresh)
        return out, heads

    @staticmethod
    def _document(gpid: str, pid: str, marks: list[dict[str, Any]], rows: list[Head]) -> tuple[dict[str, Any], str]:
        etag = chart_etag(rows)
        last = max((s.last_updated for s in rows), default=None)
        ordered = sorted(marks, key=lambda m: (Tooth.parse(m["tooth"]), m["id"]))
        doc = {"gpid": gpid, "patient_id": pid, "etag": etag, "last_updated": last, "marks": ordered,
               "perio_exams": []}
        return doc, etag

    def document(self, gpid: str) -> tuple[dict[str, Any], str]:
        pid = self._patient_id(gpid)
        marks, rows = self._marks(pid)
        return self._document(gpid, pid, [m for _, m in marks.values()], rows)

    def get(self, p: Principal, gpid: str) -> Response:
        p.require("system/Condition.read")
        with self.store.transaction():
            doc, etag = self.document(gpid)
        return fhir_response(doc, 200, {"ETag": etag})

    def put(self, request: Request, p: Principal, gpid: str, raw: bytes) -> Response:
        p.require("odonto/chart.write")
        if_match = request.headers.get("if-match")
        if not if_match:
            raise ApiError(428, "required", "PUT of a chart needs If-Match with the ETag of the chart you edited")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, "structure", f"body is not valid JSON ({exc})") from None
        if not isinstance(body, dict) or not isinstance(body.get("marks"), list):
            raise ApiError(400, "structure", "body must be an object with a 'marks' list", expression="marks")
        with self.store.transaction():
            pid = self._patient_id(gpid)
            check_gpid_header(request, gpid)
            current, rows = self._marks(pid)
            if if_match.strip() != chart_etag(rows):
                raise ApiError(412, "conflict", "the chart changed since you read it; GET it again and re-apply")
            incoming: dict[str, ChartMark] = {}
            for i, raw_mark in enumerate(body["marks"]):
                if not isinstance(raw_mark, dict):
                    raise ApiError(400, "structure", "a mark is an object", expression=f"marks[{i}]")
                try:
                    mark = ChartMark.model_validate({**raw_mark, "patient": pid})
                except ValidationError as exc:
                    err = from_validation_error(exc)
                    raise ApiError(400, "invalid", err.message,
                                   expression=f"marks[{i}].{err.field}" if err.field else f"marks[{i}]") from None
                try:
                    check_id(mark.id)
                except ApiError as exc:
                    raise ApiError(400, "invalid", exc.message, expression=f"marks[{i}].id") from None
                if mark.id in incoming:
                    raise ApiError(400, "invalid", f"mark id {mark.id} appears twice", expression=f"marks[{i}].id")
                incoming[mark.id] = mark
            rows_after: dict[tuple[str, str], Head] = {(h.type, h.id): h for h in rows}
            changes: list[tuple[str, Stored, dict[str, Any] | None]] = []
            derived = []
            for mark_id, (head, _old) in current.items():
                if mark_id not in incoming:
                    previous = self.store.read(head.type, head.id).resource
                    gone = self.store.delete(head.type, head.id)
                    rows_after.pop((head.type, head.id), None)
                    if gone is not None:
                        changes.append((head.type, gone, previous))
            for i, mark in enumerate(incoming.values()):
                old = current.get(mark.id)
                if old is not None and old[1] == mark.model_dump(mode="json"):
                    continue
                old_resource = self.store.read(old[0].type, old[0].id).resource if old else None
                resource = to_fhir(mark, base=old_resource)
                try:
                    validate(resource, expected_type=resource["resourceType"])
                except FhirMappingError as exc:
                    raise ApiError(400, "invalid", exc.message, expression=f"marks[{i}]") from None
                if old is not None and old[0].type != resource["resourceType"]:
                    gone = self.store.delete(old[0].type, old[0].id)  # e.g. planned → completed
                    rows_after.pop((old[0].type, old[0].id), None)
                    if gone is not None:
                        changes.append((old[0].type, gone, old_resource))
                previous = old_resource if old and old[0].type == resource["resourceType"] else None
                try:
                    stored, _ = self.store.update(resource["resourceType"], mark.id, resource)
                except StoreError as exc:
                    raise ApiError(exc.status, exc.code, exc.message) from None
                changes.append((stored.type, stored, previous))
                rows_after[(stored.type, stored.id)] = Head(stored.type, stored.id, stored.version,
                                                            stored.last_updated)
                derived.append((stored.type, stored.id, stored.version, mark.model_dump_json()))
            self.store.connection.executemany("INSERT OR REPLACE INTO chart_mark VALUES (?,?,?,?)", derived)
            doc, etag = self._document(gpid, pid, [m.model_dump(mode="json") for m in incoming.values()],
                                       list(rows_after.values()))
            self.fhir.notify(changes, p.client_id)
        return fhir_response(doc, 200, {"ETag": etag})
