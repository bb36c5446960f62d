from __future__ import annotations

import base64
import copy
import datetime as dt

import pytest

from odonto_desk.domain.chart import ChartMark
from odonto_desk.domain.imaging import BinaryBlob, ImageDocument, ImagingStudyMeta, Laterality, Projection
from odonto_desk.domain.lab import LabOrder, LabStatus, LabTask
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import from_fhir, to_fhir
from odonto_desk.fhir.resources.imaging import EXT_SHA256
from odonto_desk.fhir.resources.lab import EXT_LAB_STATUS
from odonto_desk.fhir.validate import validate

# --- lab orders -----------------------------------------------------------------------------------


def _order(**kw) -> LabOrder:
    return LabOrder(**{"id": "lab-7", "patient": "p-1", "lab": "org-lab", "kind": "bridge", "teeth": ["5", "3", "4"],
                       "shade": "A2", "material": "zirconia", "due": dt.date(2025, 4, 2),
                       "instructions": "Light occlusal contacts", "provider": "dr-1", "status": "in-lab", **kw})


def test_lab_order_round_trips_as_a_lab_service_request():
    order = _order()
    res = to_fhir(order)
    validate(res)
    assert from_fhir(res) == order
    assert res["resourceType"] == "ServiceRequest" and res["intent"] == "order" and res["status"] == "active"
    cats = [c["code"] for cc in res["category"] for c in cc["coding"]]
    assert "lab_appliance" in cats
    assert res["performer"] == [{"reference": "Organization/org-lab"}]
    # One bodySite per tooth, each carrying the Apex tooth-number extension.
    sites = [(bs["extension"][0]["url"], bs["extension"][0]["valueCoding"]["code"], bs["coding"][0]["code"])
             for bs in res["bodySite"]]
    assert sites == [(codes.EXT_TOOTH_NUMBER, t, t) for t in ("3", "4", "5")]
    assert {"system": codes.CS_MATERIAL, "code": "zirconia", "display": "zirconia"} in [
        c for cc in res["orderDetail"] for c in cc["coding"]]


@pytest.mark.parametrize("status", list(LabStatus))
def test_every_lab_status_survives_the_coarser_request_status(status):
    order = _order(status=status)
    res = to_fhir(order)
    validate(res)
    assert from_fhir(res).status is status


def test_lab_and_chart_service_requests_are_told_apart():
    mark = ChartMark(id="m1", patient="p-1", tooth="3", kind="crown", status="tp", material="zirconia", code="D2740")
    assert isinstance(from_fhir(to_fhir(mark)), ChartMark)
    assert isinstance(from_fhir(to_fhir(_order())), LabOrder)
    with pytest.raises(FhirMappingError) as e:
        from_fhir(to_fhir(mark), expect=LabOrder)
    assert e.value.path == "resourceType"


def test_a_status_change_lands_on_the_servers_copy():
    base = to_fhir(_order())
    base["meta"] = {"versionId": "3"}
    base["supportingInfo"] = [{"reference": "DocumentReference/rx-1"}]
    returned = _order().advance("returned")
    out = to_fhir(returned, base=base)
    validate(out)
    assert from_fhir(out) == returned
    assert out["meta"] == {"versionId": "3"} and out["supportingInfo"] == base["supportingInfo"]
    assert [e["valueCode"] for e in out["extension"] if e["url"] == EXT_LAB_STATUS] == ["returned"]


def test_bad_lab_resources_name_the_path():
    res = to_fhir(_order())
    bad = copy.deepcopy(res)
    bad["bodySite"][1]["extension"][0]["valueCoding"]["code"] = "33"
    with pytest.raises(FhirMappingError) as e:
        from_fhir(bad)
    assert e.value.path == "ServiceRequest.bodySite[1].extension[0]"
    bad = copy.deepcopy(res)
    bad["orderDetail"][1]["coding"][0]["code"] = "Q9"
    with pytest.raises(FhirMappingError) as e:
        from_fhir(bad)
    assert e.value.path == "ServiceRequest.orderDetail"
    bad = copy.deepcopy(res)
    del bad["performer"]
    with pytest.raises(FhirMappingError) as e:
        from_fhir(bad)
    assert e.value.path == "ServiceRequest.performer[0]"


def test_lab_task_round_trips_and_reads_plain_fhir_status():
    task = _order().task(updated=dt.datetime(2025, 3, 20, 8, 0, tzinfo=dt.UTC))
    res = to_fhir(task)
    validate(res)
    assert from_fhir(res) == task
    assert (res["status"], res["focus"], res["owner"]) == (
        "in-progress", {"reference": "ServiceRequest/lab-7"}, {"reference": "Organization/org-lab"})
    plain = {k: v for k, v in res.items() if k != "businessStatus"}
    plain["status"] = "requested"
    assert from_fhir(plain, expect=LabTask).status is LabStatus.SENT
    plain["status"] = "entered-in-error"
    with pytest.raises(FhirMappingError) as e:
        from_fhir(plain)
    assert e.value.path == "Task.status"


# --- imaging --------------------------------------------------------------------------------------

BITEWING = "imagingstudy-bitewing.json"


def test_bitewing_example_maps_in_and_out_without_loss(load_example):
    ex = load_example(BITEWING)
    study = from_fhir(ex, expect=ImagingStudyMeta)
    assert to_fhir(study, base=ex) == ex
    fresh = to_fhir(study)
    validate(fresh)
    assert from_fhir(fresh) == study


def test_bitewing_example_reads_teeth_per_series(load_example):
    study = from_fhir(load_example(BITEWING))
    assert (study.modality.value, study.code, study.projection) == ("IO", "D0272", Projection.BITEWING)
    right, left = study.series
    assert [t.universal for t in right.teeth] == ["3", "4", "5", "28", "29", "30"]
    assert (right.laterality, left.laterality) == (Laterality.RIGHT, Laterality.LEFT)
    assert right.instances[0].sop_class == "1.2.840.10008.5.1.4.1.1.1.3"
    assert len(study.teeth) == 12


def _pa() -> ImagingStudyMeta:
    return ImagingStudyMeta(
        id="img-2", patient="p-1", study_uid="2.25.100", modality="IO", projection="periapical",
        started=dt.datetime(2025, 6, 1, 9, 30, tzinfo=dt.UTC), description="PA 30",
        series=[{"uid": "2.25.101", "number": 1, "teeth": ["30"],
                 "instances": [{"uid": "2.25.102", "sop_class": "1.2.840.10008.5.1.4.1.1.1.3", "number": 1}]}])


def test_single_tooth_series_also_carries_body_site():
    res = to_fhir(_pa())
    validate(res)
    assert from_fhir(res) == _pa()
    series = res["series"][0]
    assert series["bodySite"]["code"] == "30" and series["bodySite"]["system"] == codes.ADA_UNIVERSAL
    assert res["identifier"][0]["value"] == "urn:oid:2.25.100"
    assert series["instance"][0]["sopClass"]["code"] == "urn:oid:1.2.840.10008.5.1.4.1.1.1.3"
    assert (res["numberOfSeries"], res["numberOfInstances"]) == (1, 1)
    # A series with only bodySite (as the upload API writes it) reads its tooth from there.
    del series["extension"]
    assert from_fhir(res) == _pa()


def test_bad_dicom_uid_on_the_wire_is_refused_with_path(load_example):
    ex = load_example(BITEWING)
    ex["series"][1]["instance"][0]["uid"] = "2.25.01"
    with pytest.raises(FhirMappingError) as e:
        from_fhir(ex)
    assert e.value.path == "ImagingStudy.series[1].instance[0].uid"
    ex = load_example(BITEWING)
    ex["identifier"][0]["value"] = "urn:oid:2.25.x"
    with pytest.raises(FhirMappingError) as e:
        from_fhir(ex)
    assert e.value.path == "ImagingStudy.identifier[0].value"
    ex = load_example(BITEWING)
    ex["series"][0]["modality"]["code"] = "PX"
    with pytest.raises(FhirMappingError) as e:
        from_fhir(ex)
    assert e.value.path == "ImagingStudy.series[0].modality"


def test_wrong_resource_for_imaging_types(load_example):
    with pytest.raises(FhirMappingError) as e:
        from_fhir(load_example("patient.json"), expect=ImagingStudyMeta)
    assert e.value.path == "resourceType"
    with pytest.raises(FhirMappingError) as e:
        from_fhir(load_example(BITEWING), expect=ImageDocument)
    assert e.value.path == "resourceType"


def test_binary_and_document_round_trip():
    blob = BinaryBlob(id="bin-1", content_type="image/jpeg", data=b"\xff\xd8\xff\xe0 jpeg", patient="p-1")
    res = to_fhir(blob)
    validate(res)
    assert from_fhir(res) == blob and base64.b64decode(res["data"]) == blob.data
    doc = ImageDocument.for_blob(blob, patient="p-1", id="doc-1", title="Photo 8", study="img-2", teeth=["9", "8"],
                                 created=dt.datetime(2025, 6, 1, 9, 40, tzinfo=dt.UTC))
    dres = to_fhir(doc)
    validate(dres)
    assert from_fhir(dres) == doc
    att = dres["content"][0]["attachment"]
    assert (att["url"], att["size"], att["hash"]) == ("Binary/bin-1", blob.size, blob.sha1)
    assert att["extension"] == [{"url": EXT_SHA256, "valueString": blob.sha256}]
    assert dres["context"] == {"related": [{"reference": "ImagingStudy/img-2"}]}
    assert dres["type"]["coding"][0]["code"] == "52040-3"


def test_document_with_only_a_url_and_sha1_reads():
    doc = ImageDocument(id="d2", patient="p", content_type="model/stl", url="https://files.example/scan.stl",
                        sha1=base64.b64encode(bytes(20)).decode())
    res = to_fhir(doc)
    validate(res)
    assert from_fhir(res) == doc


def test_bad_binary_and_document_resources():
    with pytest.raises(FhirMappingError) as e:
        from_fhir({"resourceType": "Binary", "contentType": "image/png", "data": "***"})
    assert e.value.path == "Binary.data"
    with pytest.raises(FhirMappingError) as e:
        from_fhir({"resourceType": "Binary", "contentType": "png", "data": ""})
    assert e.value.path == "Binary.contentType"
    res = to_fhir(ImageDocument(id="d", patient="p", content_type="image/png", sha256="a" * 64))
    res["content"][0]["attachment"]["extension"][0]["valueString"] = "zz"
    with pytest.raises(FhirMappingError) as e:
        from_fhir(res)
    assert e.value.path == "DocumentReference.content[0].attachment.extension"
