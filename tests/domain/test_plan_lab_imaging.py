from __future__ import annotations

import base64
import datetime as dt
import hashlib
from decimal import Decimal

import pytest

from odonto_desk.domain.errors import DomainError, InvalidCode, InvalidSurface
from odonto_desk.domain.imaging import (
    BinaryBlob,
    ImageDocument,
    ImagingStudyMeta,
    Projection,
    check_uid,
    projection_for_code,
)
from odonto_desk.domain.lab import TRANSITIONS, LabOrder, LabStatus, LabTask
from odonto_desk.domain.plan import Phase, PlanItem, TreatmentPlan

# --- treatment plans ------------------------------------------------------------------------------


def _plan(*phases: Phase, **kw) -> TreatmentPlan:
    return TreatmentPlan(patient="p-1", title="Plan", phases=phases, **kw)


def test_totals_count_the_accepted_option_else_the_primary_one():
    filling = PlanItem(id="a", code="D2393", tooth="3", surfaces="MOD", fee="180.00", alternate_group="3")
    onlay = PlanItem(id="b", code="D2643", tooth="3", surfaces="MOD", fee="950.00", alternate_group="3")
    prophy = PlanItem(id="c", code="D1110", fee="95.00")
    plan = _plan(Phase(number=1, items=(filling, onlay)), Phase(number=2, items=(prophy,)))
    assert plan.total == Decimal("275.00")  # the first option (primary) plus the prophylaxis
    assert plan.phase_totals() == {1: Decimal("180.00"), 2: Decimal("95.00")}
    accepted = _plan(Phase(number=1, items=(filling, onlay.model_copy(update={"accepted": True}))),
                     Phase(number=2, items=(prophy,)))
    assert accepted.phase_total(1) == Decimal("950.00") and accepted.total == Decimal("1045.00")
    assert accepted.chosen("3").id == "b" and not accepted.counts(filling)


def test_unestimated_lines_add_nothing_and_unknown_phase_is_an_error():
    plan = _plan(Phase(number=1, items=(PlanItem(code="D0150"), PlanItem(code="D1110", fee="80"))))
    assert plan.total == Decimal("80.00")
    with pytest.raises(DomainError) as e:
        plan.phase_total(4)
    assert e.value.field == "phases"


def test_two_accepted_alternatives_are_refused_naming_the_second():
    items = (PlanItem(id="x", code="D2740", tooth="14", alternate_group="g", accepted=True),
             PlanItem(id="y", code="D2750", tooth="14", alternate_group="g", accepted=True))
    with pytest.raises(DomainError) as e:
        _plan(Phase(number=1, items=items))
    assert e.value.field == "phases[0].items[1].accepted"
    assert "'x'" in e.value.message and "'y'" in e.value.message


def test_accepting_in_two_different_groups_is_fine():
    items = (PlanItem(code="D2740", tooth="14", alternate_group="g", accepted=True),
             PlanItem(code="D2740", tooth="3", alternate_group="h", accepted=True))
    assert len(_plan(Phase(number=1, items=items)).items) == 2


@pytest.mark.parametrize(("item", "field", "error"), [
    ({"code": "D2392", "tooth": "33", "surfaces": "MO"}, "phases[0].items[0].tooth", DomainError),
    ({"code": "D2392", "tooth": "30", "surfaces": "M"}, "phases[0].items[0].surfaces", InvalidCode),
    ({"code": "D2392", "tooth": "8", "surfaces": "MO"}, "phases[0].items[0].surfaces", InvalidSurface),
    ({"code": "D2392", "tooth": "9", "surfaces": "MI"}, "phases[0].items[0].code", InvalidCode),
    ({"code": "2392", "tooth": "30", "surfaces": "MO"}, "phases[0].items[0].code", InvalidCode),
    ({"code": "D2740"}, "phases[0].items[0].tooth", InvalidCode),
    ({"code": "D2392", "surfaces": "MO"}, "phases[0].items[0].surfaces", InvalidSurface),
    ({"code": "D1110", "fee": "-5"}, "phases[0].items[0].fee", DomainError),
])
def test_bad_lines_name_the_field(item, field, error):
    with pytest.raises(error) as e:
        TreatmentPlan(patient="p", title="t", phases=[{"number": 1, "items": [item]}])
    assert e.value.field == field


def test_phases_must_be_numbered_once_in_order_and_line_ids_unique():
    with pytest.raises(DomainError) as e:
        _plan(Phase(number=2), Phase(number=1))
    assert e.value.field == "phases[1].number"
    with pytest.raises(DomainError) as e:
        _plan(Phase(number=1, items=(PlanItem(id="a", code="D1110"),)),
              Phase(number=2, items=(PlanItem(id="a", code="D1120"),)))
    assert e.value.field == "phases[1].items[0].id"


@pytest.mark.parametrize("bad", ["CP-1", "cp", "PLAN-001", "CP-00A"])
def test_care_plan_id_has_the_apex_form(bad):
    assert _plan(care_plan_id="cp-007").care_plan_id == "CP-007"
    with pytest.raises(DomainError) as e:
        _plan(care_plan_id=bad)
    assert e.value.field == "care_plan_id"


def test_plan_needs_a_title_and_an_aware_creation_time():
    with pytest.raises(DomainError) as e:
        TreatmentPlan(patient="p", title="  ")
    assert e.value.field == "title"
    with pytest.raises(DomainError) as e:
        _plan(created=dt.datetime(2025, 3, 3, 10, 0))
    assert e.value.field == "created"


# --- lab orders -----------------------------------------------------------------------------------


def _order(**kw) -> LabOrder:
    return LabOrder(**{"patient": "p", "lab": "lab-1", "kind": "crown", "teeth": ["30"], **kw})


def test_a_case_goes_through_the_lab_and_back():
    order = _order()
    for step in ("sent", "in-lab", "returned", "in-lab", "returned", "seated"):
        order = order.advance(step)
    assert order.status is LabStatus.SEATED and order.task_status == "completed"


@pytest.mark.parametrize(("start", "to"), [("sent", "seated"), ("draft", "returned"), ("seated", "cancelled"),
                                           ("cancelled", "sent"), ("in-lab", "draft")])
def test_illegal_moves_are_refused_naming_status(start, to):
    with pytest.raises(DomainError) as e:
        _order(status=start).advance(to)
    assert e.value.field == "status"
    assert _order(status=start).can_move_to(to) is False


def test_every_listed_transition_is_allowed():
    for start, targets in TRANSITIONS.items():
        for to in targets:
            assert _order(status=start).advance(to).status is to


@pytest.mark.parametrize(("kw", "field"), [
    ({"teeth": ["33"]}, "teeth[0]"),
    ({"teeth": []}, "teeth"),
    ({"teeth": ["30", "30"]}, "teeth"),
    ({"kind": "bridge", "teeth": ["3"]}, "teeth"),
    ({"kind": "bridge", "teeth": ["3", "30"]}, "teeth"),
    ({"shade": "A5"}, "shade"),
    ({"shade": "Z1"}, "shade"),
    ({"material": "cardboard"}, "material"),
    ({"status": "lost"}, "status"),
])
def test_bad_lab_orders_name_the_field(kw, field):
    with pytest.raises(DomainError) as e:
        _order(**kw)
    assert e.value.field == field


def test_shades_and_appliances_without_teeth():
    assert _order(shade="a3.5").shade == "A3.5"
    assert _order(shade="2m2").shade == "2M2"
    guard = _order(kind="night guard", teeth=[])
    assert guard.teeth == () and guard.task().order == guard.id
    assert _order(kind="bridge", teeth=["5", "3", "4"]).teeth[0].universal == "3"  # kept in chart order


# --- imaging --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["1.02.3", "1..2", "1.2.", "abc", "1", "1.2.3a", "1." + "2" * 63])
def test_bad_dicom_uids_are_refused_naming_the_field(bad):
    with pytest.raises(DomainError) as e:
        ImagingStudyMeta(patient="p", study_uid=bad, modality="IO")
    assert e.value.field == "study_uid"
    with pytest.raises(DomainError) as e:
        ImagingStudyMeta(patient="p", study_uid="1.2", modality="IO",
                         series=[{"uid": "1.2.3", "instances": [{"uid": bad, "sop_class": "1.2.4"}]}])
    assert e.value.field == "series[0].instances[0].uid"


def test_uids_at_the_limit_and_with_urn_prefix():
    uid = "1." + "2" * 62
    assert check_uid(uid) == uid and len(uid) == 64
    assert check_uid("urn:oid:2.25.7") == "2.25.7"


def test_study_teeth_and_uid_uniqueness():
    study = ImagingStudyMeta(patient="p", study_uid="2.25.1", modality="IO", series=[
        {"uid": "2.25.2", "teeth": ["30", "3"], "instances": [{"uid": "2.25.3", "sop_class": "1.2.840.10008.5.1"}]},
        {"uid": "2.25.4", "teeth": ["3", "14"]}])
    assert [t.universal for t in study.teeth] == ["3", "14", "30"]
    assert study.number_of_instances == 1
    with pytest.raises(DomainError) as e:
        ImagingStudyMeta(patient="p", study_uid="2.25.1", modality="IO", series=[{"uid": "2.25.1"}])
    assert e.value.field == "series[0].uid"
    with pytest.raises(DomainError) as e:
        ImagingStudyMeta(patient="p", study_uid="2.25.1", modality="MR")
    assert e.value.field == "modality"
    with pytest.raises(DomainError) as e:
        ImagingStudyMeta(patient="p", study_uid="2.25.1", modality="IO", series=[{"uid": "2.25.2", "teeth": ["33"]}])
    assert e.value.field == "series[0].teeth[0]"


@pytest.mark.parametrize(("code", "projection"), [("D0272", Projection.BITEWING), ("D0220", Projection.PERIAPICAL),
                                                  ("D0330", Projection.PANORAMIC), ("D0367", Projection.CBCT),
                                                  ("D2392", None)])
def test_projection_of_imaging_codes(code, projection):
    assert projection_for_code(code) is projection


def test_blob_hashes_and_the_document_made_from_it():
    data = b"\x89PNG fake image bytes"
    blob = BinaryBlob(content_type="Image/PNG", data=data, patient="p")
    assert blob.content_type == "image/png"
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert base64.b64decode(blob.sha1) == hashlib.sha1(data).digest()
    doc = ImageDocument.for_blob(blob, patient="p", title="Intra-oral photo")
    assert (doc.size, doc.sha256, doc.binary, doc.content_type) == (len(data), blob.sha256, blob.id, "image/png")


@pytest.mark.parametrize(("kw", "field"), [
    ({"sha256": "abc"}, "sha256"),
    ({"sha1": "not base64!"}, "sha1"),
    ({"content_type": "jpeg"}, "content_type"),
    ({"size": -1}, "size"),
    ({"binary": "b1", "url": "https://x/y"}, "url"),
    ({"teeth": ["30", "30"]}, "teeth"),
])
def test_bad_image_documents_name_the_field(kw, field):
    with pytest.raises(DomainError) as e:
        ImageDocument(**{"patient": "p", "content_type": "image/jpeg", **kw})
    assert e.value.field == field


NAIVE = dt.datetime(2025, 3, 3, 9, 0)


@pytest.mark.parametrize(("build", "field"), [
    (lambda: TreatmentPlan(patient="p", title="t", created=NAIVE), "created"),
    (lambda: LabTask(order="o", status="sent", updated=NAIVE), "updated"),
    (lambda: ImagingStudyMeta(patient="p", study_uid="1.2.3", modality="IO", started=NAIVE), "started"),
])
def test_a_time_without_a_zone_is_refused_naming_the_field(build, field):
    with pytest.raises(DomainError, match="time zone") as err:
        build()
    assert err.value.field == field
