"""Teeth: one canonical identity, four numbering systems.

Internally a tooth *is* its ADA Universal designation (``"1"``–``"32"``, ``"A"``–``"T"``,
supernumerary ``"51"``–``"82"`` and ``"AS"``–``"TS"``), as Open Dental stores it. Every other
system (FDI / ISO 3950, Palmer, Haderup) is a rendering of that identity, computed here and
nowhere else, so a preference change never touches stored data.

Conventions where the standards are silent (stated once, here):

* FDI has no supernumerary notation. We write the neighbouring tooth followed by ``S``
  (``18S`` is Universal 51, ``55S`` is ``AS``) and never emit it to FHIR.
* Palmer is written as quadrant letters then the tooth: ``UR6``, ``LLB`` (primary teeth are
  A–E counted from the midline); supernumerary adds ``S`` (``UR8S``). The Unicode quadrant
  brackets (``6⏌``, ``⎿1``) are accepted on input.
* Haderup puts ``+`` (upper) or ``-`` (lower) on the midline side of the number: ``8+`` is the
  upper right third molar, ``+1`` the upper left central incisor, ``3-`` the lower right canine.
  Primary teeth carry the 0 prefix of true Haderup (``05+``), not Open Dental's letters.
  Supernumerary adds ``S`` after the number (``8S+``).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from odonto_desk.domain.errors import InvalidTooth


class NumberingSystem(enum.StrEnum):
    UNIVERSAL = "universal"
    FDI = "fdi"
    PALMER = "palmer"
    HADERUP = "haderup"

    @property
    def label(self) -> str:
        return {
            NumberingSystem.UNIVERSAL: "Universal (1–32, A–T)",
            NumberingSystem.FDI: "FDI / ISO 3950 (11–48)",
            NumberingSystem.PALMER: "Palmer (UR1–LL8)",
            NumberingSystem.HADERUP: "Haderup (8+ … -8)",
        }[self]


class Arch(enum.StrEnum):
    MAXILLARY = "maxillary"
    MANDIBULAR = "mandibular"


class Side(enum.StrEnum):
    """The patient's side (not the viewer's)."""

    RIGHT = "right"
    LEFT = "left"


class ToothType(enum.StrEnum):
    CENTRAL_INCISOR = "central incisor"
    LATERAL_INCISOR = "lateral incisor"
    CANINE = "canine"
    FIRST_PREMOLAR = "first premolar"
    SECOND_PREMOLAR = "second premolar"
    FIRST_MOLAR = "first molar"
    SECOND_MOLAR = "second molar"
    THIRD_MOLAR = "third molar"

    @property
    def is_anterior(self) -> bool:
        return self in (ToothType.CENTRAL_INCISOR, ToothType.LATERAL_INCISOR, ToothType.CANINE)

    @property
    def is_molar(self) -> bool:
        return self in (ToothType.FIRST_MOLAR, ToothType.SECOND_MOLAR, ToothType.THIRD_MOLAR)

    @property
    def is_premolar(self) -> bool:
        return self in (ToothType.FIRST_PREMOLAR, ToothType.SECOND_PREMOLAR)


_PERMANENT_TYPES = (
    ToothType.CENTRAL_INCISOR,
    ToothType.LATERAL_INCISOR,
    ToothType.CANINE,
    ToothType.FIRST_PREMOLAR,
    ToothType.SECOND_PREMOLAR,
    ToothType.FIRST_MOLAR,
    ToothType.SECOND_MOLAR,
    ToothType.THIRD_MOLAR,
)
# Primary teeth from the midline: central, lateral, canine, first molar, second molar.
_PRIMARY_TYPES = (
    ToothType.CENTRAL_INCISOR,
    ToothType.LATERAL_INCISOR,
    ToothType.CANINE,
    ToothType.FIRST_MOLAR,
    ToothType.SECOND_MOLAR,
)
_PRIMARY_LETTERS = "ABCDEFGHIJKLMNOPQRST"
_PALMER_QUADRANTS = {1: "UR", 2: "UL", 3: "LL", 4: "LR"}
_PALMER_BY_NAME = {v: k for k, v in _PALMER_QUADRANTS.items()}
# Unicode dentistry brackets as printed beside a Palmer number (the corner points at the tooth).
_PALMER_UNICODE = {"⏌": 1, "⎿": 2, "⎾": 3, "⏋": 4}

_UNIVERSAL_RE = re.compile(r"^(?:[1-9]|[12][0-9]|3[0-2]|5[1-9]|[67][0-9]|8[0-2]|[A-T]S?)$")


def _permanent_quadrant_position(n: int) -> tuple[int, int]:
    """FDI quadrant (1–4) and position from the midline (1–8) of permanent Universal ``n``."""
    if 1 <= n <= 8:
        return 1, 9 - n
    if 9 <= n <= 16:
        return 2, n - 8
    if 17 <= n <= 24:
        return 3, 25 - n
    return 4, n - 24


def _primary_quadrant_position(letter: str) -> tuple[int, int]:
    """FDI quadrant (5–8) and position from the midline (1–5) of primary Universal ``letter``."""
    i = _PRIMARY_LETTERS.index(letter)
    if i < 5:
        return 5, 5 - i
    if i < 10:
        return 6, i - 4
    if i < 15:
        return 7, 15 - i
    return 8, i - 14


def _universal_from_quadrant(quadrant: int, position: int) -> str:
    """Inverse of the two functions above: FDI quadrant (1–8) and position → Universal code."""
    if quadrant in (1, 2, 3, 4):
        if not 1 <= position <= 8:
            raise InvalidTooth(f"a permanent quadrant has teeth 1–8, not {position}", field="tooth")
        n = {1: 9 - position, 2: 8 + position, 3: 25 - position, 4: 24 + position}[quadrant]
        return str(n)
    if quadrant in (5, 6, 7, 8):
        if not 1 <= position <= 5:
            raise InvalidTooth(f"a primary quadrant has teeth 1–5, not {position}", field="tooth")
        i = {5: 5 - position, 6: 4 + position, 7: 15 - position, 8: 14 + position}[quadrant]
        return _PRIMARY_LETTERS[i]
    raise InvalidTooth(f"quadrant {quadrant} does not exist (1–4 permanent, 5–8 primary)", field="tooth")


@dataclass(frozen=True, slots=True)
class _Anatomy:
    quadrant: int  # FDI quadrant 1–8
    position: int  # 1 = central incisor … 8 (permanent) / 5 (primary)
    primary: bool
    supernumerary: bool


@dataclass(frozen=True)
class Tooth:
    """One tooth, identified by its ADA Universal designation.

    Instances are interned: ``Tooth("30") is Tooth("30")``. Build from other systems with
    :meth:`parse`; render with :meth:`format`. Pydantic models may declare ``tooth: Tooth``
    and accept the Universal string.
    """

    universal: str
    _cache: ClassVar[dict[str, Tooth]] = {}

    def __new__(cls, universal: str) -> Tooth:
        key = str(universal).strip().upper()
        hit = cls._cache.get(key)
        if hit is not None:
            return hit
        if not _UNIVERSAL_RE.match(key):
            raise InvalidTooth(
                f"{universal!r} is not a Universal tooth (1–32, A–T, supernumerary 51–82 or AS–TS)",
                field="tooth",
            )
        obj = object.__new__(cls)
        object.__setattr__(obj, "universal", key)
        cls._cache[key] = obj
        return obj

    def __init__(self, universal: str) -> None:  # fields are set in __new__ (interning)
        pass

    def __getnewargs__(self) -> tuple[str]:
        return (self.universal,)

    def __copy__(self) -> Tooth:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Tooth:
        return self

    # --- anatomy -------------------------------------------------------------------------

    @cached_property
    def _anatomy(self) -> _Anatomy:
        u = self.universal
        if u[0].isdigit():
            n = int(u)
            sup = n > 32
            q, p = _permanent_quadrant_position(n - 50 if sup else n)
            return _Anatomy(q, p, primary=False, supernumerary=sup)
        q, p = _primary_quadrant_position(u[0])
        return _Anatomy(q, p, primary=True, supernumerary=len(u) == 2)

    @property
    def is_primary(self) -> bool:
        return self._anatomy.primary

    @property
    def is_permanent(self) -> bool:
        return not self._anatomy.primary

    @property
    def is_supernumerary(self) -> bool:
        return self._anatomy.supernumerary

    @property
    def quadrant(self) -> int:
        """FDI quadrant: 1 UR, 2 UL, 3 LL, 4 LR (permanent); 5–8 the same for primary teeth."""
        return self._anatomy.quadrant

    @property
    def position(self) -> int:
        """Position from the midline: 1 central incisor … 8 third molar (primary: … 5)."""
        return self._anatomy.position

    @property
    def arch(self) -> Arch:
        return Arch.MAXILLARY if self.quadrant in (1, 2, 5, 6) else Arch.MANDIBULAR

    @property
    def side(self) -> Side:
        return Side.RIGHT if self.quadrant in (1, 4, 5, 8) else Side.LEFT

    @property
    def tooth_type(self) -> ToothType:
        types = _PRIMARY_TYPES if self.is_primary else _PERMANENT_TYPES
        return types[self.position - 1]

    @property
    def is_anterior(self) -> bool:
        return self.tooth_type.is_anterior

    @property
    def is_posterior(self) -> bool:
        return not self.tooth_type.is_anterior

    @property
    def is_molar(self) -> bool:
        return self.tooth_type.is_molar

    @property
    def base(self) -> Tooth:
        """The regular tooth a supernumerary sits beside (itself for a regular tooth)."""
        if not self.is_supernumerary:
            return self
        u = self.universal
        return Tooth(u[0]) if self.is_primary else Tooth(str(int(u) - 50))

    @property
    def supernumerary(self) -> Tooth:
        """The supernumerary designation beside this regular tooth."""
        if self.is_supernumerary:
            return self
        u = self.universal
        return Tooth(u + "S") if self.is_primary else Tooth(str(int(u) + 50))

    @property
    def name(self) -> str:
        """Plain-language name, e.g. 'permanent mandibular right first molar'."""
        dentition = "primary" if self.is_primary else "permanent"
        sup = "supernumerary " if self.is_supernumerary else ""
        return f"{sup}{dentition} {self.arch.value} {self.side.value} {self.tooth_type.value}"

    @property
    def successor(self) -> Tooth | None:
        """The permanent tooth that replaces a primary tooth (None for permanent teeth)."""
        if not self.is_primary or self.is_supernumerary:
            return None
        # Primary incisors and canines → permanent incisors and canines; primary molars → premolars.
        return Tooth(_universal_from_quadrant(self.quadrant - 4, self.position))

    # --- numbering systems ---------------------------------------------------------------

    @property
    def fdi(self) -> str:
        """FDI / ISO 3950 two-digit code; supernumerary teeth get our ``S`` suffix."""
        code = f"{self.quadrant}{self.position}"
        return code + "S" if self.is_supernumerary else code

    @property
    def fdi_code(self) -> str | None:
        """The official FDI code, or None for a supernumerary tooth (FDI has none)."""
        return None if self.is_supernumerary else f"{self.quadrant}{self.position}"

    @property
    def palmer(self) -> str:
        q = self.quadrant if self.quadrant <= 4 else self.quadrant - 4
        mark = "ABCDE"[self.position - 1] if self.is_primary else str(self.position)
        return _PALMER_QUADRANTS[q] + mark + ("S" if self.is_supernumerary else "")

    @property
    def haderup(self) -> str:
        number = (f"0{self.position}" if self.is_primary else str(self.position)) + (
            "S" if self.is_supernumerary else ""
        )
        sign = "+" if self.arch is Arch.MAXILLARY else "-"
        return f"{number}{sign}" if self.side is Side.RIGHT else f"{sign}{number}"

    def format(self, system: NumberingSystem | str = NumberingSystem.UNIVERSAL) -> str:
        system = NumberingSystem(system)
        if system is NumberingSystem.UNIVERSAL:
            return self.universal
        if system is NumberingSystem.FDI:
            return self.fdi
        if system is NumberingSystem.PALMER:
            return self.palmer
        return self.haderup

    @classmethod
    def parse(cls, text: str, system: NumberingSystem | str = NumberingSystem.UNIVERSAL) -> Tooth:
        """Read a tooth written in ``system``; raise :class:`InvalidTooth` naming the problem."""
        system = NumberingSystem(system)
        raw = str(text)
        s = raw.strip().replace("−", "-").replace("–", "-").replace(" ", "").upper()
        if not s:
            raise InvalidTooth("no tooth given", field="tooth")
        parser = {
            NumberingSystem.UNIVERSAL: _parse_universal,
            NumberingSystem.FDI: _parse_fdi,
            NumberingSystem.PALMER: _parse_palmer,
            NumberingSystem.HADERUP: _parse_haderup,
        }[system]
        return parser(s, raw)

    # --- ordering and display ------------------------------------------------------------

    @property
    def chart_index(self) -> tuple[int, float]:
        """(row, column) on the dentist's-view chart: row 0 upper, 1 lower; #1 / #32 at the left.

        Primary teeth share the column of the permanent tooth they sit under; supernumerary
        teeth sit half a column distal to their neighbour.
        """
        base = self.base
        if base.is_primary:
            succ = base.successor
            assert succ is not None
            col = float(_column_of_permanent(succ))
        else:
            col = float(_column_of_permanent(base))
        if self.is_supernumerary:
            # Distal is toward the outside of the arch: left on the chart for patient-right teeth.
            col += -0.5 if self.side is Side.RIGHT else 0.5
        return (0 if self.arch is Arch.MAXILLARY else 1, col)

    def __str__(self) -> str:
        return self.universal

    def __repr__(self) -> str:
        return f"Tooth({self.universal!r})"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Tooth):
            return NotImplemented
        return _sort_key(self) < _sort_key(other)

    # --- pydantic ------------------------------------------------------------------------

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        def validate(value: Any) -> Tooth:
            if isinstance(value, Tooth):
                return value
            if isinstance(value, int):
                value = str(value)
            if not isinstance(value, str):
                raise ValueError("a tooth is a Universal designation such as '30' or 'K'")
            try:
                return Tooth(value)
            except InvalidTooth as exc:
                raise ValueError(exc.message) from None

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda t: t.universal),
            json_schema_input_schema=core_schema.str_schema(),
        )


def _column_of_permanent(t: Tooth) -> int:
    """0–15 column of a permanent regular tooth in its row (dentist's view)."""
    n = int(t.universal)
    return n - 1 if n <= 16 else 32 - n


def _sort_key(t: Tooth) -> tuple[int, int, int, int]:
    # Universal order: permanent 1–32, then primary A–T, supernumeraries after their dentition.
    if t.is_primary:
        return (1, int(t.is_supernumerary), _PRIMARY_LETTERS.index(t.universal[0]), 0)
    n = int(t.universal)
    return (0, int(t.is_supernumerary), n if n <= 32 else n - 50, 0)


# --- parsers -----------------------------------------------------------------------------


def _parse_universal(s: str, raw: str) -> Tooth:
    s = s.lstrip("#")
    if s.isdigit():
        s = str(int(s))  # "07" → "7"
    try:
        return Tooth(s)
    except InvalidTooth:
        raise InvalidTooth(
            f"{raw!r} is not a Universal tooth: use 1–32, A–T, or supernumerary 51–82 / AS–TS",
            field="tooth",
        ) from None


_FDI_RE = re.compile(r"^([1-8])([1-8])(S?)$")


def _parse_fdi(s: str, raw: str) -> Tooth:
    m = _FDI_RE.match(s)
    if not m:
        if s in ("99", "99S"):
            raise InvalidTooth(
                "FDI 99 does not say which tooth; write the neighbouring tooth followed by S (e.g. 18S)",
                field="tooth",
            )
        raise InvalidTooth(
            f"{raw!r} is not an FDI tooth: use 11–48 (permanent) or 51–85 (primary)", field="tooth"
        )
    q, p = int(m.group(1)), int(m.group(2))
    if q >= 5 and p > 5:
        raise InvalidTooth(f"{raw!r} is not an FDI tooth: primary quadrants have teeth 1–5", field="tooth")
    u = Tooth(_universal_from_quadrant(q, p))
    return u.supernumerary if m.group(3) else u


_PALMER_RE = re.compile(r"^(UR|UL|LL|LR)([1-8]|[A-E])(S?)$")


def _parse_palmer(s: str, raw: str) -> Tooth:
    # Unicode bracket forms: '6⏌', '⎿1' and so on.
    for sym, q in _PALMER_UNICODE.items():
        if sym in s:
            s = _PALMER_QUADRANTS[q] + s.replace(sym, "")
            break
    m = _PALMER_RE.match(s)
    if not m:
        raise InvalidTooth(
            f"{raw!r} is not a Palmer tooth: use a quadrant (UR, UL, LL, LR) and 1–8 or A–E, e.g. UR6",
            field="tooth",
        )
    q = _PALMER_BY_NAME[m.group(1)]
    mark = m.group(2)
    if mark.isdigit():
        u = Tooth(_universal_from_quadrant(q, int(mark)))
    else:
        u = Tooth(_universal_from_quadrant(q + 4, "ABCDE".index(mark) + 1))
    return u.supernumerary if m.group(3) else u


_HADERUP_RE = re.compile(r"^(?:(0?)([1-8])(S?)([+-])|([+-])(0?)([1-8])(S?))$")


def _parse_haderup(s: str, raw: str) -> Tooth:
    m = _HADERUP_RE.match(s)
    if not m:
        raise InvalidTooth(
            f"{raw!r} is not a Haderup tooth: e.g. 8+ (upper right), +1 (upper left), "
            "3- (lower right), -6 (lower left), 05+ (primary)",
            field="tooth",
        )
    if m.group(4):  # number then sign: patient's right
        zero, pos, sup, sign, right = m.group(1), int(m.group(2)), m.group(3), m.group(4), True
    else:
        sign, zero, pos, sup, right = m.group(5), m.group(6), int(m.group(7)), m.group(8), False
    upper = sign == "+"
    primary = zero == "0"
    if primary and pos > 5:
        raise InvalidTooth(f"{raw!r}: primary teeth are 01–05", field="tooth")
    q = (1 if right else 2) if upper else (4 if right else 3)
    if primary:
        q += 4
    u = Tooth(_universal_from_quadrant(q, pos))
    return u.supernumerary if sup else u


# --- the sets of teeth -------------------------------------------------------------------

PERMANENT_TEETH: tuple[Tooth, ...] = tuple(Tooth(str(n)) for n in range(1, 33))
PRIMARY_TEETH: tuple[Tooth, ...] = tuple(Tooth(c) for c in _PRIMARY_LETTERS)
SUPERNUMERARY_TEETH: tuple[Tooth, ...] = tuple(Tooth(str(n)) for n in range(51, 83)) + tuple(
    Tooth(c + "S") for c in _PRIMARY_LETTERS
)
ALL_TEETH: tuple[Tooth, ...] = PERMANENT_TEETH + PRIMARY_TEETH + SUPERNUMERARY_TEETH


def parse_tooth_range(text: str, system: NumberingSystem | str = NumberingSystem.UNIVERSAL) -> list[Tooth]:
    """Read ``"A-T"``, ``"2-15"`` or ``"18-28"`` (FDI) as the teeth between, in Universal order.

    The span follows the Universal sequence (1→32 around the mouth, A→T), so ``A-T`` is the
    whole primary dentition and FDI ``18-28`` the upper arch. Both ends must be regular teeth
    of one dentition. ``..`` works as the separator in every system (Haderup needs it, since
    its ``-`` is the lower-arch sign). A single tooth is a range of one.
    """
    system = NumberingSystem(system)
    t = text.strip()
    if ".." in t:
        sep: str | None = ".."
    elif system is not NumberingSystem.HADERUP and "-" in t.strip("-"):
        sep = "-"
    else:
        sep = None
    if sep is None:
        return [Tooth.parse(t, system)]
    left, _, right = t.partition(sep)
    a, b = Tooth.parse(left, system), Tooth.parse(right, system)
    if a.is_primary != b.is_primary or a.is_supernumerary or b.is_supernumerary:
        raise InvalidTooth(
            f"{text!r}: a range must join two regular teeth of one dentition (e.g. 2-15 or A-T)",
            field="tooth",
        )
    pool = PRIMARY_TEETH if a.is_primary else PERMANENT_TEETH
    i, j = sorted((pool.index(a), pool.index(b)))
    return list(pool[i : j + 1])
