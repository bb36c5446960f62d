"""Helpers shared by tests (import as ``from helpers import …``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx

TODAY = dt.date(2026, 11, 25)  # the day the UI and service tests run "on"
DENTIST_KEY = "apx_sandbox_dentist_key"
ADMIN_KEY = "apx_sandbox_admin_key"  # the reference server's published admin key: sees every patient
GPID = "APX-1A2B3C4D"  # the GPID of tests/data/fhir-examples/patient.json


def token_for(base_url: str, role: str, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials", "client_id": f"demo-{role.replace('_', '-')}",
            "client_secret": f"sandbox-secret-{role.replace('_', '-')}"}
    if scope:
        data["scope"] = scope
    r = httpx.post(f"{base_url}/oauth/token", data=data)
    r.raise_for_status()
    return r.json()["access_token"]


STUDY_UID = "1.2.826.0.1.3680043.8.498.1001"


def make_dicom(size_hint: int = 300_000, modality: str = "IO") -> bytes:
    """A small valid DICOM intra-oral radiograph of about ``size_hint`` bytes (random pixels)."""
    import io
    import os

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.3"  # digital intra-oral X-ray, for presentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.StudyDate = "20250303"
    ds.StudyDescription = "Bitewings right"
    ds.PatientID = GPID
    side = int((size_hint // 2) ** 0.5)
    ds.Rows = ds.Columns = side
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelRepresentation = 0
    ds.PixelData = os.urandom(side * side * 2)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


EXAMPLES_DIR = Path(__file__).resolve().parent / "data" / "fhir-examples"


def example_files() -> list[Path]:
    """The reference examples (copied from shared/reference/fhir-examples)."""
    return sorted(EXAMPLES_DIR.glob("*.json"))


def difference(a, b):  # type: ignore[no-untyped-def]
    """Share of pixels of two QImages whose colour differs by more than 48 in a channel, and a diff
    picture. Qt is imported here, so the tests that need no Qt do not load it."""
    from PySide6.QtGui import QColor, QImage

    diff = QImage(a.size(), QImage.Format.Format_RGB32)
    diff.fill(QColor("white"))
    bad = 0
    for y in range(a.height()):
        for x in range(0, a.width()):
            pa, pb = a.pixel(x, y), b.pixel(x, y)
            if pa == pb:
                continue
            d = max(abs(((pa >> s) & 255) - ((pb >> s) & 255)) for s in (0, 8, 16))
            if d > 48:
                bad += 1
                diff.setPixelColor(x, y, QColor("red"))
    return bad / (a.width() * a.height()), diff


ROLE_KEYS = {"dentist": DENTIST_KEY, "hygienist": "apx_sandbox_hygienist_key",
             "front-desk": "apx_sandbox_front_desk_key"}


def session_on(base_url: str, template: Path, path: Path, *, role=None, name: str = "Dr. Lee"):  # -> Session
    """A signed-in session on a copy of ``template`` (SQLite's backup API) at ``path``; the dentist
    Dr. Lee unless ``role`` (a :class:`~odonto_desk.services.session.Role`) and ``name`` say otherwise."""
    import sqlite3

    from odonto_desk.api.auth import ApiKey
    from odonto_desk.services.session import Role, Server, Session, User

    role = role or Role.DENTIST
    src, dst = sqlite3.connect(template), sqlite3.connect(path)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return Session(User(name, role), Server(base_url=base_url), path, credentials=ApiKey(ROLE_KEYS[role.value]),
                   today=TODAY)


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Running processes whose command line contains ``text`` (e.g. a test's tmp folder): (pid, cmdline)."""
    import os

    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if text in cmdline:
            found.append((int(entry.name), cmdline.strip()))
    return found


def admin_client(url: str, **kw):  # -> ApexClient
    """A client with the admin key and short retry back-off, to look at (and change) the server directly."""
    from odonto_desk.api.auth import ApiKey
    from odonto_desk.api.client import ApexClient

    kw.setdefault("backoff_base", 0.01)
    return ApexClient(url, credentials=ApiKey(ADMIN_KEY), **kw)


def proxied_client(proxy, **kw):  # -> ApexClient
    """An admin client behind a FaultProxy, one connection per request, so ``proxy.down()`` cuts it at once."""
    transport = httpx.HTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))
    return admin_client(proxy.url, transport=transport, **kw)


def sqlite_copy(src: Path, dst: Path) -> None:
    """Copy a SQLite database file with SQLite's backup API (safe even while it is open elsewhere)."""
    import sqlite3

    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    with b:
        a.backup(b)
    a.close()
    b.close()
