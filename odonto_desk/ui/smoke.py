"""Smoke mode, ``odonto-desk --smoke-test OUT.png``: proves that an install can chart, with nobody at it.

:func:`odonto_desk.app.run` signs in as the demo dentist without the sign-in dialog (nothing is
remembered), uses the embedded reference server whatever server is configured, shows the window
and starts the server. :class:`SmokeRun` then waits, on the UI thread and without blocking it, for:

1. the first sync with the embedded server to finish (``MainWindow.synced``);
2. the patient list to show a patient: the first one listed is opened;
3. that patient's chart to be shown with at least one mark, read after the sync.

It then saves a picture of the window to OUT.png, prints one line of JSON (who was shown, how many
marks, seconds from the app's start to the chart) and quits; ``run`` stops the embedded server and
exits 0. If a step has not happened within the timeout it says which one on stderr, with the status
bar's text and where the server's log is, and exits 1. Nothing is simulated: the marks come from
the reference server, through the sync, into the cache and onto the odontogram.

The data folder is the app's usual one (``ODONTO_DESK_DATA``, else the user data folder:
``$XDG_DATA_HOME/odonto-desk`` on Linux); give a fresh one to prove a first start.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QApplication

from odonto_desk.services.chart import ChartView
from odonto_desk.services.patients import PatientRow
from odonto_desk.services.sync import SyncBadge
from odonto_desk.ui.main_window import MainWindow

DEFAULT_TIMEOUT = 120.0
POLL_MS = 100

STEPS = {
    "sync": "the first sync with the embedded server",
    "patient": "a demo patient in the patient list",
    "chart": "the patient's chart with its marks",
}


class SmokeRun(QObject):
    """Drive ``window`` to a demo patient's chart; :attr:`code` is the exit code once the app quits."""

    def __init__(self, window: MainWindow, out: Path, *, started: float, timeout: float = DEFAULT_TIMEOUT,
                 log_path: Path | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.out = Path(out)
        self.started = started
        self.timeout = timeout
        self.log_path = log_path
        self.step = "sync"
        self.patient: PatientRow | None = None
        self.code: int | None = None
        window.synced.connect(self._on_synced)
        window.chart_tab.chart_changed.connect(self._on_chart)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._choose_patient)
        self._deadline = QTimer(self)
        self._deadline.setSingleShot(True)
        self._deadline.timeout.connect(self._time_out)
        self._deadline.start(int(timeout * 1000))

    def _on_synced(self, _badge: SyncBadge) -> None:
        if self.step == "sync":
            self.step = "patient"
            self._poll.start()  # the list is refilled in the background after the sync

    def _choose_patient(self) -> None:
        patients = self.window.patients
        if self.step != "patient" or patients.count() == 0:
            return
        self._poll.stop()
        self.step = "chart"
        self.patient = patients.item(0).data(Qt.ItemDataRole.UserRole)
        already_open = self.window.patient is not None and self.window.patient.id == self.patient.id
        patients.setCurrentRow(0)  # opens the patient, as a click does
        if already_open:
            self.window.chart_tab.reload()  # remembered from a previous run: read it again, after the sync

    def _on_chart(self, view: ChartView) -> None:
        if self.step != "chart" or self.patient is None or view.patient.id != self.patient.id or not view.marks:
            return
        self.step = "done"
        seconds = time.perf_counter() - self.started
        self.window.chart_tab.odontogram.repaint()
        if not self.window.grab().save(str(self.out), "PNG"):
            self._fail(f"could not write {self.out}")
            return
        print(json.dumps({
            "smoke": "ok",
            "patient": view.patient.name,
            "gpid": view.patient.gpid,
            "marks": len(view.marks),
            "seconds_to_chart": round(seconds, 2),
            "server": self.window.session.server.base_url,
            "png": str(self.out),
            "qt_platform": QGuiApplication.platformName(),
            "font_families": len(QFontDatabase.families()),
        }), flush=True)
        self._quit(0)

    def _time_out(self) -> None:
        if self.code is not None:
            return
        where = f"; the server's log: {self.log_path}" if self.log_path else ""
        self._fail(f"no chart after {self.timeout:g} s: still waiting for {STEPS.get(self.step, self.step)} "
                   f"(status bar: {self.window.sync_label.text()!r}{where})")

    def _fail(self, message: str) -> None:
        print(f"odonto-desk --smoke-test: {message}", file=sys.stderr, flush=True)
        self._quit(1)

    def _quit(self, code: int) -> None:
        self.code = code
        self._poll.stop()
        self._deadline.stop()
        self.window.close()
        QApplication.quit()
