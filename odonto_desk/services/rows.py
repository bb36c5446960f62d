"""Rows the screens show, ready to display: plain dataclasses, with no model imports.

They are apart from the services that fill them so that the first frame of a chart
(:mod:`odonto_desk.services.first_frame`) can be shown before the domain models are imported.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PatientRow:
    """What the finder lists and the header shows, ready to display."""

    id: str
    name: str  # as spoken: "Jordan Rivera"
    listed: str  # as filed: "Rivera, Jordan"
    gpid: str
    birth_date: str
    age: int | None
    gender: str
    alerts: tuple[str, ...] = ()  # active medical alerts as the header shows them, allergies first

    def matches(self, words: list[str]) -> bool:
        hay = f"{self.name} {self.gpid} {self.birth_date}".lower()
        return all(w in hay for w in words)
