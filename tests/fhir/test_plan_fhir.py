from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odonto_desk.domain.plan import ItemStatus, Phase, PlanItem, PlanStatus, Priority, TreatmentPlan
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import from_fhir, to_fhir
from odonto_desk.fhir.resources.plan import EXT_PLAN_ITEM
from odonto_desk.fhir.validate import validate

EXAMPLE = "careplan-treatment-plan.json"


def test_example_maps_in_and_out_without_loss(load_example):
    ex = load_example(EXAMPLE)
    plan = from_fhir(ex, expect=TreatmentPlan)
    assert to_fhir(plan, base=ex) == ex
    fresh = to_fhir(plan)
    validate(fresh)
    assert from_fhir(fresh) == plan


def test_example_reads_phases_priorities_and_teeth(load_example):
    plan = from_fhir(load_example(EXAMPLE))
    assert (plan.care_plan_id, plan.status, plan.patient, plan.author) == (
        "CP-001", PlanStatus.ACTIVE, "odonto-patient-1", "odonto-dds-1")
    assert plan.created == dt.datetime(2025, 3, 3, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=-6)))
    (p1, p2) = plan.phases
    (restore,), (prophy,) = p1.items, p2.items
    assert (p1.number, restore.code, restore.tooth.universal, restore.surface_string) == (1, "D2392", "30", "MO")
    assert (restore.priority, restore.status) == (Priority.URGENT, ItemStatus.SCHEDULED)
    assert (p2.number, prophy.code, prophy.tooth, prophy.priority, prophy.status) == (
        2, "D1110", None, Priority.ROUTINE, ItemStatus.NOT_STARTED)


def _plan() -> TreatmentPlan:
    return TreatmentPlan(
        id="tp-9", patient="p-1", care_plan_id="CP-042", title="Restore 3 and 30", status="draft",
        created=dt.datetime(2025, 5, 1, 9, 0, tzinfo=dt.UTC), author="dr-1",
        phases=[
            Phase(number=1, title="Urgent", items=[
                PlanItem(id="l1", code="D2392", tooth="30", surfaces="MO", fee="185.50", priority="urgent",
                         service_request="sr-30"),
            ]),
            Phase(number=2, title="Restorative", items=[
                PlanItem(id="l2", code="D2393", tooth="3", surfaces="MOD", fee="210", alternate_group="3"),
                PlanItem(id="l3", code="D2740", tooth="3", fee="1100", alternate_group="3", accepted=True),
            ]),
            Phase(number=3, title="Recall"),
        ])


def test_phases_alternatives_fees_and_references_travel():
    plan = _plan()
    res = to_fhir(plan)
    validate(res)
    assert from_fhir(res) == plan
    assert res["identifier"] == [{"system": codes.CARE_PLAN_ID_SYSTEM, "value": "CP-042"}]
    first, second, third = res["activity"]
    # A line standing for a planned chart mark is a reference only (R4 cpl-3), its tooth beside it.
    assert first["reference"] == {"reference": "ServiceRequest/sr-30"} and "detail" not in first
    assert [e["valueCoding"]["code"] for e in first["extension"] if e["url"] == codes.EXT_TOOTH_NUMBER] == ["30"]
    assert second["detail"]["code"]["coding"] == [{"system": codes.CDT, "code": "D2393"}]
    assert second["detail"]["description"] == "Phase 2: Restorative (priority: routine)"
    subs = {s["url"]: s for s in third["extension"][0]["extension"]}
    assert third["extension"][0]["url"] == EXT_PLAN_ITEM
    assert subs["fee"]["valueMoney"] == {"value": 1100.0, "currency": "USD"}
    assert subs["accepted"]["valueBoolean"] is True and subs["alternateGroup"]["valueString"] == "3"
    back = from_fhir(res)
    assert back.phases[2].items == () and back.phases[2].title == "Recall"  # the empty phase survives
    assert back.total == Decimal("1285.50")


def test_a_change_lands_and_unmodelled_elements_survive(load_example):
    ex = load_example(EXAMPLE)
    plan = from_fhir(ex)
    item = plan.phases[1].items[0].model_copy(update={"fee": Decimal("95.00")})
    changed = TreatmentPlan(**{**plan.model_dump(), "status": "completed",
                               "phases": [plan.phases[0], Phase(number=2, items=[item])]})
    out = to_fhir(changed, base=ex)
    validate(out)
    assert from_fhir(out) == changed
    assert out["status"] == "completed" and out["note"] == ex["note"] and out["addresses"] == ex["addresses"]
    assert out["period"] == ex["period"] and "text" not in out


def test_wrong_resources_are_refused_with_a_path(load_example):
    with pytest.raises(FhirMappingError) as e:
        from_fhir(load_example("patient.json"), expect=TreatmentPlan)
    assert e.value.path == "resourceType"
    ex = load_example(EXAMPLE)
    bad = copy.deepcopy(ex)
    bad["activity"][0]["detail"]["extension"][0]["valueCoding"]["code"] = "33"
    with pytest.raises(FhirMappingError) as e:
        from_fhir(bad)
    assert e.value.path == "CarePlan.activity[0].detail.extension[0]"
    bad = copy.deepcopy(ex)
    bad["activity"][0]["detail"]["extension"].pop()  # D2392 with one surface
    with pytest.raises(FhirMappingError) as e:
        from_fhir(bad)
    assert e.value.path == "CarePlan.activity[0].detail.extension"
    bad = copy.deepcopy(ex)
    bad["activity"][1]["detail"]["code"]["coding"] = [{"system": "http://example.org", "code": "x"}]
    with pytest.raises(FhirMappingError) as e:
        from_fhir(bad)
    assert e.value.path == "CarePlan.activity[1].detail.code"
    bad = copy.deepcopy(ex)
    bad["status"] = "on-hold"
    with pytest.raises(FhirMappingError) as e:
        from_fhir(bad)
    assert e.value.path == "CarePlan.status"


def test_two_accepted_alternatives_on_the_wire_are_refused():
    res = to_fhir(_plan())
    res["activity"][1]["extension"][0]["extension"].append({"url": "accepted", "valueBoolean": True})
    with pytest.raises(FhirMappingError) as e:
        from_fhir(res)
    assert e.value.path == "CarePlan.activity" and "both accepted" in e.value.message


def test_fee_in_another_currency_is_refused():
    res = to_fhir(_plan())
    fee = next(s for s in res["activity"][0]["extension"][0]["extension"] if s["url"] == "fee")
    fee["valueMoney"]["currency"] = "EUR"
    with pytest.raises(FhirMappingError) as e:
        from_fhir(res)
    assert e.value.path == "CarePlan.activity[0].extension[0].extension[2].valueMoney.currency"


# --- property: any valid plan round-trips ------------------------------------------------------------

_LINES = st.one_of(
    st.tuples(st.just("D2392"), st.sampled_from(["3", "14", "19", "30", "A", "K"]), st.sampled_from(["MO", "DO", "OB"])),
    st.tuples(st.just("D2331"), st.sampled_from(["7", "8", "24", "E"]), st.sampled_from(["MF", "DL", "IL"])),
    st.tuples(st.sampled_from(["D2740", "D7140", "D3310"]), st.sampled_from(["8", "9"]), st.just("")),
    st.tuples(st.sampled_from(["D0150", "D1110", "D0274"]), st.none(), st.just("")),
)
_ITEM = st.tuples(_LINES, st.none() | st.decimals(min_value=0, max_value=5000, places=2),
                  st.sampled_from(list(Priority)), st.sampled_from(list(ItemStatus)),
                  st.sampled_from([None, "a", "b"]), st.booleans(), st.booleans())


@given(st.lists(st.tuples(st.integers(1, 3), st.sampled_from(["", "Urgent", "Phase two"]),
                          st.lists(_ITEM, max_size=4)), max_size=3, unique_by=lambda p: p[0]),
       st.sampled_from(list(PlanStatus)), st.none() | st.integers(1, 999))
def test_any_plan_round_trips_and_validates(phases, status, cp):
    accepted_groups: set[str] = set()
    built, n = [], 0
    for number, title, items in sorted(phases):
        lines = []
        for (code, tooth, surfaces), fee, prio, istatus, group, accept, ref in items:
            n += 1
            accepted = accept and group is not None and group not in accepted_groups
            if accepted:
                accepted_groups.add(group)
            lines.append(PlanItem(id=f"l{n}", code=code, tooth=tooth, surfaces=surfaces, fee=fee, priority=prio,
                                  status=istatus, alternate_group=group, accepted=accepted,
                                  service_request=f"sr-{n}" if ref else None))
        built.append(Phase(number=number, title=title, items=lines))
    plan = TreatmentPlan(id="tp", patient="p", title="Plan", status=status, phases=built,
                         care_plan_id=f"CP-{cp:03d}" if cp else None)
    res = to_fhir(plan)
    validate(res)
    assert from_fhir(res) == plan
    assert to_fhir(plan, base=res) == res
