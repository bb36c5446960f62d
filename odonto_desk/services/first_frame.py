"""The first frame: the last chart shown, kept so a cold start can draw it before anything else.

Opening a chart (:meth:`ChartService.open`) keeps what its screen showed (the patient header, the
medical alerts, the teeth drawn and every mark as drawn) as one JSON value in the cache. At the
next start the window reads it back, draws it at once and then loads the real chart from the cache
(which replaces it, normally with the same picture) once the domain models and services are
imported. Nothing here imports pydantic or a model: that import is most of a cold start.

The frame is a picture of the cache, not a second copy of the record: it is never edited, never
synced, and a frame that cannot be read is ignored (the chart loads as it would without one).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from odonto_desk.domain.age import age_on
from odonto_desk.domain.mark_kinds import MarkKind, MarkStatus, Material
from odonto_desk.domain.surfaces import Surface
from odonto_desk.domain.teeth import Tooth
from odonto_desk.services.rows import PatientRow

if TYPE_CHECKING:
    from odonto_desk.services.chart import ChartView
    from odonto_desk.store.cache import Cache
    from odonto_desk.store.peek import StatePeek

STATE_KEY = "ui:first_frame"
VERSION = 1


@dataclass(frozen=True)
class MarkSketch:
    """A chart mark as the odontogram and the marks table show it (see ``ui/odontogram/marks.DrawnMark``)."""

    id: str
    tooth: Tooth
    kind: MarkKind
    status: MarkStatus
    surfaces: frozenset[Surface]
    surface_string: str
    material: Material | None
    code: str | None
    date: dt.date | None
    removes_tooth: bool
    description: str

    def describe(self) -> str:
        return self.description


@dataclass(frozen=True)
class AlertLine:
    """A medical alert as the header shows it: its label, and its detail for the tooltip."""

    label: str
    detail: str


@dataclass(frozen=True)
class FirstFrame:
    patient: PatientRow
    teeth: tuple[Tooth, ...]
    marks: tuple[MarkSketch, ...]
    alerts: tuple[AlertLine, ...]
    unreadable: int  # records of the chart that could not be read when it was kept


def keep(cache: Cache, view: ChartView) -> None:
    """Keep ``view`` as the first frame of the next start (one small write, on the caller's thread)."""
    p = view.patient
    doc = {
        "v": VERSION,
        "patient": {"id": p.id, "name": p.name, "listed": p.listed, "gpid": p.gpid, "birth_date": p.birth_date,
                    "gender": p.gender},
        "teeth": [t.universal for t in view.teeth],
        "marks": [{"id": m.id, "tooth": m.tooth.universal, "kind": m.kind.value, "status": m.status.value,
                   "surfaces": sorted(s.value for s in m.surfaces), "surface_string": m.surface_string,
                   "material": m.material.value if m.material else None, "code": m.code,
                   "date": m.date.isoformat() if m.date else None, "removes_tooth": m.removes_tooth,
                   "describe": m.describe()} for m in view.marks],
        "alerts": [{"label": a.label, "detail": a.detail} for a in view.alerts],
        "unreadable": len(view.unreadable),
    }
    cache.set_state(STATE_KEY, json.dumps(doc, separators=(",", ":"), ensure_ascii=False))


def load(cache: Cache | StatePeek, patient_id: str, today: dt.date) -> FirstFrame | None:
    """The kept frame if it is ``patient_id``'s and can be read; otherwise None (the chart loads as usual).

    A cold start reads it through :meth:`Session.peek`, without opening the cache."""
    raw = cache.get_state(STATE_KEY)
    if not raw:
        return None
    try:
        return _parse(json.loads(raw), patient_id, today)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # an older or damaged frame: not worth a word, the real chart follows


def _parse(doc: dict[str, Any], patient_id: str, today: dt.date) -> FirstFrame | None:
    if doc.get("v") != VERSION or doc["patient"]["id"] != patient_id:
        return None
    p = doc["patient"]
    born = dt.date.fromisoformat(p["birth_date"]) if p["birth_date"] else None
    patient = PatientRow(p["id"], p["name"], p["listed"], p["gpid"], p["birth_date"], age_on(born, today),
                         p["gender"])
    marks = tuple(
        MarkSketch(m["id"], Tooth(m["tooth"]), MarkKind(m["kind"]), MarkStatus(m["status"]),
                   frozenset(Surface(s) for s in m["surfaces"]), m["surface_string"],
                   Material(m["material"]) if m["material"] else None, m["code"],
                   dt.date.fromisoformat(m["date"]) if m["date"] else None, bool(m["removes_tooth"]),
                   str(m["describe"]))
        for m in doc["marks"])
    alerts = tuple(AlertLine(str(a["label"]), str(a["detail"])) for a in doc["alerts"])
    return FirstFrame(patient, tuple(Tooth(t) for t in doc["teeth"]), marks, alerts, int(doc["unreadable"]))
