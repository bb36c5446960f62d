"""Treatment plans: ordered phases of planned procedures, with alternatives and fee totals.

Rules kept here, once:

* Every line carries a CDT code that must fit its tooth and surfaces
  (:func:`odonto_desk.domain.cdt.check_code`): D2392 needs a posterior tooth and two surfaces.
* Phases are numbered from 1, each number once, and kept in number order: the order is the
  sequence of care, so it is part of the plan, not a display preference.
* Lines sharing an ``alternate_group`` are mutually exclusive options (crown *or* onlay on 3).
  At most one of them may be accepted. The option that counts towards the totals is the accepted
  one, else the group's first line (the dentist's primary recommendation); the others are shown
  but not added up, so a plan with options never quotes the patient both.
* Totals are computed, never stored, so they cannot disagree with the lines. A line without a
  fee (not yet estimated) adds nothing.
"""

from __future__ import annotations

import enum
import itertools
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from pydantic import Field, field_validator, model_validator

from odonto_desk.domain.billing import Amount
from odonto_desk.domain.cdt import check_code, normalize_code
from odonto_desk.domain.errors import DomainError, InvalidSurface
from odonto_desk.domain.people import DomainModel, ZonedDateTime, new_id
from odonto_desk.domain.surfaces import Surface, format_surfaces, parse_surfaces
from odonto_desk.domain.teeth import Tooth

CARE_PLAN_ID_RE = re.compile(r"^CP-[0-9]{3,}$")


class PlanStatus(enum.StrEnum):
    """The subset of FHIR request-status a dental treatment plan goes through."""

    DRAFT = "draft"  # being written; not yet presented
    ACTIVE = "active"  # presented / accepted, being carried out
    COMPLETED = "completed"
    REVOKED = "revoked"  # withdrawn or declined


class Priority(enum.StrEnum):
    """FHIR request-priority, as ServiceRequest.priority carries it."""

    ROUTINE = "routine"
    URGENT = "urgent"
    ASAP = "asap"
    STAT = "stat"


class ItemStatus(enum.StrEnum):
    """Where one planned procedure stands (FHIR CarePlan activity status)."""

    NOT_STARTED = "not-started"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in-progress"
    ON_HOLD = "on-hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"


def surfaces_for(raw: Any, tooth: Tooth | None) -> frozenset[Surface]:
    """Surfaces given as "MO" or letters, checked against ``tooth`` (B/F folded, O/I refused)."""
    if raw is None or raw == "" or (not isinstance(raw, str) and not list(raw)):
        return frozenset()
    if tooth is None:
        raise InvalidSurface("surfaces need a tooth", field="surfaces")
    return parse_surfaces(raw, tooth)


class PlanItem(DomainModel):
    """One planned procedure: a CDT code, where it goes, what it costs, how urgent it is."""

    id: str = Field(default_factory=new_id)
    code: str
    tooth: Tooth | None = None
    surfaces: frozenset[Surface] = frozenset()
    fee: Amount | None = None
    priority: Priority = Priority.ROUTINE
    status: ItemStatus = ItemStatus.NOT_STARTED
    service_request: str | None = None  # id of the ServiceRequest (the planned chart mark) it stands for
    alternate_group: str | None = None
    accepted: bool = False

    @model_validator(mode="before")
    @classmethod
    def _surfaces_in(cls, data: Any) -> Any:
        if isinstance(data, dict) and "surfaces" in data and not isinstance(data["surfaces"], frozenset):
            t = data.get("tooth")
            tooth = t if (t is None or isinstance(t, Tooth)) else Tooth(str(t))
            data = {**data, "surfaces": surfaces_for(data["surfaces"], tooth)}
        return data

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        return normalize_code(v)

    @field_validator("id", "alternate_group", "service_request")
    @classmethod
    def _token(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip()
        if not v:
            raise DomainError("must not be blank")
        return v

    @model_validator(mode="after")
    def _fits(self) -> PlanItem:
        check_code(self.code, self.tooth, self.surfaces)
        return self

    @property
    def surface_string(self) -> str:
        return format_surfaces(self.surfaces)

    def describe(self) -> str:
        where = f" tooth {self.tooth.universal}" if self.tooth else ""
        return f"{self.code}{where}" + (f" {self.surface_string}" if self.surfaces else "")


class Phase(DomainModel):
    """A step of the plan, done before the next one (e.g. 1 urgent care, 2 restorative)."""

    number: int = Field(ge=1)
    title: str = ""
    items: tuple[PlanItem, ...] = ()

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        return v.strip()


class TreatmentPlan(DomainModel):
    """A patient's treatment plan. Build a new one to change it (phases and items are frozen)."""

    id: str = Field(default_factory=new_id)
    patient: str  # Patient id
    care_plan_id: str | None = None  # Apex's CP-### once the partner has assigned one
    title: str
    description: str | None = None
    status: PlanStatus = PlanStatus.DRAFT
    created: ZonedDateTime | None = None
    author: str | None = None  # Practitioner id
    phases: tuple[Phase, ...] = ()

    @field_validator("title")
    @classmethod
    def _title(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise DomainError("a treatment plan needs a title", field="title")
        return v

    @field_validator("description")
    @classmethod
    def _description(cls, v: str | None) -> str | None:
        return (v.strip() or None) if v is not None else None

    @field_validator("care_plan_id")
    @classmethod
    def _cp(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip().upper()
        if not CARE_PLAN_ID_RE.match(v):
            raise DomainError(f"{v!r} is not an Apex care-plan id such as CP-001", field="care_plan_id")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> TreatmentPlan:
        numbers = [p.number for p in self.phases]
        for i, (a, b) in enumerate(itertools.pairwise(numbers), start=1):
            if b <= a:
                raise DomainError(f"phase {b} comes after phase {a}: phases are numbered once, in order",
                                  field=f"phases[{i}].number")
        seen: set[str] = set()
        accepted: dict[str, str] = {}
        for pi, ii, item in self._located():
            if item.id in seen:
                raise DomainError(f"line id {item.id!r} is used twice", field=f"phases[{pi}].items[{ii}].id")
            seen.add(item.id)
            if item.accepted and item.alternate_group is not None:
                other = accepted.get(item.alternate_group)
                if other is not None:
                    raise DomainError(
                        f"alternatives {other!r} and {item.id!r} of group {item.alternate_group!r} are both "
                        "accepted: accept one option of a group", field=f"phases[{pi}].items[{ii}].accepted")
                accepted[item.alternate_group] = item.id
        return self

    def _located(self) -> Iterator[tuple[int, int, PlanItem]]:
        for pi, phase in enumerate(self.phases):
            for ii, item in enumerate(phase.items):
                yield pi, ii, item

    # --- derived ---------------------------------------------------------------------------

    @property
    def items(self) -> tuple[PlanItem, ...]:
        """Every line, phase by phase."""
        return tuple(item for _, _, item in self._located())

    def alternatives(self, group: str) -> tuple[PlanItem, ...]:
        return tuple(i for i in self.items if i.alternate_group == group)

    def chosen(self, group: str) -> PlanItem | None:
        """The option of ``group`` that counts: the accepted one, else the first (primary)."""
        options = self.alternatives(group)
        return next((i for i in options if i.accepted), options[0] if options else None)

    def counts(self, item: PlanItem) -> bool:
        """True if ``item`` is added to the totals (not a set-aside alternative)."""
        return item.alternate_group is None or self.chosen(item.alternate_group) is item

    def phase_total(self, number: int) -> Decimal:
        phase = next((p for p in self.phases if p.number == number), None)
        if phase is None:
            raise DomainError(f"the plan has no phase {number}", field="phases")
        return _sum(i for i in phase.items if self.counts(i))

    @property
    def total(self) -> Decimal:
        return _sum(i for i in self.items if self.counts(i))

    def phase_totals(self) -> dict[int, Decimal]:
        return {p.number: self.phase_total(p.number) for p in self.phases}


def _sum(items: Iterator[PlanItem] | Any) -> Decimal:
    return sum((i.fee for i in items if i.fee is not None), Decimal("0.00"))
