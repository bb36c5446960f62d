"""Lab and appliance orders: what is made, for which teeth, in which shade, by when, and where it is.

Rules kept here, once:

* The kind decides the teeth: a crown, veneer or inlay/onlay is made for one or more named teeth,
  a bridge spans at least two teeth of one arch; appliances (night guard, aligner, retainer,
  denture) are made for an arch and may name none.
* A shade is a VITA classical shade (A1 … D4) or a VITA 3D-Master shade (e.g. 2M2, 3L1.5);
  anything else would be guessed at by the lab, so it is refused.
* A case moves draft → sent → in-lab → returned (received at the practice) → checked (its fit,
  shade and margins looked at on the model) → seated. A lab that does not report its work goes
  sent → returned directly; a case may go back to the lab from returned or checked (a remake), and
  may be cancelled until it is seated. :meth:`LabOrder.advance` refuses any other move (sent →
  seated skips the lab's return and the try-in), naming the ``status`` field.
* The due date counts the lab's turnaround in working days (no weekends, no practice or lab
  holidays), and the seat appointment should come at least a buffer of working days after it:
  a case due back on the morning of the seat leaves no time for a remake (charting.md §5.9).
* Files travel with a case only when small (:data:`MAX_ATTACHMENT_BYTES`); large scans go through
  imaging upload, which is chunked and resumable.
"""

from __future__ import annotations

import datetime as dt
import enum
import re

from pydantic import Field, field_validator, model_validator

from odonto_desk.domain.chart import Material
from odonto_desk.domain.errors import DomainError, InvalidTooth
from odonto_desk.domain.people import DomainModel, ZonedDateTime, new_id
from odonto_desk.domain.teeth import Tooth

VITA_CLASSICAL: frozenset[str] = frozenset(
    {"A1", "A2", "A3", "A3.5", "A4", "B1", "B2", "B3", "B4", "C1", "C2", "C3", "C4", "D2", "D3", "D4"})
_VITA_3D_RE = re.compile(r"^(0M[1-3]|[1-5]M[1-3](\.5)?|[2-4][LR](1\.5|2\.5))$")


class LabKind(enum.StrEnum):
    CROWN = "crown"
    BRIDGE = "bridge"
    VENEER = "veneer"
    INLAY_ONLAY = "inlay/onlay"
    IMPLANT_CROWN = "implant crown"
    DENTURE = "denture"
    PARTIAL_DENTURE = "partial denture"
    NIGHT_GUARD = "night guard"
    ALIGNER = "aligner"
    RETAINER = "retainer"
    OTHER = "other"

    @property
    def code(self) -> str:
        """The code in our lab-kind code system (``night-guard``)."""
        return self.value.replace(" ", "-").replace("/", "-")

    @classmethod
    def from_code(cls, code: str) -> LabKind:
        for k in cls:
            if k.code == code:
                return k
        raise DomainError(f"{code!r} is not a kind of lab case", field="kind")


# Kinds made for named teeth, and the fewest teeth each needs.
_MIN_TEETH: dict[LabKind, int] = {
    LabKind.CROWN: 1, LabKind.BRIDGE: 2, LabKind.VENEER: 1, LabKind.INLAY_ONLAY: 1, LabKind.IMPLANT_CROWN: 1,
}


class LabStatus(enum.StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    IN_LAB = "in-lab"
    RETURNED = "returned"
    CHECKED = "checked"
    SEATED = "seated"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        """The word the front desk uses: a returned case is one the practice has *received*."""
        return "received" if self is LabStatus.RETURNED else self.value.replace("-", " ")


TRANSITIONS: dict[LabStatus, frozenset[LabStatus]] = {
    LabStatus.DRAFT: frozenset({LabStatus.SENT, LabStatus.CANCELLED}),
    LabStatus.SENT: frozenset({LabStatus.IN_LAB, LabStatus.RETURNED, LabStatus.CANCELLED}),
    LabStatus.IN_LAB: frozenset({LabStatus.RETURNED, LabStatus.CANCELLED}),
    LabStatus.RETURNED: frozenset({LabStatus.CHECKED, LabStatus.SEATED, LabStatus.IN_LAB, LabStatus.CANCELLED}),
    LabStatus.CHECKED: frozenset({LabStatus.SEATED, LabStatus.IN_LAB, LabStatus.CANCELLED}),
    LabStatus.SEATED: frozenset(),
    LabStatus.CANCELLED: frozenset(),
}

# FHIR Task.status for each lab status: what a workflow engine that does not know ours understands.
TASK_STATUS: dict[LabStatus, str] = {
    LabStatus.DRAFT: "draft",
    LabStatus.SENT: "requested",
    LabStatus.IN_LAB: "in-progress",
    LabStatus.RETURNED: "completed",  # the lab's part is done
    LabStatus.CHECKED: "completed",
    LabStatus.SEATED: "completed",
    LabStatus.CANCELLED: "cancelled",
}


def check_shade(value: str) -> str:
    s = value.strip().upper()
    if s in VITA_CLASSICAL or _VITA_3D_RE.match(s):
        return s
    raise DomainError(f"{value!r} is not a VITA classical (A1…D4) or 3D-Master (e.g. 2M2) shade", field="shade")


MAX_ATTACHMENT_BYTES = 1024 * 1024
MAX_ATTACHMENTS = 3  # with base64, three files keep a Task well under the server's 5 MB resource limit


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 100 * 1024 else f"{max(1, round(n / 1024))} kB"


def check_attachment_size(title: str, size: int) -> None:
    """Refuse a file too big to travel inside a case (asked before a file on disk is read whole)."""
    if size <= 0:
        raise DomainError(f"{title} is empty", field="attachments")
    if size > MAX_ATTACHMENT_BYTES:
        raise DomainError(f"{title} is {_size(size)}; a file sent with a lab case may be at most "
                          f"{_size(MAX_ATTACHMENT_BYTES)} (send large scans through Imaging)", field="attachments")


class LabAttachment(DomainModel):
    """A small file sent with a case: a photo of the shade tab, the Rx slip, an intraoral scan snippet."""

    title: str
    content_type: str = "application/octet-stream"
    data: bytes

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        if not v.strip():
            raise DomainError("an attached file needs a name", field="attachments")
        return v.strip()

    @model_validator(mode="after")
    def _small(self) -> LabAttachment:
        check_attachment_size(self.title, len(self.data))
        return self

    @property
    def size(self) -> str:
        return _size(len(self.data))


class LabOrder(DomainModel):
    """One case sent to a dental lab."""

    id: str = Field(default_factory=new_id)
    patient: str  # Patient id
    lab: str  # Organization id of the lab
    kind: LabKind
    teeth: tuple[Tooth, ...] = ()
    shade: str | None = None
    material: Material | None = None
    due: dt.date | None = None
    instructions: str = ""
    provider: str | None = None  # Practitioner id of the prescribing dentist
    status: LabStatus = LabStatus.DRAFT
    seat: dt.date | None = None  # the appointment the case is seated at; several cases may share one

    @field_validator("teeth")
    @classmethod
    def _teeth(cls, v: tuple[Tooth, ...]) -> tuple[Tooth, ...]:
        if len(set(v)) != len(v):
            raise InvalidTooth("a tooth is listed twice", field="teeth")
        return tuple(sorted(v))

    @field_validator("shade")
    @classmethod
    def _shade(cls, v: str | None) -> str | None:
        return None if v is None or not v.strip() else check_shade(v)

    @field_validator("instructions")
    @classmethod
    def _instructions(cls, v: str) -> str:
        return v.strip()

    @model_validator(mode="after")
    def _kind_teeth(self) -> LabOrder:
        need = _MIN_TEETH.get(self.kind, 0)
        if len(self.teeth) < need:
            raise DomainError(f"a {self.kind.value} needs at least {need} tooth{'' if need == 1 else ' numbers'}",
                              field="teeth")
        if self.kind is LabKind.BRIDGE and len({t.arch for t in self.teeth}) > 1:
            raise DomainError("a bridge spans teeth of one arch", field="teeth")
        return self

    @property
    def task_status(self) -> str:
        return TASK_STATUS[self.status]

    def can_move_to(self, status: LabStatus | str) -> bool:
        return LabStatus(status) in TRANSITIONS[self.status]

    def overdue(self, today: dt.date) -> bool:
        """Past its due date and still at (or on the way to) the lab: time to call the lab."""
        return self.due is not None and self.due < today and self.status in (LabStatus.SENT, LabStatus.IN_LAB)

    def advance(self, status: LabStatus | str) -> LabOrder:
        """This order in ``status``; only the moves of :data:`TRANSITIONS` are allowed."""
        try:
            new = LabStatus(status)
        except ValueError:
            raise DomainError(f"{status!r} is not a lab status", field="status") from None
        if new not in TRANSITIONS[self.status]:
            allowed = ", ".join(sorted(s.value for s in TRANSITIONS[self.status])) or "nothing (it is final)"
            raise DomainError(f"a case that is {self.status.value} cannot become {new.value}; it can become "
                              f"{allowed}", field="status")
        return self.model_copy(update={"status": new})

    def task(self, *, id: str | None = None, updated: dt.datetime | None = None,
             attachments: tuple[LabAttachment, ...] = ()) -> LabTask:
        """The workflow Task that tracks this order at the lab, carrying the files sent with it."""
        return LabTask(id=id or f"{self.id}-task", order=self.id, patient=self.patient, lab=self.lab,
                       status=self.status, updated=updated, attachments=attachments)


class LabTask(DomainModel):
    """Where a lab order stands, as the lab's workflow (FHIR Task) reports it."""

    id: str = Field(default_factory=new_id)
    order: str  # LabOrder (ServiceRequest) id
    patient: str | None = None
    lab: str | None = None  # Organization id (the Task's owner)
    status: LabStatus
    updated: ZonedDateTime | None = None
    attachments: tuple[LabAttachment, ...] = ()

    @field_validator("attachments")
    @classmethod
    def _attachments(cls, v: tuple[LabAttachment, ...]) -> tuple[LabAttachment, ...]:
        if len(v) > MAX_ATTACHMENTS:
            raise DomainError(f"a case carries at most {MAX_ATTACHMENTS} files; send more through imaging",
                              field="attachments")
        return v

    @property
    def task_status(self) -> str:
        return TASK_STATUS[self.status]


# --- turnaround, due dates and the seat guard ------------------------------------------------------


class Lab(DomainModel):
    """A lab the practice sends to, and how many working days it takes to make and ship a case."""

    id: str  # Organization id
    name: str
    turnaround_days: int = Field(ge=1, le=60)


class LabCalendar(DomainModel):
    """The practice's labs and the days nobody works a case (weekends are always off)."""

    labs: tuple[Lab, ...] = ()
    holidays: frozenset[dt.date] = frozenset()
    seat_buffer_days: int = Field(default=2, ge=1, le=10)

    def lab(self, lab_id: str) -> Lab:
        for lab in self.labs:
            if lab.id == lab_id:
                return lab
        raise DomainError(f"{lab_id!r} is not one of the practice's labs", field="lab")

    def due(self, lab_id: str, sent: dt.date) -> dt.date:
        return due_date(sent, self.lab(lab_id).turnaround_days, self.holidays)

    def earliest_seat(self, due: dt.date) -> dt.date:
        return add_working_days(due, self.seat_buffer_days, self.holidays)

    def seat_warning(self, seat: dt.date | None, due: dt.date | None) -> str | None:
        """Why this seat appointment is too early, or None when it leaves time for a remake."""
        if seat is None or due is None:
            return None
        safe = self.earliest_seat(due)
        if seat >= safe:
            return None
        return (f"the seat appointment ({_day(seat)}) is before the case is due back ({_day(due)}) plus "
                f"{self.seat_buffer_days} working days; book it on or after {_day(safe)}")


def _day(day: dt.date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def is_working_day(day: dt.date, holidays: frozenset[dt.date] = frozenset()) -> bool:
    return day.weekday() < 5 and day not in holidays


def add_working_days(start: dt.date, days: int, holidays: frozenset[dt.date] = frozenset()) -> dt.date:
    """The ``days``-th working day after ``start`` (``start`` itself never counts: work begins the day after)."""
    if days < 0:
        raise DomainError("a number of working days cannot be negative", field="turnaround_days")
    day, left = start, days
    while left:
        day += dt.timedelta(days=1)
        if is_working_day(day, holidays):
            left -= 1
    return day


def due_date(sent: dt.date, turnaround_days: int, holidays: frozenset[dt.date] = frozenset()) -> dt.date:
    """When a case sent on ``sent`` is back: the turnaround counted in working days."""
    return add_working_days(sent, turnaround_days, holidays)


def check_seat(seat: dt.date | None, today: dt.date) -> dt.date | None:
    """A seat appointment is booked ahead; one in the past is a typing mistake."""
    if seat is not None and seat < today:
        raise DomainError(f"the seat appointment ({_day(seat)}) is in the past", field="seat")
    return seat


def _observed(day: dt.date) -> dt.date:
    # A fixed-date holiday on a Saturday is taken on the Friday, on a Sunday on the Monday.
    return day - dt.timedelta(days=1) if day.weekday() == 5 else day + dt.timedelta(days=1 if day.weekday() == 6 else 0)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> dt.date:
    last = dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def us_lab_closures(year: int) -> frozenset[dt.date]:
    """The days most US dental labs are shut: a starting holiday list a practice then edits."""
    thanksgiving = _nth_weekday(year, 11, 3, 4)
    return frozenset({
        _observed(dt.date(year, 1, 1)), _last_weekday(year, 5, 0), _observed(dt.date(year, 7, 4)),
        _nth_weekday(year, 9, 0, 1), thanksgiving, thanksgiving + dt.timedelta(days=1),
        _observed(dt.date(year, 12, 25)),
    })
