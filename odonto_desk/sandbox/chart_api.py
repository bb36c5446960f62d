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
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from odonto_desk.domain.chart import ChartMark
from odonto_desk.domain.errors import from_validation_error
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import from_fhir, to_fhir
from odonto_desk.fhir.validate import validate
from odonto_desk.sandbox.auth import Principal
from odonto_desk.sandbox.fhir_api import FhirApi, check_id
from odonto_desk.sandbox.fhirstore import FhirStore, Stored, StoreError
from odonto_desk.sandbox.gate import GPID_RE, Gate, check_gpid_header
from odonto_desk.sandbox.outcome import ApiError, fhir_response

MARK_TYPES = ("Condition", "Procedure", "ServiceRequest")


def chart_etag(rows: list[Stored]) -> str:
    h = hashlib.sha256()
    for s in sorted(rows, key=lambda r: (r.type, r.id)):
        h.update(f"{s.type}/{s.id}/{s.version};".encode())
    return f'W/"{h.hexdigest()[:20]}"'


class ChartApi:
    def __init__(self, store: FhirStore, gate: Gate, fhir: FhirApi) -> None:
        self.store = store
        self.gate = gate
        self.fhir = fhir  # its listeners (webhooks, audit) hear about chart writes too

    def _patient_id(self, gpid: str) -> str:
        if not GPID_RE.match(gpid):
            raise ApiError(400, "invalid", f"{gpid!r} is not a GPID (APX- + 8 letters or digits)")
        ids = self.store.by_identifier("Patient", "https://schemas.parkerapex.com/fhir/sid/gpid", gpid)
        if not ids:
            raise ApiError(404, "not-found", f"no patient has GPID {gpid}")
        return ids[0]

    def _marks(self, patient_id: str) -> tuple[list[tuple[Stored, ChartMark]], list[Stored]]:
        """(readable marks, every chart-type resource) of the patient, current versions."""
        rows = self.store.current_for_patient(patient_id, MARK_TYPES)
        marks = []
        for s in rows:
            try:
                mark = from_fhir(s.resource or {}, expect=ChartMark)
            except FhirMappingError:
                continue  # not a chart mark (e.g. a lab order, a prophylaxis without a tooth)
            marks.append((s, mark))
        return marks, rows

    @staticmethod
    def _document(gpid: str, pid: str, marks: list[ChartMark], rows: list[Stored]) -> tuple[dict[str, Any], str]:
        etag = chart_etag(rows)
        last = max((s.last_updated for s in rows), default=None)
        doc = {"gpid": gpid, "patient_id": pid, "etag": etag, "last_updated": last,
               "marks": [m.model_dump(mode="json") for m in sorted(marks, key=lambda m: (m.tooth, m.id))],
               "perio_exams": []}
        return doc, etag

    def document(self, gpid: str) -> tuple[dict[str, Any], str]:
        pid = self._patient_id(gpid)
        marks, rows = self._marks(pid)
        return self._document(gpid, pid, [m for _, m in marks], rows)

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
            by_id = {m.id: (s, m) for s, m in current}
            rows_after = {(s.type, s.id): s for s in rows}
            changes: list[tuple[str, Stored, dict[str, Any] | None]] = []
            for mark_id, (s, _old) in by_id.items():
                if mark_id not in incoming:
                    gone = self.store.delete(s.type, s.id)
                    rows_after.pop((s.type, s.id), None)
                    if gone is not None:
                        changes.append((s.type, gone, s.resource))
            for i, mark in enumerate(incoming.values()):
                old = by_id.get(mark.id)
                if old is not None and old[1] == mark:
                    continue
                base = old[0].resource if old else None
                resource = to_fhir(mark, base=base)
                try:
                    validate(resource, expected_type=resource["resourceType"])
                except FhirMappingError as exc:
                    raise ApiError(400, "invalid", exc.message, expression=f"marks[{i}]") from None
                if old is not None and old[0].type != resource["resourceType"]:
                    gone = self.store.delete(old[0].type, old[0].id)  # e.g. planned → completed
                    rows_after.pop((old[0].type, old[0].id), None)
                    if gone is not None:
                        changes.append((old[0].type, gone, old[0].resource))
                previous = old[0].resource if old and old[0].type == resource["resourceType"] else None
                try:
                    stored, _ = self.store.update(resource["resourceType"], mark.id, resource)
                except StoreError as exc:
                    raise ApiError(exc.status, exc.code, exc.message) from None
                changes.append((stored.type, stored, previous))
                rows_after[(stored.type, stored.id)] = stored
            doc, etag = self._document(gpid, pid, list(incoming.values()), list(rows_after.values()))
            self.fhir.notify(changes, p.client_id)
        return fhir_response(doc, 200, {"ETag": etag})
