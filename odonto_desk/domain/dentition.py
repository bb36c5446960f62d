"""Which tooth the odontogram draws in each of its 32 slots.

The chart has one slot per permanent tooth position, numbered like the permanent tooth
(slot 1 is where tooth 1 sits, slot 30 where tooth 30 sits). A primary tooth shares the slot of
the permanent tooth that replaces it (:attr:`Tooth.successor`): A in slot 4, B in slot 5 … J in
slot 13, K in slot 20 … T in slot 29. The permanent molar slots 1, 2, 3, 14, 15, 16, 17, 18, 19,
30, 31 and 32 have no primary tooth. Supernumerary teeth have no slot of their own; they are
drawn beside their neighbour.

What a slot shows is decided in this order (the first rule that speaks wins):

1. **Explicit override** for the slot (``primary``, ``permanent`` or ``none``): the clinician
   said so for this patient, e.g. "this 9-year-old has lost K and 20 is in".
2. **Marks**: a tooth that carries any chart mark is shown in its slot, whatever the mode. A
   charted caries on 2 in a mixed dentition shows 2; a mark on B shows B in slot 5. If both the
   primary tooth and its successor carry marks (a retained primary tooth over an impacted
   premolar), both are shown.
3. **Mode**:

   * ``permanent``: the permanent tooth in every slot.
   * ``primary``: the primary tooth in the 20 slots that have one, nothing in the molar slots.
   * ``mixed`` (the usual picture from about 6 to 12 years): primary canines and molars
     (slots 4–6, 11–13, 20–22, 27–29), permanent incisors and first molars (7–10, 23–26 and
     3, 14, 19, 30); the second and third molar slots (1, 2, 15, 16, 17, 18, 31, 32) are empty.

Supernumerary teeth are shown when they were added to the dentition or carry a mark.

The age bands of :func:`default_mode` follow the usual eruption picture: the first permanent
molars and incisors arrive around 6, the last primary teeth are normally lost by about 12. They
are only the starting point for a new patient; the clinician's overrides then take over.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from odonto_desk.domain.chart import ChartMark
from odonto_desk.domain.errors import DomainError, InvalidTooth
from odonto_desk.domain.teeth import PRIMARY_TEETH, Tooth


class DentitionMode(enum.StrEnum):
    PERMANENT = "permanent"
    PRIMARY = "primary"
    MIXED = "mixed"


class SlotShows(enum.StrEnum):
    """An explicit per-slot choice that overrides the mode and the marks."""

    PRIMARY = "primary"
    PERMANENT = "permanent"
    NONE = "none"


SLOTS: tuple[int, ...] = tuple(range(1, 33))
# Slot → the primary tooth that sits there (only the 20 succedaneous slots have one).
_PRIMARY_IN_SLOT: dict[int, Tooth] = {int(t.successor.universal): t for t in PRIMARY_TEETH if t.successor}
# Slots whose primary tooth a mixed dentition still shows: primary canines and molars.
_MIXED_PRIMARY_SLOTS = frozenset({4, 5, 6, 11, 12, 13, 20, 21, 22, 27, 28, 29})
# Slots a mixed dentition leaves empty: second and third molars, not yet erupted.
_MIXED_EMPTY_SLOTS = frozenset({1, 2, 15, 16, 17, 18, 31, 32})


def default_mode(age_years: int) -> DentitionMode:
    """The dentition to start a new patient's chart with: <6 primary, 6–12 mixed, ≥13 permanent."""
    if age_years < 0:
        raise DomainError(f"an age of {age_years} years is not possible", field="age_years")
    if age_years < 6:
        return DentitionMode.PRIMARY
    if age_years <= 12:
        return DentitionMode.MIXED
    return DentitionMode.PERMANENT


def slot_of(tooth: Tooth) -> int:
    """The chart slot of a regular tooth; a supernumerary tooth has none and is refused."""
    if tooth.is_supernumerary:
        raise InvalidTooth(f"tooth {tooth.universal} is supernumerary: it is drawn beside tooth "
                           f"{tooth.base.universal}, not in a slot of its own", field="tooth")
    if tooth.is_primary:
        successor = tooth.successor
        assert successor is not None  # every regular primary tooth has one
        return int(successor.universal)
    return int(tooth.universal)


def primary_in_slot(slot: int) -> Tooth | None:
    """The primary tooth drawn in ``slot``, or None for the permanent molar slots."""
    return _PRIMARY_IN_SLOT.get(slot)


def _normalize_overrides(raw: Mapping[int, SlotShows | str] | Iterable[tuple[int, SlotShows | str]],
                         ) -> tuple[tuple[int, SlotShows], ...]:
    pairs = raw.items() if isinstance(raw, Mapping) else raw
    out: dict[int, SlotShows] = {}
    for slot, shows in pairs:
        if slot not in SLOTS:
            raise DomainError(f"slot {slot} does not exist: the chart has slots 1–32", field="overrides")
        try:
            value = SlotShows(shows)
        except ValueError:
            raise DomainError(f"{shows!r} is not what a slot can show: use primary, permanent or none",
                              field="overrides") from None
        if value is SlotShows.PRIMARY and slot not in _PRIMARY_IN_SLOT:
            raise InvalidTooth(f"tooth {slot} is a permanent molar: no primary tooth comes before it",
                               field="tooth")
        out[slot] = value
    return tuple(sorted(out.items()))


@dataclass(frozen=True)
class Dentition:
    """The patient's dentition as the chart draws it. Immutable: the ``with_*`` methods return new ones.

    ``overrides`` accepts a mapping (or pairs) of slot → :class:`SlotShows` and is stored as a
    sorted tuple of pairs, so a Dentition is hashable and compares by value;
    :attr:`override_map` gives a read-only mapping view.
    """

    mode: DentitionMode = DentitionMode.PERMANENT
    # A mapping is accepted and stored as sorted pairs (see the class docstring).
    overrides: Mapping[int, SlotShows | str] | tuple[tuple[int, SlotShows], ...] = ()
    supernumeraries: frozenset[Tooth] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", DentitionMode(self.mode))
        object.__setattr__(self, "overrides", _normalize_overrides(self.overrides))
        sups = frozenset(self.supernumeraries)
        for t in sups:
            if not t.is_supernumerary:
                raise InvalidTooth(f"tooth {t.universal} is a regular tooth, not a supernumerary one",
                                   field="supernumeraries")
        object.__setattr__(self, "supernumeraries", sups)

    @property
    def override_map(self) -> Mapping[int, SlotShows]:
        return MappingProxyType(dict(self.overrides))

    # --- changes ---------------------------------------------------------------------------

    def _with_slots(self, teeth: Iterable[Tooth], shows: SlotShows) -> Dentition:
        updated = dict(self.overrides)
        for t in teeth:
            updated[slot_of(t)] = shows
        return Dentition(self.mode, tuple(updated.items()), self.supernumeraries)

    def with_primary(self, teeth: Iterable[Tooth]) -> Dentition:
        """Show the primary tooth in the slots of ``teeth`` (primary teeth or their successors)."""
        return self._with_slots(teeth, SlotShows.PRIMARY)

    def with_permanent(self, teeth: Iterable[Tooth]) -> Dentition:
        """Show the permanent tooth in the slots of ``teeth``."""
        return self._with_slots(teeth, SlotShows.PERMANENT)

    def with_hidden(self, teeth: Iterable[Tooth]) -> Dentition:
        """Show nothing in the slots of ``teeth``, even if they carry marks."""
        return self._with_slots(teeth, SlotShows.NONE)

    def with_mixed(self, teeth: Iterable[Tooth]) -> Dentition:
        """Pin the slots of ``teeth`` to what a mixed dentition shows there, whatever the mode."""
        updated = dict(self.overrides)
        for t in teeth:
            slot = slot_of(t)
            updated[slot] = _mode_shows(DentitionMode.MIXED, slot)
        return Dentition(self.mode, tuple(updated.items()), self.supernumeraries)

    def with_mode(self, mode: DentitionMode) -> Dentition:
        """Switch the whole chart to ``mode``; per-slot overrides are dropped, supernumeraries kept."""
        return Dentition(mode, (), self.supernumeraries)

    def with_supernumerary(self, tooth: Tooth) -> Dentition:
        if not tooth.is_supernumerary:
            raise InvalidTooth(f"tooth {tooth.universal} is a regular tooth; its supernumerary neighbour "
                               f"is {tooth.supernumerary.universal}", field="tooth")
        return Dentition(self.mode, self.overrides, self.supernumeraries | {tooth})

    # --- what to draw ----------------------------------------------------------------------

    def shown(self, marks: Iterable[ChartMark] = ()) -> list[Tooth]:
        """The teeth to draw, in chart order (upper row left to right, then the lower row)."""
        marked = {m.tooth for m in marks}
        overrides = self.override_map
        out: list[Tooth] = []
        for slot in SLOTS:
            out.extend(self._slot_teeth(slot, overrides.get(slot), marked))
        out.extend(self.supernumeraries | {t for t in marked if t.is_supernumerary})
        return sorted(out, key=lambda t: (*t.chart_index, t.is_primary))

    def _slot_teeth(self, slot: int, override: SlotShows | None, marked: set[Tooth]) -> list[Tooth]:
        permanent, primary = Tooth(str(slot)), primary_in_slot(slot)
        shows = override
        if shows is None:
            present = [t for t in (permanent, primary) if t is not None and t in marked]
            if present:
                return present
            shows = _mode_shows(self.mode, slot)
        if shows is SlotShows.PERMANENT:
            return [permanent]
        if shows is SlotShows.PRIMARY and primary is not None:
            return [primary]
        return []

    # --- storage ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "overrides": {str(slot): shows.value for slot, shows in self.override_map.items()},
            "supernumeraries": sorted(t.universal for t in self.supernumeraries),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Dentition:
        overrides = {int(k): v for k, v in dict(data.get("overrides", {})).items()}
        return cls(data.get("mode", DentitionMode.PERMANENT), tuple(overrides.items()),
                   frozenset(Tooth(u) for u in data.get("supernumeraries", ())))


def _mode_shows(mode: DentitionMode, slot: int) -> SlotShows:
    """What ``mode`` alone puts in ``slot``."""
    if mode is DentitionMode.PERMANENT:
        return SlotShows.PERMANENT
    if mode is DentitionMode.PRIMARY:
        return SlotShows.PRIMARY if slot in _PRIMARY_IN_SLOT else SlotShows.NONE
    if slot in _MIXED_PRIMARY_SLOTS:
        return SlotShows.PRIMARY
    return SlotShows.NONE if slot in _MIXED_EMPTY_SLOTS else SlotShows.PERMANENT
