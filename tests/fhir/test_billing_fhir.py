from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odonto_desk.domain.billing import ChargeItem, Claim, ClaimItem, ClaimResponse, Coverage
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.surfaces import Surface, surfaces_of
from odonto_desk.domain.teeth import ALL_TEETH
from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import from_fhir, to_fhir
from odonto_desk.fhir.validate import validate

CREATED = dt.datetime(2025, 3, 14, 17, 0, tzinfo=dt.timezone(dt.timedelta(hours=-6)))

COVERAGE = Coverage(id="cov-1", patient="p-1", payer="payer-1", subscriber_id="M123456", relationship="child",
                    group="G-77", plan="Dental PPO", start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31))
BARE_COVERAGE = Coverage(patient="p-1", payer="payer-1", subscriber_id="M1")
CHARGE = ChargeItem(id="ch-1", patient="p-1", code="D2392", tooth="30", surfaces="MO", fee="210.00",
                    date=dt.date(2025, 3, 14), procedure="proc-1", provider="dr-1", encounter="enc-1")
MOUTH_CHARGE = ChargeItem(patient="p-1", code="D0272", fee=65, date=dt.date(2025, 3, 3), status="billed")
CLAIM = Claim(id="cl-1", patient="p-1", coverage="cov-1", billing_org="org-1", provider="dr-1", insurer="payer-1",
              created=CREATED, diagnoses=["K02.52"], use="predetermination", priority="stat", payee="subscriber",
              items=[ClaimItem(sequence=1, code="D2392", tooth="30", surfaces="MO", fee=210, procedure="proc-1",
                               date=dt.date(2025, 3, 14)),
                     ClaimItem(sequence=2, code="D2331", tooth="8", surfaces="MV", fee="150.50", procedure="proc-2"),
                     ClaimItem(sequence=3, code="D1351", tooth="19", fee="45", quantity=2, procedure="proc-1"),
                     ClaimItem(sequence=4, code="D0272", fee=65)])
MINIMAL_CLAIM = Claim(patient="p-1", coverage="cov-1", billing_org="org-1", created=CREATED, currency="CAD",
                      items=[ClaimItem(sequence=1, code="D0120", fee=40)])
RESPONSE = ClaimResponse(id="cr-1", claim="cl-1", patient="p-1", insurer="payer-1", created=CREATED,
                         outcome="complete", disposition="Processed", payment={"amount": "204.00",
                                                                               "date": "2025-04-01"},
                         items=[{"item_sequence": 1, "submitted": 210, "eligible": 180, "benefit": 144, "copay": 36},
                                {"item_sequence": 4, "submitted": 65, "eligible": 60, "benefit": 60}])
QUEUED = ClaimResponse(claim="cl-1", patient="p-1", insurer="payer-1", created=CREATED, outcome="queued")

OBJECTS = [COVERAGE, BARE_COVERAGE, CHARGE, MOUTH_CHARGE, CLAIM, MINIMAL_CLAIM, RESPONSE, QUEUED]


@pytest.mark.parametrize("obj", OBJECTS, ids=[f"{type(o).__name__}-{i}" for i, o in enumerate(OBJECTS)])  # no random ids
def test_domain_to_fhir_to_domain(obj):
    res = to_fhir(obj)
    assert res["resourceType"] == type(obj).__name__
    validate(res)
    assert from_fhir(res, expect=type(obj)) == obj
    assert to_fhir(obj, base=res) == res


def test_claim_example_maps_in_and_out_without_loss(load_example):
    ex = load_example("claim-oral-2-items.json")
    claim = from_fhir(ex, expect=Claim)
    assert to_fhir(claim, base=ex) == ex
    fresh = to_fhir(claim)
    validate(fresh)
    assert from_fhir(fresh) == claim


def test_claim_example_reads_its_lines(load_example):
    c = from_fhir(load_example("claim-oral-2-items.json"))
    assert (c.patient, c.coverage, c.billing_org, c.provider, c.insurer) == (
        "odonto-patient-1", "odonto-coverage-1", "odonto-practice-1", "odonto-dds-1", "odonto-payer-1")
    first, second = c.items
    assert (first.code, first.tooth.universal, first.surface_string, first.fee) == ("D2392", "30", "MO",
                                                                                    Decimal("210.00"))
    assert (second.code, second.tooth, second.date) == ("D0272", None, dt.date(2025, 3, 3))
    assert c.total == Decimal("275.00") and c.currency == "USD"
    assert c.created == CREATED


def test_a_claim_edit_lands_and_supporting_info_survives(load_example):
    ex = load_example("claim-oral-2-items.json")
    c = from_fhir(ex)
    first = c.items[0].model_copy(update={"code": "D2393", "surfaces": frozenset({Surface.M, Surface.O, Surface.D})})
    changed = Claim(**{**dict(c), "items": (first, c.items[1])})
    out = to_fhir(changed, base=ex)
    validate(out)
    assert from_fhir(out) == changed
    assert out["supportingInfo"] == ex["supportingInfo"] and out["identifier"] == ex["identifier"]
    assert [s["coding"][0]["code"] for s in out["item"][0]["subSite"]] == ["M", "O", "D"]
    assert out["total"] == {"value": 275.0, "currency": "USD"}


def test_claim_lines_carry_tooth_and_surfaces_every_way():
    res = to_fhir(CLAIM)
    assert res["type"]["coding"][0]["code"] == "oral"
    incisor = res["item"][1]
    assert incisor["bodySite"] == {"coding": [{"system": codes.ADA_UNIVERSAL, "code": "8",
                                               "display": "Permanent maxillary right central incisor tooth"}]}
    # Class V goes out as the facial letter: M and F, one subSite each, and one extension each.
    assert [s["coding"][0]["code"] for s in incisor["subSite"]] == ["M", "F"]
    assert all(s["coding"][0]["system"] == codes.ADA_SURFACE for s in incisor["subSite"])
    ext = [(e["url"], e["valueCoding"]["code"]) for e in incisor["extension"]]
    assert ext == [(codes.EXT_TOOTH_NUMBER, "8"), (codes.EXT_TOOTH_SURFACE, "M"), (codes.EXT_TOOTH_SURFACE, "F")]
    sealant = res["item"][2]
    assert sealant["quantity"] == {"value": 2} and sealant["net"] == {"value": 90.0, "currency": "USD"}
    assert "subSite" not in sealant and sealant["extension"][0]["valueCoding"]["code"] == "19"
    assert "extension" not in res["item"][3] and "bodySite" not in res["item"][3]
    # Both lines billing proc-1 point at the same Claim.procedure entry.
    assert res["procedure"] == [{"sequence": 1, "procedureReference": {"reference": "Procedure/proc-1"}},
                                {"sequence": 2, "procedureReference": {"reference": "Procedure/proc-2"}}]
    assert [i.get("procedureSequence") for i in res["item"]] == [[1], [2], [1], None]
    assert res["total"] == {"value": 515.5, "currency": "USD"}
    assert res["careTeam"][0]["provider"] == {"reference": "Practitioner/dr-1"}


def test_charge_carries_the_tooth_on_bodysite_and_extensions():
    res = to_fhir(CHARGE)
    assert res["bodysite"][0]["coding"][0] == {"system": codes.ADA_UNIVERSAL, "code": "30",
                                               "display": "Permanent mandibular right first molar tooth"}
    urls = [(e["url"], e.get("valueCoding", {}).get("code")) for e in res["extension"]]
    assert urls[1:] == [(codes.EXT_TOOTH_NUMBER, "30"), (codes.EXT_TOOTH_SURFACE, "M"),
                        (codes.EXT_TOOTH_SURFACE, "O")]
    assert res["priceOverride"] == {"value": 210.0, "currency": "USD"}
    assert res["service"] == [{"reference": "Procedure/proc-1"}]
    # A whole-tooth charge read from bodysite alone (no extensions), as another system may send it.
    crown = to_fhir(CHARGE.model_copy(update={"code": "D2740", "surfaces": frozenset()}))
    bare = {k: v for k, v in crown.items() if k not in ("extension", "contained")}
    read = from_fhir(bare)
    assert (read.tooth.universal, read.surfaces, read.code) == ("30", frozenset(), "D2740")


def test_response_adjudication_and_totals():
    res = to_fhir(RESPONSE)
    first = res["item"][0]["adjudication"]
    assert [(a["category"]["coding"][0]["system"], a["category"]["coding"][0]["code"]) for a in first] == [
        (codes.ADJUDICATION, "submitted"), (codes.ADJUDICATION, "eligible"), (codes.ADJUDICATION, "benefit"),
        (codes.ADJUDICATION, "copay")]
    totals = {t["category"]["coding"][0]["code"]: t["amount"]["value"] for t in res["total"]}
    assert totals == {"submitted": 275.0, "eligible": 240.0, "benefit": 204.0, "copay": 36.0}
    assert res["payment"]["amount"] == {"value": 204.0, "currency": "USD"}
    assert res["request"] == {"reference": "Claim/cl-1"}


def test_coverage_codes():
    res = to_fhir(COVERAGE)
    assert res["type"]["coding"][0]["code"] == "DENTAL"
    assert [(c["type"]["coding"][0]["code"], c["value"]) for c in res["class"]] == [("group", "G-77"),
                                                                                     ("plan", "Dental PPO")]
    assert res["payor"] == [{"reference": "Organization/payer-1"}]


# --- reading errors -------------------------------------------------------------------------------


def _example_claim(load_example):
    return copy.deepcopy(load_example("claim-oral-2-items.json"))


def _surfaces_only_in_subsite(r, extra):
    """Line 1 as another system may send it: surfaces only in subSite, one more added."""
    line = r["item"][0]
    line["extension"] = line["extension"][:1]
    line["subSite"].append({"coding": [{"system": codes.ADA_SURFACE, "code": extra}]})


@pytest.mark.parametrize(("mutate", "path", "needle"), [
    (lambda r: r["total"].update(value=300.0), "Claim.total", "sum of the lines"),
    (lambda r: r["item"][1]["net"].update(currency="EUR"), "Claim.item[1].net.currency", "one currency"),
    (lambda r: r["item"][1]["productOrService"]["coding"][0].update(code="D23"),
     "Claim.item[1].productOrService", "not a CDT code"),
    (lambda r: r["item"][1].pop("productOrService"), "Claim.item[1].productOrService", "CDT code"),
    (lambda r: r["item"][0]["unitPrice"].update(value=-210.0), "Claim.item[0].unitPrice.value", "negative"),
    (lambda r: r["item"][0]["net"].update(value=200.0), "Claim.item[0].net", "unit price"),
    (lambda r: r["item"][0]["extension"][2]["valueCoding"].update(code="I"), "Claim.item[0].extension[2]",
     "incisal"),
    (lambda r: _surfaces_only_in_subsite(r, "D"), "Claim.item[0].subSite", "D2393"),
    (lambda r: r["type"]["coding"][0].update(code="professional"), "Claim.type", "oral"),
    (lambda r: r.update(provider={"reference": "Practitioner/odonto-dds-1"}), "Claim.provider", "Organization"),
    (lambda r: r.pop("insurance"), "Claim.insurance", "coverage"),
    (lambda r: r.update(created="last week"), "Claim.created", "date and time"),
    (lambda r: r.update(item=[]), "Claim.item", "at least one line"),
])
def test_bad_claims_raise_with_a_path(mutate, path, needle, load_example):
    ex = _example_claim(load_example)
    mutate(ex)
    with pytest.raises(FhirMappingError, match=needle) as info:
        from_fhir(ex)
    assert info.value.path == path


def test_surface_on_the_wrong_tooth_in_subsite_is_refused(load_example):
    ex = _example_claim(load_example)
    line = ex["item"][0]
    line["extension"] = line["extension"][:1]
    line["subSite"][1]["coding"][0]["code"] = "I"
    with pytest.raises(FhirMappingError, match="incisal") as info:
        from_fhir(ex)
    assert info.value.path == "Claim.item[0].subSite[1]"


def test_wrong_resource_type_is_refused(load_example):
    with pytest.raises(FhirMappingError, match="expected a resource for Claim") as info:
        from_fhir(load_example("patient.json"), expect=Claim)
    assert info.value.path == "resourceType"
    with pytest.raises(FhirMappingError) as info:
        from_fhir(to_fhir(RESPONSE), expect=Claim)
    assert info.value.path == "resourceType"


@pytest.mark.parametrize(("mutate", "path"), [
    (lambda r: r.pop("request"), "ClaimResponse.request"),
    (lambda r: r.update(outcome="done"), "ClaimResponse.outcome"),
    (lambda r: r["item"][0]["adjudication"][1]["amount"].update(value=500.0), "ClaimResponse.item[0].adjudication"),
    (lambda r: r["payment"]["amount"].update(currency="CAD"), "ClaimResponse.payment.amount.currency"),
])
def test_bad_responses_raise_with_a_path(mutate, path):
    res = to_fhir(RESPONSE)
    mutate(res)
    with pytest.raises(FhirMappingError) as info:
        from_fhir(res)
    assert info.value.path == path


@pytest.mark.parametrize(("mutate", "path"), [
    (lambda r: r.update(code={"coding": [{"system": codes.CDT, "code": "D2391"}]}), "ChargeItem.extension"),
    (lambda r: r.pop("priceOverride"), "ChargeItem.priceOverride"),
    (lambda r: r.update(status="paid"), "ChargeItem.status"),
    (lambda r: r.update(subject={"reference": "Group/1"}), "ChargeItem.subject"),
])
def test_bad_charges_raise_with_a_path(mutate, path):
    res = to_fhir(CHARGE)
    mutate(res)
    with pytest.raises(FhirMappingError) as info:
        from_fhir(res)
    assert info.value.path == path


# --- any claim the CDT rules accept travels ---------------------------------------------------------

CODES = ["D2391", "D2392", "D2393", "D2394", "D2330", "D2331", "D2332", "D2335", "D2140", "D2150", "D2160",
         "D2740", "D3330", "D7140", "D1351", "D0272", "D0120"]


@st.composite
def claim_lines(draw):
    """Up to four lines with random teeth and surfaces; the ones the CDT rules refuse are dropped.

    Letters are drawn from the tooth's own surfaces plus O and I (one of which it lacks), so that
    enough lines pass the rules for the round trip to be exercised and some fail them.
    """
    lines: list[ClaimItem] = []
    for _ in range(12):
        tooth = draw(st.sampled_from(ALL_TEETH) | st.none())
        pool = [s.value for s in surfaces_of(tooth)] + ["O", "I", "B", "F"] if tooth else ["M"]
        letters = draw(st.sets(st.sampled_from(pool), max_size=4))
        try:
            lines.append(ClaimItem(sequence=len(lines) + 1, code=draw(st.sampled_from(CODES)), tooth=tooth,
                                   surfaces="".join(letters), fee=draw(st.decimals(0, 5000, places=2)),
                                   quantity=draw(st.integers(1, 3)),
                                   procedure=draw(st.sampled_from([None, "proc-a", "proc-b"]))))
        except DomainError:
            continue
        if len(lines) == 4:
            break
    return lines


@given(claim_lines(), st.booleans())
def test_any_valid_claim_round_trips_and_validates(lines, with_provider):
    if not lines:
        return
    claim = Claim(patient="p-1", coverage="cov-1", billing_org="org-1", created=CREATED, items=lines,
                  provider="dr-1" if with_provider else None)
    res = to_fhir(claim)
    validate(res)
    assert from_fhir(res) == claim
    for line, item in zip(claim.items, res["item"], strict=True):
        codes_out = [s["coding"][0]["code"] for s in item.get("subSite", [])]
        assert codes_out == [s for s in "MOIDBFL" if Surface(s) in line.surfaces]
        tooth_ext = [e["valueCoding"]["code"] for e in item.get("extension", []) if e["url"] == codes.EXT_TOOTH_NUMBER]
        assert tooth_ext == ([line.tooth.universal] if line.tooth else [])
