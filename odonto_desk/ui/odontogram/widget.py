"""The interactive odontogram: draws a chart and lets the user pick teeth and surfaces.

It shows what it is given (:meth:`Odontogram.set_chart`) and reports what the user selects
(``selection_changed``); it never reads or writes data itself. Pictures come from
:class:`ToothPainter` and are kept per tooth until that tooth's marks, the size or the selection
change, so a repaint is a few dozen pixmap blits.

Mouse: click a surface (or a tooth's root) to select it, Ctrl-click to add or toggle, drag across
teeth to select a run. Keyboard: arrows move between teeth (Up/Down to the other arch), typing a
tooth number in the current numbering jumps to it, Shift+arrows move between the focused tooth's
surfaces and Space toggles that surface, Enter toggles the whole tooth, Escape clears.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PySide6.QtCore import QElapsedTimer, QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.surfaces import Surface, surfaces_of
from odonto_desk.domain.teeth import NumberingSystem, Tooth
from odonto_desk.ui.odontogram.art import ToothArt, mapped, shared_art
from odonto_desk.ui.odontogram.layout import Cell, Layout
from odonto_desk.ui.odontogram.marks import DrawnMark, ToothPainter
from odonto_desk.ui.palette import FOCUS, SELECTION

TYPE_AHEAD_MS = 900


class Odontogram(QWidget):
    """Thread rule: UI thread only. Signals carry domain values (Tooth, Surface)."""

    selection_changed = Signal()
    tooth_activated = Signal(object)  # Tooth: double-click or Enter on the focused tooth

    def __init__(self, parent: QWidget | None = None, *, art: ToothArt | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Odontogram")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(480, 300)
        self._painter = ToothPainter(art or shared_art())
        self._teeth: tuple[Tooth, ...] = ()
        self._marks: dict[Tooth, tuple[DrawnMark, ...]] = {}
        self._numbering = NumberingSystem.UNIVERSAL
        self._selection: dict[Tooth, frozenset[Surface]] = {}
        self._focus: Tooth | None = None
        self._surface_cursor = 0
        self._layout: Layout | None = None
        self._pictures: dict[tuple[object, ...], QPixmap] = {}
        self._pictures_epoch = 0  # counts the clears of _pictures (new marks, a resize)
        self._labels: QPixmap | None = None
        # The teeth and labels composed once (a repaint that changes nothing is one blit), with what
        # they were composed from; the selection and focus outlines are drawn over it on each paint.
        self._frame: QPixmap | None = None
        self._frame_from: tuple[object, ...] = ()
        self.compositions = 0  # how often the chart was composed (tests: a repaint of nothing new composes none)
        self._drag_from: Tooth | None = None
        self._typed = ""
        self._typed_clock = QElapsedTimer()
        self.read_only = False

    # --- what to show ------------------------------------------------------------------------

    def set_chart(self, teeth: Sequence[Tooth], marks: Iterable[DrawnMark]) -> None:
        by_tooth: dict[Tooth, list[DrawnMark]] = {}
        for m in marks:
            by_tooth.setdefault(m.tooth, []).append(m)
        self._marks = {t: tuple(ms) for t, ms in by_tooth.items()}
        if tuple(teeth) != self._teeth:
            self._teeth = tuple(teeth)
            self._layout = None
            self._labels = None
            self._selection = {t: s for t, s in self._selection.items() if t in self._teeth}
            if self._focus not in self._teeth:
                self._focus = None
        self._pictures.clear()
        self._pictures_epoch += 1
        self._describe_focus()
        self.update()

    def set_numbering(self, numbering: NumberingSystem) -> None:
        self._numbering = NumberingSystem(numbering)
        self._labels = None
        self._describe_focus()
        self.update()

    @property
    def teeth(self) -> tuple[Tooth, ...]:
        return self._teeth

    def marks_on(self, tooth: Tooth) -> tuple[DrawnMark, ...]:
        return self._marks.get(tooth, ())

    # --- selection -------------------------------------------------------------------------------

    @property
    def selection(self) -> dict[Tooth, frozenset[Surface]]:
        """Selected teeth, each with its selected surfaces (empty: the whole tooth)."""
        return dict(self._selection)

    @property
    def focused(self) -> Tooth | None:
        return self._focus

    def select(self, tooth: Tooth, surfaces: Iterable[Surface] = (), *, add: bool = False) -> None:
        if not add:
            self._selection.clear()
        self._selection[tooth] = frozenset(surfaces)
        self._focus = tooth
        self._changed()

    def clear_selection(self) -> None:
        self._selection.clear()
        self._changed()

    def toggle_surface(self, tooth: Tooth, surface: Surface, *, add: bool = True) -> None:
        if not add:
            self._selection = {t: s for t, s in self._selection.items() if t == tooth}
        current = set(self._selection.get(tooth, frozenset()))
        current.symmetric_difference_update({surface})
        self._selection[tooth] = frozenset(current)
        self._focus = tooth
        self._changed()

    def _changed(self) -> None:
        self._describe_focus()
        self.update()
        self.selection_changed.emit()

    # --- geometry (also what tests click) ------------------------------------------------------

    def layout_now(self) -> Layout:
        if self._layout is None:
            self._layout = Layout(self.width(), self.height(), self._teeth)
        return self._layout

    def cell(self, tooth: Tooth, view: str) -> Cell | None:
        for c in self.layout_now().cells:
            if c.tooth == tooth and c.view == view:
                return c
        return None

    def surface_point(self, tooth: Tooth, surface: Surface, view: str = "occlusal") -> QPoint:
        """A widget point that hits ``surface`` of ``tooth`` in ``view`` (from the hit masks)."""
        cell = self.cell(tooth, view)
        if cell is None:
            raise LookupError(f"tooth {tooth} has no {view} view on this chart")
        size = _px(cell.rect, 1.0)
        rendered = self._painter.art.get(tooth, view, size)
        centre = rendered.centre_of(surface)
        if centre is None:
            raise LookupError(f"{surface.value} has no region on tooth {tooth} in the {view} view")
        return QPoint(int(cell.rect.x() + (centre.x() + 0.5) * cell.rect.width() / size.width()),
                      int(cell.rect.y() + (centre.y() + 0.5) * cell.rect.height() / size.height()))

    def hit(self, point: QPointF) -> tuple[Tooth, Surface | None] | None:
        cell = self.layout_now().cell_at(point)
        if cell is None:
            return None
        size = _px(cell.rect, 1.0)
        rendered = self._painter.art.get(cell.tooth, cell.view, size)
        return cell.tooth, rendered.surface_at(mapped(point, cell.rect, size))

    # --- painting ------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        self.paint_chart(p)
        p.end()

    def paint_chart(self, p: QPainter) -> None:
        p.drawPixmap(0, 0, self._composed())
        layout = self.layout_now()
        if self._selection:
            pen = QPen(SELECTION, 2)
            p.setPen(pen)
            for tooth in self._selection:
                p.drawRoundedRect(layout.column_rect(tooth).adjusted(1, 1, -1, -1), 4, 4)
        if self._focus is not None and self._focus in self._teeth and self.hasFocus():
            pen = QPen(FOCUS, 1.5, Qt.PenStyle.DotLine)
            p.setPen(pen)
            p.drawRect(layout.column_rect(self._focus).adjusted(-2, -2, 2, 2))

    def _composed(self) -> QPixmap:
        """Background, every tooth picture and the labels in one pixmap, composed again only when
        one of them changes: the layout (size, teeth), the labels (numbering), the pictures (marks,
        selected surfaces), the scale or the palette."""
        layout = self.layout_now()
        dpr = self.devicePixelRatioF()
        labels = self._label_pixmap(layout, dpr)
        made_from = (layout, labels, dpr, self.size(), frozenset(self._selection.items()), self._pictures_epoch,
                     self.palette().base().color().rgba())
        if self._frame is None or len(made_from) != len(self._frame_from) or any(
                a is not b and a != b for a, b in zip(made_from, self._frame_from, strict=True)):
            frame = self._frame
            if frame is None or frame.size() != self.size() * dpr or frame.devicePixelRatio() != dpr:
                frame = QPixmap(self.size() * dpr)  # else painted over: a new pixmap a change cost as much
                frame.setDevicePixelRatio(dpr)
            self.compositions += 1
            p = QPainter(frame)
            p.fillRect(self.rect(), self.palette().base())
            for cell in layout.cells:
                p.drawPixmap(cell.rect.topLeft(), self._picture(cell, dpr))
            p.drawPixmap(0, 0, labels)
            p.end()
            self._frame, self._frame_from = frame, made_from
        return self._frame

    def _picture(self, cell: Cell, dpr: float) -> QPixmap:
        tooth = cell.tooth
        marks = self._marks.get(tooth, ())
        selected = self._selection.get(tooth, frozenset())
        key = (tooth, cell.view, cell.rect.width(), cell.rect.height(), dpr, selected)
        pic = self._pictures.get(key)
        if pic is None:
            size = QSize(max(1, round(cell.rect.width())), max(1, round(cell.rect.height())))
            pic = self._painter.compose(tooth, cell.view, size, marks, selected, tooth in self._selection, dpr)
            self._pictures[key] = pic
        return pic

    def _label_pixmap(self, layout: Layout, dpr: float) -> QPixmap:
        if self._labels is None or self._labels.size() != self.size() * dpr:
            pm = QPixmap(self.size() * dpr)
            pm.setDevicePixelRatio(dpr)
            pm.fill(Qt.GlobalColor.transparent)
            p = QPainter(pm)
            font = QFont(self.font())
            font.setPixelSize(max(9, int(layout.col * 0.24)))
            p.setFont(font)
            p.setPen(self.palette().text().color())
            for tooth in self._teeth:
                if tooth.is_supernumerary:
                    continue
                p.drawText(layout.label_rect(tooth), Qt.AlignmentFlag.AlignCenter, tooth.format(self._numbering))
            for cell in layout.cells:
                if cell.tooth.is_supernumerary:
                    small = QFont(font)
                    small.setPixelSize(max(8, int(layout.col * 0.18)))
                    p.setFont(small)
                    r = cell.rect
                    p.drawText(QRectF(r.x() - 10, r.bottom(), r.width() + 20, 12), Qt.AlignmentFlag.AlignCenter,
                               cell.tooth.format(self._numbering))
                    p.setFont(font)
            p.end()
            self._labels = pm
        return self._labels

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._layout = None
        self._labels = None
        self._pictures.clear()
        self._pictures_epoch += 1
        super().resizeEvent(event)

    def sizeHint(self) -> QSize:
        return QSize(960, 560)

    # --- mouse -----------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        found = self.hit(event.position())
        if found is None:
            if not event.modifiers() & Qt.KeyboardModifier.ControlModifier:
                self.clear_selection()
            return
        tooth, surface = found
        add = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        self._drag_from = tooth
        if surface is None:
            if add and tooth in self._selection:
                del self._selection[tooth]
                self._changed()
            else:
                self.select(tooth, add=add)
        elif add:
            self.toggle_surface(tooth, surface)
        else:
            self.select(tooth, [surface])

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        found = self.hit(event.position())
        if event.buttons() & Qt.MouseButton.LeftButton and self._drag_from is not None and found:
            tooth = found[0]
            if tooth != self._drag_from:
                run = self._run(self._drag_from, tooth)
                self._selection = {t: frozenset() for t in run}
                self._focus = tooth
                self._changed()
            return
        self._hover(found, event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag_from = None

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        found = self.hit(event.position())
        if found:
            self.tooth_activated.emit(found[0])

    def _run(self, a: Tooth, b: Tooth) -> list[Tooth]:
        """The teeth between a and b along the chart row (a drag across the arch)."""
        ra, ca = a.chart_index
        rb, cb = b.chart_index
        lo, hi = sorted((ca, cb))
        rows = {ra, rb}
        return [t for t in self._teeth if t.chart_index[0] in rows and lo <= t.chart_index[1] <= hi
                and not t.is_supernumerary]

    def _hover(self, found: tuple[Tooth, Surface | None] | None, event: QMouseEvent) -> None:
        if found is None:
            QToolTip.hideText()
            return
        tooth, surface = found
        QToolTip.showText(event.globalPosition().toPoint(), self.tooth_summary(tooth, surface), self)

    def tooth_summary(self, tooth: Tooth, surface: Surface | None = None) -> str:
        """The hover text: number, name, the surface under the pointer and the tooth's history."""
        head = f"{tooth.format(self._numbering)} — {tooth.name}"
        if surface is not None:
            head += f" · {surface.value} ({surface.label})"
        marks = sorted(self._marks.get(tooth, ()), key=lambda m: (m.date is None, m.date))
        lines = [f"{m.date.isoformat() if m.date else 'undated'}  {m.describe()}" for m in marks]
        return "\n".join([head, *(lines or ["nothing charted"])])

    # --- keyboard ------------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if not self._teeth:
            return super().keyPressEvent(event)
        focus = self._focus or self._teeth[0]
        if key in (Qt.Key.Key_Left, Qt.Key.Key_Right) and shift:
            self._move_surface_cursor(focus, -1 if key == Qt.Key.Key_Left else 1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            self._step(focus, -1 if key == Qt.Key.Key_Left else 1)
        elif key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self._other_arch(focus, up=key == Qt.Key.Key_Up)
        elif key == Qt.Key.Key_Space:
            surfaces = surfaces_of(focus.base)
            self.toggle_surface(focus, surfaces[self._surface_cursor % len(surfaces)])
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if focus in self._selection:
                del self._selection[focus]
                self._focus = focus
                self._changed()
            else:
                self.select(focus, add=True)
        elif key == Qt.Key.Key_Escape:
            self.clear_selection()
        elif event.text() and (event.text().isalnum() or event.text() in "+-"):
            self._type_ahead(event.text())
        else:
            super().keyPressEvent(event)

    def _step(self, focus: Tooth, direction: int) -> None:
        row = [t for t in self._teeth if t.chart_index[0] == focus.chart_index[0]]
        row.sort(key=lambda t: t.chart_index[1])
        i = row.index(focus) if focus in row else 0
        self._focus = row[max(0, min(len(row) - 1, i + direction))]
        self._surface_cursor = 0
        self._describe_focus()
        self.update()

    def _other_arch(self, focus: Tooth, *, up: bool) -> None:
        target_row = 0 if up else 1
        row = [t for t in self._teeth if t.chart_index[0] == target_row and not t.is_supernumerary]
        if row:
            col = focus.chart_index[1]
            self._focus = min(row, key=lambda t: abs(t.chart_index[1] - col))
            self._describe_focus()
            self.update()

    def _move_surface_cursor(self, focus: Tooth, step: int) -> None:
        self._focus = focus
        self._surface_cursor = (self._surface_cursor + step) % len(surfaces_of(focus.base))
        self._describe_focus()
        self.update()

    def _type_ahead(self, char: str) -> None:
        if not self._typed_clock.isValid() or self._typed_clock.elapsed() > TYPE_AHEAD_MS:
            self._typed = ""
        self._typed_clock.restart()
        self._typed += char.upper()
        for candidate in (self._typed, char.upper()):
            try:
                tooth = Tooth.parse(candidate, self._numbering)
            except DomainError:
                continue
            if tooth in self._teeth:
                self._typed = candidate
                self._focus = tooth
                self._surface_cursor = 0
                self._describe_focus()
                self.update()
                return

    def _describe_focus(self) -> None:
        """Keep the accessible description on what a screen reader user is pointing at."""
        tooth = self._focus
        if tooth is None:
            self.setAccessibleDescription(f"{len(self._teeth)} teeth, {len(self._selection)} selected")
            return
        surfaces = surfaces_of(tooth.base)
        cursor = surfaces[self._surface_cursor % len(surfaces)]
        chosen = "".join(s.value for s in sorted(self._selection.get(tooth, frozenset()), key=surfaces.index))
        marks = "; ".join(m.describe() for m in self._marks.get(tooth, ())) or "nothing charted"
        self.setAccessibleDescription(
            f"Tooth {tooth.format(self._numbering)}, {tooth.name}. Surface {cursor.value}. "
            f"{'Selected ' + (chosen or 'whole tooth') if tooth in self._selection else 'Not selected'}. {marks}")

    @property
    def surface_cursor(self) -> Surface | None:
        if self._focus is None:
            return None
        surfaces = surfaces_of(self._focus.base)
        return surfaces[self._surface_cursor % len(surfaces)]

    def grab_chart(self, size: QSize | None = None) -> QPixmap:
        """The chart as a picture (print, export, screenshot tests)."""
        if size is not None and size != self.size():
            self.resize(size)
        pm = QPixmap(self.size())
        pm.fill(QColor("white"))
        p = QPainter(pm)
        self.paint_chart(p)
        p.end()
        return pm


def _px(rect: QRectF, dpr: float) -> QSize:
    return QSize(max(1, round(rect.width() * dpr)), max(1, round(rect.height() * dpr)))
