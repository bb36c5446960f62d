"""The periodontal exam: six sites per tooth, the per-tooth findings, and what derives from them.

Conventions (stated once, here; charting.md §3.6):

* Teeth are the permanent teeth 1–32 (Universal). Primary and supernumerary teeth are refused:
  no perio-charting convention covers them, and Open Dental does not chart them either.
* Six sites per tooth: facial DB, B, MB and lingual DL, L, ML (:class:`Site`). The site names
  do not change on anterior teeth; :meth:`Site.surfaces` gives the letters (DB on tooth 8 is
  D+F). The lingual of the maxilla is palatal.
* PD: probing depth, whole mm, 0–15.
* GM: gingival margin, whole mm measured from the CEJ, signed: **+ = recession** (margin apical
  to the CEJ), **− = coronal** (overgrowth or pseudopocket); −10…+15.
* CAL = PD + GM, always derived, never stored; known only when both PD and GM are recorded.
* MGJ: width to the mucogingival junction, mm 0–15, charted on maxillary facial and on
  mandibular facial and lingual sites only. Palatal MGJ does not exist and is refused.
* Flags per site: bleeding, suppuration, plaque, calculus.
* Per tooth: mobility (grade 0–3 on a scale, default ``"miller"``); furcation per entrance with
  a class on a scale (default ``"hamp"``, 0–3, the classes the 2017 staging table counts;
  ``"glickman"`` allows 0–4). Entrances exist only on upper molars (M, D, B), lower molars
  (B, L) and upper first premolars (M, D).
* A tooth is present, missing or an implant. Marking a tooth missing hides its values (kept,
  so un-marking restores them); indices and entry paths skip it, and new values are refused.
  Implants have no furcation.

Every setter validates first and writes second, so a refused value leaves the exam unchanged.
Storage is plain dicts keyed by ``(Tooth, Site)`` so a keystroke costs a few dict operations.
Indices and exam comparison live in :mod:`odonto_desk.domain.perio_indices`.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from odonto_desk.domain.errors import DomainError, InvalidMeasurement, from_validation_error
from odonto_desk.domain.surfaces import Surface, facial_letter
from odonto_desk.domain.teeth import PERMANENT_TEETH, Arch, Tooth, ToothType

# --- sites -------------------------------------------------------------------------------


class Aspect(enum.StrEnum):
    FACIAL = "F"
    LINGUAL = "L"


class SitePosition(enum.StrEnum):
    DISTAL = "distal"
    MID = "mid"
    MESIAL = "mesial"


class Site(enum.StrEnum):
    """One of the six probing sites. Values are the names stored and shown (``"DB"``…)."""

    DB = "DB"
    B = "B"
    MB = "MB"
    DL = "DL"
    L = "L"
    ML = "ML"

    @property
    def aspect(self) -> Aspect:
        return Aspect.FACIAL if self in (Site.DB, Site.B, Site.MB) else Aspect.LINGUAL

    @property
    def is_facial(self) -> bool:
        return self.aspect is Aspect.FACIAL

    @property
    def is_lingual(self) -> bool:
        return self.aspect is Aspect.LINGUAL

    @property
    def position(self) -> SitePosition:
        if self in (Site.DB, Site.DL):
            return SitePosition.DISTAL
        if self in (Site.MB, Site.ML):
            return SitePosition.MESIAL
        return SitePosition.MID

    @property
    def is_mesial(self) -> bool:
        return self.position is SitePosition.MESIAL

    @property
    def is_distal(self) -> bool:
        return self.position is SitePosition.DISTAL

    @property
    def is_mid(self) -> bool:
        return self.position is SitePosition.MID

    @property
    def is_interdental(self) -> bool:
        """Mesial and distal sites (the interdental sites of the 2017 case definition)."""
        return self.position is not SitePosition.MID

    def surfaces(self, tooth: Tooth) -> tuple[Surface, ...]:
        """The surface letters that make the site on ``tooth``: DB on 30 is D+B, on 8 D+F."""
        side = facial_letter(tooth) if self.is_facial else Surface.L
        if self.position is SitePosition.DISTAL:
            return (Surface.D, side)
        if self.position is SitePosition.MESIAL:
            return (Surface.M, side)
        return (side,)

    def label(self, tooth: Tooth) -> str:
        """The site as written on ``tooth``'s chart: ``"DF"`` on an anterior tooth, else the name."""
        return "".join(s.value for s in self.surfaces(tooth))

    @classmethod
    def parse(cls, value: Site | str) -> Site:
        """Read a site name; F (facial) and P (palatal) are accepted for B and L."""
        if isinstance(value, Site):
            return value
        key = str(value).strip().upper()
        site = _SITE_ALIASES.get(key)
        if site is None:
            raise InvalidMeasurement(
                f"{value!r} is not a perio site: use DB, B, MB, DL, L or ML", field="site"
            )
        return site


SITES: tuple[Site, ...] = tuple(Site)
_SITE_ALIASES: dict[str, Site] = {s.value: s for s in Site} | {
    "DF": Site.DB, "F": Site.B, "MF": Site.MB, "DP": Site.DL, "P": Site.L, "MP": Site.ML,
}


class Flag(enum.StrEnum):
    BLEEDING = "bleeding"
    SUPPURATION = "suppuration"
    PLAQUE = "plaque"
    CALCULUS = "calculus"


class Entrance(enum.StrEnum):
    """A furcation entrance, named by the side of the root trunk it opens on."""

    M = "M"
    D = "D"
    B = "B"
    L = "L"


class ToothState(enum.StrEnum):
    PRESENT = "present"
    MISSING = "missing"
    IMPLANT = "implant"


class Measure(enum.StrEnum):
    """What :meth:`PerioExam.copy_from` can copy; also the rows of the entry grid."""

    PD = "pd"
    GM = "gm"
    MGJ = "mgj"
    BLEEDING = "bleeding"
    SUPPURATION = "suppuration"
    PLAQUE = "plaque"
    CALCULUS = "calculus"
    MOBILITY = "mobility"
    FURCATION = "furcation"
    TEETH = "teeth"  # missing / implant states

    @property
    def is_mm(self) -> bool:
        """A length in whole mm at a site (PD, GM, MGJ)."""
        return self in SITE_MEASURES

    @property
    def is_flag(self) -> bool:
        """A yes/no finding at a site (bleeding, suppuration, plaque, calculus)."""
        return self.value in Flag.__members__.values()

    @property
    def per_site(self) -> bool:
        return self.is_mm or self.is_flag


ALL_MEASURES: tuple[Measure, ...] = tuple(Measure)
SITE_MEASURES = (Measure.PD, Measure.GM, Measure.MGJ)

# --- ranges and rules --------------------------------------------------------------------

PD_RANGE = (0, 15)
GM_RANGE = (-10, 15)
MGJ_RANGE = (0, 15)
MOBILITY_SCALES: dict[str, int] = {"miller": 3}  # scale id → highest grade (lowest is 0)
FURCATION_SCALES: dict[str, int] = {"hamp": 3, "glickman": 4}
DEFAULT_MOBILITY_SCALE = "miller"
DEFAULT_FURCATION_SCALE = "hamp"
PERIO_TEETH: frozenset[Tooth] = frozenset(PERMANENT_TEETH)

Key = tuple[Tooth, Site]


def perio_tooth(value: Tooth | str | int) -> Tooth:
    """A permanent tooth 1–32, or :class:`DomainError` (field ``tooth``) naming the problem."""
    if value.__class__ is Tooth and value in PERIO_TEETH:
        return value  # type: ignore[return-value]
    tooth = value if isinstance(value, Tooth) else Tooth(str(value))
    if tooth not in PERIO_TEETH:
        raise InvalidMeasurement(
            f"tooth {tooth.universal} is not charted in a perio exam: use the permanent teeth 1–32",
            field="tooth",
        )
    return tooth


def _whole_mm(value: Any, name: str, lo: int, hi: int, field: str, span: str) -> int:
    if value.__class__ is not int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidMeasurement(f"{name} must be a whole number of mm, not {value!r}", field=field)
        value = int(value)
    if not lo <= value <= hi:
        raise InvalidMeasurement(f"{name} {value} is outside {span} mm", field=field)
    return value


def check_pd(value: Any) -> int:
    return _whole_mm(value, "PD", *PD_RANGE, "pd", "0–15")


def check_gm(value: Any) -> int:
    return _whole_mm(value, "GM", *GM_RANGE, "gm", "−10…+15 (+ is recession, − is coronal)")


def check_mgj(value: Any) -> int:
    return _whole_mm(value, "MGJ", *MGJ_RANGE, "mgj", "0–15")


def mgj_charted(tooth: Tooth, site: Site) -> bool:
    """MGJ exists on every facial site and on mandibular lingual sites, never on the palate."""
    return site.is_facial or tooth.arch is Arch.MANDIBULAR


def furcation_entrances(tooth: Tooth) -> tuple[Entrance, ...]:
    """Upper molars M, D, B; lower molars B, L; upper first premolars M, D; others none."""
    upper = tooth.arch is Arch.MAXILLARY
    if tooth.is_molar:
        return (Entrance.M, Entrance.D, Entrance.B) if upper else (Entrance.B, Entrance.L)
    if upper and tooth.tooth_type is ToothType.FIRST_PREMOLAR:
        return (Entrance.M, Entrance.D)
    return ()


def _check_grade(value: Any, scale: str, scales: Mapping[str, int], what: str, field: str) -> int:
    top = scales.get(scale)
    if top is None:
        raise InvalidMeasurement(
            f"{scale!r} is not a {what} scale: use {', '.join(sorted(scales))}", field="scale"
        )
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidMeasurement(f"{what} must be a whole number, not {value!r}", field=field)
    if not 0 <= value <= top:
        raise InvalidMeasurement(f"{what} {value} is outside 0–{top} on the {scale} scale", field=field)
    return int(value)


class Grade(NamedTuple):
    """A mobility grade or furcation class together with the scale it was read on."""

    value: int
    scale: str


@dataclass(frozen=True, slots=True)
class SiteReading:
    """Everything recorded at one site. ``cal`` is derived: PD + GM when both are known."""

    tooth: Tooth
    site: Site
    pd: int | None = None
    gm: int | None = None
    mgj: int | None = None
    bleeding: bool = False
    suppuration: bool = False
    plaque: bool = False
    calculus: bool = False

    @property
    def cal(self) -> int | None:
        return None if self.pd is None or self.gm is None else self.pd + self.gm


# --- the exam ----------------------------------------------------------------------------


class PerioExam:
    """One full-mouth perio exam, mutable and cheap to edit.

    Values are read with :meth:`pd`, :meth:`gm`, :meth:`cal`, :meth:`mgj`, :meth:`flag`,
    :meth:`mobility`, :meth:`furcation`, :meth:`reading`; written with the ``set_*`` methods
    (``None`` clears a value). ``to_dict()`` / ``from_dict()`` round-trip it exactly.
    """

    __slots__ = ("_flags", "_furcation", "_gm", "_mgj", "_mobility", "_pd", "_state", "date",
                 "furcation_scale", "id", "mobility_scale", "note", "patient", "provider")

    def __init__(self, *, id: str | None = None, patient: str | None = None,
                 date: dt.date | None = None, provider: str | None = None, note: str = "",
                 mobility_scale: str = DEFAULT_MOBILITY_SCALE,
                 furcation_scale: str = DEFAULT_FURCATION_SCALE) -> None:
        _check_grade(0, mobility_scale, MOBILITY_SCALES, "mobility", "mobility")
        _check_grade(0, furcation_scale, FURCATION_SCALES, "furcation", "furcation")
        self.id = id or str(uuid.uuid4())
        self.patient, self.date, self.provider, self.note = patient, date, provider, note
        self.mobility_scale, self.furcation_scale = mobility_scale, furcation_scale
        self._pd: dict[Key, int] = {}
        self._gm: dict[Key, int] = {}
        self._mgj: dict[Key, int] = {}
        self._flags: dict[Flag, set[Key]] = {f: set() for f in Flag}
        self._mobility: dict[Tooth, Grade] = {}
        self._furcation: dict[tuple[Tooth, Entrance], Grade] = {}
        self._state: dict[Tooth, ToothState] = {}  # only teeth that are not simply present

    # --- validation helpers ---------------------------------------------------------------

    def _charted_key(self, tooth: Tooth | str | int, site: Site | str) -> Key:
        t = self._charted_tooth(tooth)
        return (t, site if site.__class__ is Site else Site.parse(site))  # type: ignore[return-value]

    def _charted_tooth(self, tooth: Tooth | str | int) -> Tooth:
        t = perio_tooth(tooth)
        if self._state.get(t) is ToothState.MISSING:
            raise InvalidMeasurement(f"tooth {t.universal} is marked missing", field="tooth")
        return t

    # --- site values ----------------------------------------------------------------------

    def set_pd(self, tooth: Tooth | str | int, site: Site | str, value: int | None) -> None:
        key = self._charted_key(tooth, site)
        if value is None:
            self._pd.pop(key, None)
        else:
            self._pd[key] = check_pd(value)

    def set_gm(self, tooth: Tooth | str | int, site: Site | str, value: int | None) -> None:
        key = self._charted_key(tooth, site)
        if value is None:
            self._gm.pop(key, None)
        else:
            self._gm[key] = check_gm(value)

    def set_mgj(self, tooth: Tooth | str | int, site: Site | str, value: int | None) -> None:
        key = self._charted_key(tooth, site)
        if not mgj_charted(*key):
            raise InvalidMeasurement(
                f"MGJ is not charted on palatal sites ({key[1].value} of maxillary tooth "
                f"{key[0].universal}): the palate has no mucogingival junction", field="mgj")
        if value is None:
            self._mgj.pop(key, None)
        else:
            self._mgj[key] = check_mgj(value)

    def set_value(self, measure: Measure | str, tooth: Tooth | str | int, site: Site | str,
                  value: int | None) -> None:
        """``set_pd``/``set_gm``/``set_mgj`` chosen by ``measure`` (the active entry row)."""
        setter = {Measure.PD: self.set_pd, Measure.GM: self.set_gm, Measure.MGJ: self.set_mgj}
        m = Measure(measure)
        if m not in setter:
            raise InvalidMeasurement(f"{m.value} is not a per-site number", field="measure")
        setter[m](tooth, site, value)

    def set_many(self, measure: Measure | str, items: Iterable[tuple[Tooth | str | int, Site | str,
                                                                     int | None]]) -> None:
        """Set several sites at once (a triplet, a voice phrase): all or nothing."""
        items = list(items)
        trial = PerioExam.__new__(PerioExam)
        trial._pd, trial._gm, trial._mgj, trial._state = {}, {}, {}, self._state
        for tooth, site, value in items:  # validate every item before writing any
            trial.set_value(measure, tooth, site, value)
        for tooth, site, value in items:
            self.set_value(measure, tooth, site, value)

    def set_flag(self, tooth: Tooth | str | int, site: Site | str, flag: Flag | str,
                 on: bool = True) -> None:
        key = self._charted_key(tooth, site)
        bucket = self._flags[_flag(flag)]
        if on:
            bucket.add(key)
        else:
            bucket.discard(key)

    def toggle_flag(self, tooth: Tooth | str | int, site: Site | str, flag: Flag | str) -> bool:
        """Flip a flag (Open Dental's b/s/p/c keys); returns the new state."""
        key = self._charted_key(tooth, site)
        bucket = self._flags[_flag(flag)]
        if key in bucket:
            bucket.discard(key)
            return False
        bucket.add(key)
        return True

    # --- tooth values ---------------------------------------------------------------------

    def set_mobility(self, tooth: Tooth | str | int, grade: int | None, scale: str | None = None) -> None:
        t = self._charted_tooth(tooth)
        if grade is None:
            self._mobility.pop(t, None)
            return
        sc = scale or self.mobility_scale
        self._mobility[t] = Grade(_check_grade(grade, sc, MOBILITY_SCALES, "mobility", "mobility"), sc)

    def set_furcation(self, tooth: Tooth | str | int, entrance: Entrance | str, grade: int | None,
                      scale: str | None = None) -> None:
        t = self._charted_tooth(tooth)
        entrances = furcation_entrances(t)
        if not entrances:
            raise InvalidMeasurement(
                f"tooth {t.universal} ({t.tooth_type.value}) has no furcation: entrances exist on "
                "molars and upper first premolars", field="furcation")
        if self._state.get(t) is ToothState.IMPLANT:
            raise InvalidMeasurement(f"tooth {t.universal} is an implant: it has no furcation",
                                     field="furcation")
        e = Entrance.__members__.get(str(entrance).strip().upper())
        if e not in entrances:
            raise InvalidMeasurement(
                f"tooth {t.universal} has furcation entrances {', '.join(x.value for x in entrances)}, "
                f"not {entrance!r}", field="furcation")
        if grade is None:
            self._furcation.pop((t, e), None)
            return
        sc = scale or self.furcation_scale
        self._furcation[(t, e)] = Grade(
            _check_grade(grade, sc, FURCATION_SCALES, "furcation class", "furcation"), sc)

    def set_tooth_state(self, tooth: Tooth | str | int, state: ToothState | str) -> None:
        t = perio_tooth(tooth)
        try:
            st = ToothState(state)
        except ValueError:
            raise InvalidMeasurement(f"{state!r} is not a tooth state: use present, missing or implant",
                                     field="state") from None
        if st is ToothState.IMPLANT and any(k[0] is t for k in self._furcation):
            raise InvalidMeasurement(f"tooth {t.universal} has furcation values: clear them before "
                                     "marking it an implant", field="state")
        if st is ToothState.PRESENT:
            self._state.pop(t, None)
        else:
            self._state[t] = st

    def mark_missing(self, tooth: Tooth | str | int, missing: bool = True) -> None:
        self.set_tooth_state(tooth, ToothState.MISSING if missing else ToothState.PRESENT)

    def mark_implant(self, tooth: Tooth | str | int, implant: bool = True) -> None:
        self.set_tooth_state(tooth, ToothState.IMPLANT if implant else ToothState.PRESENT)

    # --- reading --------------------------------------------------------------------------

    # Reads of a missing tooth answer "nothing recorded": its values are kept (un-marking restores
    # them) but must not show on the chart, in indices or in an exported exam's visible values.

    def _visible_key(self, tooth: Tooth | str | int, site: Site | str) -> Key | None:
        t = perio_tooth(tooth)
        s = site if site.__class__ is Site else Site.parse(site)
        return None if self._state.get(t) is ToothState.MISSING else (t, s)  # type: ignore[return-value]

    def pd(self, tooth: Tooth | str | int, site: Site | str) -> int | None:
        key = self._visible_key(tooth, site)
        return None if key is None else self._pd.get(key)

    def gm(self, tooth: Tooth | str | int, site: Site | str) -> int | None:
        key = self._visible_key(tooth, site)
        return None if key is None else self._gm.get(key)

    def mgj(self, tooth: Tooth | str | int, site: Site | str) -> int | None:
        key = self._visible_key(tooth, site)
        return None if key is None else self._mgj.get(key)

    def cal(self, tooth: Tooth | str | int, site: Site | str) -> int | None:
        """CAL = PD + GM, or None unless both are recorded."""
        key = self._visible_key(tooth, site)
        pd, gm = (None, None) if key is None else (self._pd.get(key), self._gm.get(key))
        return None if pd is None or gm is None else pd + gm

    def flag(self, tooth: Tooth | str | int, site: Site | str, flag: Flag | str) -> bool:
        key = self._visible_key(tooth, site)
        return key is not None and key in self._flags[_flag(flag)]

    def mobility(self, tooth: Tooth | str | int) -> Grade | None:
        t = perio_tooth(tooth)
        return None if self._state.get(t) is ToothState.MISSING else self._mobility.get(t)

    def furcation(self, tooth: Tooth | str | int, entrance: Entrance | str) -> Grade | None:
        t = perio_tooth(tooth)
        if self._state.get(t) is ToothState.MISSING:
            return None
        return self._furcation.get((t, _entrance(entrance)))

    def tooth_state(self, tooth: Tooth | str | int) -> ToothState:
        return self._state.get(perio_tooth(tooth), ToothState.PRESENT)

    def is_missing(self, tooth: Tooth | str | int) -> bool:
        return self.tooth_state(tooth) is ToothState.MISSING

    def is_implant(self, tooth: Tooth | str | int) -> bool:
        return self.tooth_state(tooth) is ToothState.IMPLANT

    def reading(self, tooth: Tooth | str | int, site: Site | str) -> SiteReading:
        """Everything shown at one site; an empty reading on a missing tooth."""
        key = self._visible_key(tooth, site)
        if key is None:
            return SiteReading(perio_tooth(tooth), Site.parse(site))
        return self._stored_reading(key)

    def _stored_reading(self, key: Key) -> SiteReading:
        """The values kept at ``key``, hidden or not (what a snapshot must preserve)."""
        fl = self._flags
        return SiteReading(key[0], key[1], self._pd.get(key), self._gm.get(key), self._mgj.get(key),
                           key in fl[Flag.BLEEDING], key in fl[Flag.SUPPURATION],
                           key in fl[Flag.PLAQUE], key in fl[Flag.CALCULUS])

    def counted_teeth(self, *, include_implants: bool = True) -> tuple[Tooth, ...]:
        """Teeth 1–32 not skipped: missing teeth never count; implants count by the setting."""
        skip = {t for t, s in self._state.items()
                if s is ToothState.MISSING or (s is ToothState.IMPLANT and not include_implants)}
        return tuple(t for t in PERMANENT_TEETH if t not in skip)

    # --- copies ---------------------------------------------------------------------------

    def copy(self) -> PerioExam:
        """An independent copy (same id and metadata)."""
        new = PerioExam(id=self.id, patient=self.patient, date=self.date, provider=self.provider,
                        note=self.note, mobility_scale=self.mobility_scale,
                        furcation_scale=self.furcation_scale)
        new.copy_from(self)
        return new

    def copy_from(self, previous: PerioExam, measures: Iterable[Measure | str] = ALL_MEASURES) -> None:
        """Replace this exam's values of ``measures`` with ``previous``'s ("copy previous exam").

        Each chosen measure is replaced as a whole (values absent in ``previous`` are cleared);
        the others are untouched.
        """
        try:
            chosen = {Measure(m) for m in measures}
        except ValueError as exc:
            raise InvalidMeasurement(f"unknown measure: {exc}", field="measures") from None
        states = previous._state if Measure.TEETH in chosen else self._state
        furcation = previous._furcation if Measure.FURCATION in chosen else self._furcation
        if any(states.get(t) is ToothState.IMPLANT for t, _ in furcation):
            raise InvalidMeasurement("the copy would leave furcation values on an implant; copy tooth "
                                     "states and furcation together", field="measures")
        for m, attr in ((Measure.PD, "_pd"), (Measure.GM, "_gm"), (Measure.MGJ, "_mgj"),
                        (Measure.MOBILITY, "_mobility"), (Measure.FURCATION, "_furcation"),
                        (Measure.TEETH, "_state")):
            if m in chosen:
                setattr(self, attr, dict(getattr(previous, attr)))
        for f in Flag:
            if Measure(f.value) in chosen:
                self._flags[f] = set(previous._flags[f])

    # --- snapshot -------------------------------------------------------------------------

    def to_record(self) -> PerioExamRecord:
        keys = sorted(set(self._pd) | set(self._gm) | set(self._mgj)
                      | set().union(*self._flags.values()), key=_key_order)
        sites = [SiteRecord.model_validate(_site_dict(self._stored_reading(k))) for k in keys]
        return PerioExamRecord(
            id=self.id, patient=self.patient, date=self.date, provider=self.provider, note=self.note,
            mobility_scale=self.mobility_scale, furcation_scale=self.furcation_scale,
            teeth=[ToothStateRecord(tooth=t.universal, state=self._state[t]) for t in sorted(self._state)],
            mobility=[GradeRecord(tooth=t.universal, grade=g.value, scale=g.scale)
                      for t, g in sorted(self._mobility.items())],
            furcation=[FurcationRecord(tooth=t.universal, entrance=e, grade=g.value, scale=g.scale)
                       for (t, e), g in sorted(self._furcation.items(),
                                               key=lambda kv: (kv[0][0], list(Entrance).index(kv[0][1])))],
            sites=sites)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``PerioExam.from_dict(exam.to_dict()) == exam``."""
        return self.to_record().model_dump(mode="json", by_alias=True)

    @classmethod
    def from_record(cls, rec: PerioExamRecord) -> PerioExam:
        exam = cls(id=rec.id, patient=rec.patient, date=rec.date, provider=rec.provider, note=rec.note,
                   mobility_scale=rec.mobility_scale, furcation_scale=rec.furcation_scale)
        for i, s in enumerate(rec.sites):
            with _at(f"sites[{i}]"):
                for m in SITE_MEASURES:
                    v = getattr(s, m.value)
                    if v is not None:
                        exam.set_value(m, s.tooth, s.site, v)
                for f in Flag:
                    if getattr(s, f.value):
                        exam.set_flag(s.tooth, s.site, f)
        for i, g in enumerate(rec.mobility):
            with _at(f"mobility[{i}]"):
                exam.set_mobility(g.tooth, g.grade, g.scale)
        for i, fr in enumerate(rec.furcation):
            with _at(f"furcation[{i}]"):
                exam.set_furcation(fr.tooth, fr.entrance, fr.grade, fr.scale)
        for i, ts in enumerate(rec.teeth):  # last: values of missing teeth are kept
            with _at(f"teeth[{i}]"):
                exam.set_tooth_state(ts.tooth, ts.state)
        return exam

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PerioExam:
        try:
            rec = PerioExamRecord.model_validate(data)
        except ValidationError as exc:
            raise from_validation_error(exc, kind=InvalidMeasurement) from None
        return cls.from_record(rec)

    def to_draft(self) -> dict[str, Any]:
        """A JSON-ready copy made fast enough to keep after every keystroke (no model building).

        :meth:`from_draft` reads it back through the setters, so a damaged draft is refused, not
        half-read.
        """
        return {
            "draft": 1, "id": self.id, "patient": self.patient, "date": self.date.isoformat() if self.date else None,
            "provider": self.provider, "note": self.note, "scales": [self.mobility_scale, self.furcation_scale],
            "pd": [[t.universal, s.value, v] for (t, s), v in self._pd.items()],
            "gm": [[t.universal, s.value, v] for (t, s), v in self._gm.items()],
            "mgj": [[t.universal, s.value, v] for (t, s), v in self._mgj.items()],
            "flags": {f.value: [[t.universal, s.value] for t, s in keys] for f, keys in self._flags.items()},
            "mobility": [[t.universal, g.value, g.scale] for t, g in self._mobility.items()],
            "furcation": [[t.universal, e.value, g.value, g.scale] for (t, e), g in self._furcation.items()],
            "state": [[t.universal, st.value] for t, st in self._state.items()],
        }

    @classmethod
    def from_draft(cls, data: Mapping[str, Any]) -> PerioExam:
        """The exam a :meth:`to_draft` copy holds; anything malformed is an :class:`InvalidMeasurement`."""
        try:
            mobility_scale, furcation_scale = data["scales"]
            exam = cls(id=data["id"], patient=data["patient"],
                       date=dt.date.fromisoformat(data["date"]) if data["date"] else None,
                       provider=data["provider"], note=data["note"], mobility_scale=mobility_scale,
                       furcation_scale=furcation_scale)
            for m in SITE_MEASURES:
                for t, site, v in data[m.value]:
                    exam.set_value(m, t, site, v)
            for f, keys in data["flags"].items():
                for t, site in keys:
                    exam.set_flag(t, site, f)
            for t, v, scale in data["mobility"]:
                exam.set_mobility(t, v, scale)
            for t, e, v, scale in data["furcation"]:
                exam.set_furcation(t, e, v, scale)
            for t, st in data["state"]:
                exam.set_tooth_state(t, st)
        except DomainError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidMeasurement(f"the saved draft is damaged ({type(exc).__name__}: {exc})",
                                     field="draft") from None
        return exam

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PerioExam):
            return NotImplemented
        return self.to_record() == other.to_record()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PerioExam(id={self.id!r}, date={self.date}, sites={len(self._pd)} PD)"


def states_from_chart(marks: Iterable[Any]) -> dict[Tooth, ToothState]:
    """Missing teeth and implants as the restorative chart records them, for a new exam.

    A tooth is missing when charted missing or extracted (done, not planned); an implant when an
    implant is in place (done or existing, not planned), which also replaces a missing tooth. Primary and supernumerary teeth are not
    perio teeth and are left out. ``marks`` are :class:`~odonto_desk.domain.chart.ChartMark`.
    """
    from odonto_desk.domain.chart import MarkKind, MarkStatus

    out: dict[Tooth, ToothState] = {}
    for m in marks:
        if m.tooth not in PERIO_TEETH or m.status is MarkStatus.TREATMENT_PLANNED:
            continue
        if m.kind is MarkKind.IMPLANT:
            out[m.tooth] = ToothState.IMPLANT
        elif m.kind in (MarkKind.MISSING, MarkKind.EXTRACTION) and out.get(m.tooth) is not ToothState.IMPLANT:
            out[m.tooth] = ToothState.MISSING
    return out


def _flag(flag: Flag | str) -> Flag:
    if flag.__class__ is Flag:
        return flag  # type: ignore[return-value]
    try:
        return Flag(str(flag).strip().lower())
    except ValueError:
        raise InvalidMeasurement(f"{flag!r} is not a flag: use bleeding, suppuration, plaque or calculus",
                                 field="flag") from None


def _entrance(entrance: Entrance | str) -> Entrance:
    e = Entrance.__members__.get(str(entrance).strip().upper())
    if e is None:
        raise InvalidMeasurement(f"{entrance!r} is not a furcation entrance: use M, D, B or L",
                                 field="furcation")
    return e


def _key_order(key: Key) -> tuple[Tooth, int]:
    return (key[0], _SITE_INDEX[key[1]])


_SITE_INDEX = {s: i for i, s in enumerate(SITES)}


def _site_dict(r: SiteReading) -> dict[str, Any]:
    return {"tooth": r.tooth.universal, "site": r.site, "pd": r.pd, "gm": r.gm, "mgj": r.mgj,
            "bleeding": r.bleeding, "suppuration": r.suppuration, "plaque": r.plaque,
            "calculus": r.calculus}


class _at:
    """Context manager: prefix the field of a DomainError raised inside with ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, tp: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, DomainError):
            exc.field = f"{self.path}.{exc.field}" if exc.field else self.path


# --- snapshot records (pydantic) ---------------------------------------------------------


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SiteRecord(_Record):
    tooth: str
    site: Site
    pd: int | None = None
    gm: int | None = None
    mgj: int | None = None
    bleeding: bool = False
    suppuration: bool = False
    plaque: bool = False
    calculus: bool = False


class ToothStateRecord(_Record):
    tooth: str
    state: ToothState


class GradeRecord(_Record):
    tooth: str
    grade: int
    scale: str


class FurcationRecord(_Record):
    tooth: str
    entrance: Entrance
    grade: int = Field(alias="class")
    scale: str


class PerioExamRecord(_Record):
    """The stored form of a :class:`PerioExam`; only teeth and sites with something recorded."""

    format: str = "odonto-desk/perio-exam@1"
    id: str
    patient: str | None = None
    date: dt.date | None = None
    provider: str | None = None
    note: str = ""
    mobility_scale: str = DEFAULT_MOBILITY_SCALE
    furcation_scale: str = DEFAULT_FURCATION_SCALE
    teeth: list[ToothStateRecord] = []
    mobility: list[GradeRecord] = []
    furcation: list[FurcationRecord] = []
    sites: list[SiteRecord] = []
