"""The 7-year retention rule: what may be purged, and the audited purge itself.

Nothing is ever removed by an API call (a DELETE leaves a tombstone and every version). The only
way data leaves the server is this admin purge, and only for a patient whose horizon has passed:
seven years from the patient's **last encounter** (the latest ``Encounter.period.end``, or its start
when it has no end). A patient with no encounter at all counts from the newest write to any of their
records, which is the most recent date we can prove. Anything younger is refused, whole: a purge
never takes part of a patient's record.

Each purged resource leaves an audit row (``purge``, type, id, last version, the anchor date and the
rule) and nothing of its content.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from odonto_desk.sandbox.audit import AuditTrail
from odonto_desk.sandbox.fhirstore import FhirStore

RETENTION_YEARS = 7


class RetentionRefused(Exception):
    """The patient is inside the retention horizon (or unknown); nothing was purged."""


@dataclass(frozen=True)
class PurgeReport:
    patient: str
    anchor: dt.date
    anchor_kind: str  # "last encounter" or "last write"
    horizon: dt.date  # the first day the patient may be purged
    resources: tuple[tuple[str, str], ...]
    purged: bool


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February → 28 February
        return day.replace(year=day.year + years, day=28)


def _date(value: object) -> dt.date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def anchor_of(store: FhirStore, patient: str) -> tuple[dt.date, str]:
    """The date the horizon counts from, and what it is."""
    with store.transaction() as conn:
        rows = conn.execute("SELECT type, json, last_updated FROM current WHERE patient=?", (patient,)).fetchall()
    if not rows:
        raise RetentionRefused(f"Patient/{patient} has no records here")
    encounters: list[dt.date] = []
    writes: list[dt.date] = []
    for rtype, text, last_updated in rows:
        day = _date(last_updated)
        if day is not None:
            writes.append(day)
        if rtype == "Encounter" and text:
            period = json.loads(text).get("period") or {}
            end = _date(period.get("end")) or _date(period.get("start"))
            if end is not None:
                encounters.append(end)
    if encounters:
        return max(encounters), "last encounter"
    return max(writes), "last write"


def plan_purge(store: FhirStore, patient: str, *, today: dt.date) -> PurgeReport:
    anchor, kind = anchor_of(store, patient)
    horizon = _add_years(anchor, RETENTION_YEARS)
    return PurgeReport(patient, anchor, kind, horizon, tuple(store.patient_resources(patient)), False)


def purge_patient(store: FhirStore, audit: AuditTrail, patient: str, *, today: dt.date, actor: str,
                  dry_run: bool = False) -> PurgeReport:
    """Purge every version of every resource of ``patient``, or raise :class:`RetentionRefused`."""
    with store.transaction():
        plan = plan_purge(store, patient, today=today)
        if today < plan.horizon:
            raise RetentionRefused(
                f"Patient/{patient} is inside the {RETENTION_YEARS}-year retention horizon: {plan.anchor_kind} "
                f"{plan.anchor.isoformat()}, purge allowed from {plan.horizon.isoformat()}; nothing was purged")
        if dry_run:
            return plan
        for rtype, rid in plan.resources:
            version = store.current_version(rtype, rid)
            store.purge(rtype, rid)
            audit.record(actor, "purge", rtype, rid, version,
                         {"rule": f"retention {RETENTION_YEARS} years", "anchor": plan.anchor.isoformat(),
                          "anchor_kind": plan.anchor_kind, "patient": patient})
    return PurgeReport(plan.patient, plan.anchor, plan.anchor_kind, plan.horizon, plan.resources, True)


def expired_patients(store: FhirStore, *, today: dt.date) -> list[PurgeReport]:
    """Every patient whose horizon has passed (for ``--expired``)."""
    with store.transaction() as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM current WHERE type='Patient' ORDER BY id").fetchall()]
    out = []
    for pid in ids:
        plan = plan_purge(store, pid, today=today)
        if today >= plan.horizon:
            out.append(plan)
    return out
