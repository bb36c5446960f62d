"""The Imaging tab's service: import radiographs, photos and CBCT, view them, and send them to the server.

Plain blocking Python, no Qt; called from worker threads by ``ui/ops/imaging.py``.

* **Import** checks the file first (its kind by its own bytes, a DICOM file's pixels decoded), so a
  corrupt or unsupported file is refused with a reason and leaves nothing behind. A good file is
  copied into the spool folder beside the cache, hashed in the same streaming pass, so moving or
  deleting the original cannot break the upload. A CBCT folder series is spooled as one zip.
* **The upload queue is durable**: each upload is a JSON record in the cache's ``sync_state``
  (spool path, SHA-256, size, patient, GPID, kind, teeth, the idempotency key of its announcement
  and, once known, the server's ``upload_id``), written and audited in one transaction.
* **The uploader** (:meth:`ImagingService.upload_pending`) sends every unfinished upload in chunks
  read from the spool one at a time. It asks the server how much it holds before sending, so a
  process killed mid-upload, or a dropped network, resumes where the server stopped. The same
  idempotency key re-announces a file whose ``upload_id`` was lost in a crash without opening a
  second upload. The resources the server made are stored in the cache as server copies, so the tab
  lists them offline.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odonto_desk.api.errors import ApiError, AuthError, NetworkError, RateLimited, ScopeError, ServerError
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.imaging import (
    SNIFF_HEAD,
    SNIFF_TAIL,
    ImageFormat,
    Window,
    auto_window,
    sniff_format,
)
from odonto_desk.domain.teeth import Tooth
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.resources.imaging import read_document
from odonto_desk.services.patients import PatientService
from odonto_desk.services.session import Session
from odonto_desk.store.audit import utc_now
from odonto_desk.store.db import transaction

if TYPE_CHECKING:
    from numpy.typing import NDArray

CHUNK_SIZE = 4 * 1024 * 1024  # the server's recommended chunk
COPY_BLOCK = 1024 * 1024
SERIES_CONTENT_TYPE = "application/zip"
_INDEX = "imaging:uploads"  # JSON list of upload ids, oldest first
_JOB = "imaging:upload:"

# What the upload API calls each kind of image, and the words the tab shows.
KINDS: dict[str, str] = {
    "bitewing": "Bitewing", "periapical": "Periapical", "panoramic": "Panoramic", "cephalometric": "Cephalometric",
    "cbct": "CBCT", "intraoral-photo": "Intra-oral photo", "extraoral-photo": "Extra-oral photo",
}
_KIND_BY_MODALITY = {"PX": "panoramic", "CT": "cbct", "XC": "intraoral-photo", "IO": "periapical"}

ProgressFn = Callable[[str, int, int], None]  # (upload id, bytes the server holds, size)


class UploadState:
    WAITING = "waiting"  # not yet complete on the server
    SENT = "sent"
    REFUSED = "refused"  # the server refused the file; the reason is kept


@dataclass(frozen=True)
class UploadJob:
    """One queued upload, as the cache holds it."""

    id: str
    patient_id: str
    gpid: str
    path: str  # the spooled copy
    filename: str
    content_type: str
    size: int
    sha256: str
    kind: str | None
    teeth: tuple[str, ...]  # Universal numbers
    title: str
    key: str  # Idempotency-Key of the announcement
    created: str
    upload_id: str | None = None
    state: str = UploadState.WAITING
    error: str | None = None
    result: dict[str, str] = field(default_factory=dict)  # "document_reference" → "DocumentReference/<id>"

    @classmethod
    def from_json(cls, text: str) -> UploadJob:
        data = json.loads(text)
        data["teeth"] = tuple(data.get("teeth") or ())
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


@dataclass(frozen=True)
class ImageRow:
    """One line of the tab's list: an image on the server or one still waiting to be sent."""

    key: str  # "DocumentReference/<id>" or "upload/<id>"
    title: str
    kind: str
    teeth: tuple[Tooth, ...]
    date: str
    state: str  # UploadState
    content_type: str
    size: int | None
    local_path: str | None  # a copy on this computer to view
    error: str | None = None


@dataclass(frozen=True)
class ImageStack:
    """Pixels ready for the viewer: DICOM frames as numbers, PNG/JPEG as their encoded bytes."""

    format: ImageFormat | str
    frames: NDArray[Any] | None = None  # (frames, rows, columns) or (frames, rows, columns, 3)
    encoded: bytes | None = None
    window: Window | None = None
    invert: bool = False  # MONOCHROME1: low values are white
    modality: str | None = None
    description: str = ""

    @property
    def frame_count(self) -> int:
        return 1 if self.frames is None else int(self.frames.shape[0])


@dataclass(frozen=True)
class UploadReport:
    sent: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    waiting: int = 0  # still to send (the network is down, or another upload run holds the queue)
    offline: str | None = None  # why sending stopped, when it did


_UPLOADERS: dict[Path, threading.Lock] = {}  # one upload run at a time per cache file, whichever service starts it
_UPLOADERS_GUARD = threading.Lock()


def _uploader_lock(cache_path: Path) -> threading.Lock:
    with _UPLOADERS_GUARD:
        return _UPLOADERS.setdefault(Path(cache_path).resolve(), threading.Lock())


class ImagingService:
    """Import, list, view and upload a patient's images. Safe to call from worker threads.

    Several services on one cache (the window's, which sends what an earlier run left waiting, and
    the Imaging tab's) share one upload queue and one uploader: a second run started while one is
    sending returns at once."""

    def __init__(self, session: Session, *, spool: Path | None = None, chunk_size: int = CHUNK_SIZE) -> None:
        self.session = session
        self.spool = spool or session.cache_path.parent / "imaging-spool"
        self.chunk_size = chunk_size
        self._sending = _uploader_lock(session.cache_path)

    # --- importing -----------------------------------------------------------------------------

    def inspect(self, path: str | Path) -> ImageStack:
        """The image in a file or a DICOM series folder, or :class:`DomainError` saying why it cannot be used."""
        p = Path(path)
        if p.is_dir():
            return read_series(series_files(p))
        fmt = _sniff(p)
        if fmt is ImageFormat.DICOM:
            return read_dicom(p)
        return ImageStack(fmt, encoded=p.read_bytes())

    def import_image(self, patient_id: str, path: str | Path, *, kind: str | None = None,
                     teeth: Iterable[Tooth] = (), title: str | None = None) -> tuple[UploadJob, ImageStack]:
        """Check the file, spool it, queue its upload (audited). A bad file raises and changes nothing."""
        source = Path(path)
        if kind is not None and kind not in KINDS:
            raise DomainError(f"{kind!r} is not a kind of image this tab sends", field="kind")
        gpid = self._gpid(patient_id)
        stack = self.inspect(source)
        series = source.is_dir()
        fmt = ImageFormat.DICOM if series else ImageFormat(stack.format)
        job_id = uuid.uuid4().hex
        self.spool.mkdir(parents=True, exist_ok=True)
        target = self.spool / (job_id + (".zip" if series else fmt.extension))
        size, digest = _spool_series(source, target) if series else _spool_file(source, target)
        name = source.name + (".zip" if series else "")
        job = UploadJob(
            id=job_id, patient_id=patient_id, gpid=gpid, path=str(target), filename=name[-200:],
            content_type=SERIES_CONTENT_TYPE if series else fmt.value, size=size, sha256=digest,
            kind=kind or _KIND_BY_MODALITY.get(stack.modality or ""),
            teeth=tuple(t.universal for t in sorted(set(teeth))), title=(title or "").strip() or source.stem,
            key=f"img-{job_id}", created=utc_now())
        cache, user = self.session.cache(), self.session.user
        try:
            with transaction(cache.db):
                ids = self._ids()
                cache.set_state(_JOB + job.id, job.to_json())
                cache.set_state(_INDEX, json.dumps([*ids, job.id]))
                cache.audit.record(user.name, user.role.value, "created", "upload", job.id, None,
                                   f"image queued for upload ({job.kind or fmt.name}, {size} bytes)")
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return job, stack

    # --- the queue -----------------------------------------------------------------------------

    def jobs(self, patient_id: str | None = None) -> list[UploadJob]:
        cache = self.session.cache()
        out = []
        for job_id in self._ids():
            text = cache.get_state(_JOB + job_id)
            if text:
                job = UploadJob.from_json(text)
                if patient_id is None or job.patient_id == patient_id:
                    out.append(job)
        return out

    def _ids(self) -> list[str]:
        return list(json.loads(self.session.cache().get_state(_INDEX) or "[]"))

    def _save(self, job: UploadJob, summary: str | None = None) -> UploadJob:
        cache, user = self.session.cache(), self.session.user
        with transaction(cache.db):
            cache.set_state(_JOB + job.id, job.to_json())
            if summary:
                cache.audit.record(user.name, user.role.value, "changed", "upload", job.id, None, summary)
        return job

    # --- sending -------------------------------------------------------------------------------

    def upload_pending(self, *, on_progress: ProgressFn | None = None) -> UploadReport:
        """Send every unfinished upload, oldest first, each from where the server stopped.

        A dropped network or a busy server stops the run and keeps the rest waiting (call again
        later); a file the server refuses is marked refused with its reason and the run goes on."""
        if not self._sending.acquire(blocking=False):
            return UploadReport(waiting=sum(j.state == UploadState.WAITING for j in self.jobs()))
        sent: list[str] = []
        refused: list[str] = []
        try:
            for job in self.jobs():
                if job.state != UploadState.WAITING:
                    continue
                try:
                    done = self._send(job, on_progress)
                except (NetworkError, RateLimited, ServerError) as exc:
                    left = sum(j.state == UploadState.WAITING for j in self.jobs())
                    return UploadReport(tuple(sent), tuple(refused), left, str(exc))
                (sent if done.state == UploadState.SENT else refused).append(done.id)
        finally:
            self._sending.release()
        return UploadReport(tuple(sent), tuple(refused))

    def _send(self, job: UploadJob, on_progress: ProgressFn | None) -> UploadJob:
        client = self.session.client()
        try:
            if job.upload_id is None:
                started = client.announce_upload(
                    job.gpid, job.patient_id, filename=job.filename, content_type=job.content_type, size=job.size,
                    sha256=job.sha256, kind=job.kind, teeth=job.teeth, title=job.title, idempotency_key=job.key)
                job = self._save(replace(job, upload_id=str(started["upload_id"])))
            assert job.upload_id is not None
            progress = None if on_progress is None else (lambda done, total: on_progress(job.id, done, total))
            state = client.send_upload_file(job.gpid, job.upload_id, job.path, chunk_size=self.chunk_size,
                                            on_progress=progress)
        except (NetworkError, RateLimited, ServerError, AuthError, ScopeError):
            raise
        except ApiError as exc:  # the server refused the file (422, or a 409 on an upload it marked failed)
            return self._save(replace(job, state=UploadState.REFUSED, error=exc.message[:300]),
                              "upload refused by the server")
        result = {k: str(v) for k, v in (state.get("result") or {}).items()}
        self._store_server_copies(result)
        return self._save(replace(job, state=UploadState.SENT, result=result, error=None),
                          f"upload complete ({job.size} bytes)")

    def _store_server_copies(self, result: dict[str, str]) -> None:
        """The DocumentReference and ImagingStudy the server made, cached so the list works offline.

        The Binary is not fetched: its bytes are the spooled file this computer already holds."""
        client = self.session.client()
        resources = []
        for ref in result.values():
            rtype, _, rid = ref.partition("/")
            if rtype in ("DocumentReference", "ImagingStudy"):
                resources.append(client.read(rtype, rid))
        if resources:
            self.session.cache().put_from_server(resources)

    # --- listing and viewing -------------------------------------------------------------------

    def images(self, patient_id: str) -> list[ImageRow]:
        """The patient's images, newest first: waiting uploads, then what the server holds (audited as viewed)."""
        cache = self.session.cache()
        jobs = self.jobs(patient_id)
        local = {j.result.get("document_reference"): j.path for j in jobs if j.state == UploadState.SENT}
        rows = [job_row(j) for j in reversed(jobs) if j.state != UploadState.SENT]
        docs = []
        for r in cache.patient_resources(patient_id, ("DocumentReference",)):
            if r.get("status") == "entered-in-error":
                continue
            with contextlib.suppress(FhirMappingError, DomainError):
                docs.append(_doc_row(r, read_document(r), local.get(f"DocumentReference/{r.get('id')}")))
        rows += sorted(docs, key=lambda row: row.date, reverse=True)
        user = self.session.user
        cache.audit.record(user.name, user.role.value, "viewed", "Patient", patient_id, None, "images listed")
        return rows

    def load(self, row: ImageRow) -> ImageStack:
        """The pixels of a listed image, from the copy on this computer (audited as viewed)."""
        if row.local_path is None or not Path(row.local_path).exists():
            raise DomainError("this image is on the server only; it has no copy on this computer yet", field="file")
        p = Path(row.local_path)
        stack = read_series_zip(p) if row.content_type == SERIES_CONTENT_TYPE else self.inspect(p)
        user = self.session.user
        rtype, _, rid = row.key.partition("/")
        self.session.cache().audit.record(user.name, user.role.value, "viewed", rtype, rid, None, "image viewed")
        return stack

    def _gpid(self, patient_id: str) -> str:
        if self.session.cache().get("Patient", patient_id) is None:
            raise DomainError(f"patient {patient_id} is not in this computer's records", field="patient")
        gpid = PatientService(self.session).gpid(patient_id)
        if gpid is None:
            raise DomainError("this patient has no GPID yet; sync first, then import", field="patient")
        return gpid


# --- rows ------------------------------------------------------------------------------------------


def _teeth(values: Iterable[str]) -> tuple[Tooth, ...]:
    return tuple(sorted(Tooth.parse(v) for v in values))


def job_row(job: UploadJob) -> ImageRow:
    """The list line of a queued upload (also what the tab shows right after an import)."""
    return ImageRow(f"upload/{job.id}", job.title, KINDS.get(job.kind or "", "Image"), _teeth(job.teeth),
                    job.created[:10], job.state, job.content_type, job.size, job.path, job.error)


def _doc_row(resource: dict[str, Any], doc: Any, local: str | None) -> ImageRow:
    kind = (resource.get("type") or {}).get("text") or "Image"
    return ImageRow(f"DocumentReference/{doc.id}", doc.title or "Image", str(kind).capitalize(), doc.teeth,
                    doc.created.date().isoformat() if doc.created else "", UploadState.SENT, doc.content_type,
                    doc.size, local)


# --- reading files -----------------------------------------------------------------------------------


def _sniff(path: Path) -> ImageFormat:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(SNIFF_HEAD)
        f.seek(max(0, size - SNIFF_TAIL))
        tail = f.read(SNIFF_TAIL)
    return sniff_format(head, tail, size)


def read_dicom(source: Path | Any) -> ImageStack:
    """Decode a DICOM file (a path or an open binary file) into frames, or raise :class:`DomainError` saying why not."""
    return _decode(_open_dicom(source))


def _open_dicom(source: Path | Any) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(source)
    except (InvalidDicomError, EOFError, ValueError, TypeError, OSError, KeyError) as exc:
        raise DomainError(f"the file is not a readable DICOM file ({exc})", field="file") from None


def _decode(ds: Any) -> ImageStack:
    from pydicom.pixels import apply_rescale, get_decoder

    if "PixelData" not in ds:
        raise DomainError("the DICOM file holds no image (it may be a report or a structured document)",
                          field="file")
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax is None:
        raise DomainError("the DICOM file does not say how its pixels are encoded", field="file")
    try:
        available = get_decoder(syntax).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise DomainError(f"the image is compressed as {syntax.name}, which this computer cannot open; export it "
                          "uncompressed from the imaging software", field="file")
    try:
        pixels = ds.pixel_array
    except (ValueError, AttributeError, KeyError, NotImplementedError) as exc:
        raise DomainError(f"the DICOM file is incomplete or damaged ({exc})", field="file") from None
    if int(getattr(ds, "NumberOfFrames", 1) or 1) == 1:
        pixels = pixels[None, ...]
    colour = int(getattr(ds, "SamplesPerPixel", 1) or 1) > 1
    if not colour:
        pixels = apply_rescale(pixels, ds)
    return ImageStack(ImageFormat.DICOM, frames=pixels, window=None if colour else _window_of(ds, pixels),
                      invert=str(getattr(ds, "PhotometricInterpretation", "")) == "MONOCHROME1",
                      modality=str(getattr(ds, "Modality", "") or "") or None,
                      description=str(getattr(ds, "SeriesDescription", "") or getattr(ds, "StudyDescription", "")
                                      or ""))


def _first(value: Any) -> float:
    """A number from a DICOM value that may hold several (WindowCenter can)."""
    return float(value[0] if isinstance(value, Sequence) and not isinstance(value, str) else value)


def _window_of(ds: Any, pixels: NDArray[Any]) -> Window:
    """The window the file recommends (its first one), else one from the middle frame's values."""
    center, width = getattr(ds, "WindowCenter", None), getattr(ds, "WindowWidth", None)
    if center is not None and width is not None:
        with contextlib.suppress(TypeError, ValueError, IndexError, DomainError):
            return Window(_first(center), _first(width))
    return auto_window(pixels[pixels.shape[0] // 2])


def series_files(folder: Path) -> list[Path]:
    """The DICOM files of a series folder (a CBCT export), by name; the DICOMDIR index is not a slice."""
    return [p for p in sorted(folder.iterdir())
            if p.is_file() and p.name.upper() != "DICOMDIR" and _sniff_quiet(p) is ImageFormat.DICOM]


def read_series(paths: Iterable[Path]) -> ImageStack:
    """Single-frame DICOM slices as one stack, in slice order; a bad slice is named in the error."""
    slices = []
    for p in paths:
        try:
            slices.append(_slice(p.name, _open_dicom(p)))
        except DomainError as exc:
            raise DomainError(f"{p.name}: {exc.message}", field="file") from None
    return _stack_slices(slices)


def read_series_zip(path: Path) -> ImageStack:
    """A spooled series (the zip :func:`_spool_series` wrote) as one stack."""
    with zipfile.ZipFile(path) as z:
        slices = []
        for name in sorted(z.namelist()):
            with z.open(name) as f:
                slices.append(_slice(name, _open_dicom(f)))
    return _stack_slices(slices)


def _slice(name: str, ds: Any) -> tuple[float, str, ImageStack]:
    """(place along the scan, name, the slice): InstanceNumber, else the z of ImagePositionPatient."""
    stack = _decode(ds)
    if stack.frame_count != 1:
        raise DomainError("a series folder holds single-frame slices; this file has several frames", field="file")
    position = getattr(ds, "ImagePositionPatient", None)
    number = getattr(ds, "InstanceNumber", None)
    order = float(number) if number is not None else float(position[2]) if position else 0.0
    return order, name, stack


def _stack_slices(slices: list[tuple[float, str, ImageStack]]) -> ImageStack:
    import numpy as np

    if not slices:
        raise DomainError("the folder holds no DICOM files", field="file")
    if len({s.frames.shape[1:] for _, _, s in slices if s.frames is not None}) != 1:
        raise DomainError("the slices in the folder differ in size: they are not one series", field="file")
    slices.sort(key=lambda item: (item[0], item[1]))
    first = slices[0][2]
    frames = np.concatenate([s.frames for _, _, s in slices if s.frames is not None])
    return ImageStack(ImageFormat.DICOM, frames=frames, window=auto_window(frames[len(slices) // 2]),
                      invert=first.invert, modality=first.modality, description=first.description)


# --- spooling ----------------------------------------------------------------------------------------


def _blocks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while block := f.read(COPY_BLOCK):
            yield block


def _spool_file(source: Path, target: Path) -> tuple[int, str]:
    """Copy ``source`` to ``target`` block by block, hashing as it goes; (size, hex SHA-256)."""
    h, size = hashlib.sha256(), 0
    part = target.with_suffix(target.suffix + ".part")
    try:
        with open(part, "wb") as out:
            for block in _blocks(source):
                h.update(block)
                out.write(block)
                size += len(block)
            out.flush()
            os.fsync(out.fileno())
        if size != source.stat().st_size:
            raise DomainError("the file changed while it was being copied; import it again", field="file")
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return size, h.hexdigest()


def _spool_series(folder: Path, target: Path) -> tuple[int, str]:
    """Zip a series folder's DICOM files (stored, not compressed: pixels barely shrink) and hash the zip."""
    part = target.with_suffix(".zip.part")
    try:
        with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_STORED) as z:
            for p in series_files(folder):
                with z.open(p.name, "w", force_zip64=True) as dst:
                    for block in _blocks(p):
                        dst.write(block)
        with open(part, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    size, h = 0, hashlib.sha256()
    for block in _blocks(target):
        h.update(block)
        size += len(block)
    return size, h.hexdigest()


def _sniff_quiet(path: Path) -> ImageFormat | None:
    try:
        return _sniff(path)
    except DomainError:
        return None
