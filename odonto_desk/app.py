"""Start the desktop app: the composition root. Qt is imported here and in ``ui/`` only.

Order matters for a fast start: the window opens on the cached chart at once; the embedded
reference server (when no server is configured) starts in the background and sync begins when it
answers. ``ODONTO_DESK_DATA`` overrides the data folder (tests, benchmarks, a portable install);
without it the folder is the platform's user data folder (``$XDG_DATA_HOME/odonto-desk`` on Linux).
``smoke_png`` is ``odonto-desk --smoke-test OUT.png`` (see ``ui/smoke.py``).

A user with an unlock PIN on this workstation (``services/pins.py``) gets the window locked, asking
for it: at every start when remembered, and right after signing in by name. Whether the remembered
user has one is read from the settings' note, so a start without a PIN never loads the keyring.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from odonto_desk.services.pins import PinStore
    from odonto_desk.ui.settings import Settings


def data_dir() -> Path:
    override = os.environ.get("ODONTO_DESK_DATA")
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("odonto-desk", "Odonto Desk"))


def cache_file(folder: Path, server_url: str) -> Path:
    """One cache per server: the embedded server's, or one named by the server's URL."""
    if not server_url:
        return folder / "cache-embedded.sqlite"
    import hashlib  # here: the embedded server's start (the usual one) hashes nothing

    return folder / f"cache-{hashlib.sha256(server_url.encode()).hexdigest()[:12]}.sqlite"


SMOKE_USER = "Smoke Test"  # the smoke test's demo dentist; never remembered as the signed-in user


def run(argv: Sequence[str] | None = None, *, smoke_png: str | None = None, smoke_timeout: float = 120.0,
        pins: PinStore | None = None) -> int:
    """The app until it quits; ``pins`` is the unlock PIN store (default: the OS keyring or private file)."""
    import time

    started = time.perf_counter()
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    # Fractional scale factors (150 %) as they are: the odontogram renders its pictures per device pixel.
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    app.setApplicationName("Odonto Desk")
    app.setOrganizationName("Odonto Desk")
    app.setApplicationDisplayName("Odonto Desk")

    # pydantic looks for plugins by scanning every installed distribution's entry points when the
    # first model is built (tens of milliseconds of the start); the app uses none.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from odonto_desk.services.pins import PinStore
    from odonto_desk.services.session import Role, Server, Session, User
    from odonto_desk.ui.settings import Settings

    pins = pins or PinStore()  # nothing is read until a PIN is asked about

    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    settings = Settings(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
    embedded = None
    try:
        while True:  # once per sign-in: File ▸ Sign out comes back here
            name, role, url = (settings.get("persist/user"), settings.get("persist/role"),
                               settings.get("setting/server_url"))
            signed_in = False
            if smoke_png is not None:  # no dialog, the embedded server: what a first start on the demo data shows
                name, role, url = SMOKE_USER, Role.DENTIST.value, ""
            elif not (name and role):
                from odonto_desk.ui.sign_in import SignInDialog

                dialog = SignInDialog(user=name, role=role, server_url=url)
                if not dialog.exec():
                    return 0
                name, role, url = dialog.user.text().strip(), dialog.chosen_role().value, dialog.server_url()
                settings.set("persist/user", name)
                settings.set("persist/role", role)
                settings.set("setting/server_url", url)
                signed_in = True

            if url:
                if embedded is not None:  # signed in to another server: the embedded one is not needed
                    embedded.stop()
                    embedded = None
                server = Server(base_url=url)
            else:
                if embedded is None:
                    from odonto_desk.services.embedded import EmbeddedServer

                    embedded = EmbeddedServer(folder)
                server = embedded.server
            session = Session(User(name, Role(role)), server, cache_file(folder, url))

            from odonto_desk.ui.lock import pin_noted
            from odonto_desk.ui.main_window import MainWindow

            # A name alone is no proof: whoever has a PIN here types it, after signing in as at each start.
            ask_pin = smoke_png is None and (_has_pin(pins, name, settings) if signed_in else pin_noted(settings, name))
            # The kept chart of the last patient is drawn first; the services load after that paint.
            window = MainWindow(session, settings, fast_start=True, pins=pins, locked=ask_pin)
            window.show()
            smoke = None
            if smoke_png is not None:
                from odonto_desk.ui.smoke import SmokeRun

                smoke = SmokeRun(window, Path(smoke_png), started=started, timeout=smoke_timeout,
                                 log_path=embedded.log_path if embedded else None)
                window.start_sync(embedded)
            elif os.environ.get("ODONTO_DESK_EXIT_WHEN_READY"):
                _exit_when_ready(window, app)
            else:
                window.start_sync(embedded)
            code = int(app.exec())
            session.close()
            if smoke is not None:
                return smoke.code if smoke.code is not None else 1
            if not window.signed_out:
                return code
            window.deleteLater()
    finally:
        if embedded is not None:
            embedded.stop()


def _has_pin(pins: PinStore, name: str, settings: Settings) -> bool:
    """The PIN store's answer; when it cannot answer, the settings' note (a noted PIN keeps the lock shut)."""
    from odonto_desk.ui.lock import pin_noted

    try:
        return pins.has_pin(name)
    except Exception:
        return pin_noted(settings, name)


def _exit_when_ready(window: object, app: object) -> None:
    """For the cold-start benchmark: print "ready" once a chart is painted and "editable" once the
    chart read from the cache is shown with its services, then quit.

    With a kept first frame, "ready" comes when that frame is painted; without one, both lines come
    together when the chart loaded from the cache is painted.
    """
    from PySide6.QtCore import QTimer

    said: list[str] = []

    def say(line: str) -> None:
        if line not in said:
            said.append(line)
            print(line, flush=True)

    def first_frame() -> None:
        window.chart_tab.odontogram.repaint()  # type: ignore[attr-defined]
        QTimer.singleShot(0, lambda: say("ready"))

    def loaded(_view: object) -> None:
        def done() -> None:
            say("ready")
            say("editable")
            app.quit()  # type: ignore[attr-defined]

        window.chart_tab.odontogram.repaint()  # type: ignore[attr-defined]
        QTimer.singleShot(0, done)

    if window.first_frame is not None:  # type: ignore[attr-defined]
        QTimer.singleShot(0, first_frame)
    window.chart_tab.chart_changed.connect(loaded)  # type: ignore[attr-defined]
