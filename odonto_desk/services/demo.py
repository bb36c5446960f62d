"""What the first screens ask for before a server is configured: the demo patients and codes.

Plain blocking Python, no Qt. Rows are ready to show: teeth already rendered in the chosen
numbering system, so the UI never re-derives clinical facts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from odonto_desk.domain.cdt import Catalog, demo_catalog
from odonto_desk.domain.demo import DemoPatient, demo_patients
from odonto_desk.domain.teeth import NumberingSystem


@dataclass(frozen=True)
class PatientRow:
    id: str
    name: str
    gpid: str
    birth_date: str
    age: int
    alerts: tuple[str, ...]


@dataclass(frozen=True)
class MarkRow:
    tooth: str
    surfaces: str
    what: str
    code: str
    status: str
    status_code: str
    date: str
    note: str


@dataclass(frozen=True)
class CodeRow:
    code: str
    abbreviation: str
    label: str
    category: str
    fee: str


class DemoService:
    """The demo patients and the demo code list, read once."""

    def __init__(self, today: dt.date | None = None) -> None:
        self._today = today or dt.date.today()
        self._patients = {p.id: p for p in demo_patients()}
        self._catalog: Catalog = demo_catalog()

    def patients(self) -> list[PatientRow]:
        return [self._row(p) for p in sorted(self._patients.values(), key=lambda p: p.display_name)]

    def _row(self, p: DemoPatient) -> PatientRow:
        return PatientRow(p.id, p.display_name, p.gpid, p.birth_date.isoformat(), p.age_on(self._today), p.alerts)

    def chart(self, patient_id: str, numbering: NumberingSystem) -> list[MarkRow]:
        marks = sorted(self._patients[patient_id].marks, key=lambda m: (m.tooth, m.kind.value))
        rows = []
        for m in marks:
            what = " ".join(x for x in (m.material.value if m.material else "", m.kind.value) if x)
            code = m.code or ""
            if code and code in self._catalog:
                code = f"{code}  {self._catalog.label(code)}"
            rows.append(MarkRow(m.tooth.format(numbering), m.surface_string, what, code, m.status.label,
                                m.status.value, m.date.isoformat() if m.date else "", m.note))
        return rows

    def codes(self, text: str = "") -> list[CodeRow]:
        return [CodeRow(e.code, e.abbreviation, e.label, e.category.label, f"{e.fee:.2f}" if e.fee else "")
                for e in self._catalog.search(text, limit=10_000)]
