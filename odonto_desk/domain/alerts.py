"""Medical alerts: what a dentist must know before treating (an allergy, a blood thinner, a
premedication need), shown at a glance in the patient header.

An alert is one short line of text with a kind. It is not a chart mark: it is on no tooth. Like the
people models it is frozen and validated, and bad input raises a :class:`DomainError` naming the field.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable

from pydantic import Field, ValidationInfo, field_validator

from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.people import DomainModel, new_id

MAX_ALERT_TEXT = 120  # one line in the header; longer clinical notes belong in a note


class AlertKind(enum.StrEnum):
    ALLERGY = "allergy"
    MEDICATION = "medication"
    CONDITION = "condition"
    PREMEDICATION = "premedication"


# The order the header lists them in: allergies first, then what must be done before treating.
ALERT_ORDER: tuple[AlertKind, ...] = (AlertKind.ALLERGY, AlertKind.PREMEDICATION, AlertKind.MEDICATION,
                                      AlertKind.CONDITION)


class MedicalAlert(DomainModel):
    """One medical alert of a patient (``latex allergy``, kind allergy)."""

    id: str = Field(default_factory=new_id)
    patient: str  # Patient id
    text: str
    kind: AlertKind = AlertKind.CONDITION
    recorded: dt.date | None = None
    active: bool = True  # False: resolved, or recorded by mistake (then ``entered_in_error`` too)
    entered_in_error: bool = False  # never true of the patient: kept for the record, listed nowhere

    @field_validator("patient")
    @classmethod
    def _patient(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise DomainError("an alert belongs to a patient", field="patient")
        return v

    @field_validator("text")
    @classmethod
    def _text(cls, v: str) -> str:
        v = " ".join(v.split())
        if not v:
            raise DomainError("an alert needs its text (e.g. 'latex allergy')", field="text")
        if len(v) > MAX_ALERT_TEXT:
            raise DomainError(f"an alert is at most {MAX_ALERT_TEXT} characters ({len(v)} given); "
                              "put the details in a note", field="text")
        return v

    @field_validator("recorded")
    @classmethod
    def _recorded(cls, v: dt.date | None) -> dt.date | None:
        if v is not None and v > dt.date.today():
            raise DomainError(f"recorded date {v.isoformat()} is in the future", field="recorded")
        return v

    @field_validator("entered_in_error")
    @classmethod
    def _error(cls, v: bool, info: ValidationInfo) -> bool:
        if v and info.data.get("active", True):
            raise DomainError("an alert entered in error is not active")
        return v

    @property
    def label(self) -> str:
        """The text as a header shows it: 'Latex allergy'."""
        return self.text[:1].upper() + self.text[1:]

    @property
    def detail(self) -> str:
        """One line with its kind and date: 'Allergy: latex allergy (recorded 2024-03-02)'."""
        recorded = f" (recorded {self.recorded.isoformat()})" if self.recorded else ""
        return f"{self.kind.value.capitalize()}: {self.text}{recorded}"


def header_order(alerts: Iterable[MedicalAlert]) -> list[MedicalAlert]:
    """Active alerts, allergies first (then premedication, medication, condition), stable within a kind."""
    live = [a for a in alerts if a.active]
    return sorted(live, key=lambda a: ALERT_ORDER.index(a.kind))


def editor_order(alerts: Iterable[MedicalAlert]) -> list[MedicalAlert]:
    """What the alerts editor lists: the active ones in header order, then the resolved ones, newest
    first. Alerts entered in error were never true of the patient and are not listed."""
    kept = [a for a in alerts if not a.entered_in_error]
    resolved = sorted((a for a in kept if not a.active), key=lambda a: a.recorded or dt.date.min, reverse=True)
    return header_order(kept) + resolved


def check_new_alert(alert: MedicalAlert, existing: Iterable[MedicalAlert]) -> None:
    """Refuse an alert the patient already has active (the same kind and text, in any case):
    a header that says "latex allergy" twice reads as two things to know."""
    same = next((a for a in existing if a.active and a.kind is alert.kind
                 and a.text.casefold() == alert.text.casefold()), None)
    if same is not None:
        raise DomainError(f"{same.detail} is already listed", field="text")


def resolved(alert: MedicalAlert) -> MedicalAlert:
    """The alert no longer applies (the medication stopped): kept, shown as resolved."""
    return alert.model_copy(update={"active": False, "entered_in_error": False})


def reactivated(alert: MedicalAlert) -> MedicalAlert:
    """A resolved alert applies again."""
    return alert.model_copy(update={"active": True, "entered_in_error": False})


def in_error(alert: MedicalAlert) -> MedicalAlert:
    """The alert was recorded by mistake (the wrong patient): kept for the record, shown nowhere."""
    return alert.model_copy(update={"active": False, "entered_in_error": True})
