"""UI fixtures: a signed-in session on the real reference server, with a real cache file.

The server (demo patients seeded) and one synced cache are made once per module; each test gets
its own copy of that cache file (SQLite's backup API), so tests stay independent and fast.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from PySide6.QtCore import QSettings

from odonto_desk.api.auth import ApiKey
from odonto_desk.sandbox.app import ServerConfig
from odonto_desk.sandbox.runner import start_in_thread
from odonto_desk.sandbox.seed import seed_demo_if_empty
from odonto_desk.services.session import Role, Server, Session, User
from odonto_desk.ui.settings import Settings

TODAY = dt.date(2026, 11, 25)
DENTIST_KEY = "apx_sandbox_dentist_key"


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("apex")
    running = start_in_thread(ServerConfig(db_path=folder / "apex.sqlite"))
    seed_demo_if_empty(running.server)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def synced_cache(ui_server, tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "cache.sqlite"
    s = Session(User("Dr. Lee", Role.DENTIST), Server(base_url=ui_server.base_url), path,
                credentials=ApiKey(DENTIST_KEY))
    s.sync().run_once()
    s.close()
    return path


def new_session(ui_server, template, path) -> Session:
    src, dst = sqlite3.connect(template), sqlite3.connect(path)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return Session(User("Dr. Lee", Role.DENTIST), Server(base_url=ui_server.base_url), path,
                   credentials=ApiKey(DENTIST_KEY))


@pytest.fixture
def session(ui_server, synced_cache, tmp_path):
    s = new_session(ui_server, synced_cache, tmp_path / "cache.sqlite")
    yield s
    s.close()


@pytest.fixture
def settings(tmp_path, qapp):
    s = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    s.set("setting/idle_lock_minutes", 0)
    return s


@pytest.fixture
def window(qtbot, session, settings):
    """The main window on the session, shown, with the three demo patients listed."""
    from odonto_desk.ui.main_window import MainWindow

    w = MainWindow(session, settings, sync=False)
    qtbot.addWidget(w)
    w.resize(1500, 900)
    w.show()
    qtbot.waitUntil(lambda: w.patients.count() == 3, timeout=5000)
    return w
