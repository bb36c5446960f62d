"""Chart marks: the conditions and procedures drawn on the odontogram, and their rules.

A :class:`ChartMark` is one thing on one tooth: caries MO on 30, a completed crown on 3, a
planned extraction of 19. Building one validates it completely (kind vs status, surfaces vs
tooth, material vs kind, CDT code vs tooth and surfaces), so an invalid mark cannot exist.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from odonto_desk.domain.cdt import check_code, normalize_code, rule_for, suggest_code
from odonto_desk.domain.errors import DomainError, InvalidSurface
from odonto_desk.domain.mark_kinds import (  # re-exported: the vocabulary of a mark
    FAMILY_BY_MATERIAL,
    KIND_RULES,
    MarkKind,
    MarkStatus,
    Material,
    SurfaceUse,
    removes_tooth,
)
from odonto_desk.domain.surfaces import Surface, format_surfaces, normalize_surface, sort_surfaces
from odonto_desk.domain.teeth import Tooth


def _new_id() -> str:
    return str(uuid.uuid4())


class ChartMark(BaseModel):
    """One condition or procedure on one tooth. Immutable; build a new one to change it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=_new_id)
    patient: str | None = None  # Patient id
    tooth: Tooth
    kind: MarkKind
    status: MarkStatus
    surfaces: frozenset[Surface] = frozenset()
    material: Material | None = None
    code: str | None = None  # CDT code, for procedures
    date: dt.date | None = None
    provider: str | None = None  # Practitioner id
    note: str = ""

    @field_validator("code")
    @classmethod
    def _code_format(cls, v: str | None) -> str | None:
        return None if v in (None, "") else normalize_code(v)

    @field_serializer("surfaces")
    def _surfaces_in_order(self, v: frozenset[Surface]) -> list[str]:
        return [s.value for s in sort_surfaces(v)]

    @model_validator(mode="before")
    @classmethod
    def _normalize_surfaces(cls, data: Any) -> Any:
        # B/F are folded to the tooth's facial letter and O/I checked before anything else,
        # so the error names the surface rather than a type mismatch.
        if isinstance(data, dict) and "surfaces" in data and "tooth" in data:
            try:
                tooth = data["tooth"] if isinstance(data["tooth"], Tooth) else Tooth(str(data["tooth"]))
            except DomainError:
                return data  # the field validator reports the tooth
            raw = data["surfaces"]
            letters = list(raw) if not isinstance(raw, str) else [c for c in raw.upper() if c.strip()]
            surfs: set[Surface] = set()
            for letter in letters:
                s = normalize_surface(letter, tooth)
                surfs.add(s)
            data = {**data, "surfaces": frozenset(surfs)}
        return data

    @model_validator(mode="after")
    def _rules(self) -> ChartMark:
        rule = KIND_RULES[self.kind]
        t = self.tooth
        if rule.condition and self.status is not MarkStatus.CONDITION:
            raise DomainError(f"{self.kind.value} is a condition: its status is 'condition', not "
                              f"'{self.status.label.lower()}'", field="status")
        if not rule.condition and self.status is MarkStatus.CONDITION:
            raise DomainError(f"{self.kind.value} is a procedure: give it a status such as treatment "
                              "planned or completed", field="status")
        if rule.surfaces is SurfaceUse.NONE and self.surfaces:
            raise InvalidSurface(f"{self.kind.article} {self.kind.value} covers the whole tooth and takes no surfaces "
                                 f"(got {format_surfaces(self.surfaces)})", field="surfaces")
        if rule.surfaces is SurfaceUse.REQUIRED and len(self.surfaces) < max(1, rule.min_surfaces):
            need = max(1, rule.min_surfaces)
            raise InvalidSurface(f"{self.kind.article} {self.kind.value} needs at least {need} surface{'s' if need > 1 else ''}",
                                 field="surfaces")
        if rule.posterior_only and t.is_anterior:
            raise DomainError(f"{self.kind.article} {self.kind.value} is for posterior teeth; tooth {t.universal} is a "
                              f"{t.tooth_type.value}", field="kind")
        if rule.permanent_only and t.is_primary:
            raise DomainError(f"{self.kind.article} {self.kind.value} is for permanent teeth; tooth {t.universal} is primary",
                              field="kind")
        if self.material is not None:
            if not rule.materials:
                raise DomainError(f"{self.kind.article} {self.kind.value} has no material", field="material")
            if self.material not in rule.materials:
                allowed = ", ".join(sorted(m.value for m in rule.materials))
                raise DomainError(f"{self.kind.article} {self.kind.value} cannot be {self.material.value} (use {allowed})",
                                  field="material")
        if self.code is not None:
            if rule.condition:
                raise DomainError(f"{self.kind.value} is a condition and carries no procedure code",
                                  field="code")
            check_code(self.code, t, self.surfaces)
        return self

    # --- derived ---------------------------------------------------------------------------

    @property
    def is_condition(self) -> bool:
        return KIND_RULES[self.kind].condition

    @property
    def surface_string(self) -> str:
        return format_surfaces(self.surfaces)

    @property
    def removes_tooth(self) -> bool:
        """True when the tooth should be drawn as absent once this mark is in effect."""
        return removes_tooth(self.kind, self.status)

    def suggested_code(self) -> str | None:
        """The CDT code the kind, material, tooth and surface count point to, if any.

        Fillings, inlays and onlays go by surface count (:data:`FAMILY_BY_MATERIAL`); whole-tooth
        work by kind, material and tooth (:func:`whole_tooth_code`). A suggestion that the code's
        own rule would refuse on this tooth is not made.
        """
        if self.status is MarkStatus.CONDITION:
            return None
        family = FAMILY_BY_MATERIAL.get((self.kind, self.material)) if self.material else None
        if family is not None:
            return suggest_code(family, self.tooth, self.surfaces)
        code = whole_tooth_code(self.kind, self.material, self.tooth)
        if code is None:
            return None
        try:
            check_code(code, self.tooth, self.surfaces)
        except DomainError:
            return None
        return code

    def describe(self) -> str:
        parts = [self.tooth.universal]
        if self.surfaces:
            parts.append(self.surface_string)
        if self.material:
            parts.append(self.material.value)
        parts.append(self.kind.value)
        if self.code:
            parts.append(self.code)
        parts.append(f"({self.status.value})")
        return " ".join(parts)


# Whole-tooth work: the code a kind (and material) usually posts as. Code numbers only; the
# descriptors are the ADA's and come from the practice's licensed list.
_CROWN_CODES: dict[Material, str] = {
    Material.PORCELAIN: "D2740", Material.ZIRCONIA: "D2740", Material.PFM: "D2750", Material.GOLD: "D2790",
    Material.METAL: "D2791", Material.RESIN: "D2710", Material.TEMPORARY: "D2799",
}
_VENEER_CODES: dict[Material, str] = {Material.COMPOSITE: "D2960", Material.RESIN: "D2961",
                                      Material.PORCELAIN: "D2962"}
_WHOLE_TOOTH_CODES: dict[MarkKind, str] = {
    MarkKind.SEALANT: "D1351", MarkKind.EXTRACTION: "D7140", MarkKind.IMPLANT: "D6010",
    MarkKind.POST_CORE: "D2954",
}


def whole_tooth_code(kind: MarkKind, material: Material | None, tooth: Tooth) -> str | None:
    """The usual code for whole-tooth work of ``kind`` on ``tooth``, or None when there is no one code."""
    if kind is MarkKind.CROWN:
        if material is Material.STAINLESS_STEEL:
            return "D2930" if tooth.is_primary else "D2931"
        return None if material is None or tooth.is_primary else _CROWN_CODES.get(material)
    if kind is MarkKind.VENEER:
        return _VENEER_CODES.get(material) if material is not None else None
    if kind is MarkKind.RCT:
        if tooth.is_primary:
            return None  # primary teeth take pulpal therapy codes, chosen by the dentist
        return "D3330" if tooth.is_molar else "D3320" if tooth.tooth_type.is_premolar else "D3310"
    return _WHOLE_TOOTH_CODES.get(kind)


# CDT code ranges → (kind, material) they chart as, for resources that carry only a code.
_KIND_BY_RANGE: list[tuple[int, int, MarkKind, Material | None]] = [
    (1351, 1353, MarkKind.SEALANT, Material.RESIN),
    (2390, 2390, MarkKind.CROWN, Material.RESIN),
    (2710, 2722, MarkKind.CROWN, Material.RESIN),
    (2740, 2740, MarkKind.CROWN, Material.PORCELAIN),
    (2750, 2752, MarkKind.CROWN, Material.PFM),
    (2753, 2753, MarkKind.CROWN, Material.PFM),
    (2780, 2794, MarkKind.CROWN, Material.METAL),
    (2799, 2799, MarkKind.CROWN, Material.TEMPORARY),
    (2929, 2929, MarkKind.CROWN, Material.PORCELAIN),
    (2930, 2931, MarkKind.CROWN, Material.STAINLESS_STEEL),
    (2932, 2934, MarkKind.CROWN, Material.RESIN),
    (2950, 2957, MarkKind.POST_CORE, None),
    (2960, 2962, MarkKind.VENEER, Material.PORCELAIN),
    (3310, 3348, MarkKind.RCT, None),
    (6010, 6013, MarkKind.IMPLANT, Material.TITANIUM),
    (6205, 6253, MarkKind.PONTIC, None),
    (6545, 6794, MarkKind.ABUTMENT, None),
    (7111, 7251, MarkKind.EXTRACTION, None),
]
_KIND_BY_FAMILY: dict[str, tuple[MarkKind, Material]] = {
    "amalgam": (MarkKind.FILLING, Material.AMALGAM),
    "composite": (MarkKind.FILLING, Material.COMPOSITE),
    "gold foil": (MarkKind.FILLING, Material.GOLD),
    "inlay metal": (MarkKind.INLAY, Material.METAL),
    "inlay ceramic": (MarkKind.INLAY, Material.PORCELAIN),
    "inlay resin": (MarkKind.INLAY, Material.RESIN),
    "onlay metal": (MarkKind.ONLAY, Material.METAL),
    "onlay ceramic": (MarkKind.ONLAY, Material.PORCELAIN),
    "onlay resin": (MarkKind.ONLAY, Material.RESIN),
}


def kind_for_code(code: str) -> tuple[MarkKind, Material | None] | None:
    """What a CDT code charts as when nothing else says (D2392 → composite filling)."""
    c = normalize_code(code)
    family = rule_for(c).family
    if family in _KIND_BY_FAMILY:
        return _KIND_BY_FAMILY[family]
    n = int(c[1:])
    for lo, hi, kind, material in _KIND_BY_RANGE:
        if lo <= n <= hi:
            return kind, material
    return None
