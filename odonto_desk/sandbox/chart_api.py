"""``GET/PUT /odonto/v1/chart/{gpid}``: the patient's odontogram (and perio chart) as one document.

The document is the domain's JSON, not FHIR: ``{"gpid", "patient_id", "etag", "last_updated",
"marks": [ChartMark…], "perio_exams": [...]}``. Underneath, every mark is the FHIR resource the
mapping gives it (Condition, Procedure or ServiceRequest), so FHIR clients see the same chart.

``perio_exams`` are the patient's perio exams, each the domain's :class:`PerioExam` JSON
(``PerioExam.to_dict()``), oldest first. Underneath, an exam is its FHIR Observations (fhir-dental
§4: a panel and one Observation per value shown, see :mod:`odonto_desk.fhir.resources.perio`).

``PUT`` needs ``If-Match`` with the document's ETag (428 without it, 412 when stale); the ETag
covers the marks and the perio Observations. The body has one list per section, and **a section
omitted from the body is left untouched**: a perio save need not resend the marks, nor a mark save
the perio exams.

* ``marks`` (when present) replaces the odontogram: marks in the body are created or updated,
  marks missing from it are deleted as tombstones (their history stays).
* ``perio_exams`` (when present) saves each exam in it over the stored one with the same id
  (:func:`~odonto_desk.fhir.resources.perio.plan_exam_write`: a new value is created with the id
  ``<exam id>-<measure>-<tooth>-<site>``, a changed value updated, a cleared value marked
  ``entered-in-error``; nothing is deleted). The panel keeps the exam's id, so the ids a client
  sent are the ids the server stores. Exams not in the body are left untouched. Values on a tooth
  the exam marks missing are refused.

All of it is one transaction, audited like every other write; a bad mark or value refuses the
whole document with the path of the field (``marks[3].surfaces``, ``perio_exams[0].sites[12].pd``)
and nothing is written.
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
from odonto_desk.domain.errors import DomainError, from_validation_error
from odonto_desk.domain.perio import PerioExam, PerioExamRecord
from odonto_desk.domain.teeth import Tooth
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import from_fhir, to_fhir
from odonto_desk.fhir.resources.perio import (
    PANEL_CODE,
    RETIRED,
    is_perio_finding,
    is_perio_panel,
    plan_exam_write,
    read_exams,
)
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
CREATE TABLE IF NOT EXISTS chart_perio (id TEXT PRIMARY KEY, stamp TEXT NOT NULL, exam TEXT NOT NULL);
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
    for statement in _SCHEMA.split(";"):  # one at a time: executescript would commit the load's transaction
        if statement.strip():
            conn.execute(statement)
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

    def _perio(self, patient_id: str) -> tuple[dict[str, dict[str, Any]], list[Head]]:
        """({panel id: panel}, rows) of the patient's perio Observations (retired ones too).

        Rows are found in SQL (any Observation coded in our perio code system), and only the panels
        are parsed: a full exam is ~450 Observations, and parsing three exams costs ~120 ms."""
        conn = self.store.connection
        rows = conn.execute(
            "SELECT c.id, c.version, c.last_updated, CASE WHEN EXISTS (SELECT 1 FROM json_each(c.json, '$.code.coding') "
            "AS j WHERE json_extract(j.value, '$.system') = ? AND json_extract(j.value, '$.code') = ?) THEN c.json END "
            "FROM current c WHERE c.patient = ? AND c.deleted = 0 AND c.type = 'Observation' AND instr(c.json, ?) > 0",
            (codes.CS_PERIO, PANEL_CODE, patient_id, codes.CS_PERIO)).fetchall()
        panels: dict[str, dict[str, Any]] = {}
        heads: list[Head] = []
        for rid, version, updated, text in rows:
            heads.append(Head("Observation", rid, version, updated))
            if text is not None:
                resource = json.loads(text)
                if is_perio_panel(resource):
                    panels[rid] = resource
        return panels, heads

    def _members(self, panel: dict[str, Any]) -> list[dict[str, Any]]:
        """The panel's member Observations that are perio values (retired ones too)."""
        refs = [str(m.get("reference", "")).split("/", 1)[-1] for m in panel.get("hasMember") or []]
        if not refs:
            return []
        found = {rid: json.loads(text) for rid, text in self.store.connection.execute(
            f"SELECT id, json FROM current WHERE type = 'Observation' AND deleted = 0 AND id IN "
            f"({','.join('?' * len(refs))})", refs).fetchall()}
        return [found[r] for r in refs if r in found and is_perio_finding(found[r])]

    def _exams(self, panels: dict[str, dict[str, Any]], rows: list[Head]) -> list[dict[str, Any]]:
        """The exams' JSON, oldest first. Reading a full exam through the mapping costs ~60 ms, so each
        exam is kept derived in ``chart_perio`` with a stamp of the versions it was read from (its
        panel's and its members'); any write to one of them re-derives it."""
        versions = {h.id: h.version for h in rows}
        conn = self.store.connection
        out: list[dict[str, Any]] = []
        fresh = []
        for rid, panel in panels.items():
            if panel.get("status") == RETIRED:
                continue
            refs = sorted(str(m.get("reference", "")).split("/", 1)[-1] for m in panel.get("hasMember") or [])
            stamp = hashlib.sha256(f"{rid}/{versions[rid]};{';'.join(f'{m}/{versions.get(m)}' for m in refs)}"
                                   .encode()).hexdigest()
            row = conn.execute("SELECT stamp, exam FROM chart_perio WHERE id = ?", (rid,)).fetchone()
            if row is not None and row[0] == stamp:
                out.append(json.loads(row[1]))
                continue
            exams, _, _ = read_exams([panel, *self._members(panel)])
            for exam in exams:
                data = exam.to_dict()
                out.append(data)
                fresh.append((rid, stamp, json.dumps(data, separators=(",", ":"))))
        if fresh:
            conn.executemany("INSERT OR REPLACE INTO chart_perio VALUES (?,?,?)", fresh)
        return sorted(out, key=lambda e: (e.get("date") or "", e["id"]))

    def _document(self, gpid: str, pid: str, marks: list[dict[str, Any]], rows: list[Head],
                  panels: dict[str, dict[str, Any]], perio_rows: list[Head]) -> tuple[dict[str, Any], str]:
        etag = chart_etag(rows + perio_rows)
        last = max((s.last_updated for s in rows + perio_rows), default=None)
        ordered = sorted(marks, key=lambda m: (Tooth.parse(m["tooth"]), m["id"]))
        doc = {"gpid": gpid, "patient_id": pid, "etag": etag, "last_updated": last, "marks": ordered,
               "perio_exams": self._exams(panels, perio_rows)}
        return doc, etag

    def document(self, gpid: str) -> tuple[dict[str, Any], str]:
        pid = self._patient_id(gpid)
        marks, rows = self._marks(pid)
        panels, perio_rows = self._perio(pid)
        return self._document(gpid, pid, [m for _, m in marks.values()], rows, panels, perio_rows)

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
        if not isinstance(body, dict):
            raise ApiError(400, "structure", "body must be an object with a 'marks' and/or 'perio_exams' list")
        for section in ("marks", "perio_exams"):
            if section in body and not isinstance(body[section], list):
                raise ApiError(400, "structure", f"'{section}' must be a list", expression=section)
        with self.store.transaction():
            pid = self._patient_id(gpid)
            check_gpid_header(request, gpid)
            current, rows = self._marks(pid)
            panels, perio_rows = self._perio(pid)
            if if_match.strip() != chart_etag(rows + perio_rows):
                raise ApiError(412, "conflict", "the chart changed since you read it; GET it again and re-apply")
            changes: list[tuple[str, Stored, dict[str, Any] | None]] = []
            if "marks" in body:
                self._put_marks(pid, body["marks"], current, changes)
            if "perio_exams" in body:
                self._put_perio(pid, body["perio_exams"], panels, changes)
            self.fhir.notify(changes, p.client_id)
            doc, etag = self.document(gpid)
        return fhir_response(doc, 200, {"ETag": etag})

    def _put_marks(self, pid: str, marks: list[Any], current: dict[str, tuple[Head, dict[str, Any]]],
                   changes: list[tuple[str, Stored, dict[str, Any] | None]]) -> None:
        """The odontogram as ``marks`` lists it (inside the PUT's transaction)."""
        incoming: dict[str, ChartMark] = {}
        for i, raw_mark in enumerate(marks):
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
        derived = []
        for mark_id, (head, _old) in current.items():
            if mark_id not in incoming:
                previous = self.store.read(head.type, head.id).resource
                gone = self.store.delete(head.type, head.id)
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
                if gone is not None:
                    changes.append((old[0].type, gone, old_resource))
            previous = old_resource if old and old[0].type == resource["resourceType"] else None
            try:
                stored, _ = self.store.update(resource["resourceType"], mark.id, resource)
            except StoreError as exc:
                raise ApiError(exc.status, exc.code, exc.message) from None
            changes.append((stored.type, stored, previous))
            derived.append((stored.type, stored.id, stored.version, mark.model_dump_json()))
        self.store.connection.executemany("INSERT OR REPLACE INTO chart_mark VALUES (?,?,?,?)", derived)

    def _put_perio(self, pid: str, exams: list[Any], panels: dict[str, dict[str, Any]],
                   changes: list[tuple[str, Stored, dict[str, Any] | None]]) -> None:
        """Each exam of ``exams`` saved over the stored one with its id; all checked before any is written."""
        checked: list[PerioExam] = []
        for i, raw_exam in enumerate(exams):
            where = f"perio_exams[{i}]"
            checked.append(self._check_exam(pid, raw_exam, where))
            if checked[-1].id in {e.id for e in checked[:-1]}:
                raise ApiError(400, "invalid", f"exam id {checked[-1].id} appears twice", expression=f"{where}.id")
        for i, exam in enumerate(checked):
            where = f"perio_exams[{i}]"
            panel = panels.get(exam.id)
            if panel is None and self.store.current_version("Observation", exam.id) is not None:
                try:
                    self.store.read("Observation", exam.id)
                except StoreError:
                    pass  # deleted: the exam may take the id again
                else:
                    raise ApiError(400, "invalid", f"Observation/{exam.id} is not a perio exam of this patient",
                                   expression=f"{where}.id")
            members = self._members(panel) if panel is not None else []
            try:
                writes = plan_exam_write(exam, panel, members, self._observation)
            except FhirMappingError as exc:
                raise ApiError(400, "invalid", exc.message, expression=f"{where}.{exc.path}") from None
            for w in writes:
                try:
                    validate(w.resource, expected_type="Observation")
                except FhirMappingError as exc:
                    raise ApiError(400, "invalid", exc.message, expression=where) from None
                try:
                    stored, _ = self.store.update("Observation", w.resource["id"], w.resource)
                except StoreError as exc:
                    raise ApiError(exc.status, exc.code, exc.message) from None
                changes.append(("Observation", stored, w.previous))

    def _observation(self, rid: str) -> dict[str, Any] | None:
        try:
            return self.store.read("Observation", rid).resource
        except StoreError:
            return None

    @staticmethod
    def _check_exam(pid: str, raw: Any, where: str) -> PerioExam:
        """One exam of the body, refused with the path of its bad field (``perio_exams[0].sites[12].pd``)."""
        if not isinstance(raw, dict):
            raise ApiError(400, "structure", "a perio exam is an object", expression=where)
        try:
            record = PerioExamRecord.model_validate({**raw, "patient": pid})
            exam = PerioExam.from_record(record)
        except ValidationError as exc:
            err = from_validation_error(exc)
            raise ApiError(400, "invalid", err.message,
                           expression=f"{where}.{err.field}" if err.field else where) from None
        except DomainError as exc:
            raise ApiError(400, "invalid", exc.message,
                           expression=f"{where}.{exc.field}" if exc.field else where) from None
        try:
            check_id(exam.id)
        except ApiError as exc:
            raise ApiError(400, "invalid", exc.message, expression=f"{where}.id") from None
        if exam.date is None:
            raise ApiError(400, "required", "a perio exam needs its date", expression=f"{where}.date")
        for name, items in (("sites", record.sites), ("mobility", record.mobility), ("furcation", record.furcation)):
            for k, item in enumerate(items):
                if exam.is_missing(item.tooth):
                    raise ApiError(400, "invalid", f"tooth {item.tooth} is marked missing in this exam: it has "
                                   f"no {name} values", expression=f"{where}.{name}[{k}].tooth")
        return exam
