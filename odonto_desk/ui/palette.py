"""Status colours and patterns, office-wide and colour-blind safe.

Colours are from the Okabe–Ito set (distinguishable with the common colour-vision deficiencies) plus a
dark brown for findings, and every status also has its own fill pattern and outline, so the chart
reads in greyscale too.
The legend under the odontogram shows each pairing.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor


@dataclass(frozen=True)
class StatusStyle:
    colour: str
    label: str  # the short code clinicians know
    name: str  # the legend's words
    pattern: Qt.BrushStyle  # drawn over a light tint of the colour
    outline: Qt.PenStyle

    def qcolour(self, *, metal: bool = False) -> QColor:
        c = QColor(self.colour)
        return c.darker(145) if metal else c


STATUS_STYLES: dict[str, StatusStyle] = {
    "tp": StatusStyle("#D55E00", "TP", "Planned", Qt.BrushStyle.BDiagPattern, Qt.PenStyle.DashLine),
    "c": StatusStyle("#0072B2", "C", "Completed", Qt.BrushStyle.SolidPattern, Qt.PenStyle.SolidLine),
    "ec": StatusStyle("#56B4E9", "EC", "Existing (here)", Qt.BrushStyle.SolidPattern, Qt.PenStyle.SolidLine),
    "eo": StatusStyle("#009E73", "EO", "Existing (elsewhere)", Qt.BrushStyle.Dense3Pattern, Qt.PenStyle.DotLine),
    "r": StatusStyle("#CC79A7", "R", "Referred", Qt.BrushStyle.DiagCrossPattern, Qt.PenStyle.DashDotLine),
    # Findings in dark brown: apart from every other status by lightness, not only by hue.
    "cn": StatusStyle("#6B4226", "Cn", "Condition", Qt.BrushStyle.SolidPattern, Qt.PenStyle.SolidLine),
}
# Kept for the tables that colour a status cell: code → (colour, short label).
STATUS_COLOURS: dict[str, tuple[str, str]] = {k: (v.colour, v.label) for k, v in STATUS_STYLES.items()}

SELECTION = QColor("#3B82F6")
FOCUS = QColor("#1D4ED8")
