"""The imaging service on the real reference server with a real cache file: import, refuse, spool, upload.

DICOM files are made here with pydicom (small synthetic pixel arrays, never patient images)."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import session_on
from proxy import FaultProxy
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid

from odonto_desk.api.auth import ApiKey
from odonto_desk.api.client import ApexClient
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.imaging import ImageFormat
from odonto_desk.domain.teeth import Tooth
from odonto_desk.services.imaging import ImagingService, UploadState
from odonto_desk.services.session import Role, Server, Session, User

DENTIST_KEY = "apx_sandbox_dentist_key"
RIVERA = "demo-rivera"
PANO_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"  # digital X-ray for presentation
CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"


def make_dicom(path: Path, *, modality: str = "PX", rows: int = 48, columns: int = 96, frames: int = 1,
               syntax: str = ExplicitVRLittleEndian, instance: int | None = None, series_uid: str | None = None,
               window: tuple[float, float] | None = (2048, 4096), study_uid: str | None = None,
               pixels: np.ndarray | None = None) -> Path:
    """A small synthetic DICOM image: a 12-bit ramp (or ``pixels``), optionally multi-frame."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_CLASS if modality == "CT" else PANO_CLASS
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.Modality = modality
    ds.StudyDate = "20261125"
    ds.SeriesDescription = f"synthetic {modality}"
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelRepresentation = 0
    if instance is not None:
        ds.InstanceNumber = instance
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    if frames > 1:
        ds.NumberOfFrames = frames
    if pixels is None:
        ramp = (np.arange(rows * columns, dtype=np.uint32) * 4095 // (rows * columns)).astype(np.uint16)
        pixels = np.stack([ramp.reshape(rows, columns) + f for f in range(frames)])
    if meta.TransferSyntaxUID.is_compressed:  # stand-in codestream bytes: only the syntax matters to the reader
        ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(60) for _ in range(frames)])
    else:
        ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def make_png(path: Path, width: int = 20, height: int = 10) -> Path:
    """A valid greyscale PNG written by hand (zlib + CRCs), so no imaging library is needed."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    rows = b"".join(b"\x00" + bytes((x * 12) % 256 for x in range(width)) for _ in range(height))
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def apex(ui_server):
    return ui_server


@pytest.fixture(scope="module")
def template(synced_cache):
    return synced_cache


@pytest.fixture
def server_client(apex):
    with ApexClient(apex.base_url, credentials=ApiKey(DENTIST_KEY)) as c:
        yield c


def _audit_count(session: Session) -> int:
    return len(session.cache().audit.entries())


# --- importing -----------------------------------------------------------------------------------


def test_a_dicom_panoramic_is_checked_spooled_and_queued_with_an_audit_row(session, tmp_path):
    original = make_dicom(tmp_path / "pano.dcm")
    service = ImagingService(session)
    job, stack = service.import_image(RIVERA, original, teeth=[Tooth("30"), Tooth("3")], title="Pano 2026")

    assert stack.format is ImageFormat.DICOM and stack.frames.shape == (1, 48, 96)
    assert (stack.window.center, stack.window.width) == (2048, 4096)
    assert job.kind == "panoramic"  # from the DICOM modality PX
    assert job.teeth == ("3", "30") and job.gpid == "APX-1A2B3C4D" and job.state == UploadState.WAITING
    spooled = Path(job.path)
    assert spooled.parent == session.cache_path.parent / "imaging-spool"
    assert job.sha256 == sha(original) == sha(spooled) and job.size == original.stat().st_size
    assert [j.id for j in service.jobs()] == [job.id]
    audit = session.cache().audit.entries("upload", job.id)
    assert [a.action for a in audit] == ["created"]
    assert "pano.dcm" not in audit[0].summary and "Pano 2026" not in audit[0].summary  # no names in the trail


def test_two_services_on_one_cache_share_one_uploader(session, tmp_path):
    """The window sends waiting images and so does the Imaging tab: never both at once on one queue."""
    window_service, tab_service = ImagingService(session), ImagingService(session)
    tab_service.import_image(RIVERA, make_dicom(tmp_path / "pano.dcm"))
    with window_service._sending:  # the window's run is sending
        report = tab_service.upload_pending()
    assert report.sent == () and report.waiting == 1
    assert tab_service.jobs()[0].state == UploadState.WAITING
    report = tab_service.upload_pending()  # once the other run is done, this one sends
    assert len(report.sent) == 1 and window_service.jobs()[0].state == UploadState.SENT


@pytest.mark.parametrize("make_bad", ["truncated", "text", "jpeg2000", "no-pixels", "png-cut", "empty"])
def test_a_corrupt_or_unsupported_file_is_refused_with_a_reason_and_changes_nothing(session, tmp_path, make_bad):
    path = tmp_path / "bad.dcm"
    if make_bad == "truncated":
        whole = make_dicom(tmp_path / "whole.dcm").read_bytes()
        path.write_bytes(whole[: len(whole) - 2000])
        says = "incomplete or damaged"
    elif make_bad == "text":
        path.write_text("Dear Dr. Lee, please find the radiograph attached.")
        says = "not a PNG, JPEG or DICOM"
    elif make_bad == "jpeg2000":
        make_dicom(path, syntax=JPEG2000Lossless)
        says = "compressed as JPEG 2000"
    elif make_bad == "no-pixels":
        make_dicom(path)
        raw = path.read_bytes()
        path.write_bytes(raw[: raw.rfind(b"\xe0\x7f\x10\x00")])  # cut at the PixelData tag
        says = "holds no image"
    elif make_bad == "png-cut":
        path = make_png(tmp_path / "cut.png")
        path.write_bytes(path.read_bytes()[:-12])
        says = "PNG file is incomplete"
    else:
        path.write_bytes(b"")
        says = "empty"
    service = ImagingService(session)
    before = _audit_count(session)
    with pytest.raises(DomainError, match=says):
        service.import_image(RIVERA, path)
    assert service.jobs() == []
    assert _audit_count(session) == before
    assert not service.spool.exists() or list(service.spool.iterdir()) == []


def test_an_unknown_patient_or_kind_is_refused_before_anything_is_copied(session, tmp_path):
    service = ImagingService(session)
    png = make_png(tmp_path / "photo.png")
    with pytest.raises(DomainError, match="not in this computer's records"):
        service.import_image("nobody", png)
    with pytest.raises(DomainError, match="kind of image"):
        service.import_image(RIVERA, png, kind="x-ray-ish")
    assert service.jobs() == [] and not service.spool.exists()


def test_a_multi_frame_file_and_a_series_folder_read_as_frames_in_slice_order(session, tmp_path):
    service = ImagingService(session)
    multi = service.inspect(make_dicom(tmp_path / "cbct.dcm", modality="CT", rows=16, columns=16, frames=5))
    assert multi.frames.shape == (5, 16, 16) and multi.modality == "CT"
    folder = tmp_path / "series"
    folder.mkdir()
    series = generate_uid()
    for n in (3, 1, 2):  # names out of slice order
        make_dicom(folder / f"slice-{4 - n}.dcm", modality="CT", rows=8, columns=8, instance=n, series_uid=series,
                   pixels=np.full((1, 8, 8), n * 100))
    (folder / "notes.txt").write_text("exported by the CBCT software")
    job, stack = service.import_image(RIVERA, folder, teeth=[Tooth("19")])
    assert [int(f[0, 0]) for f in stack.frames] == [100, 200, 300]
    assert job.content_type == "application/zip" and job.kind == "cbct" and job.filename == "series.zip"
    assert service.load(service.images(RIVERA)[0]).frames.shape == (3, 8, 8)  # read back from the spooled zip


def test_a_series_with_slices_of_different_sizes_is_refused(session, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    make_dicom(folder / "a.dcm", rows=8, columns=8, instance=1)
    make_dicom(folder / "b.dcm", rows=8, columns=9, instance=2)
    with pytest.raises(DomainError, match="differ in size"):
        ImagingService(session).import_image(RIVERA, folder)


# --- uploading -----------------------------------------------------------------------------------


def test_upload_sends_the_spooled_copy_and_caches_what_the_server_made(session, server_client, tmp_path):
    original = make_dicom(tmp_path / "pano.dcm", rows=300, columns=400)  # 240 kB: several chunks
    service = ImagingService(session, chunk_size=64 * 1024)
    job, _ = service.import_image(RIVERA, original, teeth=[Tooth("30")], title="Pano")
    original.unlink()  # the original moved away: the spool copy is what is sent
    seen: list[tuple[int, int]] = []

    report = service.upload_pending(on_progress=lambda _id, done, total: seen.append((done, total)))

    assert report.sent == (job.id,) and report.waiting == 0
    assert seen[-1] == (job.size, job.size) and len(seen) == 4
    done = service.jobs()[0]
    assert done.state == UploadState.SENT and set(done.result) == {"binary", "imaging_study", "document_reference"}
    doc_id = done.result["document_reference"].split("/")[1]
    on_server = server_client.read("DocumentReference", doc_id)
    assert on_server["content"][0]["attachment"]["size"] == job.size
    cached = session.cache().row("DocumentReference", doc_id)
    assert cached is not None and cached.local_state == "clean"  # a server copy, nothing to push
    study_id = done.result["imaging_study"].split("/")[1]
    assert session.cache().get("ImagingStudy", study_id)["modality"][0]["code"] == "PX"
    rows = service.images(RIVERA)
    assert rows[0].key == f"DocumentReference/{doc_id}" and rows[0].teeth == (Tooth("30"),)
    assert rows[0].local_path == job.path and rows[0].state == UploadState.SENT
    assert service.load(rows[0]).frames.shape == (1, 300, 400)
    assert service.upload_pending().sent == ()  # nothing left: a second run sends nothing


def test_a_png_photo_goes_up_as_a_document_with_its_teeth(session, server_client, tmp_path):
    service = ImagingService(session)
    _job, stack = service.import_image(RIVERA, make_png(tmp_path / "smile.png"), kind="intraoral-photo",
                                       teeth=[Tooth("8"), Tooth("9")])
    assert stack.format is ImageFormat.PNG and stack.encoded.startswith(b"\x89PNG")
    service.upload_pending()
    doc = server_client.read("DocumentReference", service.jobs()[0].result["document_reference"].split("/")[1])
    numbers = sorted(e["valueCoding"]["code"] for e in doc.get("extension", []) if e["url"].endswith("tooth-number"))
    assert numbers == ["8", "9"] and doc["content"][0]["attachment"]["contentType"] == "image/png"
    assert "imaging_study" not in service.jobs()[0].result


def test_a_network_drop_keeps_the_upload_waiting_and_the_next_run_resumes_it(apex, template, server_client,
                                                                                 tmp_path):
    proxy = FaultProxy("127.0.0.1", int(apex.base_url.rsplit(":", 1)[1]))
    (tmp_path / "app").mkdir()
    s = session_on(proxy.url, template, tmp_path / "app" / "cache.sqlite")
    try:
        service = ImagingService(s, chunk_size=32 * 1024)
        job, _ = service.import_image(RIVERA, make_dicom(tmp_path / "p.dcm", rows=200, columns=300))
        proxy.down()
        report = service.upload_pending()
        assert report.sent == () and report.waiting == 1 and report.offline
        assert service.jobs()[0].state == UploadState.WAITING
        proxy.up()
        assert service.upload_pending().sent == (job.id,)
        doc_id = service.jobs()[0].result["document_reference"].split("/")[1]
        assert server_client.read("DocumentReference", doc_id)["content"][0]["attachment"]["size"] == job.size
    finally:
        s.close()
        proxy.close()


def test_a_file_the_server_refuses_is_marked_refused_with_the_reason(session, tmp_path):
    service = ImagingService(session)
    job, _ = service.import_image(RIVERA, make_png(tmp_path / "x.png"))
    raw = bytearray(Path(job.path).read_bytes())
    raw[40] ^= 0xFF  # the spooled copy rots on disk: the bytes no longer match the announced hash
    Path(job.path).write_bytes(bytes(raw))
    report = service.upload_pending()
    assert report.refused == (job.id,)
    refused = service.jobs()[0]
    assert refused.state == UploadState.REFUSED and "SHA-256" in refused.error
    assert service.images(RIVERA)[0].state == UploadState.REFUSED


def test_the_queue_outlives_the_session(apex, template, tmp_path):
    (tmp_path / "app").mkdir()
    first = session_on(apex.base_url, template, tmp_path / "app" / "cache.sqlite")
    job, _ = ImagingService(first).import_image(RIVERA, make_png(tmp_path / "a.png"))
    first.close()
    again = Session(User("Dr. Lee", Role.DENTIST), Server(base_url=apex.base_url), tmp_path / "app" / "cache.sqlite",
                    credentials=ApiKey(DENTIST_KEY))
    try:
        assert [j.id for j in ImagingService(again).jobs()] == [job.id]
        assert ImagingService(again).upload_pending().sent == (job.id,)
    finally:
        again.close()


def test_the_sdk_streams_a_file_and_refuses_one_of_another_size(server_client, tmp_path):
    from odonto_desk.api.client import file_digest

    path = make_dicom(tmp_path / "io.dcm", modality="IO", rows=256, columns=256)
    size, digest = file_digest(path, block=10_000)
    assert (size, digest) == (path.stat().st_size, sha(path))
    started = server_client.announce_upload("APX-1A2B3C4D", RIVERA, filename="io.dcm",
                                            content_type="application/dicom", size=size, sha256=digest,
                                            idempotency_key="img-sdk-test-1")
    again = server_client.announce_upload("APX-1A2B3C4D", RIVERA, filename="io.dcm",
                                          content_type="application/dicom", size=size, sha256=digest,
                                          idempotency_key="img-sdk-test-1")
    assert again["upload_id"] == started["upload_id"]  # the same key: the same upload, not a second one
    other = make_png(tmp_path / "other.png")
    with pytest.raises(Exception, match="announced as"):
        server_client.send_upload_file("APX-1A2B3C4D", started["upload_id"], other)
    state = server_client.send_upload_file("APX-1A2B3C4D", started["upload_id"], path, chunk_size=40_000)
    assert state["status"] == "complete" and state["received"] == size
