"""The operational POSTs of ``/odonto/v1``: treatment plans, procedure posting and lab orders.

Each takes FHIR resources (built by the client's mapping), checks every one of them (structure,
codes, teeth, the GPID boundary), and stores them together in one transaction. Each needs an
``Idempotency-Key``: a repeat returns the first answer and writes nothing, so a double click posts
once. Resources carry client ids, so a plan can reference its items before the server has seen them.

* ``POST /odonto/v1/treatment-plans`` — ``{"care_plan": CarePlan, "service_requests": [ServiceRequest]}``.
  A plan without an Apex plan id (``CP-…``) gets the next one. 201 for a new plan, 200 for a new
  version of an existing one; ``odonto.treatment_plan.updated`` fires through the change listeners.
* ``POST /odonto/v1/procedures/post`` — ``{"procedures": [Procedure], "charge_items": [ChargeItem],
  "completes": ["ServiceRequest id", …]}``: posts completed work and its ledger lines, and marks the
  planned items they complete as completed.
* ``POST /odonto/v1/lab/orders`` — ``{"service_request": ServiceRequest, "task": Task?}``: a lab case
  (category ``lab_appliance``) and its workflow Task (made ``requested`` when absent; when sent, its
  focus must be that order). Posting a case again with the same ids stores a new version of both
  (a status move): 200 instead of 201.
"""

from __future__ import annotations

import copy
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from odonto_desk.fhir import codes
from odonto_desk.fhir.errors import FhirValidationError
from odonto_desk.fhir.validate import validate
from odonto_desk.sandbox.auth import Principal
from odonto_desk.sandbox.fhir_api import TYPES, FhirApi, check_id
from odonto_desk.sandbox.fhirstore import FhirStore, Stored, StoreError, patient_of
from odonto_desk.sandbox.gate import Gate, json_object
from odonto_desk.sandbox.outcome import ApiError, fhir_response

Change = tuple[str, Stored, dict[str, Any] | None]


def _list(body: dict[str, Any], key: str, *, required: bool) -> list[Any]:
    value = body.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise ApiError(400, "structure", f"'{key}' must be a list", expression=key)
    return value


def _is_lab(sr: dict[str, Any]) -> bool:
    return any(c.get("system") == codes.CS_SERVICE_CATEGORY and c.get("code") == "lab_appliance"
               for cc in sr.get("category") or [] for c in (cc.get("coding") or []))


class OpsApi:
    def __init__(self, store: FhirStore, gate: Gate, fhir: FhirApi) -> None:
        self.store = store
        self.gate = gate
        self.fhir = fhir

    # --- shared --------------------------------------------------------------------------------

    def _run(self, request: Request, p: Principal, scope: str, raw: bytes, path: str, work) -> Response:  # type: ignore[no-untyped-def]
        p.require(scope)
        body = json_object(raw)

        def write() -> Response:
            changes: list[Change] = []
            status, payload = work(request, p, body, changes)
            self.fhir.notify(changes, p.client_id)
            return fhir_response(payload, status)

        return self.gate.once(request, p, path, raw, write)

    def _check(self, request: Request, p: Principal, resource: Any, rtype: str, where: str) -> dict[str, Any]:
        """One resource of an operation's body. The operation's scope (checked by ``_run``) covers
        the resources that operation is defined to write (a lab order's Task, a posting's
        ChargeItem): each operation is one clinical act, so it is authorised as one."""
        if not isinstance(resource, dict):
            raise ApiError(400, "structure", f"{where} must be a {rtype} resource", expression=where)
        try:
            validate(resource, expected_type=rtype, allowed_types=TYPES)
        except FhirValidationError as exc:
            raise ApiError(400, "invalid", exc.message, expression=f"{where}.{exc.path}") from None
        rid = resource.get("id")
        if rid is not None:
            try:
                check_id(str(rid))
            except ApiError as exc:
                raise ApiError(400, "invalid", exc.message, expression=f"{where}.id") from None
        if patient_of(resource) is None:
            raise ApiError(400, "required", f"{rtype} needs its patient (subject/patient)", expression=where)
        self.gate.require_gpid(request, resource, expression=where)
        return resource

    def _put(self, rtype: str, resource: dict[str, Any], changes: list[Change]) -> Stored:
        resource = copy.deepcopy(resource)
        rid = resource.get("id")
        previous = None
        if rid:
            try:
                previous = self.store.read(rtype, rid).resource
            except StoreError:
                previous = None
            stored, _ = self.store.update(rtype, rid, resource)
        else:
            stored = self.store.create(rtype, resource)
        changes.append((rtype, stored, previous))
        return stored

    # --- treatment plans -------------------------------------------------------------------------

    def treatment_plans(self, request: Request, p: Principal, raw: bytes) -> Response:
        return self._run(request, p, "odonto/treatment-plans.write", raw, "/odonto/v1/treatment-plans",
                         self._plan)

    def _next_plan_id(self) -> str:
        rows = self.store.connection.execute(
            "SELECT value FROM identifier WHERE type='CarePlan' AND system=? AND value LIKE 'CP-%'",
            (codes.CARE_PLAN_ID_SYSTEM,)).fetchall()
        numbers = [int(v[3:]) for (v,) in rows if v[3:].isdigit()]
        return f"CP-{max(numbers, default=0) + 1:03d}"

    def _plan_id_of(self, rid: str) -> str | None:
        stored = self.store.read("CarePlan", rid).resource
        return next((i.get("value") for i in stored.get("identifier") or []
                     if i.get("system") == codes.CARE_PLAN_ID_SYSTEM), None)

    def _plan(self, request: Request, p: Principal, body: dict[str, Any], changes: list[Change]) -> tuple[int, Any]:
        plan = self._check(request, p, body.get("care_plan"), "CarePlan", "care_plan")
        srs = [self._check(request, p, sr, "ServiceRequest", f"service_requests[{i}]")
               for i, sr in enumerate(_list(body, "service_requests", required=False))]
        subject = patient_of(plan)
        for i, sr in enumerate(srs):
            if patient_of(sr) != subject:
                raise ApiError(400, "invalid", "every item belongs to the plan's patient",
                               expression=f"service_requests[{i}].subject")
            if _is_lab(sr):
                raise ApiError(400, "invalid", "a lab order is sent with /odonto/v1/lab/orders",
                               expression=f"service_requests[{i}].category")
        plan = copy.deepcopy(plan)
        idents = plan.setdefault("identifier", [])
        plan_id = next((i.get("value") for i in idents if i.get("system") == codes.CARE_PLAN_ID_SYSTEM), None)
        existed = bool(plan.get("id")) and self.store.current_version("CarePlan", plan["id"]) is not None
        if plan_id is None:
            # A client that sends a new version before it has pulled the CP-… number keeps the first one:
            # one plan, one number, however many versions.
            plan_id = (self._plan_id_of(plan["id"]) if existed else None) or self._next_plan_id()
            idents.append({"system": codes.CARE_PLAN_ID_SYSTEM, "value": plan_id})
        written = [self._put("ServiceRequest", sr, changes) for sr in srs]
        stored = self._put("CarePlan", plan, changes)
        return (200 if existed else 201), {
            "care_plan_id": plan_id, "id": stored.id, "version": stored.version,
            "service_requests": [{"id": s.id, "version": s.version} for s in written]}

    # --- posting -------------------------------------------------------------------------------------

    def procedures(self, request: Request, p: Principal, raw: bytes) -> Response:
        return self._run(request, p, "odonto/procedures.write", raw, "/odonto/v1/procedures/post", self._post)

    def _post(self, request: Request, p: Principal, body: dict[str, Any], changes: list[Change]) -> tuple[int, Any]:
        procs = [self._check(request, p, r, "Procedure", f"procedures[{i}]")
                 for i, r in enumerate(_list(body, "procedures", required=True))]
        if not procs:
            raise ApiError(400, "required", "post at least one procedure", expression="procedures")
        for i, r in enumerate(procs):
            if r.get("status") != "completed":
                raise ApiError(400, "invalid", "only completed procedures are posted",
                               expression=f"procedures[{i}].status")
        charges = [self._check(request, p, r, "ChargeItem", f"charge_items[{i}]")
                   for i, r in enumerate(_list(body, "charge_items", required=False))]
        completes = _list(body, "completes", required=False)
        out_p = [self._put("Procedure", r, changes) for r in procs]
        out_c = [self._put("ChargeItem", r, changes) for r in charges]
        done = []
        for i, sr_id in enumerate(completes):
            if not isinstance(sr_id, str):
                raise ApiError(400, "structure", "completes lists ServiceRequest ids", expression=f"completes[{i}]")
            try:
                check_id(sr_id)
                current = self.store.read("ServiceRequest", sr_id)
            except (ApiError, StoreError) as exc:
                raise ApiError(400, "invalid", f"ServiceRequest/{sr_id}: {getattr(exc, 'message', exc)}",
                               expression=f"completes[{i}]") from None
            sr = copy.deepcopy(current.resource or {})
            self.gate.require_gpid(request, sr, expression=f"completes[{i}]")
            if sr.get("status") != "completed":
                sr["status"] = "completed"
                done.append(self._put("ServiceRequest", sr, changes).id)
        return 201, {"procedures": [{"id": s.id, "version": s.version} for s in out_p],
                     "charge_items": [{"id": s.id, "version": s.version} for s in out_c], "completed": done}

    # --- lab ------------------------------------------------------------------------------------------

    def lab_orders(self, request: Request, p: Principal, raw: bytes) -> Response:
        return self._run(request, p, "odonto/lab.write", raw, "/odonto/v1/lab/orders", self._lab)

    def _lab(self, request: Request, p: Principal, body: dict[str, Any], changes: list[Change]) -> tuple[int, Any]:
        sr = self._check(request, p, body.get("service_request"), "ServiceRequest", "service_request")
        if not _is_lab(sr):
            raise ApiError(400, "invalid", "a lab order has category lab_appliance",
                           expression="service_request.category")
        if not sr.get("performer"):
            raise ApiError(400, "required", "a lab order names the lab (performer)",
                           expression="service_request.performer")
        existed = bool(sr.get("id")) and self.store.current_version("ServiceRequest", sr["id"]) is not None
        task = body.get("task")
        # A Task sent with the order tracks that order: one that points elsewhere would move another case.
        focus = (task.get("focus") or {}).get("reference") if isinstance(task, dict) else None
        if focus is not None and sr.get("id") and focus != f"ServiceRequest/{sr['id']}":
            raise ApiError(400, "invalid", f"the task tracks {focus}, not the order sent with it",
                           expression="task.focus")
        stored_sr = self._put("ServiceRequest", sr, changes)
        if task is None:
            task = {"resourceType": "Task", "status": "requested", "intent": "order",
                    "focus": {"reference": f"ServiceRequest/{stored_sr.id}"},
                    "for": sr.get("subject"), "owner": (sr.get("performer") or [None])[0]}
            task = {k: v for k, v in task.items() if v is not None}
        task = self._check(request, p, task, "Task", "task")
        stored_task = self._put("Task", task, changes)
        return (200 if existed else 201), {"service_request": {"id": stored_sr.id, "version": stored_sr.version},
                     "task": {"id": stored_task.id, "version": stored_task.version}}
