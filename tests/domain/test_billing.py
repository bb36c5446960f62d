from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odonto_desk.domain.billing import (
    ChargeItem,
    Claim,
    ClaimItem,
    ClaimResponse,
    Coverage,
    ItemAdjudication,
    to_amount,
)
from odonto_desk.domain.errors import DomainError, InvalidCode, InvalidSurface, InvalidTooth
from odonto_desk.domain.surfaces import CLAIM_SURFACES, Surface
from odonto_desk.domain.teeth import ALL_TEETH

CREATED = dt.datetime(2025, 3, 14, 17, 0, tzinfo=dt.timezone(dt.timedelta(hours=-6)))


def claim(**kw):
    base = dict(patient="p-1", coverage="cov-1", billing_org="org-1", created=CREATED,
                items=[dict(sequence=1, code="D2392", tooth="30", surfaces="MO", fee="210")])
    return Claim(**{**base, **kw})


@pytest.mark.parametrize(("raw", "expected"), [
    (210, "210.00"), ("65.5", "65.50"), (210.0, "210.00"), (Decimal("0.01"), "0.01"), (" 12.30 ", "12.30"),
])
def test_amounts_are_two_place_decimals(raw, expected):
    assert to_amount(raw) == Decimal(expected)
    assert str(to_amount(raw)) == expected


@pytest.mark.parametrize(("raw", "needle"), [
    (-1, "negative"), ("1.005", "two decimal places"), ("abc", "not an amount"), ("NaN", "not an amount"),
    (True, "not an amount"), (float("inf"), "not an amount"),
])
def test_bad_amounts_are_refused(raw, needle):
    with pytest.raises(DomainError, match=needle):
        to_amount(raw)


def test_total_is_the_sum_of_line_nets_and_lines_are_ordered():
    c = claim(items=[dict(sequence=2, code="D0272", fee=65), dict(sequence=1, code="D1351", tooth="3", fee="40.25",
                                                                  quantity=2),
                     dict(sequence=3, code="D2392", tooth="30", surfaces="MO", fee="210.00")])
    assert [i.sequence for i in c.items] == [1, 2, 3]
    assert c.items[0].net == Decimal("80.50")
    assert c.total == Decimal("355.50")


def test_claim_lines_carry_v_as_the_facial_letter():
    anterior = ClaimItem(sequence=1, code="D2330", tooth="8", surfaces="V", fee=100)
    posterior = ClaimItem(sequence=1, code="D2391", tooth="30", surfaces="V", fee=100)
    assert anterior.surfaces == {Surface.F}
    assert posterior.surfaces == {Surface.B}
    # B/F given loosely are folded too, and V plus the facial letter is one surface on a claim.
    assert ClaimItem(sequence=1, code="D2330", tooth="8", surfaces="BV", fee=1).surfaces == {Surface.F}


def test_charge_keeps_v_for_the_chart():
    charge = ChargeItem(patient="p", code="D2330", tooth="8", surfaces="V", fee=90, date=dt.date(2025, 3, 3))
    assert charge.surfaces == {Surface.V}


@pytest.mark.parametrize(("item", "error", "field", "needle"), [
    (dict(code="D23"), InvalidCode, "items[0].code", "not a CDT code"),
    (dict(tooth="8", surfaces="O", code="D2330"), InvalidSurface, "items[0].surfaces", "occlusal"),
    (dict(fee=-1), DomainError, "items[0].fee", "negative"),
    (dict(fee="10.001"), DomainError, "items[0].fee", "two decimal places"),
    (dict(surfaces="MOD"), InvalidCode, "items[0].surfaces", "D2393"),
    (dict(tooth="8", surfaces="MI"), InvalidCode, "items[0].code", "posterior"),
    (dict(tooth="33"), InvalidTooth, "items[0].tooth", "not a Universal tooth"),
    (dict(tooth=None), InvalidSurface, "items[0].surfaces", "need a tooth"),
    (dict(quantity=0), DomainError, "items[0].quantity", "greater than or equal to 1"),
    (dict(code="D0272", tooth="30", surfaces=""), InvalidCode, "items[0].tooth", "not on a single tooth"),
])
def test_bad_claim_lines_name_the_field(item, error, field, needle):
    line = {**dict(sequence=1, code="D2392", tooth="30", surfaces="MO", fee=210), **item}
    with pytest.raises(error, match=needle) as info:
        claim(items=[line])
    assert info.value.field == field


@pytest.mark.parametrize(("kw", "field", "needle"), [
    (dict(items=[]), "items", "at least one line"),
    (dict(items=[dict(sequence=1, code="D0272", fee=1), dict(sequence=1, code="D0210", fee=1)]), "items", "twice"),
    (dict(created=dt.datetime(2025, 3, 14, 17)), "created", "time zone"),
    (dict(currency="US"), "currency", "ISO 4217"),
    (dict(diagnoses=["tooth ache"]), "diagnoses", "ICD-10"),
    (dict(use="bill"), "use", "claim"),
])
def test_bad_claims_name_the_field(kw, field, needle):
    with pytest.raises(DomainError, match=needle) as info:
        claim(**kw)
    assert info.value.field == field


def test_currency_and_diagnoses_are_normalized():
    c = claim(currency="eur", diagnoses=["k02.52"])
    assert (c.currency, c.diagnoses) == ("EUR", ("K02.52",))


@pytest.mark.parametrize(("kw", "field"), [
    (dict(code="D2392", tooth="8", surfaces="MI"), "code"),
    (dict(code="D2392", surfaces="MO", tooth=None), "surfaces"),
    (dict(fee="-0.01"), "fee"),
    (dict(code="D7140", tooth="3", surfaces="O"), "surfaces"),
])
def test_bad_charges_name_the_field(kw, field):
    base = dict(patient="p", code="D2392", tooth="30", surfaces="MO", fee=210, date=dt.date(2025, 3, 3))
    with pytest.raises(DomainError) as info:
        ChargeItem(**{**base, **kw})
    assert info.value.field == field


def test_coverage_period():
    cov = Coverage(patient="p", payer="payer", subscriber_id=" M-1 ", start=dt.date(2025, 1, 1),
                   end=dt.date(2025, 12, 31))
    assert cov.subscriber_id == "M-1"
    assert cov.covers(dt.date(2025, 6, 1)) and not cov.covers(dt.date(2026, 1, 1))
    assert not cov.model_copy(update={"status": "cancelled"}).covers(dt.date(2025, 6, 1))
    with pytest.raises(DomainError) as info:
        Coverage(patient="p", payer="x", subscriber_id="1", start=dt.date(2025, 2, 1), end=dt.date(2025, 1, 1))
    assert info.value.field == "end"
    with pytest.raises(DomainError) as info:
        Coverage(patient="p", payer="x", subscriber_id="  ")
    assert info.value.field == "subscriber_id"


@pytest.mark.parametrize(("kw", "field"), [
    (dict(submitted=100, eligible=120), "items[0].eligible"),
    (dict(eligible=80, benefit=90), "items[0].benefit"),
    (dict(), "items[0].submitted"),
    (dict(copay=-5), "items[0].copay"),
])
def test_bad_adjudications_name_the_field(kw, field):
    with pytest.raises(DomainError) as info:
        ClaimResponse(claim="c", patient="p", insurer="i", created=CREATED, outcome="complete",
                      items=[dict(item_sequence=1, **kw)])
    assert info.value.field == field


def test_response_totals_sum_each_category():
    cr = ClaimResponse(claim="c", patient="p", insurer="i", created=CREATED, outcome="complete",
                       items=[ItemAdjudication(item_sequence=2, submitted=65, eligible=60, benefit=60),
                              ItemAdjudication(item_sequence=1, submitted=210, eligible=180, benefit=144, copay=36)])
    assert [i.item_sequence for i in cr.items] == [1, 2]
    assert cr.totals() == {"submitted": Decimal("275.00"), "eligible": Decimal("240.00"),
                           "benefit": Decimal("204.00"), "copay": Decimal("36.00")}


def test_models_are_frozen():
    c = claim()
    with pytest.raises(ValueError):
        c.patient = "someone else"  # type: ignore[misc]


CODES = ["D2391", "D2392", "D2393", "D2394", "D2330", "D2331", "D2140", "D2150", "D2740", "D7140", "D0272", "D1351"]


@given(st.sampled_from(ALL_TEETH) | st.none(), st.sets(st.sampled_from(list("MODBFLVI")), max_size=5),
       st.sampled_from(CODES), st.decimals(min_value=0, max_value=10000, places=2), st.integers(1, 4))
def test_any_line_that_builds_is_claimable(tooth, letters, code, fee, quantity):
    try:
        line = ClaimItem(sequence=1, code=code, tooth=tooth, surfaces="".join(letters), fee=fee, quantity=quantity)
    except DomainError as exc:
        assert exc.field and exc.field in ("code", "tooth", "surfaces")
        return
    assert line.surfaces <= CLAIM_SURFACES  # V never reaches a claim
    assert line.net == fee * quantity
    c = claim(items=[line])
    assert c.total == line.net
