"""A cold start draws the kept chart first, answers on it at once, then loads the real chart."""

from __future__ import annotations

from PySide6.QtCore import Qt

from odonto_desk.domain.surfaces import Surface
from odonto_desk.domain.teeth import Tooth
from odonto_desk.services.chart import ChartService
from odonto_desk.ui.main_window import MainWindow

RIVERA = "demo-rivera"


def _fast_window(qtbot, session, settings) -> MainWindow:
    """Built and shown as app.run does; no event has been handled yet, so the services are not loaded."""
    w = MainWindow(session, settings, sync=False, fast_start=True)
    qtbot.addWidget(w)
    w.resize(1500, 900)
    w.show()
    return w


def _drawn(w: MainWindow) -> set[tuple[str, str, str]]:
    og = w.chart_tab.odontogram
    return {(m.tooth.universal, m.kind.value, m.status.value) for t in og.teeth for m in og.marks_on(t)}


def test_the_kept_chart_is_shown_before_the_services_load_and_answers_at_once(qtbot, session, settings):
    view = ChartService(session).open(RIVERA)  # the last session showed this chart
    settings.set("persist/last_patient", RIVERA)
    w = _fast_window(qtbot, session, settings)
    tab = w.chart_tab

    assert not w.attached and w.first_frame is not None
    assert "Jordan Rivera" in w.header.text() and "born" in w.header.text()
    assert w.alerts_label.isVisibleTo(w) and w.alerts_label.text() == "⚠ Latex allergy"
    assert _drawn(w) == {(m.tooth.universal, m.kind.value, m.status.value) for m in view.marks}
    assert tab.marks.rowCount() == len(view.marks)
    # the odontogram answers: a click selects, a hover names the tooth's history
    og = tab.odontogram
    qtbot.mouseClick(og, Qt.MouseButton.LeftButton, pos=og.surface_point(Tooth("30"), Surface.O))
    assert og.selection == {Tooth("30"): frozenset({Surface.O})}
    assert og.tooth_summary(Tooth("30")).startswith("30 — ")
    # charting waits for the services, and says so
    assert not tab.command.isEnabled() and not tab.form.isEnabled()
    assert tab.command.message.text() == "Opening the chart…"

    qtbot.waitUntil(lambda: w.attached and tab.view is not None, timeout=10_000)
    assert w.first_frame is None and tab.view.patient.id == RIVERA
    assert _drawn(w) == {(m.tooth.universal, m.kind.value, m.status.value) for m in view.marks}
    assert og.selection == {Tooth("30"): frozenset({Surface.O})}  # what was selected on the frame stays
    assert tab.command.isEnabled() and tab.form.isEnabled()
    assert w.alerts_label.isVisibleTo(w) and w.alerts_label.text() == "⚠ Latex allergy"


def test_charting_works_once_the_chart_has_loaded(qtbot, session, settings):
    ChartService(session).open(RIVERA)
    settings.set("persist/last_patient", RIVERA)
    w = _fast_window(qtbot, session, settings)
    qtbot.waitUntil(lambda: w.attached and w.chart_tab.view is not None, timeout=10_000)
    w.chart_tab.command.edit.setText("19 ext tp")
    w.chart_tab.command.edit.returnPressed.emit()
    qtbot.waitUntil(lambda: ("19", "extraction", "tp") in _drawn(w), timeout=5000)
    assert w.undo_stack.count() == 1


def test_a_frame_older_than_the_cache_is_replaced_by_the_cache(qtbot, session, settings):
    service = ChartService(session)
    service.open(RIVERA)
    service.run_command(RIVERA, "18 crn zr tp")  # written after the frame was kept (e.g. by a sync)
    settings.set("persist/last_patient", RIVERA)
    w = _fast_window(qtbot, session, settings)
    assert ("18", "crown", "tp") not in _drawn(w)  # the frame is as it was kept
    qtbot.waitUntil(lambda: w.chart_tab.view is not None, timeout=10_000)
    assert ("18", "crown", "tp") in _drawn(w)
    assert ("18", "crown", "tp") in {(m.tooth.universal, m.kind.value, m.status.value)
                                     for m in w.chart_tab.view.marks}


def test_without_a_kept_frame_the_window_opens_and_then_loads_the_chart(qtbot, session, settings):
    settings.set("persist/last_patient", RIVERA)  # but no chart was ever opened in this cache
    w = _fast_window(qtbot, session, settings)
    assert w.first_frame is None and not w.attached
    assert w.chart_tab.odontogram.teeth == ()
    qtbot.waitUntil(lambda: w.chart_tab.view is not None and w.chart_tab.view.patient.id == RIVERA, timeout=10_000)
    assert w.patients.count() == 3


def test_a_frame_of_another_patient_is_not_shown(qtbot, session, settings):
    ChartService(session).open("demo-chen")
    settings.set("persist/last_patient", RIVERA)
    w = _fast_window(qtbot, session, settings)
    assert w.first_frame is None and "Chen" not in w.header.text()
    qtbot.waitUntil(lambda: w.chart_tab.view is not None and w.chart_tab.view.patient.id == RIVERA, timeout=10_000)


def test_sync_asked_for_before_the_services_load_starts_once_they_have(qtbot, session, settings):
    ChartService(session).open(RIVERA)
    settings.set("persist/last_patient", RIVERA)
    w = MainWindow(session, settings, fast_start=True)  # with sync, as app.run builds it
    qtbot.addWidget(w)
    w.show()
    w.start_sync(None)  # app.run asks at once
    assert w._pending_sync == (None,) and not hasattr(w, "sync_service")  # kept until there is a sync service
    with qtbot.waitSignal(w.synced, timeout=20_000):
        pass
    assert w.attached and w._probe_timer.isActive()
