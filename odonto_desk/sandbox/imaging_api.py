"""``/odonto/v1/imaging/upload``: radiographs, photos and CBCT volumes in chunks that resume.

1. ``POST /odonto/v1/imaging/upload`` (``Idempotency-Key``, ``X-Apex-GPID``) announces the file:
   ``{"patient": "Patient/<id>", "filename", "content_type", "size", "sha256", "title"?, "kind"?,
   "teeth"?}``. The answer gives ``upload_id``, the recommended ``chunk_size`` and ``received: 0``.
2. ``PUT /odonto/v1/imaging/upload/{id}`` with ``Content-Range: bytes START-END/SIZE`` sends one chunk.
   ``START`` must equal what the server holds (``Upload-Offset``); otherwise 409 says where to go
   on. A chunk already held (a retry after a lost answer) is acknowledged and not stored twice.
3. ``GET /odonto/v1/imaging/upload/{id}`` tells a client that lost track how much arrived.
4. The last chunk completes the upload: size and SHA-256 are checked, a DICOM file is parsed
   (``pydicom``), and Binary, DocumentReference and, for DICOM, ImagingStudy are written in one
   transaction. A file that fails a check is refused with 422, the upload is marked failed with the
   reason, and nothing is written to the record; the client still holds the file and can retry.

Bytes live in ``imaging_chunk`` rows. Small files (≤ 1 MiB) are also inline in ``Binary.data``;
for larger ones the DocumentReference's attachment points at ``/odonto/v1/imaging/files/{id}``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.teeth import Tooth
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirValidationError
from odonto_desk.fhir.teeth import tooth_codeable, tooth_extensions
from odonto_desk.fhir.validate import validate
from odonto_desk.sandbox.auth import Principal
from odonto_desk.sandbox.fhirstore import FhirStore, Stored
from odonto_desk.sandbox.gate import Gate, check_gpid_header, json_object
from odonto_desk.sandbox.outcome import ApiError

SCOPE = "odonto/imaging.write"
CHUNK_SIZE = 4 * 1024 * 1024
MAX_CHUNK = 8 * 1024 * 1024
MAX_FILE = 4 * 1024 * 1024 * 1024  # a large CBCT volume
INLINE_LIMIT = 1024 * 1024
CONTENT_TYPES = {"application/dicom", "image/jpeg", "image/png", "image/tiff", "application/pdf",
                 "model/stl", "application/zip"}
KINDS = {"bitewing", "periapical", "panoramic", "cephalometric", "cbct", "intraoral-photo", "extraoral-photo",
         "intraoral-scan", "document"}
_UPLOAD_ID = re.compile(r"^up_[0-9a-f]{32}$")
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_FILENAME = re.compile(r"^[^/\\\x00-\x1f]{1,200}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS imaging_upload (
    id TEXT PRIMARY KEY, client_id TEXT NOT NULL, patient TEXT NOT NULL, gpid TEXT NOT NULL, meta TEXT NOT NULL,
    size INTEGER NOT NULL, sha256 TEXT NOT NULL, received INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL,
    error TEXT, created TEXT NOT NULL, completed TEXT, result TEXT
);
CREATE TABLE IF NOT EXISTS imaging_chunk (
    upload_id TEXT NOT NULL REFERENCES imaging_upload(id), offset INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (upload_id, offset)
);
"""

# DICOM modality → what the record calls it.
_MODALITY_KIND = {"IO": "intraoral radiograph", "PX": "panoramic radiograph", "CT": "CBCT", "DX": "radiograph",
                  "XC": "photograph", "OT": "image"}


def _field(body: dict[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, "required", f"{name} is required", expression=name)
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ApiError(400, "structure", f"{name} must be a {kind.__name__}", expression=name)
    return value


def _dicom_summary(data: bytes) -> dict[str, Any]:
    """The identifiers an ImagingStudy needs, or ApiError 422 naming what is wrong with the file."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, EOFError, ValueError, TypeError, OSError, KeyError) as exc:
        raise ApiError(422, "invalid", f"the file is not a readable DICOM file: {exc}") from None
    short = _pixel_shortfall(ds)
    if short:
        raise ApiError(422, "invalid", f"the DICOM file is truncated: its pixel data has {short[0]} of the "
                       f"{short[1]} bytes its header describes")
    missing = [k for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "Modality")
               if not str(getattr(ds, k, "") or "").strip()]
    if missing:
        raise ApiError(422, "invalid", f"the DICOM file lacks {', '.join(missing)}")
    return {"study_uid": str(ds.StudyInstanceUID), "series_uid": str(ds.SeriesInstanceUID),
            "sop_uid": str(ds.SOPInstanceUID), "sop_class": str(ds.SOPClassUID), "modality": str(ds.Modality),
            "study_date": str(getattr(ds, "StudyDate", "") or ""),
            "description": str(getattr(ds, "StudyDescription", "") or getattr(ds, "SeriesDescription", "") or "")}


def _pixel_shortfall(ds: Any) -> tuple[int, int] | None:
    """(have, want) when uncompressed pixel data is shorter than the header says; None otherwise."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if "PixelData" not in ds or syntax is None or syntax.is_compressed:
        return None
    try:
        want = (int(ds.Rows) * int(ds.Columns) * int(getattr(ds, "SamplesPerPixel", 1) or 1)
                * (int(ds.BitsAllocated) // 8) * int(getattr(ds, "NumberOfFrames", 1) or 1))
    except (AttributeError, TypeError, ValueError):
        return None
    have = len(ds.PixelData or b"")
    return (have, want) if have < want else None


def _study_started(date: str) -> str | None:
    if re.fullmatch(r"\d{8}", date):
        try:
            return dt.date(int(date[:4]), int(date[4:6]), int(date[6:])).isoformat()
        except ValueError:
            return None
    return None


class ImagingApi:
    def __init__(self, store: FhirStore, gate: Gate, fhir: Any) -> None:
        self.store = store
        self.gate = gate
        self.fhir = fhir
        store.connection.executescript(_SCHEMA)

    # --- announce --------------------------------------------------------------------------------

    def start(self, request: Request, p: Principal, raw: bytes, base: str) -> Response:
        p.require(SCOPE)
        meta = self._check_meta(json_object(raw))

        def write() -> Response:
            pid = meta["patient"].split("/", 1)[1]
            gpid = self.gate.gpid_of_patient(pid)
            if gpid is None:
                raise ApiError(400, "not-found", f"Patient/{pid} is not known here", expression="patient")
            check_gpid_header(request, gpid)
            uid = f"up_{uuid.uuid4().hex}"
            self.store.connection.execute(
                "INSERT INTO imaging_upload (id, client_id, patient, gpid, meta, size, sha256, status, created) "
                "VALUES (?,?,?,?,?,?,?,?,?)", (uid, p.client_id, pid, gpid, json.dumps(meta), meta["size"],
                                               meta["sha256"], "open", self.store.now()))
            url = f"{base}/odonto/v1/imaging/upload/{uid}"
            return JSONResponse({"upload_id": uid, "chunk_size": CHUNK_SIZE, "max_chunk": MAX_CHUNK, "received": 0,
                                 "size": meta["size"], "status": "open", "upload_url": url}, 201,
                                headers={"Location": url, "Upload-Offset": "0"})

        return self.gate.once(request, p, "/odonto/v1/imaging/upload", raw, write)

    @staticmethod
    def _check_meta(body: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(body) - {"patient", "filename", "content_type", "size", "sha256", "title", "kind",
                                      "teeth"})
        if unknown:
            raise ApiError(400, "structure", f"unknown field {unknown[0]!r}", expression=unknown[0])
        patient = _field(body, "patient", str)
        if not re.fullmatch(r"Patient/[A-Za-z0-9\-.]{1,64}", patient):
            raise ApiError(400, "invalid", "patient must be a reference like Patient/123", expression="patient")
        filename = _field(body, "filename", str)
        if not _FILENAME.match(filename):
            raise ApiError(400, "invalid", "filename must be 1–200 characters without path separators",
                           expression="filename")
        ctype = _field(body, "content_type", str)
        if ctype not in CONTENT_TYPES:
            raise ApiError(400, "code-invalid", f"content_type {ctype!r} is not accepted; use one of "
                           + ", ".join(sorted(CONTENT_TYPES)), expression="content_type")
        size = _field(body, "size", int)
        if not 1 <= size <= MAX_FILE:
            raise ApiError(400, "invalid", f"size must be 1 to {MAX_FILE} bytes", expression="size")
        sha = _field(body, "sha256", str).lower()
        if not _SHA.match(sha):
            raise ApiError(400, "invalid", "sha256 must be 64 hexadecimal digits", expression="sha256")
        kind = _field(body, "kind", str, required=False)
        if kind is not None and kind not in KINDS:
            raise ApiError(400, "code-invalid", f"kind {kind!r} is not one of {', '.join(sorted(KINDS))}",
                           expression="kind")
        teeth = _field(body, "teeth", list, required=False) or []
        parsed = []
        for i, t in enumerate(teeth):
            try:
                parsed.append(Tooth.parse(str(t)).universal)
            except DomainError as exc:
                raise ApiError(400, "invalid", str(exc), expression=f"teeth[{i}]") from None
        title = _field(body, "title", str, required=False)
        return {"patient": patient, "filename": filename, "content_type": ctype, "size": size, "sha256": sha,
                "kind": kind, "teeth": parsed, "title": title or filename}

    # --- chunks ------------------------------------------------------------------------------------

    def _upload(self, p: Principal, uid: str) -> tuple[Any, ...]:
        if not _UPLOAD_ID.match(uid):
            raise ApiError(404, "not-found", "no such upload")
        row = self.store.connection.execute(
            "SELECT id, client_id, patient, gpid, meta, size, sha256, received, status, error, result "
            "FROM imaging_upload WHERE id=?", (uid,)).fetchone()
        if row is None or row[1] != p.client_id:
            raise ApiError(404, "not-found", f"no upload {uid} for this client")
        return tuple(row)

    @staticmethod
    def _state(row: tuple[Any, ...]) -> dict[str, Any]:
        out = {"upload_id": row[0], "size": row[5], "received": row[7], "status": row[8]}
        if row[9]:
            out["error"] = row[9]
        if row[10]:
            out["result"] = json.loads(row[10])
        return out

    def status(self, p: Principal, uid: str) -> Response:
        p.require(SCOPE)
        with self.store.transaction():
            row = self._upload(p, uid)
        return JSONResponse(self._state(row), headers={"Upload-Offset": str(row[7]), "Cache-Control": "no-store"})

    def put_chunk(self, request: Request, p: Principal, uid: str, chunk: bytes, base: str) -> Response:
        p.require(SCOPE)
        m = _RANGE.match(request.headers.get("content-range", ""))
        if m is None:
            raise ApiError(400, "required", "a chunk needs Content-Range: bytes START-END/SIZE")
        start, end, total = (int(x) for x in m.groups())
        if len(chunk) > MAX_CHUNK:
            raise ApiError(413, "too-costly", f"a chunk is at most {MAX_CHUNK} bytes")
        if end < start or end - start + 1 != len(chunk):
            raise ApiError(400, "invalid", f"Content-Range covers {end - start + 1} bytes but the body has "
                           f"{len(chunk)}")
        changes: list[tuple[str, Stored, dict[str, Any] | None]] = []
        with self.store.transaction() as conn:
            row = self._upload(p, uid)
            check_gpid_header(request, row[3])
            size, received, status = row[5], row[7], row[8]
            if total != size:
                raise ApiError(400, "invalid", f"Content-Range says the file is {total} bytes; the upload "
                               f"announced {size}")
            if status == "complete":
                return JSONResponse(self._state(row), 200, headers={"Upload-Offset": str(received)})
            if status == "failed":
                raise ApiError(409, "conflict", f"upload {uid} failed ({row[9]}); start a new upload")
            if end + 1 <= received:
                held = conn.execute("SELECT data FROM imaging_chunk WHERE upload_id=? AND offset=?",
                                    (uid, start)).fetchone()
                if held is not None and bytes(held[0]) == chunk:  # a retry of a chunk we kept
                    return JSONResponse(self._state(row), 200, headers={"Upload-Offset": str(received)})
            if start != received:
                raise ApiError(409, "conflict", f"the server holds {received} bytes of this upload; send the "
                               f"chunk that starts there", headers={"Upload-Offset": str(received)})
            conn.execute("INSERT INTO imaging_chunk VALUES (?,?,?)", (uid, start, chunk))
            received = end + 1
            conn.execute("UPDATE imaging_upload SET received=? WHERE id=?", (received, uid))
            if received < size:
                return JSONResponse({"upload_id": uid, "size": size, "received": received, "status": "open"},
                                    200, headers={"Upload-Offset": str(received)})
            try:
                with self.store.transaction():  # a savepoint: a refused file writes nothing to the record
                    result = self._complete(conn, row, base, p, changes)
            except ApiError as err:
                conn.execute("UPDATE imaging_upload SET status='failed', error=? WHERE id=?", (err.message, uid))
                failed = err
            else:
                failed = None
                conn.execute("UPDATE imaging_upload SET status='complete', completed=?, result=? WHERE id=?",
                             (self.store.now(), json.dumps(result), uid))
                self.fhir.notify(changes, p.client_id)
        if failed is not None:
            raise failed
        return JSONResponse({"upload_id": uid, "size": size, "received": received, "status": "complete",
                             "result": result}, 201, headers={"Upload-Offset": str(received)})

    def _complete(self, conn: Any, row: tuple[Any, ...], base: str, p: Principal,
                  changes: list[tuple[str, Stored, dict[str, Any] | None]]) -> dict[str, Any]:
        uid, pid, meta = row[0], row[2], json.loads(row[4])
        h256, h1 = hashlib.sha256(), hashlib.sha1()
        parts = []
        for (data,) in conn.execute("SELECT data FROM imaging_chunk WHERE upload_id=? ORDER BY offset", (uid,)):
            h256.update(data)
            h1.update(data)
            parts.append(bytes(data))
        if h256.hexdigest() != row[6]:
            raise ApiError(422, "invalid", f"the file's SHA-256 is {h256.hexdigest()}, not the announced {row[6]}")
        content = b"".join(parts) if meta["content_type"] == "application/dicom" or row[5] <= INLINE_LIMIT else b""
        subject = {"reference": f"Patient/{pid}"}
        binary: dict[str, Any] = {"resourceType": "Binary", "contentType": meta["content_type"],
                                  "securityContext": subject}
        if row[5] <= INLINE_LIMIT:
            binary["data"] = base64.b64encode(content).decode()
        written = {"binary": self._write("Binary", binary, changes)}
        study_ref = None
        if meta["content_type"] == "application/dicom":
            dicom = _dicom_summary(content)
            written["imaging_study"] = self._write("ImagingStudy", self._study(dicom, meta, subject, uid), changes)
            study_ref = {"reference": f"ImagingStudy/{written['imaging_study']}"}
        attachment = {"contentType": meta["content_type"], "size": row[5], "title": meta["title"],
                      "hash": base64.b64encode(h1.digest()).decode(),
                      "url": f"Binary/{written['binary']}" if row[5] <= INLINE_LIMIT
                      else f"{base}/odonto/v1/imaging/files/{uid}"}
        doc: dict[str, Any] = {
            "resourceType": "DocumentReference", "status": "current",
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.UUID(uid[3:])}"}],
            "type": {"text": _MODALITY_KIND.get(str(meta.get("kind") or ""), meta.get("kind") or "image")},
            "subject": subject, "date": self.store.now(), "description": meta["title"],
            "content": [{"attachment": attachment}],
        }
        if meta["teeth"]:
            doc["extension"] = [e for t in meta["teeth"] for e in tooth_extensions(Tooth.parse(t))]
        if study_ref:
            doc["context"] = {"related": [study_ref]}
        written["document_reference"] = self._write("DocumentReference", doc, changes)
        types = {"binary": "Binary", "imaging_study": "ImagingStudy", "document_reference": "DocumentReference"}
        return {k: f"{types[k]}/{v}" for k, v in written.items()}

    @staticmethod
    def _study(d: dict[str, Any], meta: dict[str, Any], subject: dict[str, str], uid: str) -> dict[str, Any]:
        modality = {"system": codes.DICOM_DCM, "code": d["modality"]}
        instance = {"uid": d["sop_uid"], "sopClass": {"system": codes.URI_SYSTEM, "code": f"urn:oid:{d['sop_class']}"},
                    "number": 1}
        series: dict[str, Any] = {"uid": d["series_uid"], "modality": modality, "numberOfInstances": 1,
                                  "instance": [instance]}
        if meta["teeth"]:
            series["bodySite"] = tooth_codeable(Tooth.parse(meta["teeth"][0]))["coding"][0]
        study: dict[str, Any] = {
            "resourceType": "ImagingStudy", "status": "available",
            "identifier": [{"system": codes.DICOM_UID_SYSTEM, "value": f"urn:oid:{d['study_uid']}"}],
            "modality": [modality], "subject": subject, "numberOfSeries": 1, "numberOfInstances": 1,
            "series": [series],
        }
        started = _study_started(d["study_date"])
        if started:
            study["started"] = started
        if d["description"] or meta.get("title"):
            study["description"] = d["description"] or meta["title"]
        if meta["teeth"]:
            study["extension"] = [e for t in meta["teeth"] for e in tooth_extensions(Tooth.parse(t))]
        return study

    def _write(self, rtype: str, resource: dict[str, Any], changes: list[tuple[str, Stored, dict[str, Any] | None]]
               ) -> str:
        try:
            validate(resource, expected_type=rtype)
        except FhirValidationError as exc:
            raise ApiError(422, "invalid", f"the file's metadata does not make a valid {rtype}: {exc.message}",
                           expression=exc.path) from None
        s = self.store.create(rtype, resource)
        changes.append((rtype, s, None))
        return s.id

    # --- download --------------------------------------------------------------------------------

    def file(self, p: Principal, uid: str) -> Response:
        p.require("system/Binary.read")
        if not _UPLOAD_ID.match(uid):
            raise ApiError(404, "not-found", "no such file")
        with self.store.transaction() as conn:
            row = conn.execute("SELECT status, meta, size FROM imaging_upload WHERE id=?", (uid,)).fetchone()
            if row is None or row[0] != "complete":
                raise ApiError(404, "not-found", f"no completed upload {uid}")
            offsets = [r[0] for r in conn.execute(
                "SELECT offset FROM imaging_chunk WHERE upload_id=? ORDER BY offset", (uid,))]
        meta = json.loads(row[1])

        def chunks():  # type: ignore[no-untyped-def]
            for off in offsets:
                with self.store.transaction() as c:
                    data = c.execute("SELECT data FROM imaging_chunk WHERE upload_id=? AND offset=?",
                                     (uid, off)).fetchone()[0]
                yield bytes(data)

        return StreamingResponse(chunks(), media_type=meta["content_type"],
                                 headers={"Content-Length": str(row[2]),
                                          "Content-Disposition": f'attachment; filename="{meta["filename"]}"'})

