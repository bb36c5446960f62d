"""The Plan screen's service: a patient's treatment plans, their lines, fees, estimates and signature.

Plain blocking Python, no Qt; called from worker threads by ``ui/ops/plans.py``.

A plan is sent with ``POST /odonto/v1/treatment-plans`` (the CarePlan and the ServiceRequests it
brings) through the outbox, never as plain FHIR creates: the operation keeps our ids (so a plan is
stored once however often it is re-sent, and the sync engine never renames it), assigns the Apex
``CP-…`` number and fires ``odonto.treatment_plan.updated``. So that the screen works offline, the
same resources are also written to the cache as the copy the server will hold, in the same SQLite
transaction as the outbox row and the audit row; the next pull replaces that copy with the server's
(with its CP number and version). A line planned here with a tooth becomes a planned chart mark
(ServiceRequest) so the odontogram shows it; a line without one (a cleaning) stays inside the plan.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from odonto_desk.domain.billing import FinancialStatus
from odonto_desk.domain.cdt import Catalog, ServiceCategory
from odonto_desk.domain.chart import ChartMark, MarkStatus, kind_for_code
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.plan import (
    DEFAULT_COVERAGE,
    Estimate,
    FeeSchedule,
    LineStatus,
    PlanItem,
    PlanSignature,
    PlanStatus,
    Priority,
    TreatmentPlan,
)
from odonto_desk.domain.teeth import NumberingSystem, Tooth
from odonto_desk.fhir.errors import FhirMappingError
from odonto_desk.fhir.resources.billing import read_coverage
from odonto_desk.fhir.resources.chart import build_mark
from odonto_desk.fhir.resources.plan import build_plan, read_plan
from odonto_desk.services.chart import ChartService, ChartView
from odonto_desk.services.patients import PatientService
from odonto_desk.services.session import Session
from odonto_desk.store.db import transaction

Json = dict[str, Any]
OPERATION = "treatment-plans"
_LIVE_ORDER = {PlanStatus.ACTIVE: 0, PlanStatus.DRAFT: 1, PlanStatus.COMPLETED: 2, PlanStatus.REVOKED: 3}


@dataclass(frozen=True)
class PlanView:
    """What the Plan tab shows for one patient."""

    chart: ChartView  # the odontogram, for the case presentation
    plans: tuple[TreatmentPlan, ...]  # active first, then drafts, completed, revoked; newest first within
    candidates: tuple[ChartMark, ...]  # planned chart marks that are in no plan yet
    coverage: Mapping[ServiceCategory, int] | None  # None: no insurance in force today
    unreadable: tuple[str, ...] = ()

    @property
    def patient_id(self) -> str:
        return self.chart.patient.id

    def plan(self, plan_id: str | None) -> TreatmentPlan | None:
        return next((p for p in self.plans if p.id == plan_id), None)


class PlanService:
    def __init__(self, session: Session, catalog: Catalog, *, today: dt.date | None = None) -> None:
        self.session = session
        self.catalog = catalog
        self.fees = FeeSchedule.from_entries(catalog)
        self.charts = ChartService(session, today=today)

    @property
    def today(self) -> dt.date:
        return self.charts.patients.today

    def category_of(self, code: str) -> ServiceCategory:
        return self.catalog.category(code)

    def estimate(self, plan: TreatmentPlan, coverage: Mapping[ServiceCategory, int] | None,
                 phase: int | None = None) -> Estimate:
        return plan.estimate(self.category_of, coverage, phase=phase)

    # --- reading -----------------------------------------------------------------------------------

    def open(self, patient_id: str) -> PlanView:
        """The patient's plans as the cache holds them now; audited as viewed."""
        chart = self.charts.open(patient_id, audit=False)
        cache = self.session.cache()
        plans: list[TreatmentPlan] = []
        bad: list[str] = []
        for r in cache.patient_resources(patient_id, ("CarePlan",)):
            try:
                plans.append(self._with_server_ids(read_plan(r)))
            except (FhirMappingError, DomainError) as exc:
                bad.append(f"CarePlan/{r.get('id')}: {exc}")
        plans.sort(key=lambda p: (_LIVE_ORDER[p.status], -(p.created.timestamp() if p.created else 0)))
        planned = {i.service_request for p in plans for i in p.items if i.service_request}
        candidates = tuple(m for m in chart.marks
                           if m.status is MarkStatus.TREATMENT_PLANNED and m.code and m.id not in planned)
        user = self.session.user
        cache.audit.record(user.name, user.role.value, "viewed", "Patient", patient_id, None, "treatment plans opened")
        return PlanView(chart, tuple(plans), candidates, self._coverage(patient_id), tuple(bad))

    def _with_server_ids(self, plan: TreatmentPlan) -> TreatmentPlan:
        """Lines pointing at a chart mark the server has since renamed point at its new id."""
        cache = self.session.cache()
        renamed = {}
        for item in plan.items:
            if item.service_request:
                server_id = cache.server_id_for("ServiceRequest", item.service_request)
                if server_id and server_id != item.service_request:
                    renamed[item.id] = item.model_copy(update={"service_request": server_id})
        return plan.with_lines(renamed) if renamed else plan

    def _coverage(self, patient_id: str) -> Mapping[ServiceCategory, int] | None:
        for r in self.session.cache().patient_resources(patient_id, ("Coverage",)):
            try:
                coverage = read_coverage(r)
            except (FhirMappingError, DomainError):
                continue
            if coverage.status is FinancialStatus.ACTIVE and coverage.covers(self.today):
                return DEFAULT_COVERAGE
        return None

    def _plan(self, plan_id: str) -> TreatmentPlan:
        resource = self.session.cache().get("CarePlan", plan_id)
        if resource is None:
            raise KeyError(f"treatment plan {plan_id} is not on this computer")
        return self._with_server_ids(read_plan(resource))

    # --- writing -----------------------------------------------------------------------------------

    def new_plan(self, patient_id: str, title: str) -> TreatmentPlan:
        plan = TreatmentPlan(patient=patient_id, title=title, status=PlanStatus.DRAFT,
                             created=dt.datetime.now(dt.UTC).astimezone())
        return self._save(plan, [], f"plan {plan.title!r} started")

    def add_line(self, plan_id: str, *, code: str, tooth: str = "", surfaces: str = "", phase: int = 1,
                 fee: str = "", priority: Priority = Priority.ROUTINE, alternative_of: str | None = None,
                 numbering: NumberingSystem = NumberingSystem.UNIVERSAL) -> TreatmentPlan:
        """Plan one procedure; any bad field raises a :class:`DomainError` naming it, and nothing is written."""
        plan = self._plan(plan_id)
        scheduled = self.fees.fee_for(code)  # an unknown code is refused here
        where = Tooth.parse(tooth, numbering) if tooth.strip() else None
        item = PlanItem(code=code, tooth=where, surfaces=surfaces.strip(), priority=priority,
                        fee=fee.strip().replace("$", "") or scheduled)
        request = self._planned_request(plan.patient, item)
        if request is not None:
            item = item.model_copy(update={"service_request": request["id"]})
        changed = plan.with_alternative(alternative_of, item) if alternative_of else plan.with_item(phase, item)
        return self._save(changed, [request] if request else [], f"planned {item.describe()}")

    def add_from_chart(self, plan_id: str, mark_ids: Sequence[str], *, phase: int = 1) -> TreatmentPlan:
        """Put planned chart marks on the plan, each at its scheduled fee."""
        plan = self._plan(plan_id)
        marks = {m.id: m for m in self.charts.open(plan.patient, audit=False).marks}
        for mid in mark_ids:
            mark = marks.get(mid)
            if mark is None or mark.status is not MarkStatus.TREATMENT_PLANNED or not mark.code:
                raise DomainError(f"mark {mid} is not planned work with a CDT code on this chart", field="marks")
            item = PlanItem(code=mark.code, tooth=mark.tooth, surfaces=mark.surfaces, service_request=mark.id,
                            fee=self.fees.fee_for(mark.code) if mark.code in self.fees else None)
            plan = plan.with_item(phase, item)
        return self._save(plan, [], f"{len(mark_ids)} planned mark(s) added from the chart")

    def set_status(self, plan_id: str, item_id: str, status: LineStatus) -> TreatmentPlan:
        before = self._plan(plan_id)
        after = before.with_status(item_id, status)
        return self._save(after, self._request_updates(before, after),
                          f"{after.item(item_id).describe()} {status.value}")

    def sign(self, plan_id: str, png: bytes, signer: str) -> TreatmentPlan:
        plan = self._plan(plan_id)
        if not plan.items:
            raise DomainError("an empty plan has nothing to sign for", field="signature")
        signature = PlanSignature(png=png, signer=signer, signed=dt.datetime.now(dt.UTC).astimezone())
        return self._save(plan.signed(signature), [], f"signed by {signature.signer}"[:120])

    def record_export(self, plan_id: str, what: str) -> None:
        """A case presentation left the app (PDF): audited like a read, since it is one."""
        user = self.session.user
        self.session.cache().audit.record(user.name, user.role.value, "exported", "CarePlan", plan_id, None,
                                          what[:120])

    # --- internals ---------------------------------------------------------------------------------

    def _planned_request(self, patient_id: str, item: PlanItem) -> Json | None:
        """The planned chart mark for a line on a tooth (None: the code does not chart as a mark)."""
        kind = kind_for_code(item.code)
        if item.tooth is None or kind is None:
            return None
        try:
            mark = ChartMark(patient=patient_id, tooth=item.tooth, kind=kind[0], material=kind[1],
                             status=MarkStatus.TREATMENT_PLANNED, surfaces=item.surfaces, code=item.code,
                             date=self.today)
        except DomainError:
            return None  # valid as a plan line, not drawable as a mark (e.g. a family the chart lacks)
        return build_mark(mark)

    def _request_updates(self, before: TreatmentPlan, after: TreatmentPlan) -> list[Json]:
        """Chart marks of lines rejected (or brought back) leave (or rejoin) the chart with them.

        Only a mark the server already holds under this id is changed here; one still waiting in the
        outbox as a plain create would be stored twice, so it keeps its status until it has synced.
        """
        cache = self.session.cache()
        out = []
        for old, new in zip(before.items, after.items, strict=True):
            rejected = new.line_status is LineStatus.REJECTED
            if not new.service_request or (old.line_status is LineStatus.REJECTED) == rejected:
                continue
            row = cache.row("ServiceRequest", new.service_request)
            if row is None or row.deleted or row.local_state != "clean" or row.content is None:
                continue
            content = {k: v for k, v in row.content.items() if k != "meta"}
            out.append({**content, "status": "revoked" if rejected else "active"})
        return out

    def _save(self, plan: TreatmentPlan, requests: list[Json], summary: str) -> TreatmentPlan:
        """Queue the plan for the server and keep the copy it will hold, in one transaction."""
        cache = self.session.cache()
        user = self.session.user
        care_plan = build_plan(plan)
        body = {"care_plan": care_plan, "service_requests": requests}
        with transaction(cache.db):
            stored = cache.put_from_server([care_plan, *requests])
            if stored.skipped or stored.conflicts:
                raise DomainError("this plan has a change waiting to be resolved; sync, then try again",
                                  field="plan")
            cache.queue_op(OPERATION, body, user.name, user.role.value, gpid=self._gpid(plan.patient))
            cache.audit.record(user.name, user.role.value, "changed", "CarePlan", plan.id, None, summary[:120])
        with contextlib.suppress(Exception):  # no server configured: the outbox waits
            self.session.sync().wake()
        return plan

    def _gpid(self, patient_id: str) -> str | None:
        return PatientService(self.session).gpid(patient_id)
