"""Chunked, resumable imaging upload over real HTTP: DICOM to ImagingStudy, bad files refused whole."""

from __future__ import annotations

import base64
import hashlib
import os

import httpx
import pytest
from helpers import GPID, STUDY_UID, make_dicom, token_for


@pytest.fixture
def up(sandbox, client_for, load_example):
    fhir = client_for("admin")
    pid = fhir.post("/Patient", json=load_example("patient.json")).json()["id"]
    token = token_for(sandbox.base_url, "front_desk")
    c = httpx.Client(base_url=f"{sandbox.base_url}/odonto/v1/imaging", timeout=20,
                     headers={"Authorization": f"Bearer {token}", "X-Apex-GPID": GPID})
    c.pid, c.fhir = pid, fhir  # type: ignore[attr-defined]
    yield c
    c.close()


_n = iter(range(10**6))


def _announce(c: httpx.Client, data: bytes, *, content_type: str = "application/dicom", **extra) -> httpx.Response:
    body = {"patient": f"Patient/{c.pid}", "filename": "bw-right.dcm", "content_type": content_type,
            "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "kind": "bitewing", "teeth": ["30", "31"]}
    body.update(extra)
    return c.post("/upload", json=body, headers={"Idempotency-Key": f"img-{next(_n):08d}"})


def _put(c: httpx.Client, uid: str, data: bytes, start: int, end: int) -> httpx.Response:
    return c.put(f"/upload/{uid}", content=data[start:end + 1],
                 headers={"Content-Range": f"bytes {start}-{end}/{len(data)}"})


def _count(fhir: httpx.Client, rtype: str) -> int:
    r = fhir.get(f"/{rtype}")
    assert r.status_code == 200, r.text
    return len(r.json().get("entry") or [])


def _send_all(c: httpx.Client, uid: str, data: bytes, chunk: int) -> httpx.Response:
    r = None
    for start in range(0, len(data), chunk):
        r = _put(c, uid, data, start, min(len(data), start + chunk) - 1)
        assert r.status_code in (200, 201), r.text
    assert r is not None
    return r


def test_a_dicom_file_in_chunks_becomes_binary_document_and_imaging_study(up):
    data = make_dicom()
    r = _announce(up, data)
    assert r.status_code == 201, r.text
    uid = r.json()["upload_id"]
    done = _send_all(up, uid, data, 128 * 1024)
    assert done.status_code == 201
    result = done.json()["result"]
    study = up.fhir.get(f"/{result['imaging_study']}").json()
    assert study["identifier"][0]["value"] == f"urn:oid:{STUDY_UID}"
    assert study["series"][0]["modality"]["code"] == "IO" and study["started"] == "2025-03-03"
    assert study["subject"]["reference"] == f"Patient/{up.pid}"
    doc = up.fhir.get(f"/{result['document_reference']}").json()
    att = doc["content"][0]["attachment"]
    assert att["size"] == len(data) and att["hash"] == base64.b64encode(hashlib.sha1(data).digest()).decode()
    teeth = [e["valueCoding"]["code"] for e in doc["extension"] if e["url"].endswith("tooth-number")]
    assert teeth == ["30", "31"]
    assert doc["context"]["related"][0]["reference"] == result["imaging_study"]
    binary = up.fhir.get(f"/{result['binary']}").json()
    assert base64.b64decode(binary["data"]) == data


def test_an_interrupted_upload_resumes_where_the_server_says(up):
    data = make_dicom()
    uid = _announce(up, data).json()["upload_id"]
    assert _put(up, uid, data, 0, 99_999).status_code == 200
    skipped = _put(up, uid, data, 200_000, len(data) - 1)  # a chunk went missing on the way
    assert skipped.status_code == 409 and skipped.headers["Upload-Offset"] == "100000"
    state = up.get(f"/upload/{uid}").json()
    assert (state["received"], state["status"]) == (100_000, "open")
    again = _put(up, uid, data, 0, 99_999)  # a retry whose first answer was lost
    assert again.status_code == 200 and again.json()["received"] == 100_000
    assert _put(up, uid, data, 100_000, len(data) - 1).status_code == 201
    assert up.get(f"/upload/{uid}").json()["status"] == "complete"


def test_a_large_photo_is_served_from_the_file_endpoint_not_inline(up):
    data = b"\xff\xd8\xff" + os.urandom(1_500_000)
    uid = _announce(up, data, content_type="image/jpeg", filename="smile.jpg", kind="extraoral-photo",
                    teeth=[]).json()["upload_id"]
    result = _send_all(up, uid, data, 1024 * 1024).json()["result"]
    assert "imaging_study" not in result
    assert "data" not in up.fhir.get(f"/{result['binary']}").json()
    url = up.fhir.get(f"/{result['document_reference']}").json()["content"][0]["attachment"]["url"]
    assert url.endswith(f"/odonto/v1/imaging/files/{uid}")
    assert up.get(url).content == data


@pytest.mark.filterwarnings("ignore:Invalid value for VR")
@pytest.mark.parametrize(("payload", "why"), [
    (b"this is not a DICOM file at all" * 100, "not a readable DICOM"),
    (make_dicom(20_000)[:400], "lacks StudyInstanceUID"),
    (make_dicom(20_000)[:-5000], "truncated: its pixel data has"),
])
def test_a_corrupt_dicom_is_refused_and_nothing_reaches_the_record(up, payload, why):
    uid = _announce(up, payload).json()["upload_id"]
    r = _put(up, uid, payload, 0, len(payload) - 1)
    assert r.status_code == 422 and why in r.text
    state = up.get(f"/upload/{uid}").json()
    assert state["status"] == "failed" and why in state["error"]
    for rtype in ("Binary", "DocumentReference", "ImagingStudy"):
        assert _count(up.fhir, rtype) == 0
    assert _put(up, uid, payload, 0, len(payload) - 1).status_code == 409  # a failed upload takes no more


def test_a_file_that_does_not_match_its_announced_hash_is_refused(up):
    data = make_dicom(20_000)
    uid = _announce(up, data, sha256=hashlib.sha256(b"other").hexdigest()).json()["upload_id"]
    r = _put(up, uid, data, 0, len(data) - 1)
    assert r.status_code == 422 and "SHA-256" in r.text
    assert _count(up.fhir, "DocumentReference") == 0


@pytest.mark.parametrize(("change", "status", "where"), [
    ({"content_type": "application/x-msdownload"}, 400, "content_type"),
    ({"teeth": ["33"]}, 400, "teeth[0]"),
    ({"size": 0}, 400, "size"),
    ({"sha256": "abc"}, 400, "sha256"),
    ({"filename": "../../etc/passwd"}, 400, "filename"),
    ({"kind": "x-ray-ish"}, 400, "kind"),
    ({"patient": "Patient/../x"}, 400, "patient"),
])
def test_bad_announcements_are_refused_naming_the_field(up, change, status, where):
    r = _announce(up, b"x" * 10, **change)
    assert r.status_code == status, r.text
    assert r.json()["issue"][0]["expression"] == [where]


def test_the_gpid_boundary_and_ownership(up, sandbox):
    data = make_dicom(20_000)
    up.headers["X-Apex-GPID"] = "APX-ZZZZZZZZ"
    assert _announce(up, data).status_code == 403
    del up.headers["X-Apex-GPID"]
    assert _announce(up, data).status_code == 400
    up.headers["X-Apex-GPID"] = GPID
    uid = _announce(up, data).json()["upload_id"]
    other = httpx.Client(base_url=str(up.base_url), headers={
        "Authorization": f"Bearer {token_for(sandbox.base_url, 'dentist')}", "X-Apex-GPID": GPID})
    assert other.get(f"/upload/{uid}").status_code == 404
    assert other.put(f"/upload/{uid}", content=data, headers={
        "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}).status_code == 404
    ro = httpx.Client(base_url=str(up.base_url), headers={
        "Authorization": f"Bearer {token_for(sandbox.base_url, 'read_only')}", "X-Apex-GPID": GPID})
    assert _announce_as(ro, up.pid, data).status_code == 403
    other.close()
    ro.close()


def _announce_as(c: httpx.Client, pid: str, data: bytes) -> httpx.Response:
    return c.post("/upload", json={"patient": f"Patient/{pid}", "filename": "a.dcm", "content_type": "application/dicom",
                                   "size": len(data), "sha256": hashlib.sha256(data).hexdigest()},
                  headers={"Idempotency-Key": f"img-{next(_n):08d}"})


def test_announcing_twice_with_one_key_makes_one_upload(up):
    data = make_dicom(20_000)
    body = {"patient": f"Patient/{up.pid}", "filename": "a.dcm", "content_type": "application/dicom",
            "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    a = up.post("/upload", json=body, headers={"Idempotency-Key": "same-key-123"})
    b = up.post("/upload", json=body, headers={"Idempotency-Key": "same-key-123"})
    assert a.json()["upload_id"] == b.json()["upload_id"] and b.headers["Idempotent-Replayed"] == "true"
