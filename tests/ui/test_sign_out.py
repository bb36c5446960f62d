"""File ▸ Sign out: the user is forgotten, the window closes, and the app asks who signs in next.

Runs the real ``app.run`` in this process on a temporary data folder (the embedded server starts
as a child process); timers play the user at the sign-in dialog.
"""

from __future__ import annotations

import time

from helpers import processes_mentioning
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from odonto_desk import app as app_module
from odonto_desk.services.session import Role
from odonto_desk.ui.actions import ActionId
from odonto_desk.ui.main_window import MainWindow
from odonto_desk.ui.settings import Settings
from odonto_desk.ui.sign_in import SignInDialog


def _windows() -> list[MainWindow]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]


def test_sign_out_forgets_the_user_and_the_next_sign_in_gets_a_window_of_their_own(qapp, tmp_path, monkeypatch,
                                                                                   pins):
    monkeypatch.setenv("ODONTO_DESK_DATA", str(tmp_path))
    ini = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    for key, value in (("persist/user", "Dr. Lee"), ("persist/role", "dentist"),
                       ("persist/last_patient", "demo-rivera"), ("setting/idle_lock_minutes", 0)):
        ini.set(key, value)
    ini.q.sync()
    seen: list[tuple[str, str]] = []
    steps: list[str] = []

    deadline = time.monotonic() + 60  # a sign-out that does nothing must fail the test, not hang it

    def play() -> None:
        if time.monotonic() > deadline:
            steps.append("timed out")
            for w in _windows():
                w.close()
            return
        modal = QApplication.activeModalWidget()
        windows = _windows()
        if isinstance(modal, SignInDialog) and "asked" not in steps:
            steps.append("asked")
            assert modal.user.text() == ""  # Dr. Lee is not offered to the next person
            modal.user.setText("Sam Ortiz, RDH")
            modal.role.setCurrentIndex(modal.role.findData(Role.HYGIENIST))
            modal.accept()
        elif windows and "signed out" not in steps:
            [w] = windows
            seen.append((w.session.user.name, w.session.user.role.value))
            steps.append("signed out")
            w.actions_by_id[ActionId.SIGN_OUT].trigger()
        elif windows and "asked" in steps and "closed" not in steps:
            [w] = windows
            seen.append((w.session.user.name, w.session.user.role.value))
            steps.append("closed")
            w.close()
        if "closed" not in steps:
            QTimer.singleShot(100, play)

    QTimer.singleShot(100, play)
    assert app_module.run([], pins=pins) == 0  # pins: a private file of this test's, not this computer's
    assert steps == ["signed out", "asked", "closed"]
    assert seen == [("Dr. Lee", "dentist"), ("Sam Ortiz, RDH", "hygienist")]
    after = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    assert (after.get("persist/user"), after.get("persist/role")) == ("Sam Ortiz, RDH", "hygienist")
    assert after.get("persist/last_patient") != "demo-rivera"
    assert processes_mentioning(str(tmp_path)) == []  # one embedded server for both sign-ins, stopped at exit
