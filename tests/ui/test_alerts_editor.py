"""Patient ▸ Medical alerts: record, resolve and take back alerts; the header follows; bad input is
refused inline and saves nothing."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from odonto_desk.fhir.resources.alerts import is_medical_alert
from odonto_desk.ui.actions import ActionId


def _open(qtbot, w, patient_id):
    for i in range(w.patients.count()):
        if w.patients.item(i).data(Qt.ItemDataRole.UserRole).id == patient_id:
            w.patients.setCurrentRow(i)
    qtbot.waitUntil(lambda: w.actions_by_id[ActionId.MEDICAL_ALERTS].isEnabled()
                    and w.chart_tab.view is not None and w.chart_tab.view.patient.id == patient_id, timeout=5000)


def _editor(qtbot, w):
    w.actions_by_id[ActionId.MEDICAL_ALERTS].trigger()
    qtbot.waitUntil(lambda: w.alerts_dialog is not None and w.alerts_dialog.isVisible(), timeout=3000)
    return w.alerts_dialog


def _alert_rows(session, patient_id):
    return [r for r in session.cache().patient_resources(patient_id, ("Condition",)) if is_medical_alert(r)]


def test_the_editor_is_off_until_a_chart_is_open(qtbot, window):
    w = window
    assert not w.actions_by_id[ActionId.MEDICAL_ALERTS].isEnabled() and not w.alerts_button.isEnabled()
    _open(qtbot, w, "demo-chen")
    assert w.alerts_button.isEnabled() and w.alerts_button.accessibleName() == "Edit medical alerts"


def test_an_allergy_typed_in_the_editor_shows_in_the_header_and_is_queued(qtbot, window, session):
    w = window
    _open(qtbot, w, "demo-chen")
    assert not w.alerts_label.isVisible()
    dialog = _editor(qtbot, w)
    qtbot.waitUntil(lambda: dialog.empty.isVisible(), timeout=3000)  # Chen has none yet
    assert dialog.windowTitle() == "Medical alerts — Mia Chen"
    dialog.kind.setCurrentIndex(dialog.kind.findData("allergy"))
    qtbot.keyClicks(dialog.text, "penicillin")
    qtbot.keyClick(dialog.text, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.list.topLevelItemCount() == 1, timeout=3000)
    item = dialog.list.topLevelItem(0)
    assert [item.text(c) for c in (0, 1, 3)] == ["Allergy", "Penicillin", "active"]
    assert dialog.text.text() == "" and not dialog.empty.isVisible()
    qtbot.waitUntil(lambda: w.alerts_label.text() == "⚠ Penicillin", timeout=5000)  # the header follows
    [row] = _alert_rows(session, "demo-chen")
    assert row["code"]["text"] == "penicillin"
    assert any(e.type == "Condition" and e.id == row["id"] for e in session.cache().outbox.pending_for_push())


def test_a_bad_or_duplicate_alert_is_refused_inline_and_saves_nothing(qtbot, window, session):
    w = window
    _open(qtbot, w, "demo-rivera")
    dialog = _editor(qtbot, w)
    qtbot.waitUntil(lambda: dialog.list.topLevelItemCount() == 1, timeout=3000)
    before = len(_alert_rows(session, "demo-rivera"))
    qtbot.keyClicks(dialog.text, "LATEX ALLERGY")  # kind allergy is first in the list
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "already listed" in dialog.error.text(), timeout=3000)
    assert dialog.error.text() == "Allergy: latex allergy (recorded 2011-06-02) is already listed"
    assert dialog.text.text() == "LATEX ALLERGY"  # kept, to correct
    dialog.text.clear()
    qtbot.keyClick(dialog.text, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "needs its text" in dialog.error.text(), timeout=3000)
    qtbot.keyClicks(dialog.text, "x" * 130)
    assert dialog.error.text() == ""  # typing clears the old reason
    qtbot.keyClick(dialog.text, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "at most 120 characters (130 given)" in dialog.error.text(), timeout=3000)
    assert len(_alert_rows(session, "demo-rivera")) == before
    assert dialog.list.topLevelItemCount() == 1


def test_resolving_takes_the_alert_off_the_header_and_keeps_it_listed(qtbot, window, session):
    w = window
    _open(qtbot, w, "demo-rivera")
    qtbot.waitUntil(lambda: w.alerts_label.isVisible(), timeout=5000)
    dialog = _editor(qtbot, w)
    qtbot.waitUntil(lambda: dialog.list.topLevelItemCount() == 1, timeout=3000)
    assert not dialog.toggle_button.isEnabled()  # nothing selected
    dialog.list.setCurrentItem(dialog.list.topLevelItem(0))
    assert dialog.toggle_button.text() == "Mark &resolved"
    qtbot.mouseClick(dialog.toggle_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.list.topLevelItem(0) is not None
                    and dialog.list.topLevelItem(0).text(3) == "resolved", timeout=3000)
    assert dialog.list.topLevelItem(0).font(1).strikeOut()  # reads as past without colour
    qtbot.waitUntil(lambda: not w.alerts_label.isVisible(), timeout=5000)
    assert dialog.toggle_button.text() == "Mark &active again"
    qtbot.mouseClick(dialog.toggle_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.alerts_label.text() == "⚠ Latex allergy", timeout=5000)
    [row] = _alert_rows(session, "demo-rivera")  # the same Condition each time, never a new one
    assert row["clinicalStatus"]["coding"][0]["code"] == "active"


def test_entered_in_error_asks_first_then_hides_the_alert_everywhere(qtbot, window, session):
    w = window
    _open(qtbot, w, "demo-rivera")
    dialog = _editor(qtbot, w)
    qtbot.waitUntil(lambda: dialog.list.topLevelItemCount() == 1, timeout=3000)
    dialog.list.setCurrentItem(dialog.list.topLevelItem(0))
    asked = []

    def answer(button):
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            asked.append(box.text())
            box.button(button).click()
        else:
            QTimer.singleShot(20, lambda: answer(button))

    QTimer.singleShot(0, lambda: answer(QMessageBox.StandardButton.No))
    qtbot.mouseClick(dialog.error_button, Qt.MouseButton.LeftButton)
    assert asked and "latex allergy" in asked[0]
    assert dialog.list.topLevelItemCount() == 1 and w.alerts_label.isVisible()  # "No" changed nothing
    QTimer.singleShot(0, lambda: answer(QMessageBox.StandardButton.Yes))
    qtbot.mouseClick(dialog.error_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.empty.isVisible(), timeout=3000)
    qtbot.waitUntil(lambda: not w.alerts_label.isVisible(), timeout=5000)
    [row] = _alert_rows(session, "demo-rivera")  # kept in the record
    assert row["verificationStatus"]["coding"][0]["code"] == "entered-in-error"


def test_the_lock_and_opening_another_patient_close_the_editor(qtbot, window):
    w = window
    _open(qtbot, w, "demo-rivera")
    w.pins.set_pin("Dr. Lee", "2468")
    _editor(qtbot, w)
    w.lock()
    assert w.locked and w.alerts_dialog is None  # patient data hidden with the window's
    w.unlock_with_pin("2468")
    assert not w.locked
    _editor(qtbot, w)
    _open(qtbot, w, "demo-chen")
    assert w.alerts_dialog is None


def test_a_front_desk_user_sees_the_alerts_read_only(qtbot, session_as, settings, pins):
    from odonto_desk.services.session import Role
    from odonto_desk.ui.main_window import MainWindow

    w = MainWindow(session_as(Role.FRONT_DESK, "Pat Reyes"), settings, sync=False, pins=pins)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.patients.count() == 3, timeout=5000)
    _open(qtbot, w, "demo-rivera")
    dialog = _editor(qtbot, w)
    qtbot.waitUntil(lambda: dialog.list.topLevelItemCount() == 1, timeout=3000)
    dialog.list.setCurrentItem(dialog.list.topLevelItem(0))
    assert not dialog.text.isEnabled() and not dialog.add_button.isEnabled()
    assert not dialog.toggle_button.isEnabled() and not dialog.error_button.isEnabled()
    assert dialog.error.text() == "Front desk: read only. Medical alerts are changed by a dentist."


def test_the_finder_flags_patients_with_alerts_and_follows_the_editor(qtbot, window):
    w = window

    def listed():
        return {w.patients.item(i).data(Qt.ItemDataRole.UserRole).id: w.patients.item(i) for i in
                range(w.patients.count())}

    items = listed()
    assert items["demo-rivera"].text().startswith("Rivera, Jordan  ⚠\n")
    assert items["demo-rivera"].toolTip() == "⚠ Latex allergy"
    assert "medical alerts: Latex allergy" in items["demo-rivera"].data(Qt.ItemDataRole.AccessibleTextRole)
    assert items["demo-haddad"].text().startswith("Haddad, Samir  ⚠\n")
    assert items["demo-chen"].text().startswith("Chen, Mia\n") and not items["demo-chen"].toolTip()
    _open(qtbot, w, "demo-chen")
    dialog = _editor(qtbot, w)
    qtbot.keyClicks(dialog.text, "penicillin")
    qtbot.keyClick(dialog.text, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: listed()["demo-chen"].text().startswith("Chen, Mia  ⚠\n"), timeout=5000)
    assert w.patient is not None and w.patient.id == "demo-chen"  # the open chart stays open


def test_the_lock_closes_every_open_dialog_modal_or_not(qtbot, window):
    from PySide6.QtWidgets import QDialog, QFileDialog

    w = window
    loose = QDialog()  # no parent: e.g. a message box shown with parent None
    qtbot.addWidget(loose)
    loose.show()
    chooser = QFileDialog(w, "Export chart")
    chooser.setOption(QFileDialog.Option.DontUseNativeDialog)
    closed_by = []
    QTimer.singleShot(0, w.lock)  # the idle lock fires while a modal dialog runs its own loop
    guard = QTimer(chooser)  # dies with the dialog: never fires into a later test
    guard.setSingleShot(True)
    guard.timeout.connect(lambda: (closed_by.append("the test's time-out"), chooser.reject()))
    guard.start(5000)
    answer = chooser.exec()
    assert closed_by == []  # the lock closed it, not the time-out
    assert answer == QDialog.DialogCode.Rejected  # the modal one returned to its caller as cancelled
    assert w.locked and not loose.isVisible() and not chooser.isVisible()


def test_closing_the_editor_while_an_alert_is_saved_still_updates_the_header(qtbot, window, session):
    import shiboken6

    w = window
    _open(qtbot, w, "demo-chen")
    dialog = _editor(qtbot, w)
    qtbot.keyClicks(dialog.text, "penicillin")
    qtbot.keyClick(dialog.text, Qt.Key.Key_Return)
    qtbot.keyClick(dialog.text, Qt.Key.Key_Return)  # twice, impatiently: recorded once
    dialog.reject()  # Esc at once, before the write is done
    assert w.alerts_dialog is None
    qtbot.waitUntil(lambda: w.alerts_label.text() == "⚠ Penicillin", timeout=5000)
    qtbot.waitUntil(lambda: not shiboken6.isValid(dialog), timeout=5000)  # released once its write was done
    assert len(_alert_rows(session, "demo-chen")) == 1
