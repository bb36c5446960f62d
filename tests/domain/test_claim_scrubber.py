"""The claim scrubber and the posting check: one test per rule, pure (no Qt, no server)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from odonto_desk.domain.billing import (
    ChargeItem,
    ChargeStatus,
    ClaimLine,
    Coverage,
    FinancialStatus,
    PostingInput,
    check_posting,
    scrub_claim,
)
from odonto_desk.domain.cdt import demo_catalog
from odonto_desk.domain.surfaces import Surface
from odonto_desk.domain.teeth import NumberingSystem, Tooth

TODAY = dt.date(2026, 11, 25)
CATALOG = demo_catalog()
COVERAGE = Coverage(id="cov", patient="p", payer="payer", subscriber_id="M-1", start=dt.date(2024, 1, 1))


def line(code="D2392", tooth: str | None = "30", surfaces="MO", fee="210.00", date=TODAY - dt.timedelta(days=3),
         billed=False, charge="c-1") -> ClaimLine:
    t = Tooth(tooth) if tooth else None
    return ClaimLine(charge, code, t, frozenset(Surface(s) for s in surfaces), Decimal(fee), date, None, billed)


def rules(lines, coverage=COVERAGE) -> list[tuple[str, int | None]]:
    return [(i.rule, i.line) for i in scrub_claim(lines, coverage, CATALOG, today=TODAY)]


def test_a_clean_claim_has_no_issues():
    assert rules([line(), line("D1110", None, "", "105.00"), line("D2140", "3", "O", "128.00")]) == []


def test_a_claim_needs_lines_and_coverage():
    assert rules([], None) == [("no-lines", None), ("no-coverage", None)]


def test_coverage_that_is_not_active_is_reported_once_for_the_claim():
    cancelled = COVERAGE.model_copy(update={"status": FinancialStatus.CANCELLED})
    assert rules([line()], cancelled) == [("coverage", None)]


@pytest.mark.parametrize("day", [dt.date(2023, 12, 31), dt.date(2026, 3, 1)])
def test_a_date_of_service_outside_the_coverage_period(day):
    ended = COVERAGE.model_copy(update={"end": dt.date(2025, 12, 31)})
    assert rules([line(date=day)], ended) == [("coverage", 1)]


@pytest.mark.parametrize("fee", ["0.00", "-5.00"])
def test_a_zero_or_negative_fee(fee):
    assert rules([line(fee=fee)]) == [("fee", 1)]


def test_a_missing_or_future_date_of_service():
    assert rules([line(date=None), line(date=TODAY + dt.timedelta(days=1), charge="c-2")]) == [("date", 1), ("date", 2)]


def test_today_is_not_the_future():
    assert rules([line(date=TODAY)]) == []


def test_a_tooth_code_without_its_tooth():
    [issue] = scrub_claim([line(tooth=None, surfaces="")], COVERAGE, CATALOG, today=TODAY)
    assert (issue.rule, issue.line) == ("tooth", 1) and "needs a tooth" in issue.message


def test_missing_and_extra_surfaces_name_the_code_that_fits():
    missing, extra = scrub_claim([line(surfaces=""), line(surfaces="MOD", charge="c-2")], COVERAGE, CATALOG,
                                 today=TODAY)
    assert (missing.rule, extra.rule) == ("surfaces", "surfaces")
    assert "got 0" in missing.message and "use D2393" in extra.message


def test_surfaces_on_a_whole_mouth_code():
    [issue] = scrub_claim([line("D1110", None, "", "105.00"), line("D0120", "3", "", "62.00")], COVERAGE, CATALOG,
                          today=TODAY)
    assert (issue.rule, issue.line) == ("tooth", 2) and "not on a single tooth" in issue.message


def test_class_v_that_merges_with_the_facial_surface_is_caught():
    [issue] = scrub_claim([line(tooth="28", surfaces="BV")], COVERAGE, CATALOG, today=TODAY)
    assert issue.rule == "class-v" and "V is sent as B" in issue.message and "leaves B" in issue.message


def test_class_v_alone_is_converted_without_complaint_and_sent_as_the_facial_letter():
    v_anterior = line("D2330", "8", "V", "148.00")
    assert rules([v_anterior]) == []
    assert v_anterior.item(1).surfaces == frozenset({Surface.F})


def test_duplicate_lines_point_at_the_first():
    first, again, other_day = line(), line(charge="c-2"), line(charge="c-3", date=TODAY - dt.timedelta(days=9))
    issues = scrub_claim([first, again, other_day], COVERAGE, CATALOG, today=TODAY)
    assert [(i.rule, i.line) for i in issues] == [("duplicate", 2)] and "repeats line 1" in issues[0].message


def test_v_and_b_are_the_same_line_on_a_claim():
    issues = rules([line(tooth="28", surfaces="MB"), line(tooth="28", surfaces="MV", charge="c-2")])
    assert issues == [("duplicate", 2)]


def test_a_charge_already_billed():
    assert rules([line(billed=True)]) == [("billed", 1)]


def test_claim_line_of_a_charge_keeps_what_was_charted():
    charge = ChargeItem(id="c-9", patient="p", code="D2392", tooth="28", surfaces="MV", fee="210", date=TODAY,
                        procedure="proc-9", status=ChargeStatus.BILLED)
    cl = ClaimLine.of(charge)
    assert cl.surfaces == frozenset({Surface.M, Surface.V}) and cl.billed and cl.procedure == "proc-9"
    assert cl.item(3).surfaces == frozenset({Surface.M, Surface.B}) and cl.item(3).sequence == 3


# --- the posting check ---------------------------------------------------------------------------


def check(**typed) -> dict[str, str]:
    base = dict(code="D2392", tooth="30", surfaces="MO", fee="210.00", date=TODAY, provider="dr-okafor")
    return check_posting(PostingInput(**{**base, **typed}), CATALOG, today=TODAY).problems


def test_a_good_posting_gives_its_values():
    result = check_posting(PostingInput("d2392", "30", "om", "$1,210", TODAY, "dr"), CATALOG, today=TODAY)
    assert result.ok and result.code == "D2392" and result.fee == Decimal("1210.00")
    assert result.surfaces == frozenset({Surface.M, Surface.O})


def test_every_bad_field_is_reported_at_once():
    problems = check(code="D2392", tooth="33", fee="abc", date=TODAY + dt.timedelta(days=1), provider=None)
    assert set(problems) == {"tooth", "fee", "date", "provider"}
    assert "not a Universal tooth" in problems["tooth"] and "in the future" in problems["date"]


@pytest.mark.parametrize(("typed", "field", "words"), [
    (dict(tooth="3", surfaces="MI"), "surfaces", "no incisal edge"),
    (dict(fee="-1"), "fee", "cannot be negative"),
    (dict(fee=""), "fee", "required"),
    (dict(fee="0"), "fee", "more than 0.00"),
    (dict(code="D9999"), "code", "not in the practice's code list"),
    (dict(tooth="", surfaces="MO"), "tooth", "give the tooth"),
    (dict(surfaces=""), "surfaces", "needs exactly 2 surfaces"),
    (dict(surfaces="MM"), "surfaces", "given twice"),
    (dict(code="D0120", surfaces=""), "tooth", "not on a single tooth"),
    (dict(date=None), "date", "required"),
])
def test_each_bad_field(typed, field, words):
    problems = check(**typed)
    assert list(problems) == [field] and words in problems[field]


def test_the_tooth_is_read_in_the_users_numbering():
    fdi = check_posting(PostingInput("D2392", "46", "MO", "210", TODAY, "dr"), CATALOG, today=TODAY,
                        numbering=NumberingSystem.FDI)
    assert fdi.ok and fdi.tooth == Tooth("30")
