"""Money around the chart: insurance coverage, posted charges, dental claims and their answers.

Rules kept here, once:

* Money is a :class:`~decimal.Decimal` with two places, never negative, never a float; a sub-cent
  amount is refused rather than rounded, since rounding a fee silently changes what is billed.
* A charge or claim line carries a CDT code that must fit its tooth and surfaces
  (:func:`odonto_desk.domain.cdt.check_code`): D2392 needs a posterior tooth and two surfaces.
* A claim line carries surfaces as the claim form does: Class V becomes the tooth's facial letter
  (:func:`odonto_desk.domain.surfaces.claim_surfaces`).
* A claim has one currency; its total is the sum of its line nets, computed, never stored, so it
  cannot disagree with the lines.
* Work is posted on or after the day it is done, never ahead (:func:`check_posting`), and a claim
  is scrubbed before it is sent (:func:`scrub_claim`): every reason a payer would reject it, listed.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from odonto_desk.domain.cdt import Catalog, check_code, normalize_code
from odonto_desk.domain.errors import DomainError, InvalidSurface
from odonto_desk.domain.people import DomainModel, ZonedDateTime, new_id
from odonto_desk.domain.surfaces import (
    Surface,
    claim_surfaces,
    facial_letter,
    format_surfaces,
    normalize_surface,
    parse_surfaces,
)
from odonto_desk.domain.teeth import NumberingSystem, Tooth

CENT = Decimal("0.01")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_ICD10_RE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$")


def to_amount(value: Any) -> Decimal:
    """``210``, ``"210.0"`` or ``210.0`` → ``Decimal("210.00")``; negative or sub-cent is refused."""
    if isinstance(value, bool):
        raise DomainError(f"{value!r} is not an amount such as 125.00")
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise DomainError(f"{value!r} is not an amount such as 125.00") from None
    if not d.is_finite():
        raise DomainError(f"{value!r} is not an amount such as 125.00")
    if d < 0:
        raise DomainError(f"an amount cannot be negative (got {d})")
    q = d.quantize(CENT)
    if q != d:
        raise DomainError(f"{d} has more than two decimal places")
    return q


Amount = Annotated[Decimal, BeforeValidator(to_amount)]


def _currency(value: str) -> str:
    c = value.strip().upper()
    if not _CURRENCY_RE.match(c):
        raise DomainError(f"{value!r} is not an ISO 4217 currency code such as USD", field="currency")
    return c


Currency = Annotated[str, AfterValidator(_currency)]


def _tooth_surfaces(raw: Any, tooth: Tooth | None) -> frozenset[Surface]:
    """Surfaces given as "MO" or a list, each checked against the tooth (B/F folded, O/I refused)."""
    letters = [c for c in raw.upper() if c.strip()] if isinstance(raw, str) else list(raw or ())
    if not letters:
        return frozenset()
    if tooth is None:
        raise InvalidSurface("surfaces need a tooth", field="surfaces")
    return frozenset(normalize_surface(letter, tooth) for letter in letters)


def _tooth_of(data: dict[str, Any]) -> Tooth | None:
    t = data.get("tooth")
    if t is None or isinstance(t, Tooth):
        return t
    return Tooth(str(t))  # an InvalidTooth here names the field 'tooth'


def _normalize_surfaces_input(data: Any) -> Any:
    """Before field validation: fold and check surfaces against the tooth, naming 'surfaces'."""
    if isinstance(data, dict) and "surfaces" in data:
        data = {**data, "surfaces": _tooth_surfaces(data["surfaces"], _tooth_of(data))}
    return data


# --- coverage --------------------------------------------------------------------------------


class FinancialStatus(enum.StrEnum):
    """FHIR fm-status, shared by Coverage, Claim and ClaimResponse."""

    ACTIVE = "active"
    CANCELLED = "cancelled"
    DRAFT = "draft"
    ENTERED_IN_ERROR = "entered-in-error"


class Relationship(enum.StrEnum):
    """The patient's relationship to the subscriber (HL7 subscriber-relationship codes)."""

    SELF = "self"
    SPOUSE = "spouse"
    CHILD = "child"
    PARENT = "parent"
    COMMON = "common"  # common-law spouse
    OTHER = "other"


class Coverage(DomainModel):
    """A dental insurance policy the patient is covered by."""

    id: str = Field(default_factory=new_id)
    patient: str  # Patient id (the beneficiary)
    payer: str  # Organization id of the payer
    subscriber_id: str
    relationship: Relationship = Relationship.SELF
    group: str | None = None
    plan: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    status: FinancialStatus = FinancialStatus.ACTIVE

    @field_validator("subscriber_id")
    @classmethod
    def _subscriber(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise DomainError("the member (subscriber) id is required", field="subscriber_id")
        return v

    @field_validator("group", "plan")
    @classmethod
    def _optional(cls, v: str | None) -> str | None:
        return (v.strip() or None) if v is not None else None

    @model_validator(mode="after")
    def _period(self) -> Coverage:
        if self.start and self.end and self.end < self.start:
            raise DomainError("coverage ends before it starts", field="end")
        return self

    def covers(self, day: dt.date) -> bool:
        """True if the policy is in force on ``day`` (an open end means still in force)."""
        return (self.status is FinancialStatus.ACTIVE and (self.start is None or self.start <= day)
                and (self.end is None or day <= self.end))


# --- charges ---------------------------------------------------------------------------------


class ChargeStatus(enum.StrEnum):
    PLANNED = "planned"
    BILLABLE = "billable"
    NOT_BILLABLE = "not-billable"
    ABORTED = "aborted"
    BILLED = "billed"
    ENTERED_IN_ERROR = "entered-in-error"


class ChargeItem(DomainModel):
    """A posted procedure fee on the patient's ledger: one CDT code, one tooth, its surfaces."""

    id: str = Field(default_factory=new_id)
    patient: str
    code: str
    tooth: Tooth | None = None
    surfaces: frozenset[Surface] = frozenset()
    fee: Amount
    currency: Currency = "USD"
    date: dt.date
    procedure: str | None = None  # Procedure id of the work the fee is for
    provider: str | None = None  # Practitioner id
    encounter: str | None = None  # Encounter id
    status: ChargeStatus = ChargeStatus.BILLABLE

    @model_validator(mode="before")
    @classmethod
    def _surfaces_in(cls, data: Any) -> Any:
        return _normalize_surfaces_input(data)

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        return normalize_code(v)

    @model_validator(mode="after")
    def _fits(self) -> ChargeItem:
        check_code(self.code, self.tooth, self.surfaces)
        return self

    @property
    def surface_string(self) -> str:
        return format_surfaces(self.surfaces)


# --- claims ----------------------------------------------------------------------------------


class ClaimUse(enum.StrEnum):
    CLAIM = "claim"
    PREAUTHORIZATION = "preauthorization"
    PREDETERMINATION = "predetermination"  # a pre-treatment estimate


class Priority(enum.StrEnum):
    STAT = "stat"
    NORMAL = "normal"
    DEFERRED = "deferred"


class Payee(enum.StrEnum):
    """Who the payer pays: the practice (assignment of benefits) or the subscriber."""

    PROVIDER = "provider"
    SUBSCRIBER = "subscriber"
    OTHER = "other"


class ClaimItem(DomainModel):
    """One line of a dental claim. ``fee`` is the unit fee; the line's net is fee × quantity."""

    sequence: int = Field(ge=1)
    code: str
    tooth: Tooth | None = None
    surfaces: frozenset[Surface] = frozenset()
    fee: Amount
    quantity: int = Field(default=1, ge=1)
    date: dt.date | None = None  # date of service
    procedure: str | None = None  # Procedure id

    @model_validator(mode="before")
    @classmethod
    def _claim_surfaces(cls, data: Any) -> Any:
        data = _normalize_surfaces_input(data)
        if isinstance(data, dict) and data.get("surfaces"):
            tooth = _tooth_of(data)
            assert tooth is not None  # _normalize_surfaces_input refused surfaces without a tooth
            data = {**data, "surfaces": frozenset(claim_surfaces(data["surfaces"], tooth))}
        return data

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        return normalize_code(v)

    @model_validator(mode="after")
    def _fits(self) -> ClaimItem:
        check_code(self.code, self.tooth, self.surfaces)
        return self

    @property
    def net(self) -> Decimal:
        return (self.fee * self.quantity).quantize(CENT)

    @property
    def surface_string(self) -> str:
        return format_surfaces(self.surfaces)


class Claim(DomainModel):
    """A dental (type oral) claim or pre-determination for one patient under one coverage."""

    id: str = Field(default_factory=new_id)
    patient: str
    coverage: str  # Coverage id
    billing_org: str  # Organization id of the billing practice (FHIR Claim.provider)
    provider: str | None = None  # Practitioner id of the treating dentist (the care team)
    insurer: str | None = None  # Organization id of the payer
    created: ZonedDateTime
    items: tuple[ClaimItem, ...]
    currency: Currency = "USD"
    use: ClaimUse = ClaimUse.CLAIM
    priority: Priority = Priority.NORMAL
    payee: Payee = Payee.PROVIDER
    diagnoses: tuple[str, ...] = ()  # ICD-10-CM codes
    status: FinancialStatus = FinancialStatus.ACTIVE

    @field_validator("diagnoses")
    @classmethod
    def _icd10(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(code.strip().upper() for code in v)
        for code in out:
            if not _ICD10_RE.match(code):
                raise DomainError(f"{code!r} is not an ICD-10 code such as K02.52", field="diagnoses")
        return out

    @field_validator("items")
    @classmethod
    def _items(cls, v: tuple[ClaimItem, ...]) -> tuple[ClaimItem, ...]:
        if not v:
            raise DomainError("a claim needs at least one line", field="items")
        seen: set[int] = set()
        for item in v:
            if item.sequence in seen:
                raise DomainError(f"line number {item.sequence} is used twice", field="items")
            seen.add(item.sequence)
        return tuple(sorted(v, key=lambda i: i.sequence))

    @property
    def total(self) -> Decimal:
        return sum((i.net for i in self.items), Decimal("0.00"))


# --- claim responses ---------------------------------------------------------------------------


class Outcome(enum.StrEnum):
    QUEUED = "queued"
    COMPLETE = "complete"
    ERROR = "error"
    PARTIAL = "partial"


# The adjudication amounts we keep, by their code in the HL7 adjudication system.
ADJUDICATION_FIELDS: tuple[str, ...] = ("submitted", "eligible", "benefit", "copay")


class ItemAdjudication(DomainModel):
    """What the payer decided for one claim line (``item_sequence``)."""

    item_sequence: int = Field(ge=1)
    submitted: Amount | None = None
    eligible: Amount | None = None  # the allowed amount
    benefit: Amount | None = None  # what the payer pays
    copay: Amount | None = None  # the patient's share

    @model_validator(mode="after")
    def _consistent(self) -> ItemAdjudication:
        if all(getattr(self, f) is None for f in ADJUDICATION_FIELDS):
            raise DomainError("an adjudicated line needs at least one amount", field="submitted")
        if self.submitted is not None and self.eligible is not None and self.eligible > self.submitted:
            raise DomainError(f"eligible {self.eligible} exceeds submitted {self.submitted}", field="eligible")
        if self.eligible is not None and self.benefit is not None and self.benefit > self.eligible:
            raise DomainError(f"benefit {self.benefit} exceeds eligible {self.eligible}", field="benefit")
        return self

    def amounts(self) -> Iterable[tuple[str, Decimal]]:
        """(adjudication code, amount) for the amounts present, in a fixed order."""
        for f in ADJUDICATION_FIELDS:
            value = getattr(self, f)
            if value is not None:
                yield f, value


class Payment(DomainModel):
    amount: Amount
    date: dt.date | None = None


class ClaimResponse(DomainModel):
    """The payer's adjudication of a claim (or its answer to a pre-determination)."""

    id: str = Field(default_factory=new_id)
    claim: str  # Claim id
    patient: str
    insurer: str  # Organization id of the payer
    created: ZonedDateTime
    outcome: Outcome
    items: tuple[ItemAdjudication, ...] = ()
    payment: Payment | None = None
    disposition: str | None = None
    currency: Currency = "USD"
    use: ClaimUse = ClaimUse.CLAIM
    status: FinancialStatus = FinancialStatus.ACTIVE

    @field_validator("disposition")
    @classmethod
    def _disposition(cls, v: str | None) -> str | None:
        return (v.strip() or None) if v is not None else None

    @field_validator("items")
    @classmethod
    def _items(cls, v: tuple[ItemAdjudication, ...]) -> tuple[ItemAdjudication, ...]:
        seen: set[int] = set()
        for item in v:
            if item.item_sequence in seen:
                raise DomainError(f"line {item.item_sequence} is adjudicated twice", field="items")
            seen.add(item.item_sequence)
        return tuple(sorted(v, key=lambda i: i.item_sequence))

    def totals(self) -> dict[str, Decimal]:
        """Per adjudication code, the sum over the lines that carry it."""
        out: dict[str, Decimal] = {}
        for item in self.items:
            for code, amount in item.amounts():
                out[code] = out.get(code, Decimal("0.00")) + amount
        return out


# --- posting: what the user typed, checked field by field ---------------------------------------


@dataclass(frozen=True)
class PostingInput:
    """One procedure as typed on the posting form; every field still raw text (tooth in ``numbering``)."""

    code: str
    tooth: str = ""
    surfaces: str = ""
    fee: str = ""
    date: dt.date | None = None
    provider: str | None = None  # Practitioner id


@dataclass(frozen=True)
class PostingCheck:
    """The verdict on a :class:`PostingInput`: a message per field at fault, or the values to post."""

    problems: dict[str, str]
    code: str | None = None
    tooth: Tooth | None = None
    surfaces: frozenset[Surface] = frozenset()
    fee: Decimal | None = None
    date: dt.date | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def check_service_date(day: dt.date | None, today: dt.date) -> dt.date:
    """The date of service: required, never after today (work is posted once it is done)."""
    if day is None:
        raise DomainError("the date of service is required", field="date")
    if day > today:
        raise DomainError(f"{day.isoformat()} is in the future: post work on or after the day it is done",
                          field="date")
    return day


def check_posting(entry: PostingInput, catalog: Catalog, *, today: dt.date,
                  numbering: NumberingSystem = NumberingSystem.UNIVERSAL) -> PostingCheck:
    """Check every field, not only the first bad one, so the form can say all that is wrong at once.

    The code must be in the practice's list (a fee posted under a code the practice does not bill
    cannot be claimed), the tooth and surfaces must exist and fit the code (surfaces required, count
    matching the code, with the code that would fit suggested), the fee must be a positive amount.
    """
    problems: dict[str, str] = {}

    def attempt(fieldname: str, read: Any) -> Any:
        try:
            return read()
        except DomainError as exc:
            problems[fieldname] = exc.message
            return None

    code = attempt("code", lambda: normalize_code(entry.code))
    if code is not None and code not in catalog:
        problems["code"] = f"{code} is not in the practice's code list"
        code = None
    tooth = attempt("tooth", lambda: Tooth.parse(entry.tooth, numbering)) if entry.tooth.strip() else None
    surfaces: frozenset[Surface] = frozenset()
    if entry.surfaces.strip():
        if tooth is not None:
            surfaces = attempt("surfaces", lambda: parse_surfaces(entry.surfaces, tooth)) or frozenset()
        elif "tooth" not in problems:
            problems["tooth"] = "give the tooth these surfaces are on"
    fee = attempt("fee", lambda: to_amount(entry.fee.replace("$", "").replace(",", "")))
    if not entry.fee.strip():
        problems["fee"] = "the fee is required"
    elif fee is not None and fee == 0:
        problems["fee"] = "the fee must be more than 0.00 (post a no-charge service with its usual fee)"
    date = attempt("date", lambda: check_service_date(entry.date, today))
    if not entry.provider:
        problems["provider"] = "choose the provider who did the work"
    if code is not None and "tooth" not in problems and "surfaces" not in problems:
        try:
            catalog.check(code, tooth, surfaces)
        except DomainError as exc:
            problems[exc.field if exc.field in ("tooth", "surfaces") else "code"] = exc.message
    return PostingCheck(problems, code, tooth, surfaces, fee, date)


# --- the claim scrubber: what a payer would reject, found before anything is sent ---------------


@dataclass(frozen=True)
class ClaimLine:
    """A posted charge as a claim line before the claim form's conversions (surfaces as charted, V kept)."""

    charge: str  # ChargeItem id
    code: str
    tooth: Tooth | None
    surfaces: frozenset[Surface]
    fee: Decimal
    date: dt.date | None
    procedure: str | None = None
    billed: bool = False  # already on a claim

    @classmethod
    def of(cls, charge: ChargeItem) -> ClaimLine:
        return cls(charge.id, charge.code, charge.tooth, charge.surfaces, charge.fee, charge.date, charge.procedure,
                   charge.status is ChargeStatus.BILLED)

    def item(self, sequence: int) -> ClaimItem:
        """The claim line as sent (V becomes the tooth's facial letter); valid once the scrubber passed it."""
        return ClaimItem(sequence=sequence, code=self.code, tooth=self.tooth, surfaces=self.surfaces, fee=self.fee,
                         date=self.date, procedure=self.procedure)


@dataclass(frozen=True)
class ScrubIssue:
    """One reason a payer would reject the claim; ``line`` is the 1-based claim line (None: the whole claim)."""

    rule: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


def _claim_letters(line: ClaimLine) -> frozenset[Surface]:
    return frozenset(claim_surfaces(line.surfaces, line.tooth)) if line.tooth is not None else line.surfaces


def _scrub_line(n: int, line: ClaimLine, coverage: Coverage | None, catalog: Catalog,
                today: dt.date) -> list[ScrubIssue]:
    issues: list[ScrubIssue] = []
    if line.billed:
        issues.append(ScrubIssue("billed", f"{line.code} is already on a claim", n))
    if line.fee <= 0:
        issues.append(ScrubIssue("fee", f"the fee {line.fee} must be more than 0.00", n))
    if line.date is None:
        issues.append(ScrubIssue("date", "the date of service is missing", n))
    elif line.date > today:
        issues.append(ScrubIssue("date", f"the date of service {line.date.isoformat()} is in the future", n))
    elif coverage is not None and coverage.status is FinancialStatus.ACTIVE and not coverage.covers(line.date):
        issues.append(ScrubIssue("coverage", f"the coverage is not in force on {line.date.isoformat()}", n))
    letters = _claim_letters(line)
    if line.tooth is not None and Surface.V in line.surfaces and len(letters) < len(line.surfaces):
        facial = facial_letter(line.tooth).value
        issues.append(ScrubIssue(
            "class-v", f"{format_surfaces(line.surfaces)} on tooth {line.tooth.universal}: on a claim V is sent as "
            f"{facial}, which leaves {format_surfaces(letters)}; post {line.code} again with the surfaces the "
            "claim can carry", n))
        return issues
    try:
        catalog.check(line.code, line.tooth, letters)
    except DomainError as exc:
        rule = {"tooth": "tooth", "surfaces": "surfaces"}.get(exc.field or "", "code")
        issues.append(ScrubIssue(rule, exc.message, n))
    return issues


def scrub_claim(lines: Sequence[ClaimLine], coverage: Coverage | None, catalog: Catalog, *,
                today: dt.date) -> list[ScrubIssue]:
    """Everything a payer would reject in a claim of ``lines`` under ``coverage``, in line order.

    Pure and complete (not the first problem only), so the screen can list every fix before the
    claim is sent. Rules: a claim needs lines and a coverage that is active; each line needs a
    positive fee, a date of service not in the future and inside the coverage period, a tooth when
    its code needs one, surfaces that fit the code *as the claim carries them* (V converted to B/F,
    so charted ``BV`` is one surface on the claim), no line repeated, and no charge claimed twice.
    """
    issues: list[ScrubIssue] = []
    if not lines:
        issues.append(ScrubIssue("no-lines", "choose at least one posted procedure"))
    if coverage is None:
        issues.append(ScrubIssue("no-coverage", "the patient has no dental coverage on file to bill"))
    elif coverage.status is not FinancialStatus.ACTIVE:
        issues.append(ScrubIssue("coverage", f"the coverage is {coverage.status.value}, not active"))
    seen: dict[tuple[Any, ...], int] = {}
    for n, line in enumerate(lines, start=1):
        issues += _scrub_line(n, line, coverage, catalog, today)
        key = (line.code, line.tooth, _claim_letters(line), line.date)
        if key in seen:
            issues.append(ScrubIssue("duplicate", f"{line.code} repeats line {seen[key]} (same tooth, surfaces and "
                                     "date)", n))
        else:
            seen[key] = n
    return issues
