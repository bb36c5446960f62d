"""What a chart mark can be: its kinds, statuses and materials, and each kind's rule.

Plain enums and tables, with no pydantic: the first frame of a chart (``services/first_frame.py``)
is drawn from these before the models in :mod:`odonto_desk.domain.chart` are imported, which keeps
a cold start short. :mod:`odonto_desk.domain.chart` re-exports all of them; the rules that need a
whole mark (surfaces against tooth, CDT codes) live there.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class MarkStatus(enum.StrEnum):
    """Open Dental's statuses, with the same short codes clinicians know."""

    TREATMENT_PLANNED = "tp"
    COMPLETED = "c"
    EXISTING_CURRENT = "ec"  # existing, done by this practice
    EXISTING_OTHER = "eo"  # existing, done elsewhere
    REFERRED = "r"
    CONDITION = "cn"

    @property
    def label(self) -> str:
        return {
            MarkStatus.TREATMENT_PLANNED: "Treatment planned",
            MarkStatus.COMPLETED: "Completed",
            MarkStatus.EXISTING_CURRENT: "Existing (this practice)",
            MarkStatus.EXISTING_OTHER: "Existing (other provider)",
            MarkStatus.REFERRED: "Referred out",
            MarkStatus.CONDITION: "Condition",
        }[self]

    @property
    def is_existing_work(self) -> bool:
        return self in (MarkStatus.COMPLETED, MarkStatus.EXISTING_CURRENT, MarkStatus.EXISTING_OTHER)


class Material(enum.StrEnum):
    AMALGAM = "amalgam"
    COMPOSITE = "composite"
    GLASS_IONOMER = "glass ionomer"
    GOLD = "gold"
    METAL = "metal"  # base or noble metal other than gold
    PORCELAIN = "porcelain"  # ceramic, e.g. lithium disilicate
    ZIRCONIA = "zirconia"
    PFM = "porcelain fused to metal"
    RESIN = "resin"
    STAINLESS_STEEL = "stainless steel"
    ACRYLIC = "acrylic"
    TITANIUM = "titanium"
    TEMPORARY = "temporary"

    @property
    def is_metal(self) -> bool:
        """Drawn in the dark shade, as Open Dental draws metal restorations."""
        return self in (Material.AMALGAM, Material.GOLD, Material.METAL, Material.STAINLESS_STEEL,
                        Material.TITANIUM)


class MarkKind(enum.StrEnum):
    CARIES = "caries"
    FILLING = "filling"
    INLAY = "inlay"
    ONLAY = "onlay"
    CROWN = "crown"
    VENEER = "veneer"
    PONTIC = "bridge pontic"
    ABUTMENT = "bridge abutment"
    RCT = "root canal"
    POST_CORE = "post and core"
    IMPLANT = "implant"
    EXTRACTION = "extraction"
    MISSING = "missing"
    IMPACTED = "impacted"
    FRACTURE = "fracture"
    SEALANT = "sealant"
    DENTURE = "denture"
    RETAINED_ROOT = "retained root"
    WATCH = "watch"

    @property
    def article(self) -> str:
        """"a" or "an", for messages: an implant, an extraction, a crown."""
        return "an" if self.value[0] in "aeiou" else "a"


class SurfaceUse(enum.Enum):
    REQUIRED = "required"
    OPTIONAL = "optional"
    NONE = "none"


@dataclass(frozen=True)
class KindRule:
    condition: bool  # a finding (status 'cn' only) rather than work done or planned
    surfaces: SurfaceUse
    min_surfaces: int = 0
    posterior_only: bool = False
    permanent_only: bool = False
    materials: frozenset[Material] = frozenset()  # empty: material not applicable
    family: str | None = None  # CDT surface-count family per material, see FAMILY_BY_MATERIAL
    whole_tooth_gone: bool = False  # the tooth is not there (missing, extracted, pontic)


_DIRECT = frozenset({Material.AMALGAM, Material.COMPOSITE, Material.GLASS_IONOMER, Material.GOLD,
                     Material.RESIN, Material.TEMPORARY})
_INDIRECT = frozenset({Material.GOLD, Material.METAL, Material.PORCELAIN, Material.ZIRCONIA, Material.RESIN,
                       Material.COMPOSITE})
_CROWN = frozenset({Material.GOLD, Material.METAL, Material.PORCELAIN, Material.ZIRCONIA, Material.PFM,
                    Material.RESIN, Material.STAINLESS_STEEL, Material.TEMPORARY})

KIND_RULES: dict[MarkKind, KindRule] = {
    MarkKind.CARIES: KindRule(True, SurfaceUse.REQUIRED, 1),
    MarkKind.FILLING: KindRule(False, SurfaceUse.REQUIRED, 1, materials=_DIRECT),
    MarkKind.INLAY: KindRule(False, SurfaceUse.REQUIRED, 1, materials=_INDIRECT),
    MarkKind.ONLAY: KindRule(False, SurfaceUse.REQUIRED, 2, posterior_only=True, materials=_INDIRECT),
    MarkKind.CROWN: KindRule(False, SurfaceUse.NONE, materials=_CROWN),
    MarkKind.VENEER: KindRule(False, SurfaceUse.NONE, materials=frozenset({Material.PORCELAIN,
                                                                           Material.COMPOSITE,
                                                                           Material.RESIN})),
    MarkKind.PONTIC: KindRule(False, SurfaceUse.NONE, materials=_CROWN, whole_tooth_gone=True),
    MarkKind.ABUTMENT: KindRule(False, SurfaceUse.NONE, materials=_CROWN),
    MarkKind.RCT: KindRule(False, SurfaceUse.NONE),
    MarkKind.POST_CORE: KindRule(False, SurfaceUse.NONE),
    MarkKind.IMPLANT: KindRule(False, SurfaceUse.NONE, permanent_only=True,
                               materials=frozenset({Material.TITANIUM, Material.ZIRCONIA})),
    MarkKind.EXTRACTION: KindRule(False, SurfaceUse.NONE, whole_tooth_gone=True),
    MarkKind.MISSING: KindRule(True, SurfaceUse.NONE, whole_tooth_gone=True),
    MarkKind.IMPACTED: KindRule(True, SurfaceUse.NONE),
    MarkKind.FRACTURE: KindRule(True, SurfaceUse.OPTIONAL),
    MarkKind.SEALANT: KindRule(False, SurfaceUse.OPTIONAL, posterior_only=True,
                               materials=frozenset({Material.RESIN, Material.GLASS_IONOMER})),
    MarkKind.DENTURE: KindRule(False, SurfaceUse.NONE, whole_tooth_gone=True,
                               materials=frozenset({Material.ACRYLIC, Material.METAL})),
    MarkKind.RETAINED_ROOT: KindRule(True, SurfaceUse.NONE),
    MarkKind.WATCH: KindRule(True, SurfaceUse.OPTIONAL),
}

# Which CDT surface-count family a (kind, material) charts as, for code suggestions.
FAMILY_BY_MATERIAL: dict[tuple[MarkKind, Material], str] = {
    (MarkKind.FILLING, Material.AMALGAM): "amalgam",
    (MarkKind.FILLING, Material.COMPOSITE): "composite",
    (MarkKind.FILLING, Material.RESIN): "composite",
    (MarkKind.FILLING, Material.GOLD): "gold foil",
    (MarkKind.INLAY, Material.GOLD): "inlay metal",
    (MarkKind.INLAY, Material.METAL): "inlay metal",
    (MarkKind.INLAY, Material.PORCELAIN): "inlay ceramic",
    (MarkKind.INLAY, Material.ZIRCONIA): "inlay ceramic",
    (MarkKind.INLAY, Material.RESIN): "inlay resin",
    (MarkKind.INLAY, Material.COMPOSITE): "inlay resin",
    (MarkKind.ONLAY, Material.GOLD): "onlay metal",
    (MarkKind.ONLAY, Material.METAL): "onlay metal",
    (MarkKind.ONLAY, Material.PORCELAIN): "onlay ceramic",
    (MarkKind.ONLAY, Material.ZIRCONIA): "onlay ceramic",
    (MarkKind.ONLAY, Material.RESIN): "onlay resin",
    (MarkKind.ONLAY, Material.COMPOSITE): "onlay resin",
}


def removes_tooth(kind: MarkKind, status: MarkStatus) -> bool:
    """True when a mark of this kind and status means the tooth is drawn as absent."""
    return KIND_RULES[kind].whole_tooth_gone and (status.is_existing_work or status is MarkStatus.CONDITION)
