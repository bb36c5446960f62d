"""Entry paths: the order in which the hygienist's keystrokes walk the perio chart.

A path is a list of :class:`Segment` passes, each one aspect (facial or lingual) of a run of
teeth in one arch, walked from ``first`` to ``last`` (charting.md §3.3). Presets:

* ``"maxillary-first"`` (Open Dental's default): 1→16 F, 16→1 L, 32→17 F, 17→32 L.
* ``"facials-first"``: 1→16 F, 17→32 F, 32→17 L, 16→1 L.
* ``"mandibular-lingual-first"``: 1→16 F, 16→1 L, 17→32 L, 32→17 F (offered as a preset where
  the path is configurable; charting.md §3.3 "Brief's sequence").
* ``"custom"``: the caller's own segments; they may cover part of the mouth but never a site twice.

Within a tooth the three sites follow the direction of travel on the dentist's-view chart
(charting.md §3.2): #1 and #32 are drawn at the left, and on the patient's right side (1–8, 25–32)
a tooth shows distal at its left, on the patient's left side (9–24) mesial at its left. Walking
left to right therefore gives DB, B, MB on 1–8 and MB, B, DB on 9–16; walking right to left
reverses that. A one-tooth segment is walked left to right.

Missing teeth are skipped; implants are stops like any tooth unless the caller skips them.
:func:`reversed_path` walks every pass the other way (the hygienist turns round mid-exam): the
passes keep their order, so the walk still snakes from one pass into the next.
A UI calls :meth:`EntryPath.next` on every keystroke, so a built path holds its stops as a tuple
and its neighbours in dicts (one lookup per call), and built paths are cached.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from odonto_desk.domain.errors import InvalidMeasurement
from odonto_desk.domain.perio import Aspect, PerioExam, Site, ToothState, perio_tooth
from odonto_desk.domain.teeth import PERMANENT_TEETH, Side, Tooth


class Stop(NamedTuple):
    """One place the cursor stops: a site of a tooth. Equal to the plain ``(tooth, site)`` key."""

    tooth: Tooth
    site: Site


class PathName(enum.StrEnum):
    MAXILLARY_FIRST = "maxillary-first"
    FACIALS_FIRST = "facials-first"
    MANDIBULAR_LINGUAL_FIRST = "mandibular-lingual-first"
    CUSTOM = "custom"


_ASPECTS: dict[str, Aspect] = {
    "F": Aspect.FACIAL, "B": Aspect.FACIAL, "FACIAL": Aspect.FACIAL, "BUCCAL": Aspect.FACIAL,
    "L": Aspect.LINGUAL, "P": Aspect.LINGUAL, "LINGUAL": Aspect.LINGUAL, "PALATAL": Aspect.LINGUAL,
}

# Left-to-right site positions of one tooth on the chart, by the side of the mouth it is on.
_FACIAL_LTR = {Side.RIGHT: (Site.DB, Site.B, Site.MB), Side.LEFT: (Site.MB, Site.B, Site.DB)}
_LINGUAL_LTR = {Side.RIGHT: (Site.DL, Site.L, Site.ML), Side.LEFT: (Site.ML, Site.L, Site.DL)}


def chart_sites(tooth: Tooth, aspect: Aspect | str) -> tuple[Site, Site, Site]:
    """The tooth's three sites of ``aspect`` from left to right on the dentist's-view chart."""
    table = _FACIAL_LTR if _aspect(aspect) is Aspect.FACIAL else _LINGUAL_LTR
    return table[tooth.side]  # type: ignore[return-value]


def _column(tooth: Tooth) -> int:
    """Chart column 0–15 from the left: #1 and #32 at column 0."""
    return int(tooth.chart_index[1])


def _aspect(value: Aspect | str) -> Aspect:
    if isinstance(value, Aspect):
        return value
    aspect = _ASPECTS.get(str(value).strip().upper())
    if aspect is None:
        raise InvalidMeasurement(f"{value!r} is not an aspect: use F (facial) or L (lingual/palatal)",
                                 field="aspect")
    return aspect


@dataclass(frozen=True, slots=True)
class Segment:
    """One pass along an arch: ``aspect`` of the teeth from ``first`` to ``last`` inclusive."""

    first: Tooth
    last: Tooth
    aspect: Aspect

    @classmethod
    def of(cls, first: Tooth | str | int, last: Tooth | str | int, aspect: Aspect | str) -> Segment:
        """A validated segment; both ends must be permanent teeth of the same arch."""
        a, b = perio_tooth(first), perio_tooth(last)
        if a.arch is not b.arch:
            raise InvalidMeasurement(
                f"a segment stays in one arch: {a.universal} and {b.universal} are in different arches",
                field="segments")
        return cls(a, b, _aspect(aspect))

    @property
    def left_to_right(self) -> bool:
        """Whether the pass walks left to right on the dentist's-view chart."""
        return _column(self.first) <= _column(self.last)

    def teeth(self) -> tuple[Tooth, ...]:
        """The teeth walked, in order (missing ones included)."""
        lo, hi = int(self.first.universal), int(self.last.universal)
        step = 1 if lo <= hi else -1
        return tuple(PERMANENT_TEETH[n - 1] for n in range(lo, hi + step, step))

    def stops(self) -> Iterator[Stop]:
        """Every stop of the pass, sites in the direction of travel."""
        table = _FACIAL_LTR if self.aspect is Aspect.FACIAL else _LINGUAL_LTR
        ltr = self.left_to_right
        for tooth in self.teeth():
            sites = table[tooth.side]
            for site in sites if ltr else reversed(sites):
                yield Stop(tooth, site)

    def __str__(self) -> str:
        return f"{self.first.universal}→{self.last.universal} {self.aspect.value}"


SegmentSpec = Segment | tuple[Tooth | str | int, Tooth | str | int, Aspect | str]
"""A segment, or ``(first, last, aspect)`` as a user or a settings file gives it."""


def _segments(spec: Iterable[SegmentSpec]) -> tuple[Segment, ...]:
    return tuple(s if isinstance(s, Segment) else Segment.of(*s) for s in spec)


def parse_segments(text: str) -> tuple[Segment, ...]:
    """A custom path as a user types it: ``"1-16 F, 16-1 L, 17-32 L, 32-17 F"`` (Universal numbers;
    F facial/buccal, L lingual/palatal). A part that cannot be read is named in the error."""
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    if not parts:
        raise InvalidMeasurement("type the passes, e.g. 1-16 F, 16-1 L, 32-17 F, 17-32 L", field="segments")
    out = []
    for part in parts:
        words = part.replace("→", "-").replace("-", " ").split()
        if len(words) != 3:
            raise InvalidMeasurement(f"{part!r} is not a pass: write first-last and F or L, e.g. 1-16 F",
                                     field="segments")
        out.append(Segment.of(words[0], words[1], words[2]))
    return tuple(out)


PRESETS: dict[PathName, tuple[Segment, ...]] = {
    PathName.MAXILLARY_FIRST: _segments([(1, 16, "F"), (16, 1, "L"), (32, 17, "F"), (17, 32, "L")]),
    PathName.FACIALS_FIRST: _segments([(1, 16, "F"), (17, 32, "F"), (32, 17, "L"), (16, 1, "L")]),
    PathName.MANDIBULAR_LINGUAL_FIRST: _segments(
        [(1, 16, "F"), (16, 1, "L"), (17, 32, "L"), (32, 17, "F")]),
}


class EntryPath:
    """The ordered stops of a path, with O(1) neighbours for keystroke-speed navigation.

    ``next``/``previous`` also accept a stop the path skips (say the current tooth was just
    marked missing): they answer the nearest stop after / before it in the unskipped order.
    """

    __slots__ = ("_next", "_order", "_prev", "name", "segments", "skipped", "stops")

    def __init__(self, name: PathName, segments: tuple[Segment, ...], skipped: frozenset[Tooth]) -> None:
        full = [stop for seg in segments for stop in seg.stops()]
        if len(set(full)) != len(full):
            raise InvalidMeasurement("the segments visit a site twice: segments must not overlap",
                                     field="segments")
        self.name, self.segments, self.skipped = name, segments, skipped
        self.stops: tuple[Stop, ...] = tuple(s for s in full if s.tooth not in skipped)
        self._order: dict[Stop, int] = {s: i for i, s in enumerate(self.stops)}
        self._next: dict[Stop, Stop | None] = {}
        self._prev: dict[Stop, Stop | None] = {}
        following: Stop | None = None
        for stop in reversed(full):
            self._next[stop] = following
            if stop in self._order:
                following = stop
        preceding: Stop | None = None
        for stop in full:
            self._prev[stop] = preceding
            if stop in self._order:
                preceding = stop

    def __len__(self) -> int:
        return len(self.stops)

    def __iter__(self) -> Iterator[Stop]:
        return iter(self.stops)

    def __contains__(self, stop: object) -> bool:
        return stop in self._order

    @property
    def first(self) -> Stop | None:
        return self.stops[0] if self.stops else None

    @property
    def last(self) -> Stop | None:
        return self.stops[-1] if self.stops else None

    def next(self, stop: tuple[Tooth, Site]) -> Stop | None:
        """The stop after ``stop``; None at the end of the path."""
        try:
            return self._next[stop]  # type: ignore[index]
        except KeyError:
            raise self._not_on_path(stop) from None

    def previous(self, stop: tuple[Tooth, Site]) -> Stop | None:
        """The stop before ``stop``; None at the start of the path."""
        try:
            return self._prev[stop]  # type: ignore[index]
        except KeyError:
            raise self._not_on_path(stop) from None

    def position(self, stop: tuple[Tooth, Site]) -> int | None:
        """The 0-based index of ``stop`` on the path, or None if the path skips or omits it."""
        return self._order.get(stop)  # type: ignore[call-overload]

    def find(self, tooth: Tooth | str | int, site: Site | str) -> Stop | None:
        """The stop for a tooth and site as typed or clicked (``"3"``, ``"mf"``…); None if off the path."""
        stop = Stop(perio_tooth(tooth), Site.parse(site))
        return stop if stop in self._order else None

    def _not_on_path(self, stop: object) -> InvalidMeasurement:
        return InvalidMeasurement(f"{stop!r} is not on the {self.name.value} path", field="site")

    def __repr__(self) -> str:
        return f"EntryPath({self.name.value!r}, {len(self.stops)} stops)"


def entry_path(name: PathName | str = PathName.MAXILLARY_FIRST, *,
               segments: Iterable[SegmentSpec] | None = None,
               skip: Iterable[Tooth | str | int] = ()) -> EntryPath:
    """The path ``name`` (a preset, or ``"custom"`` with ``segments``) skipping the teeth ``skip``."""
    try:
        kind = PathName(name)
    except ValueError:
        raise InvalidMeasurement(f"{name!r} is not an entry path: use "
                                 f"{', '.join(p.value for p in PathName)}", field="path") from None
    if kind is PathName.CUSTOM:
        if segments is None:
            raise InvalidMeasurement("a custom path needs its segments", field="segments")
        segs = _segments(segments)
        if not segs:
            raise InvalidMeasurement("a custom path needs at least one segment", field="segments")
    elif segments is not None:
        raise InvalidMeasurement(f"the {kind.value} path has fixed segments; use 'custom'", field="segments")
    else:
        segs = PRESETS[kind]
    return _build(kind, segs, frozenset(perio_tooth(t) for t in skip))


def exam_path(exam: PerioExam, name: PathName | str = PathName.MAXILLARY_FIRST, *,
              segments: Iterable[SegmentSpec] | None = None, include_implants: bool = True) -> EntryPath:
    """The path for ``exam``: its missing teeth skipped, implants kept unless told otherwise."""
    skip = {t for t in PERMANENT_TEETH if exam.tooth_state(t) is ToothState.MISSING
            or (not include_implants and exam.tooth_state(t) is ToothState.IMPLANT)}
    return entry_path(name, segments=segments, skip=skip)


def reversed_path(path: EntryPath) -> EntryPath:
    """``path`` with every pass walked the other way; reversing twice gives ``path`` back.

    A pass 1→16 becomes 16→1, so on it the sites come in the opposite order too (§3.2), and the
    next pass starts where the reversed one ends (maxillary-first reversed: 16→1 F, 1→16 L,
    17→32 F, 32→17 L).
    """
    flipped = tuple(Segment(s.last, s.first, s.aspect) for s in path.segments)
    return _build(path.name, flipped, path.skipped)


@functools.lru_cache(maxsize=64)
def _build(kind: PathName, segments: tuple[Segment, ...], skipped: frozenset[Tooth]) -> EntryPath:
    """Paths are immutable once built, so the same request can share one (rebuilt per missing-set)."""
    return EntryPath(kind, segments, skipped)
