"""The lock with an unlock PIN: wrong PINs are refused and counted, the right one unlocks, five wrong
in a row sign out; without a PIN the lock says how to set one; File ▸ Set unlock PIN… sets,
changes and removes it; a start whose user has a PIN opens locked."""

from __future__ import annotations

import time

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication

from odonto_desk import app as app_module
from odonto_desk.services.pins import MAX_TRIES
from odonto_desk.services.session import Role
from odonto_desk.ui.actions import ActionId
from odonto_desk.ui.lock import pin_noted
from odonto_desk.ui.main_window import MainWindow
from odonto_desk.ui.pin_dialog import PinDialog
from odonto_desk.ui.settings import Settings
from odonto_desk.ui.sign_in import SignInDialog

PIN = "482916"


def type_pin(qtbot, w, pin: str) -> None:
    qtbot.keyClicks(w.lock_page.pin, pin)
    qtbot.keyClick(w.lock_page.pin, Qt.Key.Key_Return)


def lock_rows(session) -> list[tuple[str, str]]:
    return [(e.action, e.summary) for e in session.cache().audit.entries()
            if e.action in ("locked", "unlocked", "unlock-failed")]


def test_a_wrong_pin_is_refused_and_the_right_one_unlocks(qtbot, window, pins, session, settings):
    w = window
    pins.set_pin(session.user.name, PIN)
    w.patients.setCurrentRow(0)
    w.actions_by_id[ActionId.LOCK].trigger()
    page = w.lock_page
    assert w.locked and not w.menuBar().isEnabled() and not w.patients.isVisible()
    assert page.pin.isVisible() and not page.hint.isVisible() and page.sign_out_button.isVisible()
    assert page.pin.echoMode() is page.pin.EchoMode.Password and page.pin.accessibleName() == "Unlock PIN"
    qtbot.waitUntil(lambda: QApplication.focusWidget() is page.pin, timeout=3000)
    assert pin_noted(settings, session.user.name)  # the next start knows to ask

    type_pin(qtbot, w, "111111")
    assert w.locked and not w.menuBar().isEnabled()
    assert page.error.isVisible() and page.error.text() == f"Wrong PIN, {MAX_TRIES - 1} tries left"
    assert page.pin.text() == ""
    qtbot.keyClicks(page.pin, "12")  # too short to be anyone's PIN: said, not counted
    qtbot.keyClick(page.pin, Qt.Key.Key_Return)
    assert "4 to 12 digits" in page.error.text() and w.locked

    page.pin.clear()
    qtbot.keyClicks(page.pin, PIN)
    page.unlock_button.click()
    assert not w.locked and w.menuBar().isEnabled() and w.patients.isVisible()
    assert not page.error.isVisible() and page.pin.text() == ""
    qtbot.waitUntil(lambda: len(lock_rows(session)) == 3, timeout=5000)
    assert lock_rows(session) == [("locked", "locked by the user, PIN asked"),
                                  ("unlock-failed", f"wrong PIN (1 of {MAX_TRIES})"),
                                  ("unlocked", "unlocked with the PIN")]

    w.actions_by_id[ActionId.LOCK].trigger()  # a new lock starts a new count
    type_pin(qtbot, w, "000000")
    assert page.error.text() == f"Wrong PIN, {MAX_TRIES - 1} tries left"


def test_five_wrong_pins_in_a_row_sign_out(qtbot, window, pins, session, settings):
    w = window
    pins.set_pin(session.user.name, PIN)
    settings.set("persist/user", session.user.name)
    w.lock()
    for n in range(1, MAX_TRIES):
        type_pin(qtbot, w, "999999")
        left = MAX_TRIES - n
        assert w.lock_page.error.text() == f"Wrong PIN, {left} {'try' if left == 1 else 'tries'} left"
        assert not w.signed_out and w.isVisible()
    type_pin(qtbot, w, "999999")
    assert w.signed_out and not w.isVisible()
    assert settings.get("persist/user") == ""  # app.run asks who signs in next
    rows = lock_rows(session)
    assert rows[-1] == ("unlock-failed", f"wrong PIN ({MAX_TRIES} of {MAX_TRIES}); signed out")
    assert sum(1 for action, _ in rows if action == "unlock-failed") == MAX_TRIES


def test_the_wrong_pins_outlive_the_sign_out_and_the_next_round_must_wait(qtbot, window, pins, session, settings):
    from odonto_desk.ui.lock import note_pin_failure, pin_failures

    w = window
    pins.set_pin(session.user.name, PIN)
    w.lock()
    for _ in range(MAX_TRIES):
        type_pin(qtbot, w, "999999")
    assert w.signed_out
    # signed in again under the same name (app.run opens it locked): no fresh five tries
    again = MainWindow(session, settings, sync=False, pins=pins, locked=True)
    qtbot.addWidget(again)
    again.show()
    assert again.locked and pin_failures(settings, session.user.name)[0] == MAX_TRIES
    type_pin(qtbot, again, PIN)  # even the right PIN waits its turn
    assert again.locked and again.lock_page.error.text().startswith("Too many wrong PINs. Try again in ")
    assert again.lock_page.error.text().endswith(" s, or sign out.")
    note_pin_failure(settings, session.user.name, MAX_TRIES, time.time() - 31)  # the 30 s have passed
    type_pin(qtbot, again, "999999")
    assert again.lock_page.error.text() == f"Wrong PIN, {MAX_TRIES - 1} tries left"
    # audited on a worker thread: wait for the row rather than race the writer
    qtbot.waitUntil(lambda: ("unlock-failed", f"wrong PIN (1 of {MAX_TRIES}, {MAX_TRIES + 1} in a row)")
                    in lock_rows(session), timeout=5000)
    type_pin(qtbot, again, PIN)
    assert not again.locked and pin_failures(settings, session.user.name) == (0, 0.0)


def test_someone_else_can_sign_out_from_the_lock(qtbot, window, pins, session):
    w = window
    pins.set_pin(session.user.name, PIN)
    w.lock()
    assert session.user.name in w.lock_page.other.text()
    w.lock_page.sign_out_button.click()
    assert w.signed_out and not w.isVisible()


def test_without_a_pin_the_lock_says_how_to_set_one(qtbot, window, settings, session):
    w = window
    w.lock(reason="when idle")
    page = w.lock_page
    assert w.locked and not page.pin.isVisible()
    assert page.hint.isVisible() and "Set unlock PIN" in page.hint.text()
    assert page.unlock_button.isVisible() and page.sign_out_button.isVisible()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is page.unlock_button, timeout=3000)
    assert not pin_noted(settings, session.user.name)
    qtbot.waitUntil(lambda: lock_rows(session) == [("locked", "locked when idle, no PIN set")], timeout=5000)


def test_a_window_opened_locked_shows_no_patient_data_and_asks_the_pin(qtbot, session, settings, pins):
    pins.set_pin(session.user.name, PIN)
    settings.set("persist/last_patient", "demo-rivera")
    w = MainWindow(session, settings, sync=False, pins=pins, locked=True)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.patients.count() == 3, timeout=5000)  # loaded behind the lock
    assert w.locked and not w.menuBar().isEnabled()
    assert not w.header.isVisible() and not w.patients.isVisible() and not w.chart_tab.isVisible()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is w.lock_page.pin, timeout=3000)
    type_pin(qtbot, w, PIN)
    assert not w.locked and w.patients.isVisible()


def test_the_pin_dialog_sets_changes_and_removes_a_pin_saying_what_is_wrong(qtbot, window, pins, session):
    name = session.user.name
    d = PinDialog(pins, name, has_pin=False, parent=window)
    qtbot.addWidget(d)
    assert not d.current.isVisibleTo(d) and d.remove_button is None
    d.new.setText("12")
    d.save_button.click()
    assert d.error.text() == "A PIN is 4 to 12 digits." and not d.result()
    d.new.setText("2468")
    d.confirm.setText("2469")
    d.save_button.click()
    assert "differ" in d.error.text() and not pins.has_pin(name)
    d.confirm.setText("2468")
    d.save_button.click()
    assert d.result() and d.outcome == "set" and pins.check(name, "2468")

    d = PinDialog(pins, name, has_pin=True, parent=window)
    qtbot.addWidget(d)
    d.new.setText("1357")
    d.confirm.setText("1357")
    d.save_button.click()
    assert "current PIN" in d.error.text()
    d.current.setText("0000")
    d.save_button.click()
    assert d.error.text() == "The current PIN is wrong." and pins.check(name, "2468")
    d.current.setText("2468")
    d.save_button.click()
    assert d.outcome == "changed" and pins.check(name, "1357")

    d = PinDialog(pins, name, has_pin=True, parent=window)
    qtbot.addWidget(d)
    assert d.remove_button is not None
    d.remove_button.click()
    assert "current PIN" in d.error.text() and pins.has_pin(name)
    d.current.setText("1357")
    d.remove_button.click()
    assert d.outcome == "removed" and not pins.has_pin(name)
    for field in (d.current, d.new, d.confirm):
        assert field.accessibleName() and field.echoMode() is field.EchoMode.Password


def test_the_menu_action_sets_the_pin_and_the_next_lock_asks_for_it(qtbot, window, pins, session, settings):
    w = window
    action = w.actions_by_id[ActionId.SET_PIN]
    assert action in w.menuBar().actions()[0].menu().actions()

    def fill() -> None:
        d = QApplication.activeModalWidget()
        if not isinstance(d, PinDialog):
            QTimer.singleShot(50, fill)
            return
        d.new.setText("97531")
        d.confirm.setText("97531")
        d.save_button.click()

    QTimer.singleShot(50, fill)
    action.trigger()
    assert pins.check(session.user.name, "97531") and pin_noted(settings, session.user.name)
    assert "PIN set" in w.statusBar().currentMessage()
    w.lock()
    assert w.lock_page.pin.isVisible()


def test_a_start_whose_user_has_a_pin_opens_locked_and_so_does_signing_in_by_that_name(qapp, tmp_path, monkeypatch,
                                                                                         pins):
    """The real ``app.run`` on a temporary data folder; timers play the user (as in test_sign_out.py)."""
    monkeypatch.setenv("ODONTO_DESK_DATA", str(tmp_path))
    pins.set_pin("Dr. Lee", PIN)
    ini = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    for key, value in (("persist/user", "Dr. Lee"), ("persist/role", "dentist"), ("persist/pin_users", "dr. lee"),
                       ("setting/idle_lock_minutes", 0)):
        ini.set(key, value)
    ini.q.sync()
    steps: list[str] = []
    deadline = time.monotonic() + 60

    def windows() -> list[MainWindow]:
        return [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]

    def play() -> None:
        if time.monotonic() > deadline:
            steps.append("timed out")
            for w in windows():
                w.close()
            return
        modal = QApplication.activeModalWidget()
        shown = windows()
        if "started locked" not in steps and shown:
            [w] = shown
            if w.locked and w.lock_page.uses_pin and not w.patients.isVisible():
                steps.append("started locked")
            w.lock_page.sign_out_button.click()  # someone else takes over…
        elif isinstance(modal, SignInDialog) and "asked" not in steps:
            steps.append("asked")
            modal.user.setText("dr.  lee")  # …and types Dr. Lee's name: that is not enough
            modal.role.setCurrentIndex(modal.role.findData(Role.DENTIST))
            modal.accept()
        elif "asked" in steps and shown and "closed" not in steps:
            [w] = shown
            if w.locked and w.lock_page.uses_pin:
                steps.append("locked after sign-in")
                w.lock_page.pin.setText(PIN)
                w.lock_page.unlock_button.click()
                if not w.locked:
                    steps.append("unlocked")
            steps.append("closed")
            w.close()
        if "closed" not in steps:
            QTimer.singleShot(100, play)

    QTimer.singleShot(100, play)
    assert app_module.run([], pins=pins) == 0
    assert steps == ["started locked", "asked", "locked after sign-in", "unlocked", "closed"]


def test_while_locked_no_action_or_shortcut_works_and_conflicts_wait_for_the_unlock(qtbot, window, pins, session):
    w = window
    pins.set_pin(session.user.name, PIN)
    before = {aid: a.isEnabled() for aid, a in w.actions_by_id.items()}
    w.lock()
    assert [aid for aid, a in w.actions_by_id.items() if a.isEnabled()] == [ActionId.QUIT]
    triggered = []
    w.actions_by_id[ActionId.FIND_PATIENT].triggered.connect(lambda: triggered.append("find"))
    qtbot.keyClick(w.lock_page.pin, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)  # Ctrl+F
    assert triggered == []
    w.show_conflicts()  # a sync that found conflicts while the window was locked
    assert not w.conflicts_dock.isVisible()
    type_pin(qtbot, w, PIN)
    assert not w.locked and {aid: a.isEnabled() for aid, a in w.actions_by_id.items()} == before
    assert w.conflicts_dock.isVisible()
    qtbot.keyClick(w.finder, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert triggered == ["find"]
