"""The chart screen end to end: real clicks on real surfaces, typed commands, undo and redo, numbering.

The window runs on a session against the real reference server (loopback) with a real SQLite
cache; assertions read what the cache stored and what the outbox queued for sync.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from odonto_desk.domain.surfaces import Surface
from odonto_desk.domain.teeth import NumberingSystem, Tooth
from odonto_desk.ui.main_window import MainWindow

RIVERA = "demo-rivera"
RIVERA_GPID = "APX-1A2B3C4D"


def open_patient(qtbot, w: MainWindow, patient_id: str) -> None:
    for i in range(w.patients.count()):
        if w.patients.item(i).data(Qt.ItemDataRole.UserRole).id == patient_id:
            w.patients.setCurrentRow(i)
    qtbot.waitUntil(lambda: w.chart_tab.view is not None and w.chart_tab.view.patient.id == patient_id,
                    timeout=5000)


def chart_resources(session, patient_id: str) -> list[dict]:
    return session.cache().patient_resources(patient_id, ("Condition", "Procedure", "ServiceRequest"))


def outbox(session) -> list:
    return session.cache().outbox.entries()


def on_tooth(resources: list[dict], number: str) -> list[dict]:
    out = []
    for r in resources:
        for ext in r.get("extension", []):
            if ext.get("url", "").endswith("tooth-number") and ext.get("valueCoding", {}).get("code") == number:
                out.append(r)
    return out


def test_clicking_surfaces_and_charting_from_the_form_writes_cache_and_outbox(qtbot, window, session):
    w = window
    open_patient(qtbot, w, RIVERA)
    og = w.chart_tab.odontogram
    tooth = Tooth("29")
    qtbot.mouseClick(og, Qt.MouseButton.LeftButton, pos=og.surface_point(tooth, Surface.O))
    qtbot.mouseClick(og, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     pos=og.surface_point(tooth, Surface.D))
    assert og.selection == {tooth: frozenset({Surface.O, Surface.D})}
    form = w.chart_tab.form
    form.kind.setCurrentIndex(form.kind.findText("Filling"))
    form.material.setCurrentIndex(form.material.findText("composite"))
    assert form.chart_button.isEnabled(), form.verdict.text()
    assert "D2392" in form.verdict.text()  # the domain's suggestion for two posterior surfaces
    before = len(outbox(session))
    qtbot.mouseClick(form.chart_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(outbox(session)) == before + 1, timeout=5000)
    [made] = [r for r in on_tooth(chart_resources(session, RIVERA), "29")]
    assert made["resourceType"] == "ServiceRequest" and made["status"] == "active"
    assert made["code"]["coding"][0]["code"] == "D2392"
    entry = outbox(session)[-1]
    assert entry.operation == "create" and entry.gpid == RIVERA_GPID
    qtbot.waitUntil(lambda: any(m.tooth == tooth for m in og.marks_on(tooth)), timeout=5000)
    # ...and sync sends it: the server now has it.
    session.sync().run_once()
    server = session.client().search("ServiceRequest", {"patient": RIVERA})
    assert any(r["code"]["coding"][0]["code"] == "D2392" and on_tooth([r], "29") for r in server)


def test_typed_command_then_undo_and_redo(qtbot, window, session):
    w = window
    open_patient(qtbot, w, RIVERA)
    tab = w.chart_tab
    qtbot.keyClicks(tab.command.edit, "13 MOD comp tp")
    qtbot.keyClick(tab.command.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: any(m.tooth == Tooth("13") for m in tab.view.marks), timeout=5000)
    [mark] = [m for m in tab.view.marks if m.tooth == Tooth("13")]
    assert mark.surface_string == "MOD" and mark.code == "D2393" and mark.status.value == "tp"
    assert "✓" in tab.command.message.text() and tab.command.edit.text() == ""

    w.actions_by_id["undo"].trigger()
    qtbot.waitUntil(lambda: not any(m.tooth == Tooth("13") for m in tab.view.marks), timeout=5000)
    [stored] = on_tooth(chart_resources(session, RIVERA), "13")
    assert stored["status"] == "entered-in-error"  # taken back, never deleted

    w.actions_by_id["redo"].trigger()
    qtbot.waitUntil(lambda: any(m.tooth == Tooth("13") for m in tab.view.marks), timeout=5000)
    [stored] = on_tooth(chart_resources(session, RIVERA), "13")
    assert stored["status"] == "active"
    # create, then two updates of the same resource: the outbox squashes them into one send.
    ops = [e.operation for e in outbox(session) if e.id == stored["id"]]
    assert ops == ["create", "update", "update"]


@pytest.mark.parametrize(("command", "says"), [
    ("33 crn", "33"),
    ("30 I comp", "I"),
    ("8 O comp", "O"),
    ("14 MOD compp", "comp"),
])
def test_a_wrong_command_shows_why_and_saves_nothing(qtbot, window, session, command, says):
    w = window
    open_patient(qtbot, w, RIVERA)
    tab = w.chart_tab
    before = len(outbox(session))
    marks_before = len(tab.view.marks)
    qtbot.keyClicks(tab.command.edit, command)
    qtbot.keyClick(tab.command.edit, Qt.Key.Key_Return)
    assert tab.command.message.text().startswith("✗") and says in tab.command.message.text()
    assert tab.command.edit.text() == command  # the text stays for fixing
    qtbot.wait(200)
    assert len(outbox(session)) == before and len(tab.view.marks) == marks_before


def test_keyboard_alone_selects_a_tooth_and_surfaces(qtbot, window):
    w = window
    open_patient(qtbot, w, RIVERA)
    og = w.chart_tab.odontogram
    og.setFocus()
    qtbot.keyClicks(og, "29")
    assert og.focused == Tooth("29")
    assert og.surface_cursor is Surface.M
    qtbot.keyClick(og, Qt.Key.Key_Space)
    qtbot.keyClick(og, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(og, Qt.Key.Key_Space)
    assert og.selection == {Tooth("29"): frozenset({Surface.M, Surface.O})}
    qtbot.keyClick(og, Qt.Key.Key_Left)
    assert og.focused == Tooth("30")  # the lower row runs 32 … 17 from the left
    qtbot.keyClick(og, Qt.Key.Key_Up)
    assert og.focused == Tooth("3")
    assert "Tooth 3" in og.accessibleDescription()
    qtbot.keyClick(og, Qt.Key.Key_Escape)
    assert og.selection == {}


def test_drag_across_teeth_selects_the_run(qtbot, window):
    w = window
    open_patient(qtbot, w, RIVERA)
    og = w.chart_tab.odontogram
    start = og.surface_point(Tooth("6"), Surface.I)
    end = og.surface_point(Tooth("11"), Surface.I)
    qtbot.mousePress(og, Qt.MouseButton.LeftButton, pos=start)
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    move = QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(end), og.mapToGlobal(QPointF(end)),
                       Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(og, move)
    qtbot.mouseRelease(og, Qt.MouseButton.LeftButton, pos=end)
    assert set(og.selection) == {Tooth(str(n)) for n in range(6, 12)}


def test_numbering_switch_relabels_chart_and_commands(qtbot, window, session):
    w = window
    open_patient(qtbot, w, RIVERA)
    tab = w.chart_tab
    w.set_numbering(NumberingSystem.FDI)
    teeth_column = [tab.marks.item(r, 0).text() for r in range(tab.marks.rowCount())]
    assert "46" in teeth_column and "30" not in teeth_column
    assert w.settings.get("setting/numbering") == "fdi"
    # Commands are read in the chosen system too: FDI 24 is Universal 12.
    qtbot.keyClicks(tab.command.edit, "24 O car")
    qtbot.keyClick(tab.command.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: any(m.tooth == Tooth("12") for m in tab.view.marks), timeout=5000)
    w.set_numbering(NumberingSystem.PALMER)
    assert "LR6" in [tab.marks.item(r, 0).text() for r in range(tab.marks.rowCount())]


def test_hover_text_lists_the_tooth_history(qtbot, window):
    w = window
    open_patient(qtbot, w, RIVERA)
    text = w.chart_tab.odontogram.tooth_summary(Tooth("14"), Surface.O)
    assert text.splitlines()[0].startswith("14 — ") and "O (occlusal)" in text
    assert "crown" in text and "root canal" in text


def test_hovering_a_tooth_shows_its_history_as_a_tooltip(qtbot, window):
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication, QToolTip

    open_patient(qtbot, window, RIVERA)
    chart = window.chart_tab.odontogram
    point = chart.surface_point(Tooth("14"), Surface.O)
    QApplication.sendEvent(chart, QMouseEvent(QEvent.Type.MouseMove, QPointF(point), chart.mapToGlobal(QPointF(point)),
                                              Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                                              Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(QToolTip.isVisible, timeout=3000)
    assert QToolTip.text() == chart.tooth_summary(Tooth("14"), Surface.O) and "root canal" in QToolTip.text()


def test_completing_planned_work_closes_the_plan_and_charts_the_procedure(qtbot, window, session):
    w = window
    open_patient(qtbot, w, RIVERA)
    tab = w.chart_tab
    row = next(r for r in range(tab.marks.rowCount())
               if tab.marks.item(r, 0).text() == "19" and "TP" in tab.marks.item(r, 4).text())
    tab.marks.selectRow(row)
    qtbot.mouseClick(tab.complete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(m.tooth == Tooth("19") and m.status.value == "c" for m in tab.view.marks),
                    timeout=5000)
    assert not any(m.tooth == Tooth("19") and m.status.value == "tp" for m in tab.view.marks)
    kinds = {(r["resourceType"], r.get("status")) for r in on_tooth(chart_resources(session, RIVERA), "19")}
    assert ("ServiceRequest", "completed") in kinds and ("Procedure", "completed") in kinds


def test_the_legend_wraps_rather_than_dropping_statuses_when_the_chart_is_narrow(qtbot, window):
    """With the Conflicts panel open beside a narrow window the legend takes two rows, and every
    status's swatch is still drawn (the condition's dark brown is the last one)."""
    from PySide6.QtGui import QColor

    from odonto_desk.ui.palette import STATUS_STYLES

    w = window
    w.resize(1100, 800)
    w.show_conflicts()
    legend = w.chart_tab.legend
    wide = legend.sizeHint().width()
    qtbot.waitUntil(lambda: legend.width() < wide and legend.height() >= 48, timeout=3000)
    rows = legend.rows(legend.width())
    assert len(rows) >= 2 and sorted(s.label for row in rows for s, _text, _w in row) == sorted(
        s.label for s in STATUS_STYLES.values())
    image = legend.grab().toImage()
    colours = {image.pixelColor(x, y).name() for x in range(image.width()) for y in range(image.height())}
    for style in STATUS_STYLES.values():
        if style.pattern is Qt.BrushStyle.SolidPattern:  # a solid swatch shows its colour as it is
            assert QColor(style.colour).name() in colours, f"{style.label} is not drawn"


def test_the_form_says_what_to_do_first_and_marks_only_real_mistakes_as_errors(qtbot, window):
    """An open chart with nothing selected is the start of the work: the form says how to begin, in
    grey, not as a red ✗; what the domain refuses for a selection is still shown as an error."""
    from odonto_desk.ui.chart.panel import ERROR_STYLE, HINT_STYLE, NOTHING_SELECTED

    w = window
    open_patient(qtbot, w, RIVERA)
    form, og = w.chart_tab.form, w.chart_tab.odontogram
    assert (form.verdict.text(), form.verdict.styleSheet()) == (NOTHING_SELECTED, HINT_STYLE)
    assert not form.chart_button.isEnabled()
    qtbot.mouseClick(og, Qt.MouseButton.LeftButton, pos=og.surface_point(Tooth("29"), Surface.O))
    form.kind.setCurrentIndex(form.kind.findText("Crown"))
    assert form.verdict.text().startswith("✗") and "covers the whole tooth" in form.verdict.text()
    assert form.verdict.styleSheet() == ERROR_STYLE and not form.chart_button.isEnabled()
    og.setFocus()
    qtbot.keyClick(og, Qt.Key.Key_Escape)  # clears the selection
    assert (form.verdict.text(), form.verdict.styleSheet()) == (NOTHING_SELECTED, HINT_STYLE)
