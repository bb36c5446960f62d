"""The people and places around a chart: patients, providers, organizations and visits.

These are immutable, validated pydantic models. Building one with bad input raises a
:class:`DomainError` whose ``field`` is the full path of the offending input (``name.family``,
``npi``), never a bare pydantic ``ValidationError``, so the UI can put the message beside the
control and the API can report it as an OperationOutcome expression.

Identifiers that carry a check (GPID format, NPI check digit, US tax id) are checked here, once;
the FHIR layer only moves them.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from odonto_desk.domain.errors import DomainError, from_validation_error

GPID_RE = re.compile(r"^APX-[A-Z0-9]{8}$")
_NPI_RE = re.compile(r"^\d{10}$")
_TAX_ID_RE = re.compile(r"^\d{2}-?\d{7}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# The NPI check digit is the Luhn digit of the number prefixed by the card issuer id 80840.
_NPI_PREFIX = "80840"


def new_id() -> str:
    """A client-side id for a resource the server has not seen yet."""
    return str(uuid.uuid4())


class DomainModel(BaseModel):
    """Frozen, closed pydantic model whose constructor raises :class:`DomainError`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise from_validation_error(exc) from None


def _zoned(value: dt.datetime) -> dt.datetime:
    # A time without a zone is a different instant in each practice and across DST; FHIR refuses it too.
    if value.utcoffset() is None:
        raise DomainError("a date and time here needs a time zone")
    return value


ZonedDateTime = Annotated[dt.datetime, AfterValidator(_zoned)]
"""A datetime that must carry its zone; the error names the field it was given for."""


def _text(value: str | None) -> str | None:
    """Trimmed text, ``None`` for blank: an empty form field means 'not given'."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def npi_is_valid(npi: str) -> bool:
    """True for ten digits whose last is the Luhn check digit over ``80840`` + the first nine."""
    if not _NPI_RE.match(npi):
        return False
    total = 0
    for i, ch in enumerate(reversed(_NPI_PREFIX + npi)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def check_npi(value: str | None) -> str | None:
    value = _text(value)
    if value is None:
        return None
    if not _NPI_RE.match(value):
        raise DomainError(f"{value!r} is not an NPI: an NPI is 10 digits", field="npi")
    if not npi_is_valid(value):
        raise DomainError(f"NPI {value} fails its check digit (a typo?)", field="npi")
    return value


class Gender(enum.StrEnum):
    """FHIR administrative gender: what the record and the payer use, not a clinical finding."""

    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"


class HumanName(DomainModel):
    family: str
    given: tuple[str, ...] = ()
    prefix: tuple[str, ...] = ()
    suffix: tuple[str, ...] = ()  # credentials such as DDS, RDH

    @field_validator("family")
    @classmethod
    def _family(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise DomainError("a family name is required", field="family")
        return v

    @field_validator("given", "prefix", "suffix")
    @classmethod
    def _parts(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(p.strip() for p in v if p.strip())

    @property
    def display(self) -> str:
        """'Jordan Lee Rivera' (prefix and suffix included: 'Dr. Sam Okafor, DDS')."""
        head = " ".join([*self.prefix, *self.given, self.family])
        return ", ".join([head, *self.suffix])


class Address(DomainModel):
    lines: tuple[str, ...] = ()
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None

    @field_validator("lines")
    @classmethod
    def _lines(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(line.strip() for line in v if line.strip())

    @field_validator("city", "state", "postal_code", "country")
    @classmethod
    def _parts(cls, v: str | None) -> str | None:
        return _text(v)


class Identifier(DomainModel):
    """An identifier another system gave the record (a chart number): kept so it is not lost."""

    system: str
    value: str

    @field_validator("system", "value")
    @classmethod
    def _required(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise DomainError("an identifier needs a system and a value")
        return v


class Patient(DomainModel):
    """A patient of the practice. The GPID is Apex's global patient id, the boundary of every write."""

    id: str = Field(default_factory=new_id)
    gpid: str
    name: HumanName
    birth_date: dt.date | None = None
    gender: Gender = Gender.UNKNOWN
    phone: str | None = None
    email: str | None = None
    address: Address | None = None
    identifiers: tuple[Identifier, ...] = ()  # other systems' ids, e.g. the practice's chart number
    practice: str | None = None  # Organization id of the managing practice

    @field_validator("gpid")
    @classmethod
    def _gpid(cls, v: str) -> str:
        g = v.strip().upper()
        if not GPID_RE.match(g):
            raise DomainError(f"{v!r} is not a GPID: APX- followed by 8 letters or digits", field="gpid")
        return g

    @field_validator("birth_date")
    @classmethod
    def _born(cls, v: dt.date | None) -> dt.date | None:
        if v is not None and v > dt.date.today():
            raise DomainError(f"birth date {v.isoformat()} is in the future", field="birth_date")
        return v

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        v = _text(v)
        if v is not None and sum(ch.isdigit() for ch in v) < 3:
            raise DomainError(f"{v!r} is not a phone number", field="phone")
        return v

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        v = _text(v)
        if v is not None and not _EMAIL_RE.match(v):
            raise DomainError(f"{v!r} is not an e-mail address", field="email")
        return v


class ProviderRole(enum.StrEnum):
    DENTIST = "dentist"
    HYGIENIST = "hygienist"
    ASSISTANT = "assistant"
    SPECIALIST = "specialist"


class Practitioner(DomainModel):
    """A dentist, hygienist or assistant; the NPI (when given) must pass its check digit."""

    id: str = Field(default_factory=new_id)
    name: HumanName
    npi: str | None = None
    role: ProviderRole = ProviderRole.DENTIST

    @field_validator("npi")
    @classmethod
    def _npi(cls, v: str | None) -> str | None:
        return check_npi(v)


class OrgKind(enum.StrEnum):
    PRACTICE = "practice"
    PAYER = "payer"
    LAB = "lab"


class Organization(DomainModel):
    """A practice location, a dental payer or a dental lab."""

    id: str = Field(default_factory=new_id)
    name: str
    kind: OrgKind
    npi: str | None = None  # type 2 (organization) NPI
    tax_id: str | None = None  # US EIN, NN-NNNNNNN

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise DomainError("an organization needs a name", field="name")
        return v

    @field_validator("npi")
    @classmethod
    def _npi(cls, v: str | None) -> str | None:
        return check_npi(v)

    @field_validator("tax_id")
    @classmethod
    def _tax_id(cls, v: str | None) -> str | None:
        v = _text(v)
        if v is None:
            return None
        if not _TAX_ID_RE.match(v):
            raise DomainError(f"{v!r} is not a tax id: 9 digits, written NN-NNNNNNN", field="tax_id")
        digits = v.replace("-", "")
        return f"{digits[:2]}-{digits[2:]}"


class EncounterStatus(enum.StrEnum):
    """The FHIR Encounter statuses a dental visit goes through."""

    PLANNED = "planned"
    ARRIVED = "arrived"
    IN_PROGRESS = "in-progress"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"


class VisitKind(enum.StrEnum):
    EXAM = "exam"
    HYGIENE = "hygiene"
    TREATMENT = "treatment"
    EMERGENCY = "emergency"
    CONSULT = "consult"


class Encounter(DomainModel):
    """A visit: the context that groups the charting, perio exam and procedures of one sitting."""

    id: str = Field(default_factory=new_id)
    patient: str  # Patient id
    provider: str | None = None  # Practitioner id
    start: ZonedDateTime
    end: ZonedDateTime | None = None
    status: EncounterStatus = EncounterStatus.PLANNED
    kind: VisitKind = VisitKind.EXAM
    practice: str | None = None  # Organization id (FHIR serviceProvider)

    @model_validator(mode="after")
    def _order(self) -> Encounter:
        if self.end is not None and self.end < self.start:
            raise DomainError("the visit ends before it starts", field="end")
        if self.status is EncounterStatus.FINISHED and self.end is None:
            raise DomainError("a finished visit needs an end time", field="end")
        return self
