"""The perio grid: six sites a tooth in the dentist's view, entered from the keyboard.

Layout, top to bottom: the maxillary facial block, the upper tooth numbers, the maxillary
palatal block; then the mandibular lingual block, the lower tooth numbers and the mandibular
facial block. In each block the probing depths sit next to the tooth numbers and the other rows
(CAL, GM, MGJ, furcation, mobility) lie outward, so the two most used rows of an arch are side by
side. #1 is at the left of the upper row and #32 at the left of the lower row; within a tooth the
sites are in the order of :func:`~odonto_desk.domain.perio_paths.chart_sites`.

Older exams (up to five) are extra PD rows in grey beside the current one, and the change
against a chosen baseline is a Δ row: worse by 2 mm or more in red with ▲, better by 2 mm or
more in green with ▼ (the arrow carries the meaning for colour-blind readers).

The widget holds no rules: every keystroke goes to :class:`~odonto_desk.domain.perio_entry.PerioEntry`,
and only the cells that keystroke reports (and the cursor's old and new cells) are repainted.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from odonto_desk.domain.perio import Entrance, Flag, PerioExam, Site, ToothState
from odonto_desk.domain.perio_entry import Outcome, PerioEntry, RedThresholds, Row, furcation_entrance
from odonto_desk.domain.perio_indices import site_change
from odonto_desk.domain.perio_paths import Stop, chart_sites
from odonto_desk.domain.teeth import PERMANENT_TEETH, NumberingSystem, Tooth

LABEL_W = 58
CELL_W = 17
TOOTH_GAP = 3
ROW_H = 17
NUMBER_H = 22
ARCH_GAP = 14

UPPER = tuple(PERMANENT_TEETH[0:16])  # 1 … 16, left to right
LOWER = tuple(reversed(PERMANENT_TEETH[16:32]))  # 32 … 17, left to right
SPAN = 3 * CELL_W + TOOTH_GAP
# Lookups a paint makes hundreds of times: a tooth's column, a site's column within its tooth.
_COLUMN = {t: i for row in (UPPER, LOWER) for i, t in enumerate(row)}
_SITE_COL = {(t, facial): {s: c for c, s in enumerate(chart_sites(t, "F" if facial else "L"))}
             for t in PERMANENT_TEETH for facial in (True, False)}

INK = QColor("#1B1B1B")
GREY = QColor("#8C8C8C")
RED = QColor("#C62828")
WORSE_BG = QColor("#FBE3E1")
BETTER = QColor("#1B7F3A")
BETTER_BG = QColor("#E2F3E6")
CURSOR = QColor("#1565C0")
CURSOR_BG = QColor("#DCEBFB")
MISSING_BG = QColor("#E4E4E4")
DERIVED_BG = QColor("#F6F6F2")
FLAG_COLORS = {Flag.BLEEDING: QColor("#D32F2F"), Flag.SUPPURATION: QColor("#F9A825"),
               Flag.PLAQUE: QColor("#1E88E5"), Flag.CALCULUS: QColor("#424242")}


class Line(enum.Enum):
    """A kind of row in the grid."""

    PD = "PD"
    OLDER_PD = "PD older"  # an older exam's PD, greyed
    DELTA = "Δ"
    CAL = "CAL"
    GM = "GM"
    MGJ = "MGJ"
    FURCATION = "Furc"
    MOBILITY = "Mob"


@dataclass(frozen=True)
class _Row:
    line: Line
    facial: bool
    upper: bool
    y: int
    exam: int = 0  # for OLDER_PD: index into the older exams

    @property
    def entry_row(self) -> Row | None:
        return {Line.PD: Row.PD, Line.GM: Row.GM, Line.MGJ: Row.MGJ, Line.FURCATION: Row.FURCATION,
                Line.MOBILITY: Row.MOBILITY}.get(self.line)


def _block(facial: bool, upper: bool, older: int, delta: bool) -> list[tuple[Line, int]]:
    """The rows of one block from the tooth numbers outward."""
    rows: list[tuple[Line, int]] = [(Line.PD, 0)]
    if delta:
        rows.append((Line.DELTA, 0))
    rows += [(Line.OLDER_PD, i) for i in range(older)]
    rows += [(Line.CAL, 0), (Line.GM, 0)]
    if facial or not upper:  # the palate has no mucogingival junction
        rows.append((Line.MGJ, 0))
    rows.append((Line.FURCATION, 0))
    if facial:
        rows.append((Line.MOBILITY, 0))
    return rows


class PerioGrid(QWidget):
    """Shows an exam (and older ones) and turns keys into :class:`PerioEntry` calls."""

    edited = Signal(object)  # Outcome of a keystroke that changed the exam
    refused = Signal(str)  # why a keystroke was refused
    cursor_moved = Signal(str)  # where the cursor is, in words

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Perio chart")
        self.entry: PerioEntry | None = None
        self.older: list[PerioExam] = []  # newest first, up to five
        self.baseline: PerioExam | None = None
        self.thresholds = RedThresholds()
        self.numbering = NumberingSystem.UNIVERSAL
        self.read_only = False
        self.keystrokes = 0  # keys the grid acted on (for the keystrokes-per-site figure)
        self._font = QFont(self.font())
        self._font.setPointSizeF(8.5)
        self._bold = QFont(self._font)
        self._bold.setBold(True)
        self._rows: list[_Row] = []
        self._numbers_y: dict[bool, int] = {}
        self._layout()

    # --- content ---------------------------------------------------------------------------------

    @property
    def exam(self) -> PerioExam | None:
        return self.entry.exam if self.entry else None

    def set_exam(self, entry: PerioEntry | None, *, older: Sequence[PerioExam] = (),
                 baseline: PerioExam | None = None, read_only: bool = False) -> None:
        self.entry = entry
        self.older = list(older)[:5]
        self.baseline = baseline
        self.read_only = read_only
        self._layout()
        self.update()
        if entry is not None:
            self.cursor_moved.emit(entry.position_text())

    def set_thresholds(self, thresholds: RedThresholds) -> None:
        self.thresholds = thresholds
        self.update()

    def set_numbering(self, system: NumberingSystem) -> None:
        self.numbering = system
        self.update()

    # --- geometry --------------------------------------------------------------------------------

    def _layout(self) -> None:
        older, delta = len(self.older), self.baseline is not None
        rows: list[_Row] = []
        y = 4
        for upper in (True, False):
            top_facial = upper  # upper arch: facial above the numbers; lower: lingual above
            top = _block(top_facial, upper, older, delta)
            for line, i in reversed(top):
                rows.append(_Row(line, top_facial, upper, y, i))
                y += ROW_H
            self._numbers_y[upper] = y
            y += NUMBER_H
            for line, i in _block(not top_facial, upper, older, delta):
                rows.append(_Row(line, not top_facial, upper, y, i))
                y += ROW_H
            y += ARCH_GAP
        self._rows = rows
        self._height = y
        self.setFixedHeight(y)
        self.updateGeometry()

    def sizeHint(self) -> QSize:
        return QSize(LABEL_W + 16 * SPAN + 8, self._height)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    @staticmethod
    def _tooth_x(index: int) -> int:
        return LABEL_W + index * SPAN

    def _teeth(self, upper: bool) -> tuple[Tooth, ...]:
        return UPPER if upper else LOWER

    def cell_rect(self, row: _Row, tooth: Tooth, site: Site | None) -> QRect:
        """The rectangle of a site cell, or of the whole tooth when ``site`` is None."""
        x = LABEL_W + _COLUMN[tooth] * SPAN
        if site is None:
            return QRect(x, row.y, 3 * CELL_W, ROW_H)
        return QRect(x + _SITE_COL[tooth, row.facial][site] * CELL_W, row.y, CELL_W, ROW_H)

    def _rows_for(self, tooth: Tooth, facial: bool) -> list[_Row]:
        upper = tooth in UPPER
        return [r for r in self._rows if r.upper == upper and r.facial == facial]

    def row_for(self, entry_row: Row, tooth: Tooth, site: Site) -> _Row | None:
        for r in self._rows_for(tooth, site.is_facial):
            if r.entry_row is entry_row:
                return r
        return None

    def hit(self, x: int, y: int) -> tuple[_Row, Tooth, Site] | None:
        """The row, tooth and site under a point (for clicks)."""
        row = next((r for r in self._rows if r.y <= y < r.y + ROW_H), None)
        if row is None or x < LABEL_W:
            return None
        index, within = divmod(x - LABEL_W, SPAN)
        if index >= 16 or within >= 3 * CELL_W:
            return None
        tooth = self._teeth(row.upper)[index]
        return row, tooth, chart_sites(tooth, "F" if row.facial else "L")[within // CELL_W]

    # --- painting --------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        clip = event.rect()
        p.fillRect(clip, QColor("white"))
        p.setFont(self._font)
        exam = self.exam
        cursor = set(self.entry.cursor_cells()) if self.entry and not self.read_only else set()
        first = max(0, (clip.left() - LABEL_W) // SPAN)
        last = min(15, max(0, clip.right() - LABEL_W) // SPAN)
        for row in self._rows:
            if row.y + ROW_H <= clip.top() or row.y > clip.bottom():
                continue
            if clip.left() < LABEL_W:
                self._paint_label(p, row)
            for tooth in self._teeth(row.upper)[first:last + 1]:
                whole = self.cell_rect(row, tooth, None)
                missing = exam is not None and exam.is_missing(tooth)
                if missing:
                    p.fillRect(whole, MISSING_BG)
                    continue
                self._paint_tooth_row(p, row, tooth, cursor)
        for upper in (True, False):
            band = QRect(0, self._numbers_y[upper], self.width(), NUMBER_H)
            if band.intersects(clip):
                self._paint_numbers(p, upper)
        p.end()

    def _paint_label(self, p: QPainter, row: _Row) -> None:
        text = row.line.value
        if row.line is Line.OLDER_PD and row.exam < len(self.older):
            d = self.older[row.exam].date
            text = f"PD {d:%m/%y}" if d else "PD older"
        elif row.line is Line.DELTA and self.baseline is not None and self.baseline.date:
            text = f"Δ {self.baseline.date:%m/%y}"
        aspect = "F" if row.facial else ("P" if row.upper else "L")
        p.setPen(GREY if row.line in (Line.OLDER_PD, Line.CAL, Line.DELTA) else INK)
        label = text if row.line in (Line.OLDER_PD, Line.DELTA) else f"{text} {aspect}"
        p.drawText(QRect(3, row.y, LABEL_W - 5, ROW_H), Qt.AlignmentFlag.AlignVCenter, label)

    def _paint_tooth_row(self, p: QPainter, row: _Row, tooth: Tooth, cursor: set[Stop]) -> None:
        exam = self.exam
        line = row.line
        if line is Line.MOBILITY:
            rect = self.cell_rect(row, tooth, None)
            grade = exam.mobility(tooth) if exam else None
            on_cursor = (self.entry is not None and not self.read_only and self.entry.row is Row.MOBILITY
                         and self.entry.stop.tooth == tooth)
            self._cell(p, rect, None if grade is None else str(grade.value),
                       self.thresholds.is_red("mobility", grade.value if grade else None), on_cursor)
            return
        for site in chart_sites(tooth, "F" if row.facial else "L"):
            rect = self.cell_rect(row, tooth, site)
            stop = Stop(tooth, site)
            on_cursor = stop in cursor and self.entry is not None and row.entry_row is self.entry.row
            if line is Line.PD:
                value = exam.pd(tooth, site) if exam else None
                pending = self._pending_for(stop) if on_cursor else None
                self._cell(p, rect, pending if pending is not None else _num(value),
                           self.thresholds.is_red("pd", value), on_cursor, italic=pending is not None)
                if exam is not None:
                    self._flags(p, rect, exam, tooth, site)
            elif line is Line.OLDER_PD:
                older = self.older[row.exam] if row.exam < len(self.older) else None
                value = older.pd(tooth, site) if older else None
                p.setPen(GREY)
                p.drawText(rect, Qt.AlignmentFlag.AlignCenter, _num(value) or "")
            elif line is Line.DELTA:
                self._delta(p, rect, tooth, site)
            elif line is Line.CAL:
                value = exam.cal(tooth, site) if exam else None
                p.fillRect(rect, DERIVED_BG)
                self._cell(p, rect, _num(value), self.thresholds.is_red("cal", value), False, fill=False)
            elif line is Line.GM:
                value = exam.gm(tooth, site) if exam else None
                pending = self._pending_for(stop) if on_cursor else None
                self._cell(p, rect, pending if pending is not None else _gm(value),
                           self.thresholds.is_red("gm", value), on_cursor, italic=pending is not None)
            elif line is Line.MGJ:
                value = exam.mgj(tooth, site) if exam else None
                pending = self._pending_for(stop) if on_cursor else None
                self._cell(p, rect, pending if pending is not None else _num(value),
                           self.thresholds.is_red("mgj", value), on_cursor, italic=pending is not None)
            elif line is Line.FURCATION:
                entrance = furcation_entrance(tooth, site)
                if entrance is None or (exam is not None and exam.is_implant(tooth)):
                    continue
                grade = exam.furcation(tooth, entrance) if exam else None
                self._cell(p, rect, _roman(grade.value) if grade else None,
                           self.thresholds.is_red("furcation", grade.value if grade else None), on_cursor,
                           hint=entrance)

    def _pending_for(self, stop: Stop) -> str | None:
        entry = self.entry
        if entry is None or not entry.pending:
            return None
        side = entry.cursor_cells()
        i = side.index(stop) if stop in side else -1
        return str(entry.pending[i]) if 0 <= i < len(entry.pending) else None

    def _cell(self, p: QPainter, rect: QRect, text: str | None, red: bool, on_cursor: bool, *,
              italic: bool = False, fill: bool = True, hint: Entrance | None = None) -> None:
        if on_cursor:
            p.fillRect(rect, CURSOR_BG)
        if text:
            p.setFont(self._bold if red else self._font)
            if italic:
                f = QFont(self._font)
                f.setItalic(True)
                p.setFont(f)
            p.setPen(RED if red else INK)
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
            p.setFont(self._font)
        elif hint is not None:
            p.setPen(QColor("#C8C8C8"))
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, hint.value.lower())
        if on_cursor:
            p.setPen(QPen(CURSOR, 2))
            p.drawRect(rect.adjusted(1, 1, -1, -1))

    def _flags(self, p: QPainter, rect: QRect, exam: PerioExam, tooth: Tooth, site: Site) -> None:
        marks = [f for f in Flag if exam.flag(tooth, site, f)]
        if not marks:
            return
        p.setPen(Qt.PenStyle.NoPen)
        x = rect.left() + 2
        for f in marks:
            p.setBrush(FLAG_COLORS[f])
            if f is Flag.BLEEDING:
                p.drawEllipse(x, rect.bottom() - 4, 5, 5)  # a dot: blood
            else:
                p.drawRect(x, rect.bottom() - 3, 4, 3)  # a bar: the other flags
            x += 5
        p.setBrush(Qt.BrushStyle.NoBrush)

    def _delta(self, p: QPainter, rect: QRect, tooth: Tooth, site: Site) -> None:
        exam, base = self.exam, self.baseline
        if exam is None or base is None:
            return
        change = site_change(base, exam, tooth, site)  # the change and its 2 mm mark are the domain's
        d, trend = change.pd_change, change.pd_trend()
        if d is None:
            return
        if trend > 0:
            p.fillRect(rect, WORSE_BG)
            p.setPen(RED)
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, f"▲{d}")
        elif trend < 0:
            p.fillRect(rect, BETTER_BG)
            p.setPen(BETTER)
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, f"▼{-d}")
        elif d:
            p.setPen(GREY)
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, f"{d:+d}")

    def _paint_numbers(self, p: QPainter, upper: bool) -> None:
        y = self._numbers_y[upper]
        exam = self.exam
        p.setFont(self._bold)
        for i, tooth in enumerate(self._teeth(upper)):
            rect = QRect(self._tooth_x(i), y + 2, 3 * CELL_W, NUMBER_H - 4)
            state = exam.tooth_state(tooth) if exam else ToothState.PRESENT
            if state is ToothState.MISSING:
                p.fillRect(rect, MISSING_BG)
                p.setPen(GREY)
                text = f"{tooth.format(self.numbering)} ✕"
            elif state is ToothState.IMPLANT:
                p.fillRect(rect, QColor("#E8EAF6"))
                p.setPen(INK)
                text = f"{tooth.format(self.numbering)} imp"
            else:
                p.fillRect(rect, QColor("#F1F1F1"))
                p.setPen(INK)
                text = tooth.format(self.numbering)
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        p.setFont(self._font)

    # --- repainting what changed -----------------------------------------------------------------

    def update_cells(self, cells: Iterable[tuple[str, Tooth, object]], stops: Iterable[Stop] = ()) -> None:
        """Repaint the cells a keystroke touched, their derived CAL/Δ cells and the given stops."""
        region = QRect()
        for kind, tooth, where in cells:
            if kind == "state":
                self.update()
                return
            for facial in (True, False):
                for row in self._rows_for(tooth, facial):
                    if isinstance(where, Site) and where.is_facial != facial:
                        continue
                    if kind in ("mobility", "furcation") or not isinstance(where, Site):
                        region = region.united(self.cell_rect(row, tooth, None))
                    else:
                        region = region.united(self.cell_rect(row, tooth, where))
        for stop in stops:
            for row in self._rows_for(stop.tooth, stop.site.is_facial):
                region = region.united(self.cell_rect(row, stop.tooth, None))
        if not region.isNull():
            self.update(region)

    # --- keys and clicks -------------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:
        # The window's shortcuts (Ctrl+Z, Ctrl+digit…) must not take keys the grid uses.
        if event.type() == QEvent.Type.ShortcutOverride and self.entry is not None and not self.read_only:
            key_event: QKeyEvent = event  # type: ignore[assignment]
            if _command(key_event) is not None:
                event.accept()
                return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        command = _command(event) if self.entry is not None and not self.read_only else None
        if command is None:
            super().keyPressEvent(event)
            return
        self.apply(command)

    def apply(self, command: Command) -> Outcome:
        """Run one key's command on the entry; repaint what it changed."""
        entry = self.entry
        assert entry is not None
        before = entry.cursor_cells()
        name, args, kwargs = command
        outcome: Outcome = getattr(entry, name)(*args, **kwargs)
        self.keystrokes += 1
        if outcome.refused:
            self.refused.emit(outcome.refused)
            return outcome
        self.update_cells(outcome.changed, (*before, *entry.cursor_cells()))
        if outcome.changed:
            self.edited.emit(outcome)
        self.cursor_moved.emit(entry.position_text())
        return outcome

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus()
        got = self.hit(int(event.position().x()), int(event.position().y()))
        if got is None or self.entry is None:
            return
        row, tooth, site = got
        if row.entry_row is None:
            return
        before = self.entry.cursor_cells()
        outcome = self.entry.go_to(tooth, site, row.entry_row)
        if outcome.refused:
            self.refused.emit(outcome.refused)
            return
        self.update_cells((), (*before, *self.entry.cursor_cells()))
        self.update()
        self.cursor_moved.emit(self.entry.position_text())

    def focusInEvent(self, event: object) -> None:  # type: ignore[override]
        super().focusInEvent(event)  # type: ignore[arg-type]
        self.update()


# --- the key map ---------------------------------------------------------------------------------

_SHIFTED_DIGITS = {")": 0, "!": 1, "@": 2, "#": 3, "$": 4, "%": 5, "^": 6, "&": 7, "*": 8, "(": 9}
_XCB_DIGIT_SCANCODES = {10 + i: (i + 1) % 10 for i in range(10)}  # the 1…0 row on X11/evdev
Command = tuple[str, tuple[object, ...], dict[str, bool]]  # a PerioEntry method, its arguments


def _c(name: str, *args: object) -> Command:
    return (name, args, {})


_LETTERS: dict[Qt.Key, Command] = {
    Qt.Key.Key_B: _c("flag", Flag.BLEEDING), Qt.Key.Key_Space: _c("flag", Flag.BLEEDING),
    Qt.Key.Key_S: _c("flag", Flag.SUPPURATION), Qt.Key.Key_P: _c("flag", Flag.PLAQUE),
    Qt.Key.Key_C: _c("flag", Flag.CALCULUS),
    Qt.Key.Key_J: _c("jump", Row.MGJ), Qt.Key.Key_G: _c("jump", Row.GM), Qt.Key.Key_F: _c("jump", Row.FURCATION),
    Qt.Key.Key_M: _c("jump", Row.MOBILITY), Qt.Key.Key_Period: _c("jump", Row.PD),
    Qt.Key.Key_Minus: _c("minus_key"), Qt.Key.Key_Backspace: _c("backspace"),
    Qt.Key.Key_T: _c("toggle_triplet"), Qt.Key.Key_R: _c("reverse"), Qt.Key.Key_X: _c("toggle_missing"),
    Qt.Key.Key_Tab: _c("move", 1), Qt.Key.Key_Backtab: _c("move", -1), Qt.Key.Key_Right: _c("move", 1),
    Qt.Key.Key_Left: _c("move", -1), Qt.Key.Key_Return: _c("move", 1), Qt.Key.Key_Enter: _c("move", 1),
}


def _digit_of(event: QKeyEvent) -> tuple[int, bool] | None:
    """(digit, shifted) for a digit key, whatever the layout does with Shift."""
    key = event.key()
    if Qt.Key.Key_0 <= key <= Qt.Key.Key_9:
        return int(key - Qt.Key.Key_0), bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
    text = event.text()
    if text in _SHIFTED_DIGITS:
        return _SHIFTED_DIGITS[text], True
    if event.modifiers() & Qt.KeyboardModifier.ShiftModifier and event.nativeScanCode() in _XCB_DIGIT_SCANCODES:
        return _XCB_DIGIT_SCANCODES[event.nativeScanCode()], True
    return None


def _command(event: QKeyEvent) -> Command | None:
    """The entry call a key stands for (see perio_entry's module text), or None."""
    mods = event.modifiers()
    ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
    alt = bool(mods & Qt.KeyboardModifier.AltModifier)
    key = event.key()
    if ctrl and key == Qt.Key.Key_Z:
        return _c("redo") if mods & Qt.KeyboardModifier.ShiftModifier else _c("undo")
    if ctrl and key == Qt.Key.Key_Y:
        return _c("redo")
    digit = _digit_of(event)
    if digit is not None:
        d, shifted = digit
        return ("press_digit", (d,), {"ctrl": ctrl, "alt": alt, "shift": shifted})
    if ctrl or alt:
        return None
    try:
        return _LETTERS.get(Qt.Key(key))
    except ValueError:
        return None


def _num(value: int | None) -> str | None:
    return None if value is None else str(value)


def _gm(value: int | None) -> str | None:
    """GM as charted: recession plain, a coronal margin with a plus (Open Dental shows it so)."""
    if value is None:
        return None
    return f"+{-value}" if value < 0 else str(value)


def _roman(value: int) -> str:
    return ("0", "I", "II", "III", "IV")[value]
