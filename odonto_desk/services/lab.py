"""The Lab tab's service: a patient's lab cases, sending a new one, and moving it sent → received → checked.

Plain blocking Python, no Qt; called from worker threads by ``ui/ops/lab.py``.

A case goes to the server as one ``POST /odonto/v1/lab/orders`` (ServiceRequest + Task) queued in
the outbox, never as separate FHIR creates: the server then stores both under the ids we gave them,
so the copies pulled back later replace ours instead of appearing twice. The same two resources are
written to the cache at once so the tab works offline. They are written there as the content the
server will hold, dated now, so a pull of an older server copy made before the post is sent cannot
roll them back. A status move re-posts the case (same ids, a new version of each), with its own
idempotency key.

Every write is audited; a read of the cases is audited as viewed. Bad input raises a
:class:`DomainError` naming the form field, before anything is written or queued.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import mimetypes
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odonto_desk.domain.chart import Material
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.lab import (
    Lab,
    LabAttachment,
    LabCalendar,
    LabKind,
    LabOrder,
    LabStatus,
    LabTask,
    check_attachment_size,
    check_seat,
    us_lab_closures,
)
from odonto_desk.domain.people import Organization, OrgKind
from odonto_desk.domain.teeth import NumberingSystem, Tooth
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.mapping import from_fhir, to_fhir
from odonto_desk.fhir.resources.lab import is_lab_request
from odonto_desk.services.patients import PatientService
from odonto_desk.services.session import Session
from odonto_desk.store.db import transaction

Json = dict[str, Any]
OP_NAME = "lab/orders"
CALENDAR_KEY = "lab:calendar"
DEFAULT_TURNAROUND = 7  # working days, until the practice sets each lab's own
_REFUSED = "refused: "  # how the sync engine marks an op the server refused (store.sync.REFUSED)


@dataclass(frozen=True)
class CaseForm:
    """The new-case form as typed: text is parsed here so every mistake comes back naming its field."""

    lab: str
    kind: str | None
    teeth: str = ""
    shade: str = ""
    material: str | None = None
    instructions: str = ""
    seat: dt.date | None = None
    files: tuple[str, ...] = ()
    numbering: NumberingSystem = NumberingSystem.UNIVERSAL


@dataclass(frozen=True)
class LabCase:
    """One case as the tab lists it."""

    order: LabOrder  # its status is the Task's when there is one: the lab's workflow has the last word
    task: LabTask | None
    lab_name: str
    warning: str | None  # the seat appointment is too close to (or before) the due date
    sync: str  # "sent" (the server has it), "waiting to be sent" or "refused by the server: …"
    overdue: bool = False

    @property
    def status(self) -> LabStatus:
        return self.order.status


@dataclass(frozen=True)
class LabView:
    patient_id: str
    cases: tuple[LabCase, ...]
    calendar: LabCalendar
    today: dt.date
    unreadable: tuple[str, ...] = ()  # resources that could not be read as lab cases, with the reason

    def for_seat(self, seat: dt.date) -> list[LabCase]:
        """The cases booked for one seat appointment (several may share one)."""
        return [c for c in self.cases if c.order.seat == seat]


class LabService:
    def __init__(self, session: Session, *, today: dt.date | None = None) -> None:
        self.session = session
        self._today = today

    @property
    def today(self) -> dt.date:
        return self._today or self.session.today()

    # --- the practice's labs and holidays ---------------------------------------------------------

    def calendar(self) -> LabCalendar:
        """The practice's lab list; until it is set, the labs the server knows at the default turnaround."""
        stored = self.session.cache().get_state(CALENDAR_KEY)
        if stored:
            data = json.loads(stored)
            return LabCalendar(labs=tuple(Lab(**lab) for lab in data["labs"]),
                               holidays=frozenset(dt.date.fromisoformat(d) for d in data["holidays"]),
                               seat_buffer_days=data["seat_buffer_days"])
        labs = tuple(Lab(id=o.id, name=o.name, turnaround_days=DEFAULT_TURNAROUND) for o in self._lab_orgs())
        year = self.today.year
        return LabCalendar(labs=labs, holidays=us_lab_closures(year) | us_lab_closures(year + 1))

    def save_calendar(self, calendar: LabCalendar) -> LabCalendar:
        data = {"labs": [lab.model_dump() for lab in calendar.labs],
                "holidays": sorted(d.isoformat() for d in calendar.holidays),
                "seat_buffer_days": calendar.seat_buffer_days}
        cache = self.session.cache()
        user = self.session.user
        with transaction(cache.db):
            cache.set_state(CALENDAR_KEY, json.dumps(data))
            cache.audit.record(user.name, user.role.value, "changed", None, None, None,
                               f"lab list: {len(calendar.labs)} labs, {len(calendar.holidays)} holidays")
        return calendar

    def due(self, lab_id: str) -> dt.date:
        """When a case sent today to this lab is due back."""
        return self.calendar().due(lab_id, self.today)

    def _lab_orgs(self) -> list[Organization]:
        orgs = []
        for r in self.session.cache().of_type("Organization"):
            with contextlib.suppress(FhirMappingError, DomainError):
                org = from_fhir(r, expect=Organization)
                if org.kind is OrgKind.LAB:
                    orgs.append(org)
        return sorted(orgs, key=lambda o: o.name)

    # --- reading ----------------------------------------------------------------------------------

    def open(self, patient_id: str, *, audit: bool = True) -> LabView:
        """The patient's cases, newest seat first; audited as viewed."""
        cache = self.session.cache()
        calendar = self.calendar()
        resources = cache.patient_resources(patient_id, ("ServiceRequest", "Task"))
        orders, tasks, bad = _read_cases(resources)
        sync = self._sync_states()
        names = {lab.id: lab.name for lab in calendar.labs}
        cases = []
        for o in orders:
            task = tasks.get(o.id)
            if task is not None:
                o = o.model_copy(update={"status": task.status})
            cases.append(LabCase(o, task, names.get(o.lab, o.lab), _warning(calendar, o), sync.get(o.id, "sent"),
                                 o.overdue(self.today)))
        cases.sort(key=lambda c: (c.order.seat or dt.date.max, c.order.due or dt.date.max, c.order.id))
        if audit:
            user = self.session.user
            cache.audit.record(user.name, user.role.value, "viewed", "Patient", patient_id, None, "lab cases opened")
        return LabView(patient_id, tuple(cases), calendar, self.today, tuple(bad))

    def _sync_states(self) -> dict[str, str]:
        """Per order id, where its latest post stands in the outbox (absent: the server has it)."""
        out: dict[str, str] = {}
        for entry in self.session.cache().outbox.entries(("pending", "sending")):
            if entry.operation != "op" or (entry.payload or {}).get("name") != OP_NAME:
                continue
            sr = ((entry.payload or {}).get("body") or {}).get("service_request") or {}
            error = entry.last_error or ""
            out[str(sr.get("id"))] = (f"refused by the server: {error[len(_REFUSED):]}" if error.startswith(_REFUSED)
                                      else "waiting to be sent")
        return out

    # --- writing ----------------------------------------------------------------------------------

    def read_attachment(self, path: str | Path) -> LabAttachment:
        """A file from disk, refused before it is read whole when it is too big."""
        p = Path(path)
        try:
            check_attachment_size(p.name, p.stat().st_size)
            data = p.read_bytes()
        except OSError as exc:
            raise DomainError(f"{p.name} cannot be read ({exc.strerror or exc})", field="attachments") from None
        kind = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
        return LabAttachment(title=p.name, content_type=kind, data=data)

    def new_case(self, patient_id: str, form: CaseForm) -> LabCase:
        """Check the form, then send the case to the lab (queued; the tab shows it at once)."""
        calendar = self.calendar()
        order = self._order_from(patient_id, form, calendar)
        files = tuple(self.read_attachment(f) for f in form.files)
        task = order.task(updated=self._now(), attachments=files)
        self._post(order, task, f"lab case sent: {_what(order)}")
        return LabCase(order, task, calendar.lab(order.lab).name, _warning(calendar, order), "waiting to be sent")

    def move(self, patient_id: str, order_id: str, status: LabStatus | str) -> LabCase:
        """Record a case's next step (received, checked, seated …); only the domain's moves are allowed."""
        view = self.open(patient_id, audit=False)
        case = next((c for c in view.cases if c.order.id == order_id), None)
        if case is None:
            raise KeyError(f"lab case {order_id} is not on this patient's list")
        moved = case.order.advance(status)
        attachments = case.task.attachments if case.task is not None else ()
        task = moved.task(id=case.task.id if case.task else None, updated=self._now(), attachments=attachments)
        self._post(moved, task, f"lab case {_what(moved)}: {case.status.label} → {moved.status.label}")
        return LabCase(moved, task, case.lab_name, _warning(view.calendar, moved), "waiting to be sent")

    def _order_from(self, patient_id: str, form: CaseForm, calendar: LabCalendar) -> LabOrder:
        if not form.kind:
            raise DomainError("choose what the lab is to make (crown, bridge, night guard …)", field="kind")
        lab = calendar.lab(form.lab)
        seat = check_seat(form.seat, self.today)
        return LabOrder(patient=patient_id, lab=lab.id, kind=_choice(LabKind, form.kind, "kind"),
                        teeth=_teeth(form.teeth, form.numbering), shade=form.shade or None,
                        material=_choice(Material, form.material, "material") if form.material else None,
                        due=calendar.due(lab.id, self.today), instructions=form.instructions, seat=seat,
                        status=LabStatus.SENT)

    def _post(self, order: LabOrder, task: LabTask, summary: str) -> None:
        sr, tk = to_fhir(order), to_fhir(task)
        stamp = self._now().astimezone(dt.UTC).isoformat()
        cache = self.session.cache()
        user = self.session.user
        with transaction(cache.db):
            cache.put_from_server([{**r, "meta": {"lastUpdated": stamp}} for r in (sr, tk)])
            cache.queue_op(OP_NAME, {"service_request": sr, "task": tk}, user.name, user.role.value,
                           gpid=self._gpid(order.patient))
            cache.audit.record(user.name, user.role.value, "changed", "ServiceRequest", order.id, None, summary[:120])
        with contextlib.suppress(Exception):  # no server configured: the outbox waits
            self.session.sync().wake()

    def _now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def _gpid(self, patient_id: str) -> str | None:
        return PatientService(self.session).gpid(patient_id)


def _teeth(text: str, numbering: NumberingSystem) -> tuple[Tooth, ...]:
    """``"8 9"``, ``"8, 9"`` or ``"8,9"``: every tooth in the form's numbering system."""
    parts = [p for p in text.replace(",", " ").split() if p]
    teeth = []
    for part in parts:
        try:
            teeth.append(Tooth.parse(part, numbering))
        except DomainError as exc:
            raise DomainError(exc.message, field="teeth") from None
    return tuple(teeth)


def _choice(enum_type: Any, value: str, field: str) -> Any:
    try:
        return enum_type(value)
    except ValueError:
        raise DomainError(f"{value!r} is not one of the choices", field=field) from None


def _warning(calendar: LabCalendar, order: LabOrder) -> str | None:
    if order.status not in (LabStatus.DRAFT, LabStatus.SENT, LabStatus.IN_LAB):
        return None  # back from the lab (or closed): its due date no longer matters
    return calendar.seat_warning(order.seat, order.due)


def _what(order: LabOrder) -> str:
    teeth = " ".join(f"#{t}" for t in order.teeth)
    return f"{order.kind.value} {teeth}".strip()


def _read_cases(resources: Iterable[Json]) -> tuple[list[LabOrder], dict[str, LabTask], list[str]]:
    orders: list[LabOrder] = []
    tasks: dict[str, LabTask] = {}
    bad: list[str] = []
    for r in resources:
        try:
            if is_lab_request(r):
                orders.append(from_fhir(r, expect=LabOrder))
            elif r.get("resourceType") == "Task":
                task = from_fhir(r, expect=LabTask)
                tasks[task.order] = task
        except (FhirMappingError, DomainError) as exc:
            bad.append(f"{r.get('resourceType')}/{r.get('id')}: {exc}")
    return orders, tasks, bad
