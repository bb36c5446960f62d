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
  fee (not yet estimated) adds nothing, and neither does a rejected line.
* What the front desk and the patient talk about is a line's :class:`LineStatus` (proposed,
  accepted, rejected, in progress, completed), derived from the FHIR activity status and the
  accepted flag. Accepting an option rejects its siblings; a completed line is final.
* Fees come from a :class:`FeeSchedule`; the patient's share is estimated per line from the
  insurance coverage percentage of the code's service category (:func:`estimate`).
* A signature attests to the lines and fees it was given for: changing them voids it.
"""

from __future__ import annotations

import base64
import enum
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import Field, field_validator, model_validator

from odonto_desk.domain.billing import CENT, Amount
from odonto_desk.domain.cdt import CatalogEntry, ServiceCategory, check_code, normalize_code
from odonto_desk.domain.errors import DomainError, InvalidCode, InvalidSurface
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


class LineStatus(enum.StrEnum):
    """A plan line as the case presentation speaks of it (Eaglesoft's proposed/accepted/rejected)."""

    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in progress"
    COMPLETED = "completed"

    @property
    def label(self) -> str:
        return self.value.capitalize()


_REJECTED = frozenset({ItemStatus.CANCELLED, ItemStatus.STOPPED})
# (activity status, accepted) a line status is written as.
_WRITTEN_AS: dict[LineStatus, tuple[ItemStatus, bool]] = {
    LineStatus.PROPOSED: (ItemStatus.NOT_STARTED, False),
    LineStatus.ACCEPTED: (ItemStatus.NOT_STARTED, True),
    LineStatus.REJECTED: (ItemStatus.CANCELLED, False),
    LineStatus.IN_PROGRESS: (ItemStatus.IN_PROGRESS, True),
    LineStatus.COMPLETED: (ItemStatus.COMPLETED, True),
}


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

    @property
    def line_status(self) -> LineStatus:
        if self.status is ItemStatus.COMPLETED:
            return LineStatus.COMPLETED
        if self.status is ItemStatus.IN_PROGRESS:
            return LineStatus.IN_PROGRESS
        if self.status in _REJECTED:
            return LineStatus.REJECTED
        if self.accepted or self.status is ItemStatus.SCHEDULED:
            return LineStatus.ACCEPTED
        return LineStatus.PROPOSED

    def as_status(self, status: LineStatus) -> PlanItem:
        """This line moved to ``status``; a completed line stays as it is (the work is done)."""
        if self.line_status is LineStatus.COMPLETED and status is not LineStatus.COMPLETED:
            raise DomainError(f"{self.describe()} is completed; a completed line cannot be changed", field="status")
        item_status, accepted = _WRITTEN_AS[status]
        return self.model_copy(update={"status": item_status, "accepted": accepted})


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_SIGNATURE_BYTES = 256 * 1024


class PlanSignature(DomainModel):
    """The patient's (or guardian's) signature under a presented plan, as a PNG drawn on screen."""

    png: bytes
    signer: str
    signed: ZonedDateTime

    @field_validator("png")
    @classmethod
    def _png(cls, v: bytes) -> bytes:
        if not v.startswith(PNG_MAGIC):
            raise DomainError("a signature is stored as a PNG image", field="png")
        if len(v) > MAX_SIGNATURE_BYTES:
            raise DomainError(f"a signature image is at most {MAX_SIGNATURE_BYTES // 1024} KB", field="png")
        return v

    @field_validator("signer")
    @classmethod
    def _signer(cls, v: str) -> str:
        v = " ".join(v.split())
        if not v:
            raise DomainError("say who signed (the patient or a guardian)", field="signer")
        return v

    @property
    def base64(self) -> str:
        return base64.b64encode(self.png).decode("ascii")


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
    signature: PlanSignature | None = None

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
        """The option of ``group`` that counts: the accepted one, else the first (primary) not rejected."""
        options = [i for i in self.alternatives(group) if i.line_status is not LineStatus.REJECTED]
        return next((i for i in options if i.accepted), options[0] if options else None)

    def counts(self, item: PlanItem) -> bool:
        """True if ``item`` is added to the totals (not rejected, not a set-aside alternative)."""
        if item.line_status is LineStatus.REJECTED:
            return False
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

    def item(self, item_id: str) -> PlanItem:
        found = next((i for i in self.items if i.id == item_id), None)
        if found is None:
            raise DomainError(f"the plan has no line {item_id!r}", field="items")
        return found

    def category_totals(self, category_of: Callable[[str], ServiceCategory]) -> dict[ServiceCategory, Decimal]:
        """The counted fees by the portal's eight service categories (every category present, in order)."""
        totals = {c: Decimal("0.00") for c in ServiceCategory}
        for i in self.items:
            if self.counts(i) and i.fee is not None:
                totals[category_of(i.code)] += i.fee
        return totals

    def estimate(self, category_of: Callable[[str], ServiceCategory], coverage: Mapping[ServiceCategory, int] | None,
                 *, phase: int | None = None) -> Estimate:
        """Insurance and patient shares of the counted lines (of one phase, or of the whole plan)."""
        if phase is not None:
            self.phase_total(phase)  # an unknown phase is an error, not zero
        lines = [i for p in self.phases if phase is None or p.number == phase for i in p.items if self.counts(i)]
        return sum((estimate(i.fee, category_of(i.code), coverage) for i in lines if i.fee is not None), Estimate.zero())

    # --- changes (each returns a new plan) -----------------------------------------------------

    def with_status(self, item_id: str, status: LineStatus) -> TreatmentPlan:
        """Move one line; accepting (or starting) an option rejects the other options of its group."""
        target = self.item(item_id)
        moved = target.as_status(status)
        siblings: dict[str, PlanItem] = {}
        if moved.accepted and target.alternate_group is not None:
            for other in self.alternatives(target.alternate_group):
                if other.id == item_id or other.line_status is LineStatus.REJECTED:
                    continue
                if other.line_status in (LineStatus.IN_PROGRESS, LineStatus.COMPLETED):
                    raise DomainError(f"{other.describe()}, its alternative, is already {other.line_status.value}",
                                      field="status")
                siblings[other.id] = other.as_status(LineStatus.REJECTED)
        changed = self.with_lines({item_id: moved, **siblings})
        return changed.model_copy(update={"status": changed._settled_status()})

    def can_move(self, item_id: str, status: LineStatus) -> bool:
        """Whether :meth:`with_status` would move the line to ``status`` (what a status button asks)."""
        if self.item(item_id).line_status is status:
            return False
        try:
            self.with_status(item_id, status)
        except DomainError:
            return False
        return True

    def _settled_status(self) -> PlanStatus:
        """A draft becomes active once the patient accepts a line; all work done completes the plan."""
        live = [i.line_status for i in self.items if i.line_status is not LineStatus.REJECTED]
        if self.status is PlanStatus.REVOKED:
            return self.status
        if live and all(s is LineStatus.COMPLETED for s in live):
            return PlanStatus.COMPLETED
        if self.status is PlanStatus.DRAFT and any(s is not LineStatus.PROPOSED for s in live):
            return PlanStatus.ACTIVE
        return self.status

    def with_item(self, phase: int, item: PlanItem, *, phase_title: str = "") -> TreatmentPlan:
        """The plan with ``item`` added at the end of ``phase`` (made if missing); voids the signature."""
        if phase < 1:
            raise DomainError("phases are numbered from 1", field="phase")
        phases = list(self.phases)
        at = next((k for k, p in enumerate(phases) if p.number == phase), None)
        if at is None:
            phases.append(Phase(number=phase, title=phase_title))
            phases.sort(key=lambda p: p.number)
            at = next(k for k, p in enumerate(phases) if p.number == phase)
        phases[at] = phases[at].model_copy(update={"items": (*phases[at].items, item)})
        return TreatmentPlan(**{**self.model_dump(), "phases": [p.model_dump() for p in phases],
                                             "signature": None})

    def with_alternative(self, of: str, item: PlanItem) -> TreatmentPlan:
        """``item`` offered instead of line ``of`` (crown *or* onlay on 3), in the same phase."""
        base = self.item(of)
        group = base.alternate_group or base.id
        phase = next(p.number for p in self.phases if any(i.id == of for i in p.items))
        grouped = self.with_lines({of: base.model_copy(update={"alternate_group": group})})
        return grouped.with_item(phase, item.model_copy(update={"alternate_group": group}))

    def signed(self, signature: PlanSignature) -> TreatmentPlan:
        return self.model_copy(update={"signature": signature})

    def with_lines(self, lines: Mapping[str, PlanItem]) -> TreatmentPlan:
        """The same plan with some lines replaced (statuses only: the signature stands)."""
        phases = [p.model_copy(update={"items": tuple(lines.get(i.id, i) for i in p.items)}) for p in self.phases]
        return TreatmentPlan(**{**self.model_dump(), "phases": [p.model_dump() for p in phases]})


# --- fees and estimates ---------------------------------------------------------------------------

# The common "100-80-50" dental benefit design: preventive and diagnostic in full, basic services at
# 80 %, major services and orthodontics at 50 %; lab appliances (e.g. night guards) usually not at all.
# A default only: the patient's real percentages come from the payer's answer to a predetermination.
DEFAULT_COVERAGE: Mapping[ServiceCategory, int] = {
    ServiceCategory.PREVENTIVE: 100, ServiceCategory.DIAGNOSTIC: 100, ServiceCategory.RESTORATIVE: 80,
    ServiceCategory.PERIODONTAL: 80, ServiceCategory.ORAL_SURGERY: 80, ServiceCategory.PROSTHODONTIC: 50,
    ServiceCategory.ORTHODONTIC: 50, ServiceCategory.LAB_APPLIANCE: 0,
}


@dataclass(frozen=True)
class Estimate:
    """A fee split into what insurance is expected to pay and what the patient pays."""

    fee: Decimal
    insurance: Decimal
    patient: Decimal

    @staticmethod
    def zero() -> Estimate:
        return Estimate(Decimal("0.00"), Decimal("0.00"), Decimal("0.00"))

    def __add__(self, other: Estimate) -> Estimate:
        return Estimate(self.fee + other.fee, self.insurance + other.insurance, self.patient + other.patient)


def estimate(fee: Decimal, category: ServiceCategory, coverage: Mapping[ServiceCategory, int] | None) -> Estimate:
    """One line's split; no coverage means the patient pays it all. Rounded per line, to the cent."""
    pct = (coverage or {}).get(category, 0)
    if not 0 <= pct <= 100:
        raise DomainError(f"a coverage percentage is 0–100, not {pct}", field=f"coverage.{category.value}")
    insurance = (fee * pct / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    return Estimate(fee, insurance, fee - insurance)


@dataclass(frozen=True)
class FeeSchedule:
    """The practice's fee per CDT code; a code it does not list is unknown here, so cannot be planned."""

    name: str
    fees: Mapping[str, Decimal | None]

    @classmethod
    def from_entries(cls, entries: Iterable[CatalogEntry], name: str = "Practice fees") -> FeeSchedule:
        return cls(name, {e.code: e.fee for e in entries})

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code.strip().upper() in self.fees

    def fee_for(self, code: str) -> Decimal | None:
        """The scheduled fee (None: listed without a fee); an unlisted code is refused."""
        c = normalize_code(code)
        if c not in self.fees:
            raise InvalidCode(f"{c} is not on the {self.name} list; add it to the code list first", field="code")
        return self.fees[c]


def _sum(items: Iterator[PlanItem] | Any) -> Decimal:
    return sum((i.fee for i in items if i.fee is not None), Decimal("0.00"))
