"""Where each tooth sits on the odontogram: pure geometry from the widget size and the teeth shown.

Rows from the top: upper numbers, upper facial (roots up), upper occlusal, lower occlusal, lower
facial (roots down), lower numbers. Columns follow the dentist's view: #1 / #32 on the left.
Primary teeth take the column of their successor; supernumerary teeth are drawn smaller, between
the occlusal rows, half a column distal to their neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF

from odonto_desk.domain.teeth import Arch, Tooth

COLUMNS = 16
LABEL_H = 20.0
GAP = 14.0
MARGIN = 8.0


@dataclass(frozen=True)
class Cell:
    tooth: Tooth
    view: str  # "facial" | "occlusal"
    rect: QRectF


class Layout:
    def __init__(self, width: float, height: float, teeth: tuple[Tooth, ...]) -> None:
        fixed = 2 * LABEL_H + GAP + 2 * MARGIN
        col = max(8.0, min((width - 2 * MARGIN) / COLUMNS, (height - fixed) / 6.0))
        self.col = col
        self.left = (width - COLUMNS * col) / 2
        self.top = max(MARGIN, (height - (6 * col + fixed - 2 * MARGIN)) / 2)
        t = self.top
        self.upper_label = QRectF(self.left, t, COLUMNS * col, LABEL_H)
        self.upper_facial_y = t + LABEL_H
        self.upper_occlusal_y = self.upper_facial_y + 2 * col
        self.lower_occlusal_y = self.upper_occlusal_y + col + GAP
        self.lower_facial_y = self.lower_occlusal_y + col
        self.lower_label = QRectF(self.left, self.lower_facial_y + 2 * col, COLUMNS * col, LABEL_H)
        self.bottom = self.lower_label.bottom()
        self.cells: list[Cell] = []
        for tooth in teeth:
            self.cells.extend(self._cells(tooth))

    def _cells(self, tooth: Tooth) -> list[Cell]:
        row, column = tooth.chart_index
        column = min(max(column, 0.0), COLUMNS - 1.0)
        x = self.left + column * self.col
        upper = tooth.base.arch is Arch.MAXILLARY and row == 0
        if tooth.is_supernumerary:
            s = self.col * 0.55
            cx = x + self.col / 2
            y = self.upper_occlusal_y + self.col + (GAP - s) / 2 if upper else self.lower_occlusal_y - (GAP + s) / 2
            # Between the arches, pulled toward the arch the tooth belongs to.
            y += -s * 0.35 if upper else s * 0.35
            return [Cell(tooth, "occlusal", QRectF(cx - s / 2, y, s, s))]
        if upper:
            return [Cell(tooth, "facial", QRectF(x, self.upper_facial_y, self.col, 2 * self.col)),
                    Cell(tooth, "occlusal", QRectF(x, self.upper_occlusal_y, self.col, self.col))]
        return [Cell(tooth, "occlusal", QRectF(x, self.lower_occlusal_y, self.col, self.col)),
                Cell(tooth, "facial", QRectF(x, self.lower_facial_y, self.col, 2 * self.col))]

    def cell_at(self, point: QPointF) -> Cell | None:
        # Supernumerary cells are small and sit over others' margins: test them first.
        for cell in sorted(self.cells, key=lambda c: not c.tooth.is_supernumerary):
            if cell.rect.contains(point):
                return cell
        return None

    def column_rect(self, tooth: Tooth) -> QRectF:
        """The union of the tooth's cells (its selection frame)."""
        rects = [c.rect for c in self.cells if c.tooth == tooth]
        out = rects[0]
        for r in rects[1:]:
            out = out.united(r)
        return out

    def label_rect(self, tooth: Tooth) -> QRectF:
        row, column = tooth.chart_index
        column = min(max(column, 0.0), COLUMNS - 1.0)
        band = self.upper_label if row == 0 else self.lower_label
        return QRectF(self.left + column * self.col, band.top(), self.col, LABEL_H)
