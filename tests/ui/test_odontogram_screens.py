"""Screenshot tests: the odontogram rendered offscreen, compared with stored reference PNGs.

A reference is regenerated with ``ODONTO_UPDATE_SCREENSHOTS=1``; look at every new one before
committing it. The comparison tolerates antialiasing and font hinting (a few percent of pixels off
by a little), not a mark drawn wrong. On a mismatch the actual image and a diff are written next to
the test's temporary folder for inspection.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import difference
from PySide6.QtCore import QSize
from PySide6.QtGui import QImage

from odonto_desk.domain.chart import ChartMark
from odonto_desk.domain.demo import demo_patients
from odonto_desk.domain.dentition import Dentition, DentitionMode
from odonto_desk.domain.teeth import NumberingSystem, Tooth
from odonto_desk.ui.odontogram.widget import Odontogram

HERE = Path(__file__).parent / "screenshots"
SIZE = QSize(1200, 640)
UPDATE = bool(os.environ.get("ODONTO_UPDATE_SCREENSHOTS"))


def _marks(patient_id: str) -> list[ChartMark]:
    return list(next(p for p in demo_patients() if p.id == patient_id).marks)


def _busy() -> list[ChartMark]:
    """Every kind and status at once, a supernumerary and a primary tooth kept into adulthood."""
    m = _marks("demo-haddad") + _marks("demo-rivera")
    extra = [
        ("6", "crown", "eo", "", "porcelain"), ("7", "filling", "c", "MIF", "composite"),
        ("10", "filling", "r", "ML", "composite"), ("11", "root canal", "c", "", None),
        ("11", "post and core", "c", "", None), ("12", "caries", "cn", "DO", None),
        ("13", "onlay", "tp", "MOD", "gold"), ("15", "sealant", "c", "O", "resin"),
        ("18", "inlay", "ec", "MO", "porcelain"), ("21", "veneer", "ec", "", "composite"),
        ("22", "fracture", "cn", "", None), ("23", "filling", "eo", "V", "glass ionomer"),
        ("24", "filling", "tp", "IL", "composite"), ("25", "missing", "cn", "", None),
        ("26", "crown", "c", "", "gold"), ("27", "filling", "c", "F", "amalgam"),
        ("17", "impacted", "cn", "", None), ("53", "watch", "cn", "", None),
    ]
    for tooth, kind, status, surfaces, material in extra:
        m.append(ChartMark(tooth=tooth, kind=kind, status=status, surfaces=surfaces, material=material))
    return m


CASES = {
    "adult-universal": (Dentition(DentitionMode.PERMANENT), _marks("demo-rivera"), NumberingSystem.UNIVERSAL),
    "adult-fdi": (Dentition(DentitionMode.PERMANENT), _marks("demo-rivera"), NumberingSystem.FDI),
    "adult-palmer": (Dentition(DentitionMode.PERMANENT), _marks("demo-rivera"), NumberingSystem.PALMER),
    "adult-haderup": (Dentition(DentitionMode.PERMANENT), _marks("demo-rivera"), NumberingSystem.HADERUP),
    "mixed": (Dentition(DentitionMode.MIXED), _marks("demo-chen"), NumberingSystem.UNIVERSAL),
    "primary": (Dentition(DentitionMode.PRIMARY), [
        ChartMark(tooth="A", kind="crown", status="c", material="stainless steel"),
        ChartMark(tooth="J", kind="caries", status="cn", surfaces="MO"),
        ChartMark(tooth="K", kind="root canal", status="tp"),  # pulpectomy on a primary molar is drawn
        ChartMark(tooth="E", kind="extraction", status="tp"),
    ], NumberingSystem.FDI),
    "busy": (Dentition(DentitionMode.PERMANENT).with_supernumerary(Tooth("53")), _busy(), NumberingSystem.UNIVERSAL),
}


def render(qapp, dentition: Dentition, marks: list[ChartMark], numbering: NumberingSystem) -> QImage:
    og = Odontogram()
    og.resize(SIZE)
    og.set_numbering(numbering)
    og.set_chart(dentition.shown(marks), marks)
    image = og.grab_chart(SIZE).toImage().convertToFormat(QImage.Format.Format_RGB32)
    og.deleteLater()
    return image


@pytest.mark.parametrize("name", sorted(CASES))
def test_chart_matches_its_reference(qapp, tmp_path, name):
    dentition, marks, numbering = CASES[name]
    image = render(qapp, dentition, marks, numbering)
    ref_path = HERE / f"{name}.png"
    if UPDATE or not ref_path.exists():
        HERE.mkdir(exist_ok=True)
        image.save(str(ref_path))
        if not UPDATE:
            pytest.fail(f"no reference for {name}: wrote {ref_path}; look at it, then commit it")
    reference = QImage(str(ref_path)).convertToFormat(QImage.Format.Format_RGB32)
    assert reference.size() == image.size()
    share, diff = difference(image, reference)
    if share > 0.004:
        image.save(str(tmp_path / f"{name}-actual.png"))
        diff.save(str(tmp_path / f"{name}-diff.png"))
    assert share <= 0.004, f"{name}: {share:.2%} of pixels differ; see {tmp_path}"


def test_the_comparison_catches_a_missing_mark(qapp):
    """The tolerance must not hide a real change: one filling less is caught."""
    dentition, marks, numbering = CASES["adult-universal"]
    full = render(qapp, dentition, marks, numbering)
    fewer = render(qapp, dentition, [m for m in marks if m.tooth != Tooth("3")], numbering)
    assert difference(full, fewer)[0] > 0.004


def test_the_composed_chart_follows_every_change_and_is_reused_when_nothing_changed(qapp):
    """A repaint that changes nothing is one blit of the composed chart; a selection, new marks, a
    numbering or a size makes it compose again (a stale picture would show the wrong chart)."""
    from odonto_desk.domain.surfaces import Surface

    dentition, marks, numbering = CASES["adult-universal"]
    og = Odontogram()
    og.resize(SIZE)
    og.set_numbering(numbering)
    og.set_chart(dentition.shown(marks), marks)

    def shot() -> QImage:
        return og.grab_chart(SIZE).toImage().convertToFormat(QImage.Format.Format_RGB32)

    plain = shot()
    composed = og.compositions
    assert difference(plain, shot())[0] == 0 and og.compositions == composed  # nothing changed: reused
    og.select(Tooth("3"), [Surface("O")])
    selected = shot()
    assert difference(plain, selected)[0] > 0 and og.compositions == composed + 1
    og.clear_selection()
    assert difference(plain, shot())[0] == 0
    og.set_chart(dentition.shown(marks), [m for m in marks if m.tooth != Tooth("3")])
    assert difference(plain, shot())[0] > 0.004  # one filling less
    og.set_chart(dentition.shown(marks), marks)
    og.set_numbering(NumberingSystem.FDI)
    assert difference(plain, shot())[0] > 0  # the labels
    og.deleteLater()
