"""Keyboard-speed perio entry: what each keystroke does to the exam and where the cursor goes.

This is the hygienist's side of the perio chart with no Qt in it, so every rule is tested here
and the grid only maps keys to these calls and repaints the cells a call reports. The keys the
UI binds (charting.md §3.5, Open Dental's conventions unless said otherwise):

* a digit enters the value at the cursor and advances along the entry path; Ctrl+digit enters
  10–19 (on the GM row Ctrl+digit is a coronal margin, −n, as Open Dental's hyperplasia entry,
  and Alt+digit a recession of 10–19); ``-`` then a digit also enters −n on the GM row;
* **Shift+digit enters the value and marks the site bleeding in one stroke** (our addition: a
  full exam then needs one keystroke per site however many sites bleed; b still works);
* b or Space, s, p, c toggle bleeding, suppuration, plaque and calculus on the site just entered
  when the cursor has moved on from it (else on the cursor's site);
* j, g, f, m jump to the MGJ, GM, furcation and mobility rows, ``.`` back to probing;
* triplet mode: three digits fill one side of a tooth at once (all or nothing); Backspace
  clears the pending digits, else the side before;
* Backspace steps back and clears that value; undo and redo go one keystroke at a time.

Rows and their stops: PD and GM stop at every site of the path, MGJ at every site but the
palatal ones, furcation at the sites where a furcation entrance opens (facial mid → B; lingual
mid → L on lower molars; palatal mesial/distal → M/D on upper molars and first premolars), and
mobility once per tooth at its facial mid site. A value outside its range is refused with the
reason and changes nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from odonto_desk.domain.errors import DomainError, InvalidMeasurement
from odonto_desk.domain.perio import (
    Entrance,
    Flag,
    PerioExam,
    Site,
    ToothState,
    furcation_entrances,
    mgj_charted,
)
from odonto_desk.domain.perio_paths import EntryPath, PathName, SegmentSpec, Stop, exam_path, reversed_path
from odonto_desk.domain.teeth import Arch, Tooth


class Row(enum.StrEnum):
    """The entry row the cursor is on."""

    PD = "pd"
    GM = "gm"
    MGJ = "mgj"
    FURCATION = "furcation"
    MOBILITY = "mobility"

    @property
    def label(self) -> str:
        return _ROW_LABELS[self]

    @property
    def per_site(self) -> bool:
        return self in (Row.PD, Row.GM, Row.MGJ)


_ROW_LABELS = {Row.PD: "Probing depth", Row.GM: "Gingival margin", Row.MGJ: "MGJ",
               Row.FURCATION: "Furcation", Row.MOBILITY: "Mobility"}


def furcation_entrance(tooth: Tooth, site: Site) -> Entrance | None:
    """The furcation entrance charted at ``site`` of ``tooth``, or None (see the module text)."""
    entrances = furcation_entrances(tooth)
    if not entrances:
        return None
    if site is Site.B and Entrance.B in entrances:
        return Entrance.B
    if site is Site.L and Entrance.L in entrances:
        return Entrance.L
    if tooth.arch is Arch.MAXILLARY and site is Site.ML and Entrance.M in entrances:
        return Entrance.M
    if tooth.arch is Arch.MAXILLARY and site is Site.DL and Entrance.D in entrances:
        return Entrance.D
    return None


def _row_has(row: Row, stop: Stop) -> bool:
    if row is Row.MGJ:
        return mgj_charted(stop.tooth, stop.site)
    if row is Row.FURCATION:
        return furcation_entrance(stop.tooth, stop.site) is not None
    if row is Row.MOBILITY:
        return stop.site is Site.B
    return True


# --- red thresholds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedThresholds:
    """When a value is shown in red (charting.md §3.6, Open Dental's defaults); configurable."""

    pd: int = 4  # PD ≥
    gm: int = 2  # recession ≥
    cal: int = 6  # CAL ≥
    mgj: int = 2  # MGJ width ≤ (little attached gingiva)
    furcation: int = 1  # class ≥
    mobility: int = 1  # grade ≥

    def is_red(self, measure: str, value: int | None) -> bool:
        if value is None:
            return False
        if measure == "mgj":
            return value <= self.mgj
        limit = getattr(self, measure, None)
        return limit is not None and value >= limit

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RedThresholds:
        """From settings; a bad value is a :class:`DomainError` naming it."""
        known = {f for f in cls.__dataclass_fields__}
        out: dict[str, int] = {}
        for k, v in data.items():
            if k not in known:
                raise InvalidMeasurement(f"{k!r} is not a red threshold: use {', '.join(sorted(known))}",
                                         field="thresholds")
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 19:
                raise InvalidMeasurement(f"the {k} threshold must be a whole number 0–19, not {v!r}",
                                         field=f"thresholds.{k}")
            out[k] = v
        return cls(**out)


# --- cells and steps -----------------------------------------------------------------------------

# A cell is one stored thing a keystroke can change: ("pd", tooth, site), ("flag:bleeding", tooth,
# site), ("mobility", tooth, None), ("furcation", tooth, entrance), ("state", tooth, None).
Cell = tuple[str, Tooth, Any]


def _read(exam: PerioExam, cell: Cell) -> Any:
    kind, tooth, where = cell
    if kind in ("pd", "gm", "mgj"):
        return getattr(exam, kind)(tooth, where)
    if kind.startswith("flag:"):
        return exam.flag(tooth, where, kind[5:])
    if kind == "mobility":
        g = exam.mobility(tooth)
        return None if g is None else g.value
    if kind == "furcation":
        g = exam.furcation(tooth, where)
        return None if g is None else g.value
    return exam.tooth_state(tooth)


def _write(exam: PerioExam, cell: Cell, value: Any) -> None:
    kind, tooth, where = cell
    if kind in ("pd", "gm", "mgj"):
        exam.set_value(kind, tooth, where, value)
    elif kind.startswith("flag:"):
        exam.set_flag(tooth, where, kind[5:], bool(value))
    elif kind == "mobility":
        exam.set_mobility(tooth, value)
    elif kind == "furcation":
        exam.set_furcation(tooth, where, value)
    else:
        exam.set_tooth_state(tooth, value)


@dataclass(frozen=True)
class _Place:
    row: Row
    stop: Stop
    target: Stop | None
    pending: tuple[int, ...]
    reversed: bool
    minus: bool


@dataclass
class _Step:
    before: _Place
    after: _Place | None = None
    cells: list[tuple[Cell, Any, Any]] = field(default_factory=list)  # (cell, old, new)


@dataclass(frozen=True)
class Outcome:
    """What one keystroke did: the cells it changed (to repaint and to save), or why it was refused."""

    changed: tuple[Cell, ...] = ()
    refused: str | None = None
    moved: bool = False

    @property
    def ok(self) -> bool:
        return self.refused is None


_FLAG_OF = {Flag.BLEEDING: "flag:bleeding", Flag.SUPPURATION: "flag:suppuration", Flag.PLAQUE: "flag:plaque",
            Flag.CALCULUS: "flag:calculus"}


class PerioEntry:
    """The cursor, the modes and the undo history of one exam being entered."""

    def __init__(self, exam: PerioExam, *, path: PathName | str = PathName.MAXILLARY_FIRST,
                 segments: Iterable[SegmentSpec] | None = None, include_implants: bool = True) -> None:
        self.exam = exam
        self.path_name = PathName(path)
        self.segments = tuple(segments) if segments is not None else None
        self.include_implants = include_implants
        self.triplet = False
        self.reversed = False
        self.row = Row.PD
        self.target: Stop | None = None  # the site just entered, for a flag typed after moving on
        self.pending: tuple[int, ...] = ()  # triplet digits typed so far
        self.minus = False  # "-" typed on the GM row: the next digit is coronal
        self._undo: list[_Step] = []
        self._redo: list[_Step] = []
        self._rows: dict[Row, tuple[tuple[Stop, ...], dict[Stop, int]]] = {}
        self.path = self._build_path()
        first = self.path.first
        if first is None:
            raise InvalidMeasurement("every tooth is skipped: there is nothing to chart", field="teeth")
        self.stop: Stop = first

    # --- the path --------------------------------------------------------------------------------

    def _build_path(self) -> EntryPath:
        path = exam_path(self.exam, self.path_name, segments=self.segments, include_implants=self.include_implants)
        self._rows.clear()
        return reversed_path(path) if self.reversed else path

    def _row_stops(self, row: Row) -> tuple[tuple[Stop, ...], dict[Stop, int]]:
        got = self._rows.get(row)
        if got is None:
            stops = tuple(s for s in self.path.stops if _row_has(row, s))
            got = (stops, {s: i for i, s in enumerate(stops)})
            self._rows[row] = got
        return got

    def _on_row(self, row: Row, stop: Stop) -> Stop | None:
        """``stop`` if the row has it, else the row's first stop after it on the path (or before it)."""
        stops, index = self._row_stops(row)
        if stop in index:
            return stop
        if not stops:
            return None
        same_tooth = [s for s in stops if s.tooth == stop.tooth]
        if same_tooth:  # mobility or furcation of the tooth the cursor is on, this aspect first
            return next((s for s in same_tooth if s.site.is_facial == stop.site.is_facial), same_tooth[0])
        order = self.path.position(stop)
        if order is None:  # the stop was skipped (its tooth marked missing): the next one on the path
            nxt = self.path.next(stop)
            order = self.path.position(nxt) if nxt is not None else len(self.path)
        for s in stops:
            if (self.path.position(s) or 0) >= order:
                return s
        return stops[-1]

    def _step_along(self, row: Row, stop: Stop, delta: int) -> Stop | None:
        stops, index = self._row_stops(row)
        i = index.get(stop)
        if i is None:
            return None
        j = i + delta
        return stops[j] if 0 <= j < len(stops) else None

    def side_of(self, stop: Stop) -> tuple[Stop, ...]:
        """The row's stops on the same tooth and aspect as ``stop``, in the order of travel."""
        stops, index = self._row_stops(self.row)
        i = index.get(stop)
        if i is None:
            return ()
        lo = i
        while lo > 0 and _same_side(stops[lo - 1], stop):
            lo -= 1
        hi = i
        while hi + 1 < len(stops) and _same_side(stops[hi + 1], stop):
            hi += 1
        return stops[lo:hi + 1]

    # --- state snapshots for undo -----------------------------------------------------------------

    def _place(self) -> _Place:
        return _Place(self.row, self.stop, self.target, self.pending, self.reversed, self.minus)

    def _restore(self, place: _Place) -> None:
        if place.reversed != self.reversed:
            self.reversed = place.reversed
            self.path = self._build_path()
        self.row, self.stop, self.target, self.pending, self.minus = (place.row, place.stop, place.target,
                                                                      place.pending, place.minus)

    def _record(self, fn: Callable[[_Step], None], *, keep: bool = True) -> Outcome:
        """Run one keystroke: all of it or none of it, recorded for undo."""
        step = _Step(self._place())
        try:
            fn(step)
        except DomainError as exc:
            for cell, old, _new in reversed(step.cells):
                _write(self.exam, cell, old)
            if any(c[0][0] == "state" for c in step.cells):
                self.path = self._build_path()
            self._restore(step.before)
            return Outcome(refused=exc.message)
        step.after = self._place()
        if keep:
            self._undo.append(step)
            self._redo.clear()
        return Outcome(tuple(c for c, _o, _n in step.cells), moved=step.after.stop != step.before.stop
                       or step.after.row != step.before.row)

    def _set(self, step: _Step, cell: Cell, value: Any) -> None:
        old = _read(self.exam, cell)
        _write(self.exam, cell, value)
        step.cells.append((cell, old, value))

    # --- keystrokes ------------------------------------------------------------------------------

    def digit(self, d: int, *, plus10: bool = False, negative: bool = False, bleeding: bool = False) -> Outcome:
        """A digit key (``plus10``: Ctrl/Alt held; ``negative``: a coronal GM; ``bleeding``: Shift held)."""
        if not 0 <= d <= 9:
            raise ValueError(f"a digit is 0–9, not {d}")
        row = self.row
        if row is Row.GM:
            negative = negative or self.minus
        value = d + (10 if plus10 else 0)
        if negative:
            if row is not Row.GM:
                return Outcome(refused=f"{row.label} cannot be negative: only the gingival margin is "
                                       "(coronal to the CEJ)")
            value = -value
        if self.triplet and row.per_site:
            return self._triplet_digit(value, bleeding)

        def run(step: _Step) -> None:
            stop = self.stop
            self._set(step, self._cell(row, stop), value)
            if bleeding:
                self._set(step, (_FLAG_OF[Flag.BLEEDING], stop.tooth, stop.site), True)
            self.minus = False
            self.target = stop
            nxt = self._step_along(row, stop, +1)
            if nxt is not None:
                self.stop = nxt
        return self._record(run)

    def press_digit(self, d: int, *, ctrl: bool = False, alt: bool = False, shift: bool = False) -> Outcome:
        """A digit key with its modifiers, as the module text lists them for each row."""
        if self.row is Row.GM:
            return self.digit(d, plus10=alt, negative=ctrl, bleeding=shift)
        return self.digit(d, plus10=ctrl or alt, bleeding=shift)

    def _cell(self, row: Row, stop: Stop) -> Cell:
        if row is Row.MOBILITY:
            return ("mobility", stop.tooth, None)
        if row is Row.FURCATION:
            return ("furcation", stop.tooth, furcation_entrance(stop.tooth, stop.site))
        return (row.value, stop.tooth, stop.site)

    def _triplet_digit(self, value: int, bleeding: bool) -> Outcome:
        side = self.side_of(self.stop)
        pending = (*self.pending, value)

        def run(step: _Step) -> None:
            self.stop = side[0]
            self.minus = False
            if bleeding:  # the bleeding goes with the site this digit is for
                s = side[len(pending) - 1]
                self._set(step, (_FLAG_OF[Flag.BLEEDING], s.tooth, s.site), True)
            if len(pending) < len(side):
                self.pending = pending
                return
            for s, v in zip(side, pending, strict=True):
                self._set(step, self._cell(self.row, s), v)
            self.pending = ()
            self.target = side[-1]
            nxt = self._step_along(self.row, side[-1], +1)
            if nxt is not None:
                self.stop = nxt
        return self._record(run)

    def minus_key(self) -> Outcome:
        """``-``: the next digit on the GM row is a coronal margin."""
        if self.row is not Row.GM:
            return Outcome(refused="minus is for the gingival margin row only (press g)")

        def run(step: _Step) -> None:
            self.minus = not self.minus
        return self._record(run)

    def flag(self, flag: Flag | str) -> Outcome:
        """Toggle a site flag on the site just entered (if the cursor moved on), else at the cursor."""
        f = Flag(flag)
        where = self.target or self.stop

        def run(step: _Step) -> None:
            cell = (_FLAG_OF[f], where.tooth, where.site)
            self._set(step, cell, not _read(self.exam, cell))
        return self._record(run)

    def jump(self, row: Row | str) -> Outcome:
        """j / g / f / m / ``.``: another row at the same place (its nearest stop when it has none here)."""
        r = Row(row)
        stop = self._on_row(r, self.stop)
        if stop is None:
            return Outcome(refused=f"no tooth on this path has a {r.label.lower()} site")

        def run(step: _Step) -> None:
            self.row, self.stop, self.pending, self.minus, self.target = r, stop, (), False, None
        return self._record(run, keep=False)

    def move(self, delta: int) -> Outcome:
        """Arrow keys: along the row's stops in the path's order (negative: back)."""
        nxt = self._step_along(self.row, self.stop, delta)
        if nxt is None:
            return Outcome(refused="the end of the path" if delta > 0 else "the start of the path")

        def run(step: _Step) -> None:
            self.stop, self.pending, self.target = nxt, (), None
        return self._record(run, keep=False)

    def go_to(self, tooth: Tooth | str | int, site: Site | str, row: Row | str | None = None) -> Outcome:
        """A click on a cell."""
        r = Row(row) if row is not None else self.row
        stop = self.path.find(tooth, site)
        if stop is None:
            return Outcome(refused="that tooth is skipped (missing) or not on this path")
        if not _row_has(r, stop):
            return Outcome(refused=f"{r.label} is not charted at {stop.site.label(stop.tooth)} of tooth "
                                   f"{stop.tooth.universal}")

        def run(step: _Step) -> None:
            self.row, self.stop, self.pending, self.target = r, stop, (), None
        return self._record(run, keep=False)

    def backspace(self) -> Outcome:
        """Clear the pending triplet digit, else step back and clear the value before the cursor."""
        if self.pending:
            def drop(step: _Step) -> None:
                self.pending = self.pending[:-1]
            return self._record(drop)
        if self.triplet and self.row.per_site:
            side = self.side_of(self.stop)
            before = self._step_along(self.row, side[0], -1) if side else None
            if before is None:
                return Outcome(refused="the start of the path")
            back_side = self.side_of(before)

            def clear_side(step: _Step) -> None:
                for s in back_side:
                    self._set(step, self._cell(self.row, s), None)
                self.stop, self.target = back_side[0], None
            return self._record(clear_side)
        here_has_value = _read(self.exam, self._cell(self.row, self.stop)) is not None
        at = self.stop if here_has_value and self.target is None else self._step_along(self.row, self.stop, -1)
        if at is None:
            return Outcome(refused="the start of the path")

        def clear(step: _Step) -> None:
            self._set(step, self._cell(self.row, at), None)
            self.stop, self.target = at, None
        return self._record(clear)

    def set_triplet(self, on: bool) -> Outcome:
        def run(step: _Step) -> None:
            self.triplet, self.pending = on, ()
            if on and self.row.per_site:
                side = self.side_of(self.stop)
                if side:
                    self.stop = side[0]
        return self._record(run, keep=False)

    def toggle_triplet(self) -> Outcome:
        return self.set_triplet(not self.triplet)

    def reverse(self) -> Outcome:
        """Walk every pass the other way from here on; the cursor stays where it is."""
        def run(step: _Step) -> None:
            self.reversed = not self.reversed
            self.path = self._build_path()
            self.pending = ()
        return self._record(run)

    def set_path(self, name: PathName | str, segments: Iterable[SegmentSpec] | None = None) -> Outcome:
        """Another preset or a custom path; the cursor stays at its stop when the new path has it."""
        old = (self.path_name, self.segments, self.path)
        try:
            self.path_name = PathName(name)
            self.segments = tuple(segments) if segments is not None else None
            self.path = self._build_path()
        except (DomainError, ValueError) as exc:
            self.path_name, self.segments, self.path = old
            self._rows.clear()
            return Outcome(refused=getattr(exc, "message", str(exc)))
        if self.stop not in self.path and self.path.first is not None:
            self.stop = self._on_row(self.row, self.path.first) or self.path.first
        self.pending = ()
        return Outcome(moved=True)

    def toggle_missing(self, tooth: Tooth | str | int | None = None) -> Outcome:
        """Mark the cursor's tooth (or ``tooth``) missing, or present again; the path skips it."""
        t = self.stop.tooth if tooth is None else Tooth(str(tooth)) if not isinstance(tooth, Tooth) else tooth

        def run(step: _Step) -> None:
            state = self.exam.tooth_state(t)
            self._set(step, ("state", t, None),
                      ToothState.PRESENT if state is ToothState.MISSING else ToothState.MISSING)
            here = self.stop
            self.path = self._build_path()
            if here.tooth == t and here not in self.path:
                nxt = self.path.next(here) or self.path.previous(here)
                if nxt is None:
                    raise InvalidMeasurement("every tooth would be skipped", field="teeth")
                self.stop = self._on_row(self.row, nxt) or nxt
            self.target = None
        return self._record(run)

    # --- undo ------------------------------------------------------------------------------------

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> Outcome:
        if not self._undo:
            return Outcome(refused="nothing to undo")
        step = self._undo.pop()
        for cell, old, _new in reversed(step.cells):
            _write(self.exam, cell, old)
        if any(c[0][0] == "state" for c in step.cells):
            self._rows.clear()
            self.path = self._build_path()
        self._restore(step.before)
        self._redo.append(step)
        return Outcome(tuple(c for c, _o, _n in step.cells), moved=True)

    def redo(self) -> Outcome:
        if not self._redo:
            return Outcome(refused="nothing to redo")
        step = self._redo.pop()
        for cell, _old, new in step.cells:
            _write(self.exam, cell, new)
        assert step.after is not None
        if any(c[0][0] == "state" for c in step.cells) or step.after.reversed != self.reversed:
            self.reversed = step.after.reversed
            self.path = self._build_path()
        self._restore(step.after)
        self._undo.append(step)
        return Outcome(tuple(c for c, _o, _n in step.cells), moved=True)

    # --- reading ---------------------------------------------------------------------------------

    def cursor_cells(self) -> tuple[Stop, ...]:
        """The stops the cursor covers: one, or the whole side in triplet mode."""
        if self.triplet and self.row.per_site:
            return self.side_of(self.stop) or (self.stop,)
        return (self.stop,)

    def position_text(self) -> str:
        s = self.stop
        where = f"tooth {s.tooth.universal} {s.site.label(s.tooth)}"
        if self.row is Row.MOBILITY:
            where = f"tooth {s.tooth.universal}"
        elif self.row is Row.FURCATION:
            e = furcation_entrance(s.tooth, s.site)
            where = f"tooth {s.tooth.universal} furcation {e.value if e else ''}"
        mode = " · triplets" if self.triplet else ""
        sign = " · −" if self.minus else ""
        return f"{self.row.label}: {where}{mode}{sign}"


def _same_side(a: Stop, b: Stop) -> bool:
    return a.tooth == b.tooth and a.site.is_facial == b.site.is_facial
