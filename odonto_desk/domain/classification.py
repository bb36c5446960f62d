"""The 2017 AAP/EFP periodontitis classification, derived from a case and explained rule by rule.

:func:`classify` reads a :class:`PerioCase` and returns a :class:`Classification`: a diagnosis,
the stage, grade and extent when it is periodontitis, the rules that fired (``reasons``) and
what the clinician must look at (``flags``). The rules follow charting.md §2 (Tonetti, Greenwell &
Kornman 2018 [T18]; Papapanou 2018 [P18]; Chapple 2018 [C18]; Kornman & Papapanou 2020 [KP20]).

The classifier *proposes*; the clinician confirms. Where the published rules leave room for
judgement (a "gray zone") the result carries a flag instead of silently picking one reading.
Choices made where the sources are silent, stated once here and in docs/perio-classification.md:

* CAL = PD + GM (GM + = recession), known only when both are recorded. A site the clinician
  marks ``non_periodontal`` (recession from trauma, cervical caries, endo lesion, root fracture,
  third-molar-related loss) is left out of the case definition, the stage and the extent.
* "Detectable" interdental CAL in the case definition is read as ≥2 mm: 1 mm lies within manual
  probing error. Two teeth are adjacent when they are neighbours in the same arch (Universal n
  and n±1, never 16/17).
* The initial stage comes from interdental CAL; radiographic bone loss (RBL) is used only when
  no interdental CAL is recorded (never the maximum of the two, a pitfall of §2.6).
* Stage IV complexity factors move the stage to IV only when CAL/RBL is already at Stage III
  level; otherwise they are flagged for the clinician to confirm ([T18] pseudo-code, §2.3).
* Stage never goes down: ``previous_stage`` is a floor, and a patient with a previous stage stays
  a periodontitis patient even when today's figures no longer meet the case definition.
* Grade starts at B and moves with direct evidence, else with %RBL ÷ age at the worst tooth.
  Boundaries: ratio 0.25 and 1.0 → B; 10 cigarettes/day → C; HbA1c 7.0 % → C. Modifiers only
  raise the grade.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from odonto_desk.domain.errors import DomainError, InvalidMeasurement, InvalidTooth, from_validation_error
from odonto_desk.domain.perio import PerioExam, Site, ToothState, check_gm, check_pd, furcation_entrances
from odonto_desk.domain.perio_indices import bleeding_index
from odonto_desk.domain.teeth import Tooth, ToothType

# --- thresholds (charting.md §2) -------------------------------------------------------------

CASE_MIN_INTERDENTAL_CAL = 2  # mm; P18 "detectable", read as ≥2 mm (1 mm is probing error)
CASE_MIN_BUCCAL_CAL = 3  # mm, with PD > CASE_MIN_BUCCAL_PD at the same site (P18 b)
CASE_MIN_BUCCAL_PD = 3
GINGIVITIS_BOP = 10.0  # % sites; C18: ≥10 % gingivitis, <10 % health
GINGIVITIS_GENERALIZED_BOP = 30.0  # >30 % generalized, 10–30 % localized
EXTENT_GENERALIZED = 0.30  # share of teeth present; ≥30 % generalized (T18)
MIN_REMAINING_TEETH = 20  # <20 teeth (10 opposing pairs) is a Stage IV complexity factor
MIN_OPPOSING_PAIRS = 10
HEAVY_SMOKER = 10.0  # cigarettes/day; ≥10 → Grade C
HBA1C_GRADE_C = 7.0  # %; ≥7.0 → Grade C

ROMAN = ("I", "II", "III", "IV")
GRADES = ("A", "B", "C")
INCISORS = (ToothType.CENTRAL_INCISOR, ToothType.LATERAL_INCISOR)
SECOND_MOLAR_DISTAL = (Site.DB, Site.DL)

StageName = Literal["I", "II", "III", "IV"]
GradeName = Literal["A", "B", "C"]
Diagnosis = Literal["health", "gingivitis", "periodontitis", "not_a_periodontitis_case", "undetermined"]
Extent = Literal["localized", "generalized", "molar-incisor"]


# Every rule id the classifier can fire, with the source row it implements (charting.md §2).
# The UI can show the source next to a reason; the tests keep this list, the code and the docs in step.
RULES: dict[str, str] = {
    "case.interdental_cal": "P18 case definition (a): interdental CAL at ≥2 non-adjacent teeth",
    "case.buccal_oral_cal": "P18 case definition (b): buccal/oral CAL ≥3 mm with PD >3 mm at ≥2 teeth",
    "case.history": "T18/KP20 rule 6 (§2.3): stage never goes down, so a staged patient stays a case",
    "case.rbl_provisional": "T18 rule 1 (§2.3): RBL stands in when CAL is not available (provisional)",
    "health.bop_lt10": "C18: BOP <10 % → periodontal health",
    "gingivitis.localized": "C18: BOP 10–30 % → localized gingivitis",
    "gingivitis.generalized": "C18: BOP >30 % → generalized gingivitis",
    "stage.cal.1to2": "T18 stage table, interdental CAL at site of greatest loss: 1–2 mm → Stage I",
    "stage.cal.3to4": "T18 stage table, interdental CAL: 3–4 mm → Stage II",
    "stage.cal.ge5": "T18 stage table, interdental CAL: ≥5 mm → Stage III (IV by complexity)",
    "stage.rbl.lt15": "T18 stage table, radiographic bone loss: <15 % → Stage I",
    "stage.rbl.15to33": "T18 stage table, radiographic bone loss: 15–33 % → Stage II",
    "stage.rbl.gt33": "T18 stage table, radiographic bone loss: middle third or beyond → Stage III",
    "stage.tooth_loss.1to4": "T18 stage table, tooth loss: ≤4 teeth → Stage III (rule 2)",
    "stage.iv.tooth_loss_ge5": "T18 stage table, tooth loss: ≥5 teeth → Stage IV (rule 2)",
    "stage.ii.pd_5": "T18 stage table, complexity: Stage I max PD ≤4 mm, so PD 5 → Stage II",
    "stage.iii.pd_ge6": "T18 stage table, complexity Stage III: PD ≥6 mm",
    "stage.iii.vertical_ge3": "T18 stage table, complexity Stage III: vertical bone loss ≥3 mm",
    "stage.iii.furcation_ge2": "T18 stage table, complexity Stage III: furcation class II or III",
    "stage.iii.ridge_moderate": "T18 stage table, complexity Stage III: moderate ridge defect",
    "stage.iv.mobility_ge2": "T18 stage table, complexity Stage IV: secondary occlusal trauma (mobility ≥2)",
    "stage.iv.occlusal_trauma": "T18 stage table, complexity Stage IV: secondary occlusal trauma",
    "stage.iv.masticatory": "T18 stage table, complexity Stage IV: masticatory dysfunction",
    "stage.iv.bite_collapse": "T18 stage table, complexity Stage IV: bite collapse",
    "stage.iv.drifting": "T18 stage table, complexity Stage IV: drifting, flaring",
    "stage.iv.ridge_severe": "T18 stage table, complexity Stage IV: severe ridge defect",
    "stage.iv.lt20_teeth": "T18 stage table, complexity Stage IV: <20 remaining teeth (10 opposing pairs)",
    "stage.history": "T18/KP20 rule 6 (§2.3): stage never goes down",
    "extent.localized": "T18 extent: <30 % of teeth involved → localized",
    "extent.generalized": "T18 extent: ≥30 % of teeth involved → generalized",
    "extent.molar_incisor": "T18 extent: molar/incisor pattern",
    "grade.default_b": "T18 grade rule 1 (§2.5): start at Grade B without evidence",
    "grade.direct.a": "T18 grade table, direct evidence: no loss over 5 years → A",
    "grade.direct.b": "T18 grade table, direct evidence: <2 mm over 5 years → B",
    "grade.direct.c": "T18 grade table, direct evidence: ≥2 mm over 5 years → C",
    "grade.ratio.a": "T18 grade table, indirect: % bone loss ÷ age <0.25 → A",
    "grade.ratio.b": "T18 grade table, indirect: % bone loss ÷ age 0.25–1.0 → B",
    "grade.ratio.c": "T18 grade table, indirect: % bone loss ÷ age >1.0 → C",
    "grade.smoking.b": "T18 grade table, modifier: smoker <10 cigarettes/day → B",
    "grade.smoking.c": "T18 grade table, modifier: smoker ≥10 cigarettes/day → C",
    "grade.diabetes.b": "T18 grade table, modifier: HbA1c <7.0 % with diabetes → B",
    "grade.diabetes.c": "T18 grade table, modifier: HbA1c ≥7.0 % → C",
}

# Every flag id, with what the clinician is asked to do about it.
FLAGS: dict[str, str] = {
    "confirm_periodontal_cause": "confirm no other cause explains the CAL (P18 exclusions)",
    "second_molar_distal": "distal CAL on a second molar may be third-molar related (P18)",
    "case_below_definition": "some CAL, but not at ≥2 non-adjacent teeth: re-probe, watch",
    "case_cal_1mm": "1 mm interdental CAL at non-adjacent teeth: P18 'detectable', within probing error",
    "case_provisional_from_rbl": "periodontitis inferred from radiographs only: probe to confirm",
    "cal_missing": "no site has PD and GM: no diagnosis",
    "bop_missing": "no BOP: health and gingivitis cannot be told apart",
    "severity_missing": "neither interdental CAL nor RBL: the stage rests on other rows",
    "cal_rbl_disagree": "CAL and RBL point to different stages; CAL decides (T18 rule 1)",
    "stage_single_site": "the stage rests on a single site: re-probe it",
    "teeth_lost_missing": "teeth lost to periodontitis not recorded",
    "pd_missing": "no probing depths: PD complexity not assessed",
    "opposing_pairs_lt10": "≥20 teeth but <10 opposing pairs",
    "stage_iv_needs_confirmation": "Stage IV complexity without Stage III-level CAL/RBL: clinician decides",
    "stage_iv_cause_uncertain": "mobility/drifting may be non-periodontal (KP20 gray zone)",
    "complexity_unknown": "complexity inputs not recorded: the stage may be higher",
    "stage_single_complexity_factor": "one complexity factor alone sets the stage (KP20: weigh together)",
    "stage_held_from_history": "the stage is held at the previous, higher stage",
    "extent_basis_default": "extent counts any interdental CAL ≥2 mm (the default basis)",
    "teeth_present_missing": "teeth_present not recorded: extent over charted teeth; <20-teeth rule skipped",
    "extent_undetermined": "no involved teeth to count",
    "teeth_without_cal": "present teeth without CAL count as not involved",
    "molar_incisor_phenotype": "molar/incisor pattern is a Grade C phenotype: consider C",
    "rbl_missing": "no radiographic bone loss: grade by default B and modifiers",
    "age_missing": "no age: bone loss ÷ age not computed",
    "smoking_unknown": "smoking not recorded: modifier not applied",
    "hba1c_missing": "diabetes without HbA1c: B at least, C if HbA1c ≥7.0 %",
    "diabetes_unknown": "diabetes status not recorded: modifier may be missing",
}


class ExtentBasis(enum.StrEnum):
    """What makes a tooth "involved" for extent; [T18] does not say, so it is a setting (§2.4)."""

    ANY_CAL = "any_cal"  # any interdental CAL attributable to periodontitis (the default)
    STAGE_SEVERITY = "stage_severity"  # CAL at the stage-defining severity band


class FlagKind(enum.StrEnum):
    MISSING_DATA = "missing_data"
    GRAY_ZONE = "gray_zone"
    HISTORY = "history"
    ASSUMPTION = "assumption"


# --- the case (input) ------------------------------------------------------------------------


def _permanent_tooth(value: Any) -> Tooth:
    """A permanent tooth 1–32 written in Universal; the 2017 tables count permanent teeth only."""
    if isinstance(value, Tooth):
        tooth = value
    elif isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidTooth(f"a tooth is a Universal number 1–32, not {value!r}", field="tooth")
    else:
        tooth = Tooth.parse(str(value))
    if tooth.is_primary or tooth.is_supernumerary:
        raise InvalidTooth(
            f"tooth {tooth.universal} is not a permanent tooth 1–32: the classification counts permanent teeth",
            field="tooth",
        )
    return tooth


def _site(value: Any) -> Site:
    if not isinstance(value, str):
        raise InvalidMeasurement(f"{value!r} is not a perio site: use DB, B, MB, DL, L or ML", field="site")
    return Site.parse(value)


def _furcation_class(value: Any) -> int:
    """Hamp class 0–3 (the classes the staging table counts); roman I–III are accepted too."""
    roman = {"0": 0, "I": 1, "II": 2, "III": 3}
    if isinstance(value, str) and value.strip().upper() in roman:
        return roman[value.strip().upper()]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3:
        raise InvalidMeasurement(f"furcation class must be 0–3 (or I–III), not {value!r}", field="furcation")
    return value


def _mobility_grade(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3:
        raise InvalidMeasurement(f"mobility must be a whole grade 0–3, not {value!r}", field="mobility")
    return value


ToothId = Annotated[Tooth, PlainValidator(_permanent_tooth), PlainSerializer(lambda t: t.universal, return_type=str)]
SiteName = Annotated[Site, PlainValidator(_site), PlainSerializer(lambda s: s.value, return_type=str)]
FurcationClass = Annotated[int, PlainValidator(_furcation_class)]
MobilityGrade = Annotated[int, PlainValidator(_mobility_grade)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteInput(_Model):
    """One probing site. ``None`` means not recorded; CAL needs both PD and GM."""

    tooth: ToothId
    site: SiteName
    pd: int | None = None
    gm: int | None = None
    bleeding: bool | None = None
    non_periodontal: bool | None = None  # clinician: this site's CAL has another cause

    @field_validator("pd", mode="before")
    @classmethod
    def _pd(cls, value: Any) -> int | None:
        return None if value is None else check_pd(value)

    @field_validator("gm", mode="before")
    @classmethod
    def _gm(cls, value: Any) -> int | None:
        return None if value is None else check_gm(value)


class PerioCase(_Model):
    """Everything the classifier reads. Every field may be missing or null, meaning *unknown*.

    For ``vertical_defect_mm``, ``furcation`` and ``mobility`` an empty map means "examined,
    nothing found" and null means "not examined": unknown inputs produce flags, recorded zeros
    do not. ``rbl_percent`` lists the teeth measured on radiographs; unlisted teeth are unknown.
    """

    age: float | None = Field(default=None, gt=0, le=120)
    teeth_present: list[ToothId] | None = None
    teeth_lost_to_periodontitis: int | None = Field(default=None, ge=0, le=32)
    sites: list[SiteInput] | None = None
    rbl_percent: dict[ToothId, Annotated[float, Field(ge=0, le=100)]] | None = None
    vertical_defect_mm: dict[ToothId, Annotated[float, Field(ge=0, le=20)]] | None = None
    furcation: dict[ToothId, FurcationClass] | None = None
    mobility: dict[ToothId, MobilityGrade] | None = None
    bite_collapse: bool | None = None
    drifting_flaring: bool | None = None
    masticatory_dysfunction: bool | None = None
    secondary_occlusal_trauma: bool | None = None
    ridge_defect: Literal["none", "mild", "moderate", "severe"] | None = None
    progression_5y_mm: float | None = Field(default=None, ge=0, le=20)
    cigarettes_per_day: float | None = Field(default=None, ge=0, le=200)
    diabetes: bool | None = None
    hba1c: float | None = Field(default=None, ge=3, le=20)
    bop_percent: float | None = Field(default=None, ge=0, le=100)
    previous_stage: StageName | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PerioCase:
        """Cross-field checks: values on absent teeth and duplicate sites are typing slips."""
        present = set(self.teeth_present) if self.teeth_present is not None else None
        if present is not None and len(present) != len(self.teeth_present or ()):
            raise InvalidTooth("a tooth is listed twice", field="teeth_present")
        lost = self.teeth_lost_to_periodontitis
        if present is not None and lost is not None and len(present) + lost > 32:
            raise InvalidMeasurement(f"{len(present)} teeth present plus {lost} lost is more than 32",
                                     field="teeth_lost_to_periodontitis")
        seen: set[tuple[Tooth, Site]] = set()
        for i, s in enumerate(self.sites or ()):
            if present is not None and s.tooth not in present:
                raise InvalidTooth(f"tooth {s.tooth.universal} is not in teeth_present", field=f"sites[{i}].tooth")
            if (s.tooth, s.site) in seen:
                raise InvalidMeasurement(
                    f"tooth {s.tooth.universal} {s.site.value} is given twice", field=f"sites[{i}].site"
                )
            seen.add((s.tooth, s.site))
        for name in ("rbl_percent", "vertical_defect_mm", "furcation", "mobility"):
            values = getattr(self, name)
            for tooth in values or ():
                if present is not None and tooth not in present:
                    raise InvalidTooth(f"tooth {tooth.universal} is not in teeth_present", field=f"{name}.{tooth}")
        return self

    @classmethod
    def from_dict(cls, data: Any) -> PerioCase:
        """Validate a decoded case; any problem is a :class:`DomainError` naming the field."""
        if not isinstance(data, dict):
            raise DomainError(f"a case is a JSON object, not {type(data).__name__}", field="case")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise from_validation_error(exc, append_field=False) from None


# --- the result (output) ---------------------------------------------------------------------


class Reason(_Model):
    """A rule that fired: its id (listed in docs/perio-classification.md) and what it saw."""

    rule: str
    text: str


class Notice(_Model):
    """Something for the clinician: missing data, a gray zone to confirm, history applied."""

    flag: str
    kind: FlagKind
    text: str


class Classification(_Model):
    diagnosis: Diagnosis
    stage: StageName | None = None
    grade: GradeName | None = None
    extent: Extent | None = None
    flags: list[Notice] = []
    reasons: list[Reason] = []

    def flag_ids(self) -> list[str]:
        return [f.flag for f in self.flags]

    def rule_ids(self) -> list[str]:
        return [r.rule for r in self.reasons]


@dataclass
class _Trace:
    """Collects reasons and flags in the order the rules ran."""

    reasons: list[Reason] = field(default_factory=list)
    flags: list[Notice] = field(default_factory=list)

    def fire(self, rule: str, text: str) -> None:
        self.reasons.append(Reason(rule=rule, text=text))

    def flag(self, flag: str, kind: FlagKind, text: str) -> None:
        if flag not in {f.flag for f in self.flags}:
            self.flags.append(Notice(flag=flag, kind=kind, text=text))


# --- facts read off the case -----------------------------------------------------------------


@dataclass(frozen=True)
class _Probe:
    tooth: Tooth
    site: Site
    pd: int

    @property
    def where(self) -> str:
        return f"tooth {self.tooth.universal} {self.site.value}"


@dataclass(frozen=True)
class _Reading(_Probe):
    cal: int


@dataclass(frozen=True)
class _Facts:
    """The CAL readings that count (both PD and GM known, not marked non-periodontal)."""

    cal: tuple[_Reading, ...]
    max_pd: _Probe | None

    @property
    def interdental(self) -> tuple[_Reading, ...]:
        return tuple(r for r in self.cal if r.site.is_interdental)

    def worst_interdental(self) -> _Reading | None:
        return max(self.interdental, key=lambda r: r.cal, default=None)


def _facts(case: PerioCase) -> _Facts:
    counted = [s for s in case.sites or () if not s.non_periodontal]
    cal = tuple(_Reading(s.tooth, s.site, s.pd, s.pd + s.gm) for s in counted if s.pd is not None and s.gm is not None)
    probes = [_Probe(s.tooth, s.site, s.pd) for s in counted if s.pd is not None]
    return _Facts(cal=cal, max_pd=max(probes, key=lambda p: p.pd, default=None))


def _adjacent(a: Tooth, b: Tooth) -> bool:
    """Neighbours in one arch: Universal n and n±1, except 16/17 (different arches)."""
    x, y = sorted((int(a.universal), int(b.universal)))
    return y - x == 1 and (x, y) != (16, 17)


def _non_adjacent_pair(teeth: Iterable[Tooth]) -> tuple[Tooth, Tooth] | None:
    for a, b in combinations(sorted(set(teeth)), 2):
        if not _adjacent(a, b):
            return a, b
    return None


def _teeth_text(teeth: Iterable[Tooth]) -> str:
    """``"tooth 3"`` or ``"teeth 3, 14"``."""
    numbers = [t.universal for t in sorted(set(teeth))]
    return ("tooth " if len(numbers) == 1 else "teeth ") + ", ".join(numbers)


def _worst_per_tooth(readings: Iterable[_Reading]) -> dict[Tooth, _Reading]:
    worst: dict[Tooth, _Reading] = {}
    for r in readings:
        if r.tooth not in worst or r.cal > worst[r.tooth].cal:
            worst[r.tooth] = r
    return worst


# --- case definition -------------------------------------------------------------------------


@dataclass(frozen=True)
class _CaseResult:
    is_case: bool
    contributing: tuple[_Reading, ...]  # the readings that made (or nearly made) the case


def _case_definition(facts: _Facts, t: _Trace) -> _CaseResult:
    """P18: interdental CAL at ≥2 non-adjacent teeth, or buccal/oral CAL ≥3 mm with PD >3 mm at ≥2 teeth."""
    inter = [r for r in facts.interdental if r.cal >= CASE_MIN_INTERDENTAL_CAL]
    pair = _non_adjacent_pair(r.tooth for r in inter)
    mid = [r for r in facts.cal if r.site.is_mid and r.cal >= CASE_MIN_BUCCAL_CAL and r.pd > CASE_MIN_BUCCAL_PD]
    mid_teeth = {r.tooth for r in mid}
    contributing: list[_Reading] = []
    if pair is not None:
        worst = max(inter, key=lambda r: r.cal)
        t.fire("case.interdental_cal",
               f"Interdental CAL ≥{CASE_MIN_INTERDENTAL_CAL} mm at {len({r.tooth for r in inter})} teeth, "
               f"including non-adjacent teeth {pair[0].universal} and {pair[1].universal} "
               f"(worst {worst.cal} mm at {worst.where}) → periodontitis case")
        contributing += inter
    if len(mid_teeth) >= 2:
        t.fire("case.buccal_oral_cal",
               f"Buccal/oral CAL ≥{CASE_MIN_BUCCAL_CAL} mm with PD >{CASE_MIN_BUCCAL_PD} mm at "
               f"{_teeth_text(mid_teeth)} → periodontitis case")
        contributing += mid
    if contributing:
        return _CaseResult(True, tuple(contributing))
    if inter or mid:
        t.flag("case_below_definition", FlagKind.GRAY_ZONE,
               f"Attachment loss at {_teeth_text(r.tooth for r in inter + mid)} does not meet the case "
               "definition (≥2 non-adjacent teeth); re-probe and watch at recall")
    ones = [r for r in facts.interdental if r.cal == 1]
    if _non_adjacent_pair(r.tooth for r in ones) is not None:
        t.flag("case_cal_1mm", FlagKind.GRAY_ZONE,
               f"Interdental CAL of 1 mm at non-adjacent {_teeth_text(r.tooth for r in ones)}: P18 counts "
               "'detectable' CAL, this classifier needs ≥2 mm (probing error); confirm clinically")
    return _CaseResult(False, tuple(inter + mid))


def _case_flags(contributing: Sequence[_Reading], t: _Trace) -> None:
    """The software cannot rule out other causes of CAL (P18), so it asks for each contributing tooth."""
    t.flag("confirm_periodontal_cause", FlagKind.GRAY_ZONE,
           f"Confirm that the attachment loss at {_teeth_text(r.tooth for r in contributing)} is not explained "
           "by traumatic recession, cervical caries, an endodontic lesion, a vertical root fracture or third-molar "
           "surgery; mark such sites non_periodontal")
    second_molar = [r for r in contributing
                    if r.tooth.tooth_type is ToothType.SECOND_MOLAR and r.site in SECOND_MOLAR_DISTAL]
    if second_molar:
        t.flag("second_molar_distal", FlagKind.GRAY_ZONE,
               f"CAL at the distal of a second molar ({', '.join(r.where for r in second_molar)}) may be "
               "third-molar related and then does not count (P18)")


def _bop(case: PerioCase) -> float | None:
    """bop_percent when given, else the share of sites with a recorded bleeding value that bled."""
    if case.bop_percent is not None:
        return case.bop_percent
    recorded = [s.bleeding for s in case.sites or () if s.bleeding is not None]
    return 100.0 * sum(recorded) / len(recorded) if recorded else None


def _not_periodontitis(case: PerioCase, t: _Trace) -> Classification:
    """C18: an intact (or reduced, stable) periodontium is health below 10 % BOP, else gingivitis."""
    bop = _bop(case)
    if bop is None:
        t.flag("bop_missing", FlagKind.MISSING_DATA,
               "No BOP % and no bleeding recorded: health and gingivitis cannot be told apart")
        return Classification(diagnosis="not_a_periodontitis_case", flags=t.flags, reasons=t.reasons)
    if bop < GINGIVITIS_BOP:
        t.fire("health.bop_lt10", f"BOP {bop:.0f}% (<{GINGIVITIS_BOP:.0f}%) → periodontal health")
        return Classification(diagnosis="health", flags=t.flags, reasons=t.reasons)
    extent: Extent = "generalized" if bop > GINGIVITIS_GENERALIZED_BOP else "localized"
    t.fire(f"gingivitis.{extent}",
           f"BOP {bop:.0f}% (≥{GINGIVITIS_BOP:.0f}%, {'>' if extent == 'generalized' else '≤'}"
           f"{GINGIVITIS_GENERALIZED_BOP:.0f}%) → {extent} gingivitis")
    return Classification(diagnosis="gingivitis", extent=extent, flags=t.flags, reasons=t.reasons)


# --- stage -----------------------------------------------------------------------------------


def _cal_band(cal: int) -> int:
    return 1 if cal <= 2 else 2 if cal <= 4 else 3


def _rbl_band(rbl: float) -> int:
    return 1 if rbl < 15 else 2 if rbl <= 33 else 3


def _worst_rbl(case: PerioCase) -> tuple[Tooth, float] | None:
    if not case.rbl_percent:
        return None
    tooth = max(case.rbl_percent, key=lambda k: case.rbl_percent[k])  # type: ignore[index]
    return tooth, case.rbl_percent[tooth]


@dataclass
class _Stage:
    """The stage as it is built up; 0 means no severity figure was available yet."""

    severity: int = 0  # from CAL (or RBL when no CAL): the band the Stage IV shift depends on
    value: int = 0
    base: int = 0  # severity and tooth loss, before complexity
    complexity: list[tuple[str, int]] = field(default_factory=list)  # (rule, stage it implies)

    def floor(self, level: int) -> None:
        self.value = max(self.value, level)

    def deciding_factors(self) -> list[str]:
        """The complexity rules that on their own put the stage where it is, above severity."""
        if self.value <= self.base:
            return []
        return [rule for rule, level in self.complexity if level >= self.value]


def _severity(case: PerioCase, facts: _Facts, st: _Stage, t: _Trace) -> None:
    """Rule 1 of §2.3: interdental CAL first; RBL only when no interdental CAL is recorded."""
    worst = facts.worst_interdental()
    rbl = _worst_rbl(case)
    if worst is not None:
        band = _cal_band(worst.cal)
        rule = ("stage.cal.1to2", "stage.cal.3to4", "stage.cal.ge5")[band - 1]
        t.fire(rule, f"Interdental CAL {worst.cal} mm at {worst.where} (site of greatest loss) → "
                     f"{'at least ' if band == 3 else ''}Stage {ROMAN[band - 1]}")
        st.severity = band
        _single_site(facts, worst, t)
        if rbl is not None and _rbl_band(rbl[1]) != band:
            t.flag("cal_rbl_disagree", FlagKind.GRAY_ZONE,
                   f"RBL {rbl[1]:g}% at tooth {rbl[0].universal} suggests Stage {ROMAN[_rbl_band(rbl[1]) - 1]}, "
                   f"CAL suggests Stage {ROMAN[band - 1]}; the stage follows CAL (T18) — confirm")
    elif rbl is not None:
        band = _rbl_band(rbl[1])
        rule = ("stage.rbl.lt15", "stage.rbl.15to33", "stage.rbl.gt33")[band - 1]
        t.fire(rule, f"No interdental CAL recorded; RBL {rbl[1]:g}% at tooth {rbl[0].universal} → "
                     f"{'at least ' if band == 3 else ''}Stage {ROMAN[band - 1]}")
        st.severity = band
    else:
        t.flag("severity_missing", FlagKind.MISSING_DATA,
               "Neither interdental CAL nor radiographic bone loss is recorded: the stage rests on other rows only")
    st.floor(st.severity)


def _single_site(facts: _Facts, worst: _Reading, t: _Trace) -> None:
    """A stage that one site decides is the boundary case most worth re-probing."""
    others = [r.cal for r in facts.interdental if r is not worst]
    band = _cal_band(worst.cal)
    if band > 1 and (not others or _cal_band(max(others)) < band):
        nxt = f"next worst {max(others)} mm" if others else "no other interdental CAL"
        t.flag("stage_single_site", FlagKind.GRAY_ZONE,
               f"Stage {ROMAN[band - 1]} rests on one site ({worst.cal} mm at {worst.where}; {nxt}): "
               "re-probe to confirm")


def _tooth_loss(case: PerioCase, st: _Stage, t: _Trace) -> None:
    """Rule 2: any tooth lost to periodontitis leaves Stages I–II; ≥5 is Stage IV."""
    lost = case.teeth_lost_to_periodontitis
    if lost is None:
        t.flag("teeth_lost_missing", FlagKind.MISSING_DATA,
               "Teeth lost to periodontitis not recorded: the tooth-loss row of the stage table was not applied")
    elif lost >= 5:
        t.fire("stage.iv.tooth_loss_ge5", f"{lost} teeth lost to periodontitis (≥5) → Stage IV")
        st.floor(4)
    elif lost >= 1:
        noun = "tooth" if lost == 1 else "teeth"
        t.fire("stage.tooth_loss.1to4", f"{lost} {noun} lost to periodontitis (1–4) → at least Stage III")
        st.floor(3)


def _complexity_iii(case: PerioCase, facts: _Facts, st: _Stage, t: _Trace) -> None:
    """The Stage II and III complexity rows: PD limits, vertical defects, furcation, ridge."""
    pd = facts.max_pd
    if pd is None:
        t.flag("pd_missing", FlagKind.MISSING_DATA, "No probing depths recorded: PD complexity not assessed")
    elif pd.pd >= 6:
        _complexity(st, t, 3, "stage.iii.pd_ge6", f"PD {pd.pd} mm at {pd.where} (≥6) → at least Stage III")
    elif pd.pd == 5:
        _complexity(st, t, 2, "stage.ii.pd_5", f"PD 5 mm at {pd.where} exceeds Stage I's ≤4 mm → at least Stage II")
    vertical = {k: v for k, v in (case.vertical_defect_mm or {}).items() if v >= 3}
    if vertical:
        tooth = max(vertical, key=lambda k: vertical[k])
        _complexity(st, t, 3, "stage.iii.vertical_ge3",
                    f"Vertical bone defect {vertical[tooth]:g} mm at tooth {tooth.universal} (≥3) → at least Stage III")
    furcation = {k: v for k, v in (case.furcation or {}).items() if v >= 2}
    if furcation:
        _complexity(st, t, 3, "stage.iii.furcation_ge2",
                    f"Furcation class {ROMAN[max(furcation.values()) - 1]} at {_teeth_text(furcation)} "
                    "(II/III) → at least Stage III")
    if case.ridge_defect == "moderate":
        _complexity(st, t, 3, "stage.iii.ridge_moderate", "Moderate ridge defect → at least Stage III")


def _complexity(st: _Stage, t: _Trace, level: int, rule: str, text: str) -> None:
    t.fire(rule, text)
    st.complexity.append((rule, level))
    st.floor(level)


def _stage_iv_factors(case: PerioCase, t: _Trace) -> list[tuple[str, str]]:
    """The Stage IV complexity row; each is (rule id, sentence)."""
    found: list[tuple[str, str]] = []
    mobile = {k: v for k, v in (case.mobility or {}).items() if v >= 2}
    if mobile:
        found.append(("stage.iv.mobility_ge2",
                      f"Mobility degree {max(mobile.values())} (≥2, secondary occlusal trauma) at "
                      f"{_teeth_text(mobile)}"))
    booleans = (
        ("secondary_occlusal_trauma", "stage.iv.occlusal_trauma", "Secondary occlusal trauma"),
        ("masticatory_dysfunction", "stage.iv.masticatory", "Masticatory dysfunction"),
        ("bite_collapse", "stage.iv.bite_collapse", "Bite collapse"),
        ("drifting_flaring", "stage.iv.drifting", "Drifting/flaring of teeth"),
    )
    found += [(rule, text) for name, rule, text in booleans if getattr(case, name)]
    if case.ridge_defect == "severe":
        found.append(("stage.iv.ridge_severe", "Severe ridge defect"))
    if case.teeth_present is not None:
        n = len(case.teeth_present)
        if n < MIN_REMAINING_TEETH:
            found.append(("stage.iv.lt20_teeth", f"{n} remaining teeth (<{MIN_REMAINING_TEETH})"))
        else:
            _opposing_pairs(case.teeth_present, t)
    return found


def _opposing_pairs(present: Sequence[Tooth], t: _Trace) -> None:
    """≥20 teeth can still leave fewer than 10 opposing pairs (Universal n opposes 33 − n)."""
    numbers = {int(x.universal) for x in present}
    pairs = sum(1 for n in numbers if n <= 16 and 33 - n in numbers)
    if pairs < MIN_OPPOSING_PAIRS:
        t.flag("opposing_pairs_lt10", FlagKind.GRAY_ZONE,
               f"{len(numbers)} teeth but only {pairs} opposing pairs (<{MIN_OPPOSING_PAIRS}): the Stage IV row "
               "names '<20 remaining teeth (10 opposing pairs)' — confirm masticatory function")


def _complexity_iv(case: PerioCase, st: _Stage, t: _Trace) -> None:
    """Stage IV factors apply when CAL/RBL is already Stage III-level; otherwise the clinician decides."""
    factors = _stage_iv_factors(case, t)
    if not factors:
        return
    names = "; ".join(text for _, text in factors)
    if st.severity >= 3:
        for rule, text in factors:
            _complexity(st, t, 4, rule, f"{text} with Stage III-level CAL/RBL → Stage IV")
    else:
        t.flag("stage_iv_needs_confirmation", FlagKind.GRAY_ZONE,
               f"Stage IV complexity present ({names}) but CAL/RBL is not at Stage III level: "
               "Stage IV only if the clinician attributes it to periodontitis")
    if any(rule in ("stage.iv.mobility_ge2", "stage.iv.drifting") for rule, _ in factors):
        t.flag("stage_iv_cause_uncertain", FlagKind.GRAY_ZONE,
               "Mobility and drifting can have non-periodontal causes (KP20): confirm they come from periodontitis")


def _unknown_complexity(case: PerioCase, t: _Trace) -> None:
    unknown = [name for name in ("vertical_defect_mm", "furcation", "mobility", "ridge_defect", "bite_collapse",
                                 "drifting_flaring", "masticatory_dysfunction", "secondary_occlusal_trauma",
                                 "teeth_present") if getattr(case, name) is None]
    if unknown:
        t.flag("complexity_unknown", FlagKind.MISSING_DATA,
               f"Not recorded, so not assessed: {', '.join(unknown)}; the stage may be higher")


def _stage(case: PerioCase, facts: _Facts, t: _Trace) -> tuple[int, int]:
    """The stage (0 if nothing decides it) and the severity band it rests on."""
    st = _Stage()
    _severity(case, facts, st, t)
    _tooth_loss(case, st, t)
    st.base = st.value
    _complexity_iii(case, facts, st, t)
    _complexity_iv(case, st, t)
    _unknown_complexity(case, t)
    deciding = st.deciding_factors()
    if len(deciding) == 1:
        t.flag("stage_single_complexity_factor", FlagKind.GRAY_ZONE,
               f"Stage {ROMAN[st.value - 1]} rests on one complexity factor ({deciding[0]}); KP20 weigh factors "
               "together — confirm")
    if case.previous_stage is not None:
        previous = ROMAN.index(case.previous_stage) + 1
        if previous > st.value:
            t.fire("stage.history", f"Previous Stage {case.previous_stage} is higher than today's findings "
                                    f"({'Stage ' + ROMAN[st.value - 1] if st.value else 'no stage'}); "
                                    "stage never goes down → Stage " + case.previous_stage)
            t.flag("stage_held_from_history", FlagKind.HISTORY,
                   f"Stage held at {case.previous_stage} from the previous classification")
            st.value = previous
    return st.value, st.severity


# --- extent ----------------------------------------------------------------------------------


def _involved(facts: _Facts, case_readings: Sequence[_Reading], basis: ExtentBasis, severity: int) -> set[Tooth]:
    if basis is ExtentBasis.STAGE_SEVERITY:
        worst = _worst_per_tooth(facts.interdental)
        return {tooth for tooth, r in worst.items() if r.cal >= CASE_MIN_INTERDENTAL_CAL and _cal_band(r.cal) >= severity}
    inter = {r.tooth for r in facts.interdental if r.cal >= CASE_MIN_INTERDENTAL_CAL}
    mid = {r.tooth for r in case_readings if r.site.is_mid}
    return inter | mid


def _denominator(case: PerioCase, t: _Trace) -> set[Tooth]:
    if case.teeth_present is not None:
        return set(case.teeth_present)
    t.flag("teeth_present_missing", FlagKind.MISSING_DATA,
           "teeth_present not recorded: extent is counted over the charted teeth")
    return {s.tooth for s in case.sites or ()}


def _molar_incisor(involved: set[Tooth]) -> bool:
    """Involvement limited to molars and incisors, with at least one first molar and one incisor."""
    if not all(x.is_molar or x.tooth_type in INCISORS for x in involved):
        return False
    return any(x.tooth_type is ToothType.FIRST_MOLAR for x in involved) and any(
        x.tooth_type in INCISORS for x in involved)


def _extent(case: PerioCase, facts: _Facts, case_readings: Sequence[_Reading], basis: ExtentBasis,
            severity: int, t: _Trace) -> Extent | None:
    if basis is ExtentBasis.ANY_CAL:
        t.flag("extent_basis_default", FlagKind.ASSUMPTION,
               "Extent counts teeth with any interdental CAL ≥2 mm (T18 does not define 'involved')")
    involved = _involved(facts, case_readings, basis, severity)
    teeth = _denominator(case, t)
    if not involved or not teeth:
        t.flag("extent_undetermined", FlagKind.MISSING_DATA, "No involved teeth can be counted: extent not given")
        return None
    charted = {r.tooth for r in facts.cal}
    if teeth - charted:
        t.flag("teeth_without_cal", FlagKind.MISSING_DATA,
               f"{len(teeth - charted)} present teeth have no CAL recorded and count as not involved "
               f"({_teeth_text(teeth - charted)})")
    if _molar_incisor(involved):
        t.fire("extent.molar_incisor",
               f"Involved {_teeth_text(involved)} are limited to molars and incisors → molar-incisor pattern")
        t.flag("molar_incisor_phenotype", FlagKind.GRAY_ZONE,
               "A molar/incisor pattern is listed among Grade C phenotypes (T18): consider Grade C")
        return "molar-incisor"
    share = len(involved) / len(teeth)
    extent: Extent = "generalized" if share >= EXTENT_GENERALIZED else "localized"
    t.fire(f"extent.{extent}",
           f"{len(involved)} of {len(teeth)} teeth involved ({share:.0%}, "
           f"{'≥' if extent == 'generalized' else '<'}30%) → {extent}")
    return extent


# --- grade -----------------------------------------------------------------------------------


def _evidence_grade(case: PerioCase, t: _Trace) -> int:
    """Direct evidence when there is some, else %RBL ÷ age at the worst tooth, else B (rule 1)."""
    loss = case.progression_5y_mm
    if loss is not None:
        g = 0 if loss == 0 else 1 if loss < 2 else 2
        t.fire(f"grade.direct.{GRADES[g].lower()}",
               f"Bone or CAL loss {loss:g} mm over 5 years ({('none', '<2 mm', '≥2 mm')[g]}) → Grade {GRADES[g]}")
        return g
    rbl = _worst_rbl(case)
    if rbl is None:
        t.flag("rbl_missing", FlagKind.MISSING_DATA,
               "No radiographic bone loss recorded: grade by default (B) and risk factors only")
    if case.age is None:
        t.flag("age_missing", FlagKind.MISSING_DATA, "Age not recorded: the bone loss ÷ age ratio cannot be computed")
    if rbl is None or case.age is None:
        t.fire("grade.default_b", "No direct or indirect evidence of progression → Grade B (the default)")
        return 1
    tooth, pct = rbl
    # Compared without dividing so the 0.25 and 1.0 boundaries are exact: 4·RBL < age ⇔ RBL/age < 0.25.
    g = 0 if 4 * pct < case.age else 1 if pct <= case.age else 2
    t.fire(f"grade.ratio.{GRADES[g].lower()}",
           f"RBL {pct:g}% at tooth {tooth.universal} ÷ age {case.age:g} = {pct / case.age:.2f} "
           f"({('<0.25', '0.25–1.0', '>1.0')[g]}) → Grade {GRADES[g]}")
    return g


def _smoking(case: PerioCase, g: int, t: _Trace) -> int:
    cigs = case.cigarettes_per_day
    if cigs is None:
        t.flag("smoking_unknown", FlagKind.MISSING_DATA, "Smoking not recorded: the smoking modifier was not applied")
        return g
    if cigs == 0:
        return g
    level = 2 if cigs >= HEAVY_SMOKER else 1
    t.fire(f"grade.smoking.{GRADES[level].lower()}",
           f"Smokes {cigs:g} cigarettes/day ({'≥10' if level == 2 else '<10'}) → at least Grade {GRADES[level]}")
    return max(g, level)


def _diabetes(case: PerioCase, g: int, t: _Trace) -> int:
    """HbA1c ≥7.0 % → C (it is above the diagnostic threshold itself); diabetes with HbA1c <7.0 → B."""
    a1c = case.hba1c
    if a1c is not None and a1c >= HBA1C_GRADE_C:
        t.fire("grade.diabetes.c", f"HbA1c {a1c:g}% (≥{HBA1C_GRADE_C:.1f}) → Grade C")
        return 2
    if case.diabetes:
        if a1c is None:
            t.flag("hba1c_missing", FlagKind.MISSING_DATA,
                   "Diabetes without an HbA1c: Grade B at least, Grade C if HbA1c ≥7.0%")
            t.fire("grade.diabetes.b", "Diabetes (HbA1c not recorded) → at least Grade B")
        else:
            t.fire("grade.diabetes.b", f"Diabetes with HbA1c {a1c:g}% (<{HBA1C_GRADE_C:.1f}) → at least Grade B")
        return max(g, 1)
    if case.diabetes is None:
        seen = f"HbA1c {a1c:g}% recorded but diabetes" if a1c is not None else "Diabetes"
        t.flag("diabetes_unknown", FlagKind.MISSING_DATA,
               f"{seen} status not recorded: with diabetes the grade is at least B")
    return g


def _grade(case: PerioCase, t: _Trace) -> GradeName:
    g = _evidence_grade(case, t)
    g = _smoking(case, g, t)
    g = _diabetes(case, g, t)
    return GRADES[g]  # type: ignore[return-value]


# --- entry points ----------------------------------------------------------------------------


def classify(case: PerioCase, *, extent_basis: ExtentBasis = ExtentBasis.ANY_CAL) -> Classification:
    """Diagnose, stage, grade and describe the extent of ``case``, with the rules that fired."""
    t = _Trace()
    facts = _facts(case)
    result = _case_definition(facts, t)
    if result.is_case:
        _case_flags(result.contributing, t)
    elif case.previous_stage is not None:
        t.fire("case.history", f"Previous Stage {case.previous_stage}: a treated periodontitis patient remains "
                               "a periodontitis patient")
    elif not facts.cal and case.rbl_percent and _non_adjacent_pair(k for k, v in case.rbl_percent.items() if v > 0):
        t.fire("case.rbl_provisional", "No CAL recorded; radiographic bone loss at ≥2 non-adjacent teeth → "
                                       "provisional periodontitis case")
        t.flag("case_provisional_from_rbl", FlagKind.GRAY_ZONE,
               "Periodontitis is inferred from radiographs only: confirm with a full-mouth probing")
    elif not facts.cal:
        t.flag("cal_missing", FlagKind.MISSING_DATA,
               "No site has both PD and GM recorded: CAL, and so the diagnosis, cannot be derived")
        return Classification(diagnosis="undetermined", flags=t.flags, reasons=t.reasons)
    else:
        return _not_periodontitis(case, t)
    stage, severity = _stage(case, facts, t)
    extent = _extent(case, facts, result.contributing, extent_basis, severity, t)
    grade = _grade(case, t)
    return Classification(diagnosis="periodontitis", stage=ROMAN[stage - 1] if stage else None, grade=grade,
                          extent=extent, flags=t.flags, reasons=t.reasons)


def classify_json(text: str) -> str:
    """Parse a case file's text, classify it and return the result as indented JSON."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DomainError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                          field="case") from None
    result = classify(PerioCase.from_dict(data))
    return json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False)


# --- from a charted exam, and the clinician's confirmed result ------------------------------------


def case_from_exam(exam: PerioExam, *, age: float | None = None, previous_stage: StageName | None = None,
                   teeth_lost_to_periodontitis: int | None = None, **clinical: Any) -> PerioCase:
    """The classifier's case from a charted exam, plus what the chart does not hold (``clinical``:
    smoking, HbA1c, radiographic bone loss, complexity factors — any :class:`PerioCase` field).

    Teeth present are the teeth neither missing nor implants (an implant is not a tooth to stage).
    Furcation and mobility count as examined when the exam records any value of them. A Glickman
    class IV is passed as III: both are through-and-through, the staging table's top class.
    """
    present = [t for t in exam.counted_teeth(include_implants=False) if exam.tooth_state(t) is ToothState.PRESENT]
    sites = []
    for tooth in present:
        for site in Site:
            r = exam.reading(tooth, site)
            if r.pd is not None or r.gm is not None or r.bleeding:
                sites.append({"tooth": tooth, "site": site, "pd": r.pd, "gm": r.gm, "bleeding": r.bleeding})
    furcation: dict[Tooth, int] = {}
    mobility: dict[Tooth, int] = {}
    for tooth in present:
        classes = [g.value for e in furcation_entrances(tooth) if (g := exam.furcation(tooth, e)) is not None]
        if classes:
            furcation[tooth] = min(3, max(classes))
        grade = exam.mobility(tooth)
        if grade is not None:
            mobility[tooth] = grade.value
    bop = bleeding_index(exam, include_implants=False).percent
    data: dict[str, Any] = {
        "age": age, "teeth_present": present, "sites": sites, "previous_stage": previous_stage,
        "teeth_lost_to_periodontitis": teeth_lost_to_periodontitis,
        "furcation": furcation or None, "mobility": mobility or None, "bop_percent": bop,
    }
    data.update(clinical)
    return PerioCase.from_dict(data)


def stage_rank(stage: StageName | None) -> int:
    return ROMAN.index(stage) + 1 if stage else 0


class PerioDiagnosis(_Model):
    """The classification a clinician confirmed for one exam: what the rules proposed, what was
    recorded, and why they differ. The stage never goes below the patient's highest stage so far."""

    exam_id: str
    patient: str
    date: dt.date
    clinician: str
    diagnosis: Diagnosis
    stage: StageName | None = None
    grade: GradeName | None = None
    extent: Extent | None = None
    proposed_stage: StageName | None = None
    proposed_grade: GradeName | None = None
    reason: str = ""  # required when the recorded stage or grade is not the proposed one

    @model_validator(mode="after")
    def _explained(self) -> PerioDiagnosis:
        if self.diagnosis == "periodontitis" and (self.stage is None or self.grade is None):
            raise DomainError("periodontitis needs a stage and a grade", field="stage")
        if self.diagnosis != "periodontitis" and (self.stage or self.grade or self.extent):
            raise DomainError(f"{self.diagnosis} has no stage, grade or extent", field="stage")
        overridden = (self.stage, self.grade) != (self.proposed_stage, self.proposed_grade)
        if overridden and not self.reason.strip():
            raise DomainError("say why the stage or grade differs from the proposed one", field="reason")
        return self

    @property
    def overridden(self) -> bool:
        return (self.stage, self.grade) != (self.proposed_stage, self.proposed_grade)


def highest_stage(history: Iterable[PerioDiagnosis]) -> StageName | None:
    """The highest stage ever recorded for a patient: the floor for every later classification."""
    best: StageName | None = None
    for d in history:
        if stage_rank(d.stage) > stage_rank(best):
            best = d.stage
    return best


def confirm(proposed: Classification, *, exam: PerioExam, clinician: str, history: Iterable[PerioDiagnosis] = (),
            stage: StageName | None = None, grade: GradeName | None = None, reason: str = "") -> PerioDiagnosis:
    """Record ``proposed`` (or the clinician's ``stage``/``grade`` with a ``reason``) for ``exam``.

    A stage below the highest stage so far is refused: stages never regress (KP20 rule 6).
    """
    if exam.patient is None or exam.date is None:
        raise DomainError("the exam needs a patient and a date before its classification is recorded",
                          field="exam")
    floor = highest_stage(history)
    chosen_stage = stage if stage is not None else proposed.stage
    chosen_grade = grade if grade is not None else proposed.grade
    diagnosis = proposed.diagnosis
    if chosen_stage is not None and diagnosis != "periodontitis":
        diagnosis = "periodontitis"  # the clinician staged it: a periodontitis case by their judgement
    if stage_rank(chosen_stage) < stage_rank(floor):
        raise DomainError(f"the stage cannot go below Stage {floor}, the highest this patient has had: "
                          "stages never regress", field="stage")
    try:
        return PerioDiagnosis(exam_id=exam.id, patient=exam.patient, date=exam.date, clinician=clinician,
                              diagnosis=diagnosis, stage=chosen_stage, grade=chosen_grade,
                              extent=proposed.extent if diagnosis == "periodontitis" else None,
                              proposed_stage=proposed.stage, proposed_grade=proposed.grade, reason=reason)
    except ValidationError as exc:
        raise from_validation_error(exc, append_field=False) from None
