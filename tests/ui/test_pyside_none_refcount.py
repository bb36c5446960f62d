"""PySide6 6.12.0 on Python 3.11 drops a reference to None on every Qt call that returns nothing
and the process aborts after a few thousand (`Fatal Python error: none_dealloc`). The project pins
below 6.12 there; this test makes 20,000 such calls and checks None's refcount did not fall."""

from __future__ import annotations

import sys

from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QWidget


def test_void_qt_calls_do_not_leak_none(qtbot):
    image = QImage(64, 64, QImage.Format.Format_ARGB32)
    widget = QWidget()
    qtbot.addWidget(widget)
    pen = QPen(QColor("#0072B2"))
    rect = QRect(0, 0, 8, 8)
    colour = QColor("#D55E00")
    before = sys.getrefcount(None)
    painter = QPainter(image)
    try:
        for _ in range(5000):  # 4 void calls per turn: 20,000 calls
            painter.setPen(pen)
            painter.fillRect(rect, colour)
            painter.drawRect(rect)
            widget.update()
    finally:
        painter.end()
    after = sys.getrefcount(None)
    assert after >= before - 50, f"None lost {before - after} references over 20,000 void Qt calls"
