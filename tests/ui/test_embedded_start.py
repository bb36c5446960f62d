"""First start with no server configured: the embedded reference server starts as a child process,
the demo patients sync into an empty cache, and the finder lists them — the UI never blocks on it."""

from __future__ import annotations

from odonto_desk.app import cache_file
from odonto_desk.services.embedded import EmbeddedServer
from odonto_desk.services.session import Role, Session, User
from odonto_desk.ui.main_window import MainWindow


def test_first_start_on_the_embedded_server(qtbot, tmp_path, settings):
    embedded = EmbeddedServer(tmp_path)
    session = Session(User("Dr. Lee", Role.DENTIST), embedded.server, cache_file(tmp_path, ""))
    w = MainWindow(session, settings)
    qtbot.addWidget(w)
    w.show()
    try:
        assert w.patients.count() == 0  # an empty cache: the window is up before the server
        w.start_sync(embedded)
        qtbot.waitUntil(lambda: w.patients.count() == 3, timeout=90_000)
        qtbot.waitUntil(lambda: "Online" in w.sync_label.text() or "all sent" in w.sync_label.text(),
                        timeout=20_000)
        w.patients.setCurrentRow(0)
        qtbot.waitUntil(lambda: w.chart_tab.view is not None and len(w.chart_tab.view.marks) > 0, timeout=10_000)
    finally:
        w.close()
        session.close()
        embedded.stop()
    assert (tmp_path / "apex-sandbox.sqlite").exists()
