"""Tooth surfaces: which exist on which tooth, their canonical order, and claim conversion.

Surfaces are the ADA letters M, O, I, D, B, F, L plus V (Class V: the gingival third of the
facial surface, drawn separately on the chart, sent as B or F on claims).

Rules (one place for all of them):

* ``O`` (occlusal) exists only on posterior teeth, ``I`` (incisal) only on anterior teeth.
* The facial surface is ``F`` on anterior teeth and ``B`` on posterior teeth. Clinicians use
  the two letters loosely, so input accepts either and we store the one the tooth has.
* ``V`` exists on every tooth; on a claim it becomes the facial letter of that tooth.
* Canonical order is M, O, I, D, B, F, L, V: "MOD", never "DOM".
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from odonto_desk.domain.errors import InvalidSurface
from odonto_desk.domain.teeth import Tooth


class Surface(enum.StrEnum):
    M = "M"
    O = "O"  # noqa: E741 - the ADA letter
    I = "I"  # noqa: E741 - the ADA letter
    D = "D"
    B = "B"
    F = "F"
    L = "L"
    V = "V"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Surface.M: "mesial",
    Surface.O: "occlusal",
    Surface.I: "incisal",
    Surface.D: "distal",
    Surface.B: "buccal",
    Surface.F: "facial",
    Surface.L: "lingual",
    Surface.V: "class V (facial, gingival third)",
}
ORDER: tuple[Surface, ...] = (
    Surface.M,
    Surface.O,
    Surface.I,
    Surface.D,
    Surface.B,
    Surface.F,
    Surface.L,
    Surface.V,
)
_RANK = {s: i for i, s in enumerate(ORDER)}
# Letters that the ADA surface code system (ADAToothSurfaceCodes) has; V is chart-only.
CLAIM_SURFACES = frozenset({Surface.M, Surface.O, Surface.I, Surface.D, Surface.B, Surface.F, Surface.L})


def surfaces_of(tooth: Tooth) -> tuple[Surface, ...]:
    """The surfaces this tooth has, in canonical order."""
    if tooth.is_anterior:
        return (Surface.M, Surface.I, Surface.D, Surface.F, Surface.L, Surface.V)
    return (Surface.M, Surface.O, Surface.D, Surface.B, Surface.L, Surface.V)


def facial_letter(tooth: Tooth) -> Surface:
    return Surface.F if tooth.is_anterior else Surface.B


def normalize_surface(surface: Surface | str, tooth: Tooth) -> Surface:
    """One surface for ``tooth``: B/F folded to the tooth's facial letter; O/I checked."""
    try:
        s = Surface(str(surface).strip().upper())
    except ValueError:
        raise InvalidSurface(
            f"{surface!r} is not a surface: use M, O, I, D, B, F, L or V", field="surfaces"
        ) from None
    if s in (Surface.B, Surface.F):
        return facial_letter(tooth)
    if s is Surface.O and tooth.is_anterior:
        raise InvalidSurface(
            f"tooth {tooth.universal} is an anterior tooth ({tooth.tooth_type.value}): it has no "
            "occlusal surface (O); use I for the incisal edge",
            field="surfaces",
        )
    if s is Surface.I and tooth.is_posterior:
        raise InvalidSurface(
            f"tooth {tooth.universal} is a posterior tooth ({tooth.tooth_type.value}): it has no "
            "incisal edge (I); use O for the occlusal surface",
            field="surfaces",
        )
    return s


def parse_surfaces(text: str | Iterable[Surface | str], tooth: Tooth) -> frozenset[Surface]:
    """Read ``"MOD"``, ``"m,o,d"`` or a list of letters as the surfaces of ``tooth``.

    Repeated letters are refused (``"MM"`` is a typo, not a surface count).
    """
    if isinstance(text, str):
        letters = [c for c in text.upper() if c not in " ,/+-"]
    else:
        letters = [str(c) for c in text]
    out: set[Surface] = set()
    for letter in letters:
        s = normalize_surface(letter, tooth)
        if s in out:
            raise InvalidSurface(f"surface {s.value} is given twice", field="surfaces")
        out.add(s)
    return frozenset(out)


def format_surfaces(surfaces: Iterable[Surface]) -> str:
    """Canonical string: ``{D, O, M}`` → ``"MOD"``."""
    return "".join(s.value for s in sorted(set(surfaces), key=_RANK.__getitem__))


def sort_surfaces(surfaces: Iterable[Surface]) -> list[Surface]:
    return sorted(set(surfaces), key=_RANK.__getitem__)


def claim_surfaces(surfaces: Iterable[Surface], tooth: Tooth) -> list[Surface]:
    """The surfaces as a claim carries them: V becomes the tooth's facial letter (B or F)."""
    out = {facial_letter(tooth) if s is Surface.V else s for s in surfaces}
    return sort_surfaces(out)
