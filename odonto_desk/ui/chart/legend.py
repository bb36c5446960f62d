"""The status legend under the odontogram: each status's colour, pattern and words."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from odonto_desk.ui.palette import STATUS_STYLES


class Legend(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Status legend")
        self.setAccessibleDescription("; ".join(f"{s.label}: {s.name}" for s in STATUS_STYLES.values()))
        self.setMinimumHeight(24)

    def sizeHint(self) -> QSize:
        return QSize(720, 24)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        x = 8.0
        for style in STATUS_STYLES.values():
            box = QRectF(x, 5, 22, 14)
            colour = QColor(style.colour)
            tint = QColor(colour)
            tint.setAlpha(80 if style.pattern is not Qt.BrushStyle.SolidPattern else 255)
            p.fillRect(box, tint)
            if style.pattern is not Qt.BrushStyle.SolidPattern:
                p.fillRect(box, QBrush(colour, style.pattern))
            pen = QPen(colour.darker(130), 1.5, style.outline)
            p.setPen(pen)
            p.drawRect(box)
            p.setPen(self.palette().text().color())
            text = f"{style.label} {style.name}"
            p.drawText(QRectF(x + 27, 0, 160, 24), Qt.AlignmentFlag.AlignVCenter, text)
            x += 32 + p.fontMetrics().horizontalAdvance(text) + 14
        p.end()
