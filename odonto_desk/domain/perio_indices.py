"""Whole-mouth figures derived from a :class:`PerioExam`, and the change between two exams.

Which sites count (stated once, here):

* Only *counted teeth* take part: missing teeth never; implants by ``include_implants``
  (default True, as Open Dental counts them as present).
* **%BOP** (and suppuration) is over the *probed* sites: sites with a PD recorded, plus any site
  flagged bleeding or suppurating without one (bleeding *on probing* means it was probed). A
  site never probed is unknown, not "no bleeding", so a half-charted exam does not dilute the
  percentage. Numerator: probed sites with the flag.
* **Plaque** (and calculus) is over *every* site of the counted teeth: plaque is scored on the
  whole dentition by disclosing, with no separate "scored" mark, so an absent flag means none.
* PD counts and mean PD are over sites with a PD; mean CAL over sites with both PD and GM.

Every figure comes back with its numerator and denominator (:class:`Ratio`), so a UI can show
"12 / 84 (14%)" and an empty exam gives ``percent is None`` rather than a fake 0%.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from odonto_desk.domain.errors import InvalidMeasurement
from odonto_desk.domain.perio import SITES, Flag, PerioExam, Site, SiteReading
from odonto_desk.domain.teeth import Tooth

WORSENED_MM = 2  # QSI-style highlight and the 2017 grading's ≥2 mm progression step


@dataclass(frozen=True, slots=True)
class Ratio:
    """``count`` of ``total`` sites; ``percent`` is None when nothing was counted."""

    count: int
    total: int

    @property
    def percent(self) -> float | None:
        return None if self.total == 0 else 100.0 * self.count / self.total


@dataclass(frozen=True, slots=True)
class PdCounts:
    """Sites at or beyond the usual thresholds, out of ``probed`` sites with a PD."""

    probed: int
    at_least_4: int
    at_least_5: int
    at_least_6: int


@dataclass(frozen=True, slots=True)
class PerioSummary:
    """The figures a perio chart's summary panel shows."""

    teeth: int
    bleeding: Ratio
    suppuration: Ratio
    plaque: Ratio
    calculus: Ratio
    pd: PdCounts
    mean_pd: float | None
    mean_cal: float | None


def readings(exam: PerioExam, *, include_implants: bool = True) -> Iterator[SiteReading]:
    """Every site of every counted tooth, in tooth then site order."""
    for tooth in exam.counted_teeth(include_implants=include_implants):
        for site in SITES:
            yield exam.reading(tooth, site)


def _probed(r: SiteReading) -> bool:
    return r.pd is not None or r.bleeding or r.suppuration


def _probed_ratio(exam: PerioExam, flag: Flag, include_implants: bool) -> Ratio:
    probed = [r for r in readings(exam, include_implants=include_implants) if _probed(r)]
    return Ratio(sum(getattr(r, flag.value) for r in probed), len(probed))


def _all_sites_ratio(exam: PerioExam, flag: Flag, include_implants: bool) -> Ratio:
    sites = list(readings(exam, include_implants=include_implants))
    return Ratio(sum(getattr(r, flag.value) for r in sites), len(sites))


def bleeding_index(exam: PerioExam, *, include_implants: bool = True) -> Ratio:
    """%BOP: probed sites that bled, over probed sites."""
    return _probed_ratio(exam, Flag.BLEEDING, include_implants)


def suppuration_index(exam: PerioExam, *, include_implants: bool = True) -> Ratio:
    """Probed sites that suppurated, over probed sites."""
    return _probed_ratio(exam, Flag.SUPPURATION, include_implants)


def plaque_index(exam: PerioExam, *, include_implants: bool = True) -> Ratio:
    """Sites with plaque, over all sites of the counted teeth (O'Leary-style, six sites a tooth)."""
    return _all_sites_ratio(exam, Flag.PLAQUE, include_implants)


def calculus_index(exam: PerioExam, *, include_implants: bool = True) -> Ratio:
    """Sites with calculus, over all sites of the counted teeth."""
    return _all_sites_ratio(exam, Flag.CALCULUS, include_implants)


def pd_counts(exam: PerioExam, *, include_implants: bool = True) -> PdCounts:
    depths = [r.pd for r in readings(exam, include_implants=include_implants) if r.pd is not None]
    return PdCounts(len(depths), sum(d >= 4 for d in depths), sum(d >= 5 for d in depths),
                    sum(d >= 6 for d in depths))


def _mean(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None


def mean_pd(exam: PerioExam, *, include_implants: bool = True) -> float | None:
    return _mean([r.pd for r in readings(exam, include_implants=include_implants) if r.pd is not None])


def mean_cal(exam: PerioExam, *, include_implants: bool = True) -> float | None:
    return _mean([r.cal for r in readings(exam, include_implants=include_implants) if r.cal is not None])


def summarize(exam: PerioExam, *, include_implants: bool = True) -> PerioSummary:
    kw = {"include_implants": include_implants}
    return PerioSummary(
        teeth=len(exam.counted_teeth(include_implants=include_implants)),
        bleeding=bleeding_index(exam, **kw), suppuration=suppuration_index(exam, **kw),
        plaque=plaque_index(exam, **kw), calculus=calculus_index(exam, **kw),
        pd=pd_counts(exam, **kw), mean_pd=mean_pd(exam, **kw), mean_cal=mean_cal(exam, **kw))


# --- comparing two exams -----------------------------------------------------------------


def _delta(before: int | None, after: int | None) -> int | None:
    return None if before is None or after is None else after - before


@dataclass(frozen=True, slots=True)
class SiteChange:
    """One site in both exams; a change is ``after − before`` (positive = deeper / more loss)."""

    tooth: Tooth
    site: Site
    pd_before: int | None
    pd_after: int | None
    cal_before: int | None
    cal_after: int | None

    @property
    def pd_change(self) -> int | None:
        return _delta(self.pd_before, self.pd_after)

    @property
    def cal_change(self) -> int | None:
        return _delta(self.cal_before, self.cal_after)

    def pd_trend(self, by: int = WORSENED_MM) -> int:
        """+1 when the PD deepened by ``by`` mm or more, −1 when it got as much shallower, else 0."""
        d = self.pd_change
        return 0 if d is None or abs(d) < by else (1 if d > 0 else -1)


def site_change(before: PerioExam, after: PerioExam, tooth: Tooth, site: Site) -> SiteChange:
    """One site from ``before`` to ``after`` (the chart's Δ row); a missing tooth reads as no values."""
    old, new = before.reading(tooth, site), after.reading(tooth, site)
    return SiteChange(tooth, site, old.pd, new.pd, old.cal, new.cal)


@dataclass(frozen=True, slots=True)
class ExamComparison:
    """Site-by-site change over the teeth present (or implants) in both exams."""

    changes: tuple[SiteChange, ...]
    teeth_lost: tuple[Tooth, ...]  # counted before, missing after

    def pd_worsened(self, by: int = WORSENED_MM) -> tuple[SiteChange, ...]:
        """Sites whose PD deepened by ``by`` mm or more."""
        return tuple(c for c in self.changes if c.pd_change is not None and c.pd_change >= by)

    def cal_worsened(self, by: int = WORSENED_MM) -> tuple[SiteChange, ...]:
        """Sites that lost ``by`` mm or more of attachment (the change that grades progression)."""
        return tuple(c for c in self.changes if c.cal_change is not None and c.cal_change >= by)


def compare(before: PerioExam, after: PerioExam) -> ExamComparison:
    """Change from ``before`` to ``after``; refused when both are dated and in the wrong order.

    Sites with no PD in either exam are left out; a site charted in one exam only is
    kept with None changes, so the UI can show the value without an arrow.
    """
    if before.date is not None and after.date is not None and after.date < before.date:
        raise InvalidMeasurement(f"the later exam ({after.date}) was given as 'before' "
                                 f"({before.date}): pass the earlier exam first", field="before")
    after_teeth = set(after.counted_teeth())
    common = [t for t in before.counted_teeth() if t in after_teeth]
    changes = []
    for tooth in common:
        for site in SITES:
            old, new = before.reading(tooth, site), after.reading(tooth, site)
            if old.pd is not None or new.pd is not None:  # CAL needs a PD, so this covers CAL
                changes.append(SiteChange(tooth, site, old.pd, new.pd, old.cal, new.cal))
    lost = tuple(t for t in before.counted_teeth() if after.is_missing(t))
    return ExamComparison(tuple(changes), lost)
