"""The ledger screen's service: post completed work, read the ledger, and build, scrub and send claims.

Plain blocking Python, no Qt; called from worker threads by ``ui/ops/ledger.py``.

Posting goes to the server as one ``/odonto/v1/procedures/post`` operation in the outbox (the
Procedure, its ChargeItem, and the planned ServiceRequest it completes). The server stores both
resources under the ids we give them, so the local copies kept for the offline ledger are the
server's future copies, and a later pull replaces them instead of adding a second line. They are
stored without an outbox create of their own (that would post them twice); the queued operation,
audited with them in the same transaction, is their pending write. Each posting carries a key made
when the form was filled: a second post with the same key (a double click) returns the first.

A claim is scrubbed (:func:`odonto_desk.domain.billing.scrub_claim`) before anything is written; a
clean claim is a FHIR create through the cache, and the charges it bills are marked billed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal, TypeVar

from odonto_desk.domain.billing import (
    ChargeItem,
    ChargeStatus,
    Claim,
    ClaimLine,
    ClaimResponse,
    Coverage,
    FinancialStatus,
    PostingInput,
    ScrubIssue,
    check_posting,
    scrub_claim,
)
from odonto_desk.domain.cdt import Catalog
from odonto_desk.domain.chart import ChartMark, MarkStatus
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.people import OrgKind
from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.resources.billing import (
    build_charge,
    build_claim,
    build_posted_procedure,
    charge_billed,
    read_charge,
    read_claim,
    read_claim_response,
    read_coverage,
)
from odonto_desk.fhir.resources.chart import on_chart, plan_done, read_mark
from odonto_desk.fhir.resources.people import read_organization, read_practitioner
from odonto_desk.fhir.resources.plan import read_plan
from odonto_desk.services.patients import PatientService
from odonto_desk.services.session import Session
from odonto_desk.store.cache import Cache
from odonto_desk.store.db import transaction

Json = dict[str, Any]
T = TypeVar("T")
LEDGER_TYPES = ("ChargeItem", "Claim", "ClaimResponse", "Coverage", "ServiceRequest", "CarePlan")
_RETIRED = (ChargeStatus.ENTERED_IN_ERROR, ChargeStatus.ABORTED)


class PostingRefused(DomainError):
    """The posting form has fields the rules refuse; ``problems`` maps each field to its message."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()), field=next(iter(problems), None))
        self.problems = problems


class ClaimRefused(DomainError):
    """The scrubber found what a payer would reject; nothing was written or sent."""

    def __init__(self, issues: Sequence[ScrubIssue]) -> None:
        super().__init__("the claim was not sent: " + "; ".join(map(str, issues)), field="claim")
        self.issues = tuple(issues)


@dataclass(frozen=True)
class Provider:
    id: str
    name: str


@dataclass(frozen=True)
class PlannedWork:
    """A planned chart mark with a code, ready to be posted as done; ``fee`` from the plan when it has one."""

    mark: ChartMark
    fee: Decimal | None


@dataclass(frozen=True)
class LedgerRow:
    """One ledger line: a posted charge (+) or an insurance payment (−), with the balance after it."""

    date: dt.date
    kind: Literal["charge", "payment"]
    amount: Decimal
    balance: Decimal
    provider: str = ""
    charge: ChargeItem | None = None
    sent: bool = True  # False while the posting waits in the outbox
    note: str = ""
    billed: bool = False  # on a claim (marked billed, or its procedure is on an active claim)


@dataclass(frozen=True)
class ClaimView:
    claim: Claim
    response: ClaimResponse | None
    sent: bool


@dataclass(frozen=True)
class LedgerView:
    patient_id: str
    rows: tuple[LedgerRow, ...]
    planned: tuple[PlannedWork, ...]
    providers: tuple[Provider, ...]
    coverages: tuple[Coverage, ...]
    claims: tuple[ClaimView, ...]
    unreadable: tuple[str, ...] = ()

    @property
    def balance(self) -> Decimal:
        return self.rows[-1].balance if self.rows else Decimal("0.00")


@dataclass(frozen=True)
class Posted:
    charge: ChargeItem
    completed: str | None  # the ServiceRequest closed, if any
    repeated: bool  # True: this key was posted before, nothing new was written


@dataclass(frozen=True)
class ClaimDraft:
    lines: tuple[ClaimLine, ...]
    coverage: Coverage | None
    issues: tuple[ScrubIssue, ...]


class LedgerService:
    def __init__(self, session: Session, catalog: Catalog, *, today: dt.date | None = None) -> None:
        self.session = session
        self.catalog = catalog
        self.patients = PatientService(session, today=today)

    @property
    def today(self) -> dt.date:
        return self.patients.today

    # --- reading -----------------------------------------------------------------------------------

    def open(self, patient_id: str) -> LedgerView:
        """The patient's ledger, planned work, coverage and claims as the cache holds them; audited as viewed."""
        cache = self.session.cache()
        self.patients.get(patient_id)  # an unknown patient is a KeyError, not an empty ledger
        resources = cache.patient_resources(patient_id, LEDGER_TYPES)
        unreadable: list[str] = []
        by_type: dict[str, list[Json]] = {}
        for r in resources:
            by_type.setdefault(r["resourceType"], []).append(r)
        providers = self.providers()
        names = {p.id: p.name for p in providers}
        charges = _read_all(by_type.get("ChargeItem", []), read_charge, unreadable)
        claims = [c for c in _read_all(by_type.get("Claim", []), read_claim, unreadable)
                  if c.status is FinancialStatus.ACTIVE]
        responses = {r.claim: r for r in _read_all(by_type.get("ClaimResponse", []), read_claim_response, unreadable)}
        claimed = {i.procedure for c in claims for i in c.items if i.procedure}
        rows = _ledger_rows(cache, [c for c in charges if c.status not in _RETIRED], responses.values(), names,
                            claimed)
        claim_views = tuple(ClaimView(c, responses.get(c.id), _sent(cache, "Claim", c.id))
                            for c in sorted(claims, key=lambda c: c.created))
        coverages = tuple(_read_all(by_type.get("Coverage", []), read_coverage, unreadable))
        planned = self._planned(by_type.get("ServiceRequest", []), by_type.get("CarePlan", []))
        user = self.session.user
        cache.audit.record(user.name, user.role.value, "viewed", "Patient", patient_id, None, "ledger opened")
        return LedgerView(patient_id, tuple(rows), planned, providers, coverages, claim_views, tuple(unreadable))

    def providers(self) -> tuple[Provider, ...]:
        out = []
        for r in self.session.cache().of_type("Practitioner"):
            with contextlib.suppress(DomainError, FhirMappingError):
                p = read_practitioner(r)
                out.append(Provider(p.id, p.name.display))
        return tuple(sorted(out, key=lambda p: p.name))

    def _planned(self, requests: list[Json], plans: list[Json]) -> tuple[PlannedWork, ...]:
        fees: dict[str, Decimal] = {}
        for r in plans:
            with contextlib.suppress(DomainError, FhirMappingError):
                for item in read_plan(r).items:
                    if item.service_request and item.fee is not None:
                        fees[item.service_request] = item.fee
        out = []
        for r in requests:
            if not on_chart(r):
                continue
            with contextlib.suppress(DomainError, FhirMappingError):
                mark = read_mark(r)
                if mark.status is MarkStatus.TREATMENT_PLANNED and mark.code:
                    entry = self.catalog.get(mark.code)
                    out.append(PlannedWork(mark, fees.get(mark.id, entry.fee if entry else None)))
        return tuple(sorted(out, key=lambda w: (w.mark.tooth, w.mark.code or "")))

    # --- posting -----------------------------------------------------------------------------------

    def post(self, patient_id: str, entry: PostingInput, *, key: str, completes: str | None = None,
             numbering: NumberingSystem = NumberingSystem.UNIVERSAL) -> Posted:
        """Post one completed procedure and its fee; with ``completes``, the planned item it finishes.

        ``key`` identifies this posting (the form makes one per procedure it is filled for): a repeat
        with the same key writes nothing and returns the first posting. Bad fields raise
        :class:`PostingRefused` and nothing is written or queued.
        """
        cache = self.session.cache()
        charge_id = f"charge-{key}"
        if (existing := cache.get("ChargeItem", charge_id)) is not None:
            return Posted(read_charge(existing), completes, repeated=True)
        check = check_posting(entry, self.catalog, today=self.today, numbering=numbering)
        planned, planned_resource = self._planned_item(cache, patient_id, completes)
        if not check.ok:
            raise PostingRefused(check.problems)
        assert check.code is not None and check.fee is not None and check.date is not None
        charge = ChargeItem(id=charge_id, patient=patient_id, code=check.code, tooth=check.tooth,
                            surfaces=check.surfaces, fee=check.fee, date=check.date, procedure=f"proc-{key}",
                            provider=entry.provider)
        procedure = build_posted_procedure(charge, planned=planned, based_on=completes)
        charge_resource = build_charge(charge)
        gpid = self.patients.get(patient_id).gpid
        # Only a planned item the server already knows by this id can be named; one still waiting to be
        # created is closed by its own queued update, which is sent first.
        known = completes is not None and (row := cache.row("ServiceRequest", completes)) is not None \
            and row.version is not None
        body = {"procedures": [procedure], "charge_items": [charge_resource], "completes": [completes] if known else []}
        user = self.session.user
        with transaction(cache.db):
            if planned_resource is not None:
                cache.edit(plan_done(planned_resource), user.name, user.role.value, gpid=gpid)
            cache.queue_op("procedures/post", body, user.name, user.role.value, gpid=gpid)
            cache.put_from_server([procedure, charge_resource])
            for r in (procedure, charge_resource):
                cache.audit.record(user.name, user.role.value, "created", r["resourceType"], r["id"], None,
                                   f"posted {charge.code} {charge.fee}")
        self._wake()
        return Posted(charge, completes, repeated=False)

    def _planned_item(self, cache: Cache, patient_id: str,
                      sr_id: str | None) -> tuple[ChartMark | None, Json | None]:
        if sr_id is None:
            return None, None
        resource = cache.get("ServiceRequest", sr_id)
        if resource is None or not on_chart(resource):
            raise DomainError("that planned item is no longer open (already completed or removed)", field="planned")
        mark = read_mark(resource)
        if mark.patient != patient_id or mark.status is not MarkStatus.TREATMENT_PLANNED:
            raise DomainError(f"{mark.describe()} is not this patient's planned work", field="planned")
        return mark, resource

    # --- claims ------------------------------------------------------------------------------------

    def draft_claim(self, patient_id: str, charge_ids: Sequence[str], coverage_id: str | None) -> ClaimDraft:
        """The claim these posted charges would make, with everything the scrubber finds wrong in it."""
        cache = self.session.cache()
        claimed = self._claimed_procedures(cache, patient_id)
        lines = []
        for cid in charge_ids:
            resource = cache.get("ChargeItem", cid)
            if resource is None:
                raise KeyError(f"ChargeItem/{cid} is not in the cache")
            charge = read_charge(resource)
            if charge.patient != patient_id:
                raise DomainError(f"charge {cid} belongs to another patient", field="lines")
            line = ClaimLine.of(charge)
            lines.append(replace(line, billed=True) if charge.procedure in claimed else line)
        lines.sort(key=lambda line: (line.date or dt.date.min, line.code))
        coverage = None
        if coverage_id is not None:
            resource = cache.get("Coverage", coverage_id)
            coverage = read_coverage(resource) if resource is not None else None
        issues = scrub_claim(lines, coverage, self.catalog, today=self.today)
        return ClaimDraft(tuple(lines), coverage, tuple(issues))

    def send_claim(self, patient_id: str, charge_ids: Sequence[str], coverage_id: str | None) -> Claim:
        """Scrub, then create the Claim (type oral) through the cache and mark its charges billed.

        Any scrubber issue raises :class:`ClaimRefused` before anything is written or queued.
        """
        draft = self.draft_claim(patient_id, charge_ids, coverage_id)
        if draft.issues:
            raise ClaimRefused(draft.issues)
        assert draft.coverage is not None
        cache = self.session.cache()
        practice = self._practice(cache)
        provider = next((c.provider for c in self._charges(cache, charge_ids) if c.provider), None)
        claim = Claim(patient=patient_id, coverage=draft.coverage.id, billing_org=practice, provider=provider,
                      insurer=draft.coverage.payer, created=dt.datetime.now(dt.UTC),
                      items=tuple(line.item(n) for n, line in enumerate(draft.lines, start=1)))
        gpid = self.patients.get(patient_id).gpid
        user = self.session.user
        with transaction(cache.db):
            cache.create(build_claim(claim), user.name, user.role.value, gpid=gpid)
            for line in draft.lines:
                current = cache.get("ChargeItem", line.charge)
                assert current is not None  # read by draft_claim in this thread a moment ago
                cache.edit(charge_billed(current), user.name, user.role.value, gpid=gpid)
        self._wake()
        return claim

    def _claimed_procedures(self, cache: Cache, patient_id: str) -> set[str]:
        """Procedures already on an active claim: their charges are billed even if nobody marked them so."""
        out: set[str] = set()
        for r in cache.patient_resources(patient_id, ("Claim",)):
            with contextlib.suppress(DomainError, FhirMappingError):
                claim = read_claim(r)
                if claim.status is FinancialStatus.ACTIVE:
                    out |= {i.procedure for i in claim.items if i.procedure}
        return out

    def _charges(self, cache: Cache, charge_ids: Sequence[str]) -> list[ChargeItem]:
        return [read_charge(r) for cid in charge_ids if (r := cache.get("ChargeItem", cid)) is not None]

    def _practice(self, cache: Cache) -> str:
        for r in cache.of_type("Organization"):
            with contextlib.suppress(DomainError, FhirMappingError):
                org = read_organization(r)
                if org.kind is OrgKind.PRACTICE:
                    return org.id
        raise DomainError("no billing practice (Organization) is on file: sync with the server first",
                          field="claim")

    def _wake(self) -> None:
        with contextlib.suppress(Exception):  # no server configured: the outbox waits
            self.session.sync().wake()


def _read_all(resources: list[Json], read: Callable[[Json], T], unreadable: list[str]) -> list[T]:
    out: list[T] = []
    for r in resources:
        try:
            out.append(read(r))
        except (FhirMappingError, DomainError) as exc:
            unreadable.append(f"{r.get('resourceType')}/{r.get('id')}: {exc}")
    return out


def _sent(cache: Cache, rtype: str, rid: str) -> bool:
    row = cache.row(rtype, rid)
    return row is not None and row.version is not None


def _ledger_rows(cache: Cache, charges: list[ChargeItem], responses: Iterable[ClaimResponse],
                 names: dict[str, str], claimed: set[str]) -> list[LedgerRow]:
    """Charges and insurance payments by date (charges first on a day), each with the running balance."""
    events: list[tuple[dt.date, int, LedgerRow]] = []
    for c in charges:
        billed = c.status is ChargeStatus.BILLED or c.procedure in claimed
        events.append((c.date, 0, LedgerRow(c.date, "charge", c.fee, Decimal("0.00"), names.get(c.provider or "", ""),
                                            c, _sent(cache, "ChargeItem", c.id), billed=billed)))
    for r in responses:
        if r.payment is not None and r.payment.date is not None:
            events.append((r.payment.date, 1, LedgerRow(r.payment.date, "payment", -r.payment.amount, Decimal("0.00"),
                                                         note=r.disposition or "insurance payment")))
    events.sort(key=lambda e: (e[0], e[1]))
    rows, balance = [], Decimal("0.00")
    for _, _, row in events:
        balance += row.amount
        rows.append(replace(row, balance=balance))
    return rows
