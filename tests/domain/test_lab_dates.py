"""Due dates from a lab's turnaround, the seat-appointment guard, and the small-file rule for attachments."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.lab import (
    MAX_ATTACHMENT_BYTES,
    Lab,
    LabAttachment,
    LabCalendar,
    LabOrder,
    LabStatus,
    add_working_days,
    check_seat,
    due_date,
    is_working_day,
    us_lab_closures,
)

CLOSED_2026 = us_lab_closures(2026)


def test_a_plain_week_counts_working_days_only():
    # Monday 2026-11-02 + 5 working days: Tue … Fri, then the weekend is skipped to Monday.
    assert due_date(dt.date(2026, 11, 2), 5) == dt.date(2026, 11, 9)


def test_a_case_sent_on_a_friday_starts_counting_on_monday():
    assert due_date(dt.date(2026, 11, 6), 1) == dt.date(2026, 11, 9)


def test_a_case_sent_on_a_saturday_is_due_as_if_sent_on_friday():
    assert due_date(dt.date(2026, 11, 7), 3) == due_date(dt.date(2026, 11, 6), 3) == dt.date(2026, 11, 11)


def test_the_thanksgiving_weekend_adds_two_closed_days_and_a_weekend():
    # Sent Wed 25 Nov 2026: Thanksgiving (Thu 26) and the Friday after are closed, then the weekend.
    assert dt.date(2026, 11, 26) in CLOSED_2026 and dt.date(2026, 11, 27) in CLOSED_2026
    assert due_date(dt.date(2026, 11, 25), 3, CLOSED_2026) == dt.date(2026, 12, 2)
    assert due_date(dt.date(2026, 11, 25), 3) == dt.date(2026, 11, 30)  # without the holidays: Mon 30


def test_a_fixed_holiday_on_a_weekend_is_observed_on_a_weekday():
    # 4 July 2026 is a Saturday (observed Fri 3 July); Christmas 2027 is a Saturday (observed Fri 24 Dec).
    assert dt.date(2026, 7, 3) in CLOSED_2026 and dt.date(2026, 7, 4) not in CLOSED_2026
    assert dt.date(2027, 12, 24) in us_lab_closures(2027)
    # New Year's Day 2028 is a Saturday: observed on Friday 31 Dec 2027, i.e. in the year before.
    assert dt.date(2027, 12, 31) in us_lab_closures(2028)


def test_floating_holidays_fall_on_the_right_weekday():
    assert {dt.date(2026, 5, 25), dt.date(2026, 9, 7), dt.date(2026, 11, 26)} <= CLOSED_2026
    assert dt.date(2027, 11, 25) in us_lab_closures(2027)  # fourth Thursday of November 2027


@given(st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2030, 12, 31)), st.integers(1, 30))
def test_the_due_date_is_a_working_day_with_exactly_n_working_days_after_sending(sent, n):
    holidays = us_lab_closures(sent.year) | us_lab_closures(sent.year + 1)
    due = due_date(sent, n, holidays)
    assert is_working_day(due, holidays)
    between = [sent + dt.timedelta(days=d) for d in range(1, (due - sent).days + 1)]
    assert sum(is_working_day(d, holidays) for d in between) == n


def test_negative_working_days_are_refused():
    with pytest.raises(DomainError) as e:
        add_working_days(dt.date(2026, 11, 2), -1)
    assert e.value.field == "turnaround_days"


def _calendar(**kw) -> LabCalendar:
    labs = (Lab(id="lab-a", name="A", turnaround_days=3), Lab(id="lab-b", name="B", turnaround_days=8))
    return LabCalendar(labs=labs, holidays=CLOSED_2026, **kw)


def test_each_lab_has_its_own_due_date_and_an_unknown_lab_is_refused():
    cal = _calendar()
    assert cal.due("lab-a", dt.date(2026, 11, 25)) == dt.date(2026, 12, 2)
    assert cal.due("lab-b", dt.date(2026, 11, 25)) == dt.date(2026, 12, 9)
    with pytest.raises(DomainError) as e:
        cal.due("lab-z", dt.date(2026, 11, 25))
    assert e.value.field == "lab"


def test_a_seat_on_the_due_date_or_within_the_buffer_is_warned_about():
    cal = _calendar(seat_buffer_days=2)
    due = dt.date(2026, 12, 2)  # Wednesday
    assert cal.earliest_seat(due) == dt.date(2026, 12, 4)
    on_due = cal.seat_warning(due, due)
    assert on_due is not None and "Fri 4 Dec 2026" in on_due and "Wed 2 Dec 2026" in on_due
    assert cal.seat_warning(dt.date(2026, 12, 3), due) is not None
    assert cal.seat_warning(dt.date(2026, 12, 4), due) is None
    assert cal.seat_warning(None, due) is None


def test_the_buffer_skips_a_holiday_weekend_too():
    cal = _calendar(seat_buffer_days=1)
    assert cal.earliest_seat(dt.date(2026, 11, 25)) == dt.date(2026, 11, 30)


def test_a_seat_date_in_the_past_is_refused_naming_seat():
    today = dt.date(2026, 11, 25)
    assert check_seat(today, today) == today
    assert check_seat(None, today) is None
    with pytest.raises(DomainError) as e:
        check_seat(dt.date(2026, 11, 24), today)
    assert e.value.field == "seat" and "past" in e.value.message


def test_turnaround_must_be_at_least_a_day():
    with pytest.raises(DomainError) as e:
        Lab(id="x", name="X", turnaround_days=0)
    assert e.value.field == "turnaround_days"


def test_attachments_must_be_small_and_not_empty():
    assert LabAttachment(title="shade.jpg", data=b"x" * MAX_ATTACHMENT_BYTES).size == "1.0 MB"
    with pytest.raises(DomainError) as e:
        LabAttachment(title="scan.stl", data=b"x" * (MAX_ATTACHMENT_BYTES + 1))
    assert e.value.field == "attachments" and "scan.stl" in e.value.message and "Imaging" in e.value.message
    with pytest.raises(DomainError) as e:
        LabAttachment(title="blank.pdf", data=b"")
    assert e.value.field == "attachments"


def test_a_case_carries_at_most_three_files():
    order = LabOrder(patient="p", lab="l", kind="night guard")
    files = tuple(LabAttachment(title=f"f{i}.png", data=b"1") for i in range(4))
    assert len(order.task(attachments=files[:3]).attachments) == 3
    with pytest.raises(DomainError) as e:
        order.task(attachments=files)
    assert e.value.field == "attachments"


def test_received_then_checked_then_seated():
    order = LabOrder(patient="p", lab="l", kind="crown", teeth=["30"], status="sent")
    assert order.can_move_to("returned")  # a lab that does not report its work: straight to received
    order = order.advance("returned").advance("checked")
    assert order.status is LabStatus.CHECKED and order.task_status == "completed"
    assert LabStatus.RETURNED.label == "received"
    assert order.can_move_to("seated") and order.can_move_to("in-lab") and not order.can_move_to("returned")
