"""UI fixtures: settings in a temporary ini file, unlock PINs in a temporary secrets file, and the
main window on the test's session.

The server, the synced cache and the per-test ``session`` are in tests/conftest.py.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from odonto_desk.services.pins import PinStore, ScryptParams
from odonto_desk.store.secrets import SecretStore
from odonto_desk.ui.settings import Settings


@pytest.fixture
def settings(tmp_path, qapp):
    s = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    s.set("setting/idle_lock_minutes", 0)
    return s


@pytest.fixture
def pins(tmp_path):
    """The PIN store on a private file of the test's own, never the keyring (a cheaper scrypt, same code)."""
    return PinStore(SecretStore(file_path=tmp_path / "secrets.json", use_keyring=False), params=ScryptParams(n=2**10))


@pytest.fixture
def window(qtbot, session, settings, pins):
    """The main window on the session, shown, with the three demo patients listed."""
    from odonto_desk.ui.main_window import MainWindow

    w = MainWindow(session, settings, sync=False, pins=pins)
    qtbot.addWidget(w)
    w.resize(1500, 900)
    w.show()
    qtbot.waitUntil(lambda: w.patients.count() == 3, timeout=5000)
    return w
