"""Plan line statuses, alternates, the fee schedule, category totals and the patient estimate (pure)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odonto_desk.domain.cdt import ServiceCategory, default_category, demo_catalog
from odonto_desk.domain.errors import DomainError, InvalidCode
from odonto_desk.domain.plan import (
    DEFAULT_COVERAGE,
    FeeSchedule,
    LineStatus,
    Phase,
    PlanItem,
    PlanSignature,
    PlanStatus,
    TreatmentPlan,
    estimate,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
WHEN = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


def _plan() -> TreatmentPlan:
    crown = PlanItem(id="crown", code="D2740", tooth="3", fee="1180.00", alternate_group="3")
    onlay = PlanItem(id="onlay", code="D2643", tooth="3", surfaces="MOD", fee="1040.00", alternate_group="3")
    prophy = PlanItem(id="prophy", code="D1110", fee="105.00")
    return TreatmentPlan(patient="p", title="t", phases=(Phase(number=1, items=(crown, onlay)),
                                                         Phase(number=2, items=(prophy,))))


def test_accepting_an_option_rejects_its_siblings_and_activates_the_plan():
    plan = _plan().with_status("onlay", LineStatus.ACCEPTED)
    assert [i.line_status for i in plan.items] == [LineStatus.REJECTED, LineStatus.ACCEPTED, LineStatus.PROPOSED]
    assert plan.status is PlanStatus.ACTIVE and plan.total == Decimal("1145.00")
    back = plan.with_status("crown", LineStatus.ACCEPTED)  # the patient changes their mind
    assert back.item("onlay").line_status is LineStatus.REJECTED and back.total == Decimal("1285.00")


def test_a_rejected_primary_option_hands_the_count_to_the_next_and_rejected_lines_add_nothing():
    plan = _plan().with_status("crown", LineStatus.REJECTED).with_status("prophy", LineStatus.REJECTED)
    assert plan.chosen("3").id == "onlay" and plan.total == Decimal("1040.00")


def test_an_option_in_progress_blocks_accepting_its_sibling_and_completed_is_final():
    plan = _plan().with_status("crown", LineStatus.IN_PROGRESS)
    with pytest.raises(DomainError, match="in progress"):
        plan.with_status("onlay", LineStatus.ACCEPTED)
    done = plan.with_status("crown", LineStatus.COMPLETED).with_status("prophy", LineStatus.COMPLETED)
    assert done.status is PlanStatus.COMPLETED
    with pytest.raises(DomainError) as e:
        done.with_status("crown", LineStatus.PROPOSED)
    assert e.value.field == "status"
    # The status buttons ask the same rules: nothing moves a completed line, an option in progress
    # blocks accepting its sibling, and a line is not "moved" to the status it has.
    assert not any(done.can_move("crown", s) for s in LineStatus)
    assert plan.item("onlay").line_status is LineStatus.REJECTED  # starting the crown rejected it
    assert not plan.can_move("onlay", LineStatus.ACCEPTED) and not plan.can_move("onlay", LineStatus.REJECTED)
    assert not plan.can_move("crown", LineStatus.IN_PROGRESS) and plan.can_move("crown", LineStatus.COMPLETED)


def test_category_totals_cover_all_eight_categories_in_order():
    totals = _plan().category_totals(default_category)
    assert list(totals) == list(ServiceCategory)
    assert totals[ServiceCategory.RESTORATIVE] == Decimal("1180.00")
    assert totals[ServiceCategory.PREVENTIVE] == Decimal("105.00")
    assert sum(totals.values()) == _plan().total


def test_estimate_splits_by_category_coverage_and_uninsured_pays_all():
    plan = _plan()
    insured = plan.estimate(default_category, DEFAULT_COVERAGE)
    assert (insured.fee, insured.insurance, insured.patient) == (Decimal("1285.00"), Decimal("1049.00"),
                                                                 Decimal("236.00"))
    assert plan.estimate(default_category, DEFAULT_COVERAGE, phase=2).patient == Decimal("0.00")
    alone = plan.estimate(default_category, None)
    assert alone.insurance == Decimal("0.00") and alone.patient == alone.fee
    with pytest.raises(DomainError):
        plan.estimate(default_category, None, phase=7)
    with pytest.raises(DomainError):
        estimate(Decimal("10.00"), ServiceCategory.PREVENTIVE, {ServiceCategory.PREVENTIVE: 120})


@given(st.decimals(min_value=0, max_value=100000, places=2), st.integers(0, 100))
def test_insurance_and_patient_always_add_up_to_the_fee(fee, pct):
    e = estimate(fee, ServiceCategory.RESTORATIVE, {ServiceCategory.RESTORATIVE: pct})
    assert e.insurance + e.patient == e.fee and e.insurance >= 0 and e.patient >= 0


def test_the_fee_schedule_knows_the_catalog_and_refuses_unknown_codes():
    fees = FeeSchedule.from_entries(demo_catalog())
    assert fees.fee_for("d2392") == Decimal("210.00") and "D2392" in fees
    with pytest.raises(InvalidCode) as e:
        fees.fee_for("D9999")
    assert e.value.field == "code" and "D9999" in e.value.message


def test_new_lines_and_options_void_the_signature_but_status_changes_keep_it():
    sig = PlanSignature(png=PNG, signer="Pat", signed=WHEN)
    signed = _plan().signed(sig)
    assert signed.with_status("onlay", LineStatus.ACCEPTED).signature == sig
    assert signed.with_item(3, PlanItem(code="D0120")).signature is None
    option = signed.with_alternative("prophy", PlanItem(id="perio", code="D4910"))
    assert option.signature is None and option.item("prophy").alternate_group == "prophy"
    assert option.item("perio").alternate_group == "prophy" and option.phase_total(2) == Decimal("105.00")


def test_a_new_phase_slots_in_by_number():
    plan = _plan().with_item(5, PlanItem(code="D0120", fee="62")).with_item(3, PlanItem(code="D0150"))
    assert [p.number for p in plan.phases] == [1, 2, 3, 5]
    with pytest.raises(DomainError):
        plan.with_item(0, PlanItem(code="D0120"))


@pytest.mark.parametrize(("kw", "field"), [
    ({"png": b"GIF89a", "signer": "Pat"}, "png"),
    ({"png": PNG, "signer": "   "}, "signer"),
    ({"png": PNG + b"\0" * 300_000, "signer": "Pat"}, "png"),
])
def test_bad_signatures_name_the_field(kw, field):
    with pytest.raises(DomainError) as e:
        PlanSignature(signed=WHEN, **kw)
    assert e.value.field == field
