"""The image viewer: window/level, zoom, pan and frame scrolling over one :class:`ImageStack`.

Mouse, as radiology viewers do it: left-drag pans, right-drag sets the window (left/right = width,
up/down = level), the wheel zooms, Ctrl+wheel scrolls frames. Keyboard: + and - zoom, 0 fits,
Page Up / Page Down scroll frames. The pixel math (stored values → grey) is the domain's
:func:`apply_window`; this class only draws the result.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from odonto_desk.domain.imaging import ImageFormat, Window, apply_window
from odonto_desk.services.imaging import ImageStack

ZOOM_STEP = 1.25
MIN_ZOOM, MAX_ZOOM = 0.05, 40.0


def decode_encoded(stack: ImageStack) -> ImageStack:
    """A PNG/JPEG stack as pixel values (grey, or RGB for a colour photo) so every image windows alike."""
    if stack.encoded is None:
        return stack
    image = QImage.fromData(stack.encoded)
    if image.isNull():
        raise ValueError(f"the {ImageFormat(stack.format).name} file could not be decoded")
    grey = image.isGrayscale()
    image = image.convertToFormat(QImage.Format.Format_Grayscale8 if grey else QImage.Format.Format_RGB888)
    width, height, per_line = image.width(), image.height(), image.bytesPerLine()
    raw = np.frombuffer(image.constBits(), dtype=np.uint8, count=per_line * height).reshape(height, per_line)
    pixels = raw[:, :width] if grey else raw[:, :width * 3].reshape(height, width, 3)
    return ImageStack(stack.format, frames=pixels[None, ...].copy(), window=Window(127.5, 256),
                      description=stack.description)


def to_qimage(grey: np.ndarray[Any, Any]) -> QImage:
    """An 8-bit (rows, columns) or (rows, columns, 3) array as a QImage that owns its bytes."""
    data = np.ascontiguousarray(grey)
    height, width = data.shape[:2]
    if data.ndim == 3:
        return QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    return QImage(data.data, width, height, width, QImage.Format.Format_Grayscale8).copy()


class ImageViewer(QWidget):
    """Draws one frame of a stack. Not thread-safe: UI thread only."""

    window_changed = Signal(float, float)  # center, width
    frame_changed = Signal(int)
    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Image viewer")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self.stack: ImageStack | None = None
        self.frame = 0
        self.window = Window(127.5, 256)
        self.zoom = 1.0
        self.pan = QPointF(0, 0)
        self._image: QImage | None = None
        self._drag: tuple[Qt.MouseButton, QPoint, QPointF, Window] | None = None

    # --- what is shown -------------------------------------------------------------------------

    def set_stack(self, stack: ImageStack | None) -> None:
        self.stack = decode_encoded(stack) if stack is not None else None
        self.frame = (self.stack.frame_count // 2) if self.stack else 0  # a volume opens at its middle slice
        self.window = (self.stack.window if self.stack and self.stack.window else Window(127.5, 256))
        self.fit()
        self._render()
        self.window_changed.emit(self.window.center, self.window.width)
        self.frame_changed.emit(self.frame)

    def set_window(self, center: float, width: float) -> None:
        new = Window(center, max(1.0, width))
        if new != self.window:
            self.window = new
            self._render()
            self.window_changed.emit(new.center, new.width)

    def set_frame(self, index: int) -> None:
        if self.stack is None:
            return
        index = max(0, min(self.stack.frame_count - 1, index))
        if index != self.frame:
            self.frame = index
            self._render()
            self.frame_changed.emit(index)

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        zoom = max(MIN_ZOOM, min(MAX_ZOOM, zoom))
        if anchor is not None:  # keep the image point under the cursor where it is
            centre = QPointF(self.width() / 2, self.height() / 2) + self.pan
            self.pan += (anchor - centre) * (1 - zoom / self.zoom)
        self.zoom = zoom
        self.update()
        self.zoom_changed.emit(zoom)

    def fit(self) -> None:
        """The whole frame in view, centred."""
        self.pan = QPointF(0, 0)
        if self.stack is not None and self.stack.frames is not None:
            rows, cols = self.stack.frames.shape[1:3]
            self.zoom = max(MIN_ZOOM, min(self.width() / cols, self.height() / rows))
        self.update()
        self.zoom_changed.emit(self.zoom)

    def current_grey(self) -> np.ndarray[Any, Any] | None:
        """The 8-bit pixels of the frame on screen (what the window makes of the stored values)."""
        if self.stack is None or self.stack.frames is None:
            return None
        return apply_window(self.stack.frames[self.frame], self.window, invert=self.stack.invert)

    def _render(self) -> None:
        grey = self.current_grey()
        self._image = to_qimage(grey) if grey is not None else None
        self.update()

    # --- drawing -------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#111111"))  # radiographs are read on black
        if self._image is None:
            p.setPen(QColor("#BBBBBB"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Choose an image from the list, or import one.")
            p.end()
            return
        w, h = self._image.width() * self.zoom, self._image.height() * self.zoom
        centre = QPointF(self.width() / 2, self.height() / 2) + self.pan
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom < 4)  # big zoom: see real pixels
        p.drawImage(QRectF(centre.x() - w / 2, centre.y() - h / 2, w, h), self._image)
        p.end()

    # --- mouse and keys ------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._drag = (event.button(), event.position().toPoint(), QPointF(self.pan), self.window)
        self.setFocus()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag is None:
            return
        button, start, pan, window = self._drag
        delta = event.position().toPoint() - start
        if button == Qt.MouseButton.LeftButton:
            self.pan = pan + QPointF(delta)
            self.update()
        elif button == Qt.MouseButton.RightButton:
            # One screen pixel of drag moves the window by a share of its width: fine control at any bit depth.
            step = max(window.width / 256, 0.5)
            self.set_window(window.center - delta.y() * step, window.width + delta.x() * step)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag = None

    def contextMenuEvent(self, event: Any) -> None:
        event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if not steps:
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.set_frame(self.frame - int(steps))
        else:
            self.set_zoom(self.zoom * ZOOM_STEP ** steps, event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.set_zoom(self.zoom * ZOOM_STEP)
        elif key == Qt.Key.Key_Minus:
            self.set_zoom(self.zoom / ZOOM_STEP)
        elif key == Qt.Key.Key_0:
            self.fit()
        elif key in (Qt.Key.Key_PageDown, Qt.Key.Key_Down):
            self.set_frame(self.frame + 1)
        elif key in (Qt.Key.Key_PageUp, Qt.Key.Key_Up):
            self.set_frame(self.frame - 1)
        else:
            super().keyPressEvent(event)
