from __future__ import annotations

import datetime as dt

from PySide6.QtCore import Qt

from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.services.demo import DemoService
from odonto_desk.ui.main_window import MainWindow


def _col(table, c):
    return [table.item(r, c).text() for r in range(table.rowCount())]


def test_lists_demo_patients_and_opens_the_first(qtbot):
    w = MainWindow(DemoService(today=dt.date(2026, 11, 25)))
    qtbot.addWidget(w)
    assert w.patients.count() == 3
    assert "Chen, Mia" in w.header.text() and "9 y" in w.header.text()
    assert w.chart.rowCount() == 6


def test_finder_filters_by_gpid_and_name(qtbot):
    w = MainWindow(DemoService())
    qtbot.addWidget(w)
    qtbot.keyClicks(w.finder, "APX-H4DD")
    assert w.patients.count() == 1
    assert w.patients.item(0).data(Qt.ItemDataRole.UserRole) == "demo-haddad"
    w.finder.clear()
    qtbot.keyClicks(w.finder, "rivera")
    assert w.patients.count() == 1


def test_numbering_switch_rerenders_teeth(qtbot):
    w = MainWindow(DemoService())
    qtbot.addWidget(w)
    w.patients.setCurrentRow(2)  # Rivera
    assert "30" in _col(w.chart, 0)
    w.set_numbering(NumberingSystem.FDI)
    assert "46" in _col(w.chart, 0) and "30" not in _col(w.chart, 0)
    w.set_numbering(NumberingSystem.HADERUP)
    assert "6-" in _col(w.chart, 0)


def test_status_has_a_text_cue_besides_colour(qtbot):
    w = MainWindow(DemoService())
    qtbot.addWidget(w)
    statuses = set(_col(w.chart, 4))
    assert any(s.startswith("TP · ") for s in statuses)


def test_code_search(qtbot):
    w = MainWindow(DemoService())
    qtbot.addWidget(w)
    qtbot.keyClicks(w.code_filter, "root canal")
    assert _col(w.codes, 0) == ["D3310", "D3320", "D3330"]
