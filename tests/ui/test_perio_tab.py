"""The Perio tab, driven by key presses only, on the real window over the real server and cache.

The full-mouth test types a 28-tooth exam (PD at six sites, 10 % of sites bleeding) and checks
every value as stored in the cache; it prints the keystrokes used per site. Then one test per
key, path, skip, triplet, undo, copy-previous, range refusal and red threshold, the PDF, and
screenshot tests of the grid, the comparison and the graph.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
from pathlib import Path

import pytest
from helpers import TODAY, difference
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest

from odonto_desk.domain.perio import Flag, PerioExam, Site
from odonto_desk.domain.perio_paths import exam_path
from odonto_desk.domain.teeth import Tooth
from odonto_desk.services.perio import PerioService

HADDAD, RIVERA = "demo-haddad", "demo-rivera"
SHOTS = Path(__file__).parent / "screenshots"
UPDATE = os.environ.get("ODONTO_UPDATE_SCREENSHOTS") == "1"
DIGITS = [getattr(Qt.Key, f"Key_{d}") for d in range(10)]
SHIFT, CTRL = Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.ControlModifier


def open_perio(qtbot, window, patient_id: str):
    """Open the patient and the Perio tab; wait until its chart is shown."""
    for i in range(window.patients.count()):
        if window.patients.item(i).data(Qt.ItemDataRole.UserRole).id == patient_id:
            window.patients.setCurrentRow(i)
    tab = window.tab("Perio")
    window.tabs.setCurrentWidget(window.patient_tabs["Perio"])
    qtbot.waitUntil(lambda: tab.chart is not None and tab.chart.patient.id == patient_id, timeout=8000)
    return tab


def new_exam(qtbot, tab, *, copy: bool = False):
    before = tab.exam
    tab.grid.setFocus()
    QTest.keyClick(tab, Qt.Key.Key_N, CTRL | (SHIFT if copy else Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(lambda: tab.exam is not before and tab.editable, timeout=5000)
    tab.grid.setFocus()
    return tab.exam


def use_exam(tab, exam: PerioExam) -> None:
    """Start entering ``exam`` as if New exam had made it (the test chooses its missing teeth)."""
    tab.exam, tab.editable = exam, True
    tab._fill_exam_list()
    tab._show_exam(new_entry=True)
    tab.grid.setFocus()


def key(tab, k, mods=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(tab.grid, k, mods)


def wait_saved(qtbot, tab) -> None:
    tab.save_now()
    qtbot.waitUntil(lambda: tab.tasks.in_flight == 0 and not tab._dirty, timeout=8000)


# --- the acceptance test -------------------------------------------------------------------------


@pytest.mark.parametrize("bleeding_key", ["shift", "b"])
def test_a_full_mouth_exam_by_keys_only_is_stored_value_for_value(qtbot, window, session, bleeding_key, capsys):
    tab = open_perio(qtbot, window, RIVERA)
    exam = PerioExam(patient=RIVERA, date=TODAY)
    for t in (1, 16, 17, 32):  # third molars out: 28 teeth
        exam.mark_missing(t)
    use_exam(tab, exam)
    rng = random.Random(7)
    stops = list(exam_path(exam))
    assert len(stops) == 28 * 6
    bleeding = set(rng.sample(range(len(stops)), round(len(stops) * 0.10)))
    wanted = {}
    start = tab.grid.keystrokes
    for n, stop in enumerate(stops):
        depth = rng.choice((1, 2, 2, 3, 3, 3, 4, 5, 6, 7))
        wanted[stop] = (depth, n in bleeding)
        if n in bleeding and bleeding_key == "shift":
            key(tab, DIGITS[depth], SHIFT)
        else:
            key(tab, DIGITS[depth])
            if n in bleeding:
                key(tab, Qt.Key.Key_B)
    per_site = (tab.grid.keystrokes - start) / len(stops)
    with capsys.disabled():
        print(f"\nperio entry, {bleeding_key} for bleeding: {per_site:.2f} keystrokes per site "
              f"({len(bleeding)} of {len(stops)} sites bleed)")
    assert per_site == pytest.approx(1.0 if bleeding_key == "shift" else 1.1, abs=0.01)
    wait_saved(qtbot, tab)
    stored = PerioService(session, today=TODAY).open(RIVERA)
    saved = next(e for e in stored.exams if e.date == TODAY)
    for (tooth, site), (depth, bled) in wanted.items():
        assert saved.pd(tooth, site) == depth, (tooth, site)
        assert saved.flag(tooth, site, Flag.BLEEDING) == bled, (tooth, site)
    assert saved.is_missing(1) and saved.is_missing(32)


# --- each key --------------------------------------------------------------------------------------


@pytest.fixture
def typing(qtbot, window):
    tab = open_perio(qtbot, window, RIVERA)
    use_exam(tab, PerioExam(patient=RIVERA, date=TODAY))
    return tab


def test_ctrl_digit_enters_ten_to_nineteen_and_a_value_out_of_range_is_refused_with_the_reason(typing):
    key(typing, Qt.Key.Key_2, CTRL)
    assert typing.exam.pd(1, Site.DB) == 12
    key(typing, Qt.Key.Key_7, CTRL)  # 17 mm
    assert typing.exam.pd(1, Site.B) is None
    assert typing.message.text() == "Not entered: PD 17 is outside 0–15 mm"
    key(typing, Qt.Key.Key_3)
    assert typing.exam.pd(1, Site.B) == 3 and typing.message.text() == ""


def test_flag_letters_toggle_on_the_site_just_entered(typing):
    key(typing, Qt.Key.Key_4)
    for k in (Qt.Key.Key_B, Qt.Key.Key_S, Qt.Key.Key_P, Qt.Key.Key_C):
        key(typing, k)
    assert all(typing.exam.flag(1, Site.DB, f) for f in Flag)
    key(typing, Qt.Key.Key_Space)  # Space is bleeding too: toggles it off
    assert not typing.exam.flag(1, Site.DB, Flag.BLEEDING)
    assert not any(typing.exam.flag(1, Site.B, f) for f in Flag)


def test_row_letters_and_the_gm_signs(typing):
    key(typing, Qt.Key.Key_G)
    assert typing.where.text().startswith("Gingival margin")
    key(typing, Qt.Key.Key_2, CTRL)  # coronal on the GM row, as Open Dental
    key(typing, Qt.Key.Key_Minus)
    key(typing, Qt.Key.Key_1)
    key(typing, Qt.Key.Key_3)
    assert [typing.exam.gm(1, s) for s in (Site.DB, Site.B, Site.MB)] == [-2, -1, 3]
    key(typing, Qt.Key.Key_J)
    key(typing, Qt.Key.Key_4)
    assert typing.where.text().startswith("MGJ")
    key(typing, Qt.Key.Key_M)
    key(typing, Qt.Key.Key_1)
    key(typing, Qt.Key.Key_F)
    key(typing, Qt.Key.Key_2)
    key(typing, Qt.Key.Key_Period)
    assert typing.where.text().startswith("Probing depth")
    assert typing.exam.mobility(2).value == 1  # then the cursor moved on to tooth 3, where f went
    assert typing.exam.furcation(3, "B").value == 2
    assert sum(typing.exam.mgj(2, s) is not None for s in Site) == 1


def test_triplets_reverse_and_a_tooth_marked_missing(typing):
    key(typing, Qt.Key.Key_T)
    assert typing.triplets.isChecked()
    for d in (Qt.Key.Key_3, Qt.Key.Key_2):
        key(typing, d)
    assert typing.exam.pd(1, Site.DB) is None  # pending until the third digit
    key(typing, Qt.Key.Key_4)
    assert [typing.exam.pd(1, s) for s in (Site.DB, Site.B, Site.MB)] == [3, 2, 4]
    key(typing, Qt.Key.Key_T)
    key(typing, Qt.Key.Key_X)  # tooth 2 is not there: skipped
    assert typing.exam.is_missing(2) and typing.where.text().startswith("Probing depth: tooth 3")
    key(typing, Qt.Key.Key_5)  # 3 DB
    key(typing, Qt.Key.Key_R)  # turn round: back along the arch
    assert typing.reverse.isChecked()
    key(typing, Qt.Key.Key_6)  # 3 B was the cursor: entered, then on to 3 DB
    key(typing, Qt.Key.Key_7)
    assert typing.exam.pd(3, Site.B) == 6 and typing.exam.pd(3, Site.DB) == 7
    assert typing.where.text().startswith("Probing depth: tooth 1")  # 2 is skipped on the way back too


def test_backspace_and_undo_redo_one_keystroke_at_a_time_despite_the_window_shortcuts(typing, window):
    for k in (Qt.Key.Key_3, Qt.Key.Key_4, Qt.Key.Key_5):
        key(typing, k)
    key(typing, Qt.Key.Key_Backspace)
    assert typing.exam.pd(1, Site.MB) is None and typing.exam.pd(1, Site.B) == 4
    key(typing, Qt.Key.Key_Z, CTRL)
    assert typing.exam.pd(1, Site.MB) == 5
    key(typing, Qt.Key.Key_Z, CTRL)
    assert typing.exam.pd(1, Site.MB) is None
    key(typing, Qt.Key.Key_Y, CTRL)
    assert typing.exam.pd(1, Site.MB) == 5
    assert not window.undo_stack.count()  # the chart's undo stack was not touched


def test_path_preset_is_used_and_remembered(typing, settings):
    typing.path.setCurrentIndex(typing.path.findData("facials-first"))
    typing.path.activated.emit(typing.path.currentIndex())
    assert settings.get("setting/perio_path") == "facials-first"
    assert typing.grid.entry.path_name.value == "facials-first"


def test_a_custom_path_from_preferences_is_walked_and_a_bad_one_is_refused(typing, settings):
    settings.set("setting/perio_custom_path", "5-3 L, 3-5 F")
    typing.path.setCurrentIndex(typing.path.findData("custom"))
    typing.path.activated.emit(typing.path.currentIndex())
    entry = typing.grid.entry
    assert entry.path_name.value == "custom" and entry.stop.tooth.universal == "5"
    assert [s.tooth.universal for s in entry.path.stops][:3] == ["5", "5", "5"]
    for k in (Qt.Key.Key_2, Qt.Key.Key_3, Qt.Key.Key_4):
        key(typing, k)
    assert typing.where.text().startswith("Probing depth: tooth 4")  # 5 → 3 on the lingual
    # Edited in Preferences while the exam is open: the new passes apply at once.
    settings.set("setting/perio_custom_path", "20-18 F")
    assert typing.grid.entry.stop.tooth.universal == "20"
    # A stored path that no longer parses (an ini edited by hand) falls back to the default passes.
    settings.q.setValue("setting/perio_custom_path", "1-16 X")
    typing.path.activated.emit(typing.path.currentIndex())
    assert settings.get("setting/perio_custom_path") == "1-16 F, 16-1 L, 17-32 L, 32-17 F"
    assert str(typing.grid.entry.path.segments[0]).startswith("1→16 ") and len(typing.grid.entry.path.segments) == 4


def test_implants_can_be_skipped_by_the_setting(qtbot, window):
    tab = open_perio(qtbot, window, RIVERA)
    exam = PerioExam(patient=RIVERA, date=TODAY)
    exam.mark_implant(1)
    use_exam(tab, exam)
    assert tab.grid.entry.stop.tooth.universal == "1"
    tab.implants.setChecked(False)
    assert tab.grid.entry.stop.tooth.universal == "2"


def test_new_exam_and_copy_previous(qtbot, window):
    tab = open_perio(qtbot, window, HADDAD)
    last = tab.chart.exams[-1]
    assert not tab.editable  # an exam of an earlier day is read-only
    copied = new_exam(qtbot, tab, copy=True)
    assert copied.date == tab.service.today and copied.id != last.id  # the tab's clock, not the tests' TODAY
    assert copied.pd(3, Site.MB) == last.pd(3, Site.MB) and copied.is_missing(1)
    blank = new_exam(qtbot, tab)
    assert blank.pd(3, Site.MB) is None


def test_red_threshold_setting_changes_what_is_red(typing, settings):
    key(typing, Qt.Key.Key_5)
    rect = typing.grid.cell_rect(typing.grid.row_for(typing.grid.entry.row, *typing.grid.entry.path.first),
                                 *typing.grid.entry.path.first)

    def red_pixels() -> int:
        image = typing.grid.grab(rect).toImage()
        return sum(1 for y in range(image.height()) for x in range(image.width())
                   if image.pixelColor(x, y).red() > 150 and image.pixelColor(x, y).green() < 90)

    assert red_pixels() > 5  # PD 5 ≥ 4: red
    settings.set("setting/perio_red_pd", 6)
    assert red_pixels() == 0


def test_cal_is_derived_from_pd_and_gm_and_cannot_be_entered(qtbot, typing):
    typing.exam.set_gm(1, Site.DB, 2)
    key(typing, Qt.Key.Key_5)  # PD 5 at 1 DB
    assert typing.exam.cal(1, Site.DB) == 7
    grid = typing.grid
    cal = next(r for r in grid._rows if r.line.name == "CAL" and r.upper and r.facial)
    where = typing.where.text()
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.cell_rect(cal, Tooth("3"), Site.B).center())
    assert typing.where.text() == where and where.startswith("Probing depth: tooth 1")  # the cursor stayed
    key(typing, Qt.Key.Key_4)  # goes to the probing cursor (1 B), not to a CAL cell
    assert typing.exam.pd(1, Site.B) == 4 and typing.exam.cal(3, Site.B) is None


def test_the_indices_panel_shows_the_domains_figures(qtbot, window):
    from odonto_desk.domain.perio_indices import summarize

    tab = open_perio(qtbot, window, HADDAD)
    s = summarize(tab.exam, include_implants=tab.implants.isChecked())
    assert s.bleeding.percent and s.plaque.percent is not None and s.pd.at_least_6 > 0
    shown = {"Bleeding on probing": f"{s.bleeding.percent:.0f} %", "Plaque": f"{s.plaque.percent:.0f} %",
             "Mean PD": f"{s.mean_pd:.1f} mm", "Mean CAL": f"{s.mean_cal:.1f} mm",
             "Sites PD ≥ 4 mm": str(s.pd.at_least_4), "Sites PD ≥ 6 mm": str(s.pd.at_least_6)}
    for label, value in shown.items():
        assert f"<tr><td>{label}</td><td align=right><b>{value}</b></td>" in tab.indices.text(), label


def test_a_draft_is_written_after_each_keystroke(qtbot, typing, session):
    key(typing, Qt.Key.Key_6)
    qtbot.waitUntil(lambda: not typing._draft_busy, timeout=5000)
    draft = PerioService(session, today=TODAY)._draft(RIVERA, [])
    assert draft is not None and draft.pd(1, Site.DB) == 6


def test_classification_override_needs_a_reason_and_is_recorded(qtbot, window):
    tab = open_perio(qtbot, window, HADDAD)
    qtbot.waitUntil(lambda: tab.proposed is not None, timeout=5000)
    assert tab.proposed.stage == "IV" and "Stage IV" in tab.result.text()
    assert tab.reasons.count() > 3 and tab.notices.count() > 3
    tab.grade.setCurrentIndex(3)  # Grade C, no reason
    tab.record_classification()
    qtbot.waitUntil(lambda: "Not recorded" in tab.override_message.text(), timeout=5000)
    assert "say why the stage or grade differs" in tab.override_message.text()
    tab.reason.setText("heavy smoker")
    tab.record_classification()
    qtbot.waitUntil(lambda: "Recorded" in tab.recorded.text(), timeout=5000)
    assert "Grade C" in tab.recorded.text() and "heavy smoker" in tab.recorded.text()


def test_the_printed_exam_has_its_grid_graph_and_classification(qtbot, window, tmp_path):
    tab = open_perio(qtbot, window, HADDAD)
    qtbot.waitUntil(lambda: tab.proposed is not None, timeout=5000)
    pdf = tmp_path / "perio.pdf"
    tab.print_pdf(str(pdf))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Samir Haddad" in text and "Perio exam of 2024-11-26" in text and "Stage IV" in text
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(tmp_path / "page")], check=True)
    page = QImage(str(tmp_path / "page-1.png"))
    inked = sum(1 for y in range(0, page.height(), 3) for x in range(0, page.width(), 3)
                if page.pixelColor(x, y).lightness() < 200)
    assert inked > 800  # the grid and the graph are drawn, not a blank page
    listed = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert sum(line.split()[2:3] == ["image"] for line in listed.splitlines()[2:]) == 2, listed  # grid and graph


# --- screenshots -----------------------------------------------------------------------------------


def _compare(image: QImage, name: str, tmp_path) -> None:
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    ref = SHOTS / f"{name}.png"
    if UPDATE or not ref.exists():
        image.save(str(ref))
        if not UPDATE:
            pytest.fail(f"no reference for {name}: wrote {ref}; look at it, then commit it")
    reference = QImage(str(ref)).convertToFormat(QImage.Format.Format_RGB32)
    assert reference.size() == image.size(), name
    share, diff = difference(image, reference)
    if share > 0.004:
        image.save(str(tmp_path / f"{name}-actual.png"))
        diff.save(str(tmp_path / f"{name}-diff.png"))
    assert share <= 0.004, f"{name}: {share:.2%} of pixels differ; see {tmp_path}"


def _haddad_exams() -> list[PerioExam]:
    from odonto_desk.domain.demo import demo_perio_exams

    return demo_perio_exams(HADDAD)


def _grid(older: int = 0, baseline: bool = False):
    from odonto_desk.domain.perio_entry import PerioEntry
    from odonto_desk.ui.perio.grid import PerioGrid

    exams = _haddad_exams()
    grid = PerioGrid()
    grid.set_exam(PerioEntry(exams[-1]), older=list(reversed(exams[:-1]))[:older],
                  baseline=exams[0] if baseline else None, read_only=True)
    grid.resize(grid.sizeHint())
    return grid


def test_the_grid_is_the_dentists_view_with_six_sites_a_tooth(qapp):
    grid = _grid()
    rows = {(r.upper, r.facial): r for r in grid._rows if r.line.name == "PD"}
    upper = [grid.cell_rect(rows[True, True], Tooth(str(n)), None).x() for n in range(1, 17)]
    lower = [grid.cell_rect(rows[False, True], Tooth(str(n)), None).x() for n in range(32, 16, -1)]
    assert upper == sorted(upper) and lower == sorted(lower)  # #1 … #16 and #32 … #17, left to right
    assert lower[0] == upper[0]  # #32 at the left of the lower row, under #1
    for (up, facial), row in rows.items():
        tooth = Tooth("3" if up else "30")
        box = grid.cell_rect(row, tooth, None)
        sites = {grid.hit(box.left() + 8 + 17 * i, box.center().y())[2] for i in range(3)}
        assert len(sites) == 3 and all(site.is_facial == facial for site in sites)  # 3 + 3 = six sites a tooth


def test_grid_screenshot(qapp, tmp_path):
    _compare(_grid().grab().toImage(), "perio-grid", tmp_path)


def test_comparison_screenshot(qapp, tmp_path):
    _compare(_grid(older=2, baseline=True).grab().toImage(), "perio-compare", tmp_path)


def test_graph_screenshot(qapp, tmp_path):
    from PySide6.QtCore import QSize

    from odonto_desk.ui.perio.graph import PerioGraph

    graph = PerioGraph()
    graph.set_exam(_haddad_exams()[-1])
    graph.resize(QSize(1100, 520))
    _compare(graph.grab().toImage(), "perio-graph", tmp_path)


def test_the_comparison_marks_a_worsening_of_two_mm(qapp):
    """The Δ row is not decoration: a site 2 mm deeper than the baseline is drawn red with ▲."""
    from odonto_desk.domain.perio_entry import PerioEntry
    from odonto_desk.ui.perio.grid import RED, PerioGrid

    before, after = PerioExam(date=dt.date(2020, 1, 1)), PerioExam(date=dt.date(2025, 1, 1))
    before.set_pd(3, Site.MB, 3)
    after.set_pd(3, Site.MB, 5)
    grid = PerioGrid()
    grid.set_exam(PerioEntry(after), baseline=before, read_only=True)
    grid.resize(grid.sizeHint())
    row = next(r for r in grid._rows if r.line.name == "DELTA" and r.facial and r.upper)
    image = grid.grab(grid.cell_rect(row, before.counted_teeth()[2], Site.MB)).toImage()
    assert any(image.pixelColor(x, y) == QColor(RED) for y in range(image.height()) for x in range(image.width()))
