"""Lab and appliance orders: what is made, for which teeth, in which shade, by when, and where it is.

Rules kept here, once:

* The kind decides the teeth: a crown, veneer or inlay/onlay is made for one or more named teeth,
  a bridge spans at least two teeth of one arch; appliances (night guard, aligner, retainer,
  denture) are made for an arch and may name none.
* A shade is a VITA classical shade (A1 … D4) or a VITA 3D-Master shade (e.g. 2M2, 3L1.5);
  anything else would be guessed at by the lab, so it is refused.
* A case moves draft → sent → in-lab → returned → seated, may go back to the lab from returned
  (a remake), and may be cancelled until it is seated. :meth:`LabOrder.advance` refuses any other
  move (sent → seated skips the lab's return and the try-in), naming the ``status`` field.
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
    SEATED = "seated"
    CANCELLED = "cancelled"


TRANSITIONS: dict[LabStatus, frozenset[LabStatus]] = {
    LabStatus.DRAFT: frozenset({LabStatus.SENT, LabStatus.CANCELLED}),
    LabStatus.SENT: frozenset({LabStatus.IN_LAB, LabStatus.CANCELLED}),
    LabStatus.IN_LAB: frozenset({LabStatus.RETURNED, LabStatus.CANCELLED}),
    LabStatus.RETURNED: frozenset({LabStatus.SEATED, LabStatus.IN_LAB, LabStatus.CANCELLED}),
    LabStatus.SEATED: frozenset(),
    LabStatus.CANCELLED: frozenset(),
}

# FHIR Task.status for each lab status: what a workflow engine that does not know ours understands.
TASK_STATUS: dict[LabStatus, str] = {
    LabStatus.DRAFT: "draft",
    LabStatus.SENT: "requested",
    LabStatus.IN_LAB: "in-progress",
    LabStatus.RETURNED: "completed",  # the lab's part is done
    LabStatus.SEATED: "completed",
    LabStatus.CANCELLED: "cancelled",
}


def check_shade(value: str) -> str:
    s = value.strip().upper()
    if s in VITA_CLASSICAL or _VITA_3D_RE.match(s):
        return s
    raise DomainError(f"{value!r} is not a VITA classical (A1…D4) or 3D-Master (e.g. 2M2) shade", field="shade")


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

    def task(self, *, id: str | None = None, updated: dt.datetime | None = None) -> LabTask:
        """The workflow Task that tracks this order at the lab."""
        return LabTask(id=id or f"{self.id}-task", order=self.id, patient=self.patient, lab=self.lab,
                       status=self.status, updated=updated)


class LabTask(DomainModel):
    """Where a lab order stands, as the lab's workflow (FHIR Task) reports it."""

    id: str = Field(default_factory=new_id)
    order: str  # LabOrder (ServiceRequest) id
    patient: str | None = None
    lab: str | None = None  # Organization id (the Task's owner)
    status: LabStatus
    updated: ZonedDateTime | None = None

    @property
    def task_status(self) -> str:
        return TASK_STATUS[self.status]
