"""The status legend under the odontogram: each status's colour, pattern and words.

The entries flow onto a second row when the chart is narrow (a side panel open, a small window), so no
status ever drops off the end.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPaintEvent, QPen, QResizeEvent
from PySide6.QtWidgets import QWidget

from odonto_desk.ui.palette import STATUS_STYLES, StatusStyle

ROW = 24  # px per row of entries
LEFT = 8.0  # px before the first entry of a row


class Legend(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Status legend")
        self.setAccessibleDescription("; ".join(f"{s.label}: {s.name}" for s in STATUS_STYLES.values()))
        self.setMinimumHeight(ROW)

    def _entries(self) -> list[tuple[StatusStyle, str, float]]:
        """Each status with its words and the width it takes (swatch, gap, text, spacing)."""
        fm = self.fontMetrics()
        out = []
        for style in STATUS_STYLES.values():
            text = f"{style.label} {style.name}"
            out.append((style, text, 32.0 + fm.horizontalAdvance(text) + 14))
        return out

    def rows(self, width: int) -> list[list[tuple[StatusStyle, str, float]]]:
        """The entries laid out in rows no wider than ``width`` (one entry per row at the least)."""
        rows: list[list[tuple[StatusStyle, str, float]]] = [[]]
        x = LEFT
        for entry in self._entries():
            if rows[-1] and x + entry[2] - 14 > width:
                rows.append([])
                x = LEFT
            rows[-1].append(entry)
            x += entry[2]
        return rows

    def sizeHint(self) -> QSize:
        return QSize(int(LEFT + sum(e[2] for e in self._entries())), ROW)

    def minimumSizeHint(self) -> QSize:
        return QSize(int(LEFT + max(e[2] for e in self._entries())), ROW)

    def resizeEvent(self, event: QResizeEvent) -> None:
        needed = ROW * len(self.rows(event.size().width()))
        if self.minimumHeight() != needed:
            self.setMinimumHeight(needed)  # the layout gives the extra row; the width stays as it is
        super().resizeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        for r, row in enumerate(self.rows(self.width())):
            x, top = LEFT, r * ROW
            for style, text, width in row:
                box = QRectF(x, top + 5, 22, 14)
                colour = QColor(style.colour)
                tint = QColor(colour)
                tint.setAlpha(80 if style.pattern is not Qt.BrushStyle.SolidPattern else 255)
                p.fillRect(box, tint)
                if style.pattern is not Qt.BrushStyle.SolidPattern:
                    p.fillRect(box, QBrush(colour, style.pattern))
                p.setPen(QPen(colour.darker(130), 1.5, style.outline))
                p.drawRect(box)
                p.setPen(self.palette().text().color())
                p.drawText(QRectF(x + 27, top, width - 27, ROW), Qt.AlignmentFlag.AlignVCenter, text)
                x += width
        p.end()
