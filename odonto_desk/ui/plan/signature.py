"""A signature pad: the patient signs with mouse, pen or finger; the strokes become a PNG."""

from __future__ import annotations

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen, QTabletEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

INK = QColor("#10223A")


class SignaturePad(QWidget):
    """Strokes are kept as paths (not pixels) so the PNG is drawn crisp at any size."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Signature pad")
        self.setMinimumSize(320, 110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self._strokes: list[QPainterPath] = []

    @property
    def is_empty(self) -> bool:
        return not self._strokes

    def clear(self) -> None:
        self._strokes = []
        self.update()
        self.changed.emit()

    # --- input: mouse, and a pen that Qt does not turn into mouse events --------------------------

    def _begin(self, at: QPointF) -> None:
        path = QPainterPath(at)
        path.lineTo(at + QPointF(0.1, 0.1))  # a dot is a stroke too
        self._strokes.append(path)
        self.update()

    def _extend(self, at: QPointF) -> None:
        if self._strokes:
            self._strokes[-1].lineTo(at)
            self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._begin(event.position())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._extend(event.position())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.changed.emit()

    def tabletEvent(self, event: QTabletEvent) -> None:
        kind = event.type()
        if kind == QTabletEvent.Type.TabletPress:
            self._begin(event.position())
        elif kind == QTabletEvent.Type.TabletMove and event.pressure() > 0:
            self._extend(event.position())
        elif kind == QTabletEvent.Type.TabletRelease:
            self.changed.emit()
        event.accept()

    # --- drawing ----------------------------------------------------------------------------------

    def _draw(self, p: QPainter) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(INK, 2.4, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        for path in self._strokes:
            p.drawPath(path)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("white"))
        p.setPen(QPen(QColor("#8A94A6"), 1, Qt.PenStyle.DashLine))
        base = self.height() - 24
        p.drawLine(16, base, self.width() - 16, base)
        if self.is_empty:
            p.setPen(QColor("#8A94A6"))
            p.drawText(self.rect().adjusted(0, 0, 0, -30), Qt.AlignmentFlag.AlignCenter, "Sign here")
        self._draw(p)
        p.end()

    def png(self) -> bytes:
        """The strokes on white, as PNG bytes (empty when nothing was drawn)."""
        if self.is_empty:
            return b""
        image = QImage(self.size(), QImage.Format.Format_ARGB32)
        image.fill(QColor("white"))
        p = QPainter(image)
        self._draw(p)
        p.end()
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        buffer.close()
        return bytes(data.data())
