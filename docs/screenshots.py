"""Take the user guide's screenshots from the real app, so the guide shows what the app shows today.

    .venv/bin/python docs/screenshots.py                  # writes docs/images/*.png
    .venv/bin/python docs/screenshots.py --out /tmp/shots --only chart perio

It starts the reference server in this process on a temporary SQLite file with the demo patients,
signs in one session per role (each on its own copy of a synced cache), builds the main window at
1500×950 and drives each screen the way a user would (typed commands, perio keys, clicks), waiting
for the background ops to finish before each grab. Where a screen is wider than the window, the
script drags a splitter as a user would (never hides a part). The offline shot points one window at
a loopback port where nothing answers, so the status bar shows what it shows when the server is
down. The two developer screens (the SDK quickstart and ``certify``) are the real commands, run in
the background meanwhile against a second reference server (``odonto-desk sandbox``, a child
process); their captured output is drawn as a terminal picture. Nothing is made up: if a step
fails, the script stops and says which.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported: no display needed

from PySide6.QtCore import QDate, QEventLoop, QPoint, QSettings, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QSplitter, QTableWidget

from odonto_desk.api.auth import ApiKey
from odonto_desk.api.client import ApexClient
from odonto_desk.sandbox.app import ServerConfig
from odonto_desk.sandbox.runner import RunningServer, start_in_thread
from odonto_desk.sandbox.seed import seed_demo_if_empty
from odonto_desk.services.session import Role, Server, Session, User
from odonto_desk.ui.main_window import MainWindow
from odonto_desk.ui.settings import Settings

if TYPE_CHECKING:
    from odonto_desk.ui.ledger.tab import LedgerTab
    from odonto_desk.ui.plan.tab import PlanTab

REPO = Path(__file__).resolve().parent.parent
WINDOW_SIZE = (1500, 950)
SIGN_IN_SIZE = (620, 160)  # about its own height (148 px), wider so the server choice reads whole
TERMINAL_WIDTH = 1500  # pixels; the height follows the number of lines
RIVERA, HADDAD, CHEN = "demo-rivera", "demo-haddad", "demo-chen"
RIVERA_GPID = "APX-1A2B3C4D"
# The reference server's published demo users (README, "The reference Apex server"); no real secret.
PEOPLE = {Role.DENTIST: ("Dr. Lee", "apx_sandbox_dentist_key"),
          Role.HYGIENIST: ("Sam Ortiz, RDH", "apx_sandbox_hygienist_key"),
          Role.FRONT_DESK: ("Pat Front", "apx_sandbox_front_desk_key")}
OTHER_CLIENT_KEY = "apx_sandbox_admin_key"  # "someone else" in the conflict screenshot


class ScreenshotError(RuntimeError):
    """A screen did not reach the state the screenshot needs; the message says which and why."""


# --- waiting on the real app -------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Process Qt events until ``condition()`` holds; ops finish on worker threads and report by signal."""
    app = QApplication.instance()
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise ScreenshotError(f"timed out after {timeout:.0f} s waiting for {what}")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)  # type: ignore[union-attr]
        time.sleep(0.005)


def settle(window: MainWindow) -> None:
    """Wait until no op is in flight, then let the last results paint."""
    wait_until(lambda: window.tasks.in_flight == 0, "the background work to finish")
    QTest.qWait(150)
    wait_until(lambda: window.tasks.in_flight == 0, "the background work to finish")


def save(image: QImage, out: Path, name: str) -> Path:
    path = out / f"{name}.png"
    if not image.save(str(path), "PNG", 0):  # quality 0: zlib's strongest compression (the pixels are the same)
        raise ScreenshotError(f"could not write {path}")
    return path


def grab_window(window: MainWindow, out: Path, name: str) -> Path:
    """Probe the server first so the status bar shows the queue as it is now, then grab the window."""
    window.probe()
    settle(window)
    return save(window.grab().toImage(), out, name)


# --- server, sessions, windows -------------------------------------------------------------------------


@dataclass
class Stage:
    """Everything the shots share: the server, a synced cache to copy, and a scratch folder."""

    server: RunningServer
    template: Path
    scratch: Path
    out: Path
    commands: dict[str, Future[list[str]]] = field(default_factory=dict)  # sdk/certify output, by shot

    def session(self, role: Role, base_url: str | None = None) -> Session:
        """A signed-in session for ``role`` on its own copy of the synced cache (SQLite backup API),
        against the reference server or, given ``base_url``, another address."""
        path = self.scratch / f"cache-{role.value}.sqlite"
        path.unlink(missing_ok=True)
        src, dst = sqlite3.connect(self.template), sqlite3.connect(path)
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
        name, key = PEOPLE[role]
        return Session(User(name, role), Server(base_url=base_url or self.server.base_url), path,
                       credentials=ApiKey(key))

    @contextlib.contextmanager
    def window(self, role: Role, patient_id: str | None = None, *,
               base_url: str | None = None) -> Iterator[MainWindow]:
        """The main window for ``role`` at the guide's size, synced once (so the status bar is true);
        on another ``base_url`` it works from the cache copy alone and does not try to sync."""
        session = self.session(role, base_url)
        settings = Settings(QSettings(str(self.scratch / f"settings-{role.value}.ini"), QSettings.Format.IniFormat))
        settings.set("setting/idle_lock_minutes", 0)
        window = MainWindow(session, settings, sync=False)
        window.resize(*WINDOW_SIZE)
        window.show()
        try:
            wait_until(lambda: window.patients.count() == 3, "the three demo patients to be listed")
            if base_url is None:
                window.sync_now()
                settle(window)
            if patient_id is not None:
                open_patient(window, patient_id)
            yield window
        finally:
            window.close()
            window.deleteLater()
            session.close()


@contextlib.contextmanager
def stage(out: Path) -> Iterator[Stage]:
    """Start the reference server in this process on a temporary database and sync one cache from it."""
    with tempfile.TemporaryDirectory(prefix="odonto-shots-") as tmp:
        scratch = Path(tmp)
        server = start_in_thread(ServerConfig(db_path=scratch / "apex.sqlite"))
        try:
            seed_demo_if_empty(server.server)
            template = scratch / "template.sqlite"
            name, key = PEOPLE[Role.DENTIST]
            first = Session(User(name, Role.DENTIST), Server(base_url=server.base_url), template,
                            credentials=ApiKey(key))
            first.sync().run_once()
            first.close()
            yield Stage(server, template, scratch, out)
        finally:
            server.stop()


def open_patient(window: MainWindow, patient_id: str) -> None:
    """Click the patient in the list and wait for the chart to open (the header fills from it)."""
    for i in range(window.patients.count()):
        if window.patients.item(i).data(Qt.ItemDataRole.UserRole).id == patient_id:
            window.patients.setCurrentRow(i)
            break
    else:
        raise ScreenshotError(f"patient {patient_id} is not in the list")
    chart = window.chart_tab
    wait_until(lambda: chart.view is not None and chart.view.patient.id == patient_id, f"{patient_id}'s chart")
    settle(window)


def show_tab(window: MainWindow, name: str) -> Any:  # each tab is its own class
    """Build and bring forward the patient tab ``name`` (as a click on its title would)."""
    tab = window.tab(name)
    window.tabs.setCurrentWidget(window.patient_tabs[name])
    settle(window)
    return tab


# --- the screens -----------------------------------------------------------------------------------


def shot_sign_in(st: Stage) -> Path:
    """First start: the sign-in dialog with a name typed and the embedded server chosen."""
    from odonto_desk.ui.sign_in import SignInDialog

    dialog = SignInDialog()
    dialog.setFixedSize(*SIGN_IN_SIZE)
    dialog.show()
    QTest.keyClicks(dialog.user, "Dr. Lee")
    QTest.qWait(100)
    try:
        return save(dialog.grab().toImage(), st.out, "first-start")
    finally:
        dialog.close()
        dialog.deleteLater()


def shot_chart(st: Stage) -> Path:
    """Charting: caries typed on the command line, then its two surfaces clicked and a filling planned."""
    from odonto_desk.domain.surfaces import Surface
    from odonto_desk.domain.teeth import Tooth

    with st.window(Role.DENTIST, RIVERA) as w:
        tab = w.chart_tab
        QTest.keyClicks(tab.command.edit, "4 DO car")
        QTest.keyClick(tab.command.edit, Qt.Key.Key_Return)
        wait_until(lambda: any(m.tooth == Tooth("4") for m in tab.view.marks), "the typed caries on tooth 4")
        settle(w)
        og, tooth = tab.odontogram, Tooth("4")
        QTest.mouseClick(og, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, og.surface_point(tooth, Surface.O))
        QTest.mouseClick(og, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                         og.surface_point(tooth, Surface.D))
        form = tab.form
        form.kind.setCurrentIndex(form.kind.findText("Filling"))
        form.material.setCurrentIndex(form.material.findText("composite"))
        if not form.chart_button.isEnabled():
            raise ScreenshotError(f"the chart form refused tooth 4 DO composite: {form.verdict.text()}")
        show_whole_table(tab.findChild(QSplitter), tab.marks)
        settle(w)
        return grab_window(w, st.out, "chart")


def show_whole_table(split: QSplitter, table: QTableWidget) -> None:
    """Drag the splitter, as a user would, just far enough for the table beside the chart to show
    every column (status and date too)."""
    header = table.horizontalHeader()
    columns = sum(max(table.sizeHintForColumn(c), header.sectionSizeHint(c)) for c in range(header.count()))
    scrollbar = table.verticalScrollBar().sizeHint().width() if table.verticalScrollBar().isVisible() else 0
    right = columns + scrollbar + 2 * table.frameWidth()
    total = sum(split.sizes())
    for _ in range(8):
        split.setSizes([total - right, right])
        QTest.qWait(20)  # the table lays out its new width
        if table.horizontalScrollBar().maximum() == 0:
            return
        right += 4
    raise ScreenshotError("the marks table does not fit beside the chart")


def shot_perio(st: Stage) -> Path:
    """Perio: a copy of the previous exam, the first teeth re-probed by keys (Shift+digit bleeds)."""
    shift, ctrl = Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.ControlModifier
    with st.window(Role.HYGIENIST, HADDAD) as w:
        tab = show_tab(w, "Perio")
        wait_until(lambda: tab.chart is not None and tab.chart.patient.id == HADDAD, "Haddad's perio chart")
        before = tab.exam
        tab.grid.setFocus()
        QTest.keyClick(tab, Qt.Key.Key_N, ctrl | shift)  # Copy previous
        wait_until(lambda: tab.exam is not before and tab.editable, "the copied exam")
        tab.grid.setFocus()
        # Along the facial of 3 and 5 (2 and 4 are missing; DB, B, MB then DB, B, MB): three sites bleed,
        # two are 2 mm or more deeper or shallower than last time (the Δ row marks them).
        for digit, bleeds in ((3, False), (2, False), (4, True), (5, True), (3, False), (6, True)):
            QTest.keyClick(tab.grid, getattr(Qt.Key, f"Key_{digit}"), shift if bleeds else Qt.KeyboardModifier.NoModifier)
        tab.older.setValue(1)
        if tab.baseline.count() > 1:  # "Compare with" the previous exam, as a user's pick would
            tab.baseline.setCurrentIndex(1)
            tab.baseline.activated.emit(1)
        tab.save_now()
        settle(w)
        wait_until(lambda: not tab._dirty, "the exam to be saved")
        # The whole mouth without scrolling: drag the patient list narrower by what the grid lacks.
        narrow_patient_list(w, tab.grid.sizeHint().width() - tab.scroll.viewport().width())
        settle(w)
        return grab_window(w, st.out, "perio")


def narrow_patient_list(window: MainWindow, by: int, *, least: int = 190) -> None:
    """Drag the splitter between the patient list and the tabs ``by`` pixels left (no further than
    ``least`` pixels of list), as a user makes room for a wide screen."""
    if by <= 0:
        return
    split = window.patients.parentWidget().parentWidget()
    assert isinstance(split, QSplitter)
    left, right = split.sizes()
    if left - by < least:
        raise ScreenshotError(f"the list would have to shrink to {left - by} px to make {by} px of room")
    split.setSizes([left - by, right + by])
    QTest.qWait(20)


def shot_plan(st: Stage) -> Path:
    """Plans: the demo patient's phased plan with a cleaning added to phase 1, the crown line (with its
    onlay option) selected, the patient signing on the pad."""
    with st.window(Role.DENTIST, RIVERA) as w:
        tab = show_tab(w, "Plan")
        wait_until(lambda: tab.view is not None and tab.plan is not None, "Rivera's treatment plan")
        # A cleaning added to phase 1 with the line form (fee from the schedule, no tooth).
        count = len(tab.plan.items)
        QTest.keyClicks(tab.form.code, "D1110")
        QTest.mouseClick(tab.form.add_button, Qt.MouseButton.LeftButton)
        refused = plan_error_style()
        wait_until(lambda: (tab.plan is not None and len(tab.plan.items) == count + 1)
                   or tab.notice.styleSheet() == refused, "the cleaning to be added to the plan")
        if tab.plan is None or len(tab.plan.items) != count + 1:
            raise ScreenshotError(f"the plan refused D1110: {tab.notice.text()}")
        settle(w)
        lines = tab.lines
        for r in range(lines.topLevelItemCount()):
            row = lines.topLevelItem(r)
            if "D2740" in row.text(2):
                lines.setCurrentItem(row)
                break
        draw_signature(tab)
        settle(w)
        return grab_window(w, st.out, "plan")


def plan_error_style() -> str:
    """How the Plan tab colours a refusal under its form (the tab is imported when first shown)."""
    from odonto_desk.ui.plan.tab import ERROR

    return ERROR


def draw_signature(tab: PlanTab) -> None:
    """Draw a signature-like stroke on the pad with the mouse and type the signer's name.

    The shot is taken before *Sign plan* is pressed: once signed, the pad is cleared and the
    signature is no longer drawn on the tab, so the moment of signing is the one worth showing."""
    pad = tab.pad
    QTest.mousePress(pad, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(20, 55))
    for x in range(20, 260, 6):
        QTest.mouseMove(pad, QPoint(x, 55 + int(14 * ((x // 6) % 5 - 2) / 2)))
    QTest.mouseRelease(pad, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(260, 50))
    QTest.keyClicks(tab.signer, "Jordan Rivera")
    if not tab.sign_button.isEnabled():
        raise ScreenshotError("Sign plan stayed disabled after drawing and naming the signer")


def shot_ledger(st: Stage) -> Path:
    """Posting and claims: planned work completed, unplanned work typed in, both selected for a claim."""
    with st.window(Role.FRONT_DESK, RIVERA) as w:
        tab = show_tab(w, "Ledger")
        wait_until(lambda: tab.view is not None and tab.view.patient_id == RIVERA, "Rivera's ledger")
        f = tab.form
        planned = [i for i in range(f.planned.count()) if "D2392" in f.planned.item(i).text()]
        if not planned:
            raise ScreenshotError("Rivera's planned D2392 is not offered for posting")
        item = f.planned.item(planned[0])
        QTest.mouseClick(f.planned.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         f.planned.visualItemRect(item).center())
        post_form(w, tab, "the planned D2392")
        QTest.mouseClick(f.direct_button, Qt.MouseButton.LeftButton)
        QTest.keyClicks(f.code, "d2391")
        QTest.keyClicks(f.tooth, "5")
        QTest.keyClicks(f.surfaces, "v")
        post_form(w, tab, "D2391 on 5 V")
        select_unbilled(tab)
        settle(w)
        return grab_window(w, st.out, "ledger")


def post_form(window: MainWindow, tab: LedgerTab, what: str) -> None:
    """Press Post on the filled form and wait for the new line in the ledger."""
    f = tab.form
    if not f.post_button.isEnabled():
        raise ScreenshotError(f"the posting form refused {what}: {f.verdict.text()}")
    rows = tab.table.rowCount()
    QTest.mouseClick(f.post_button, Qt.MouseButton.LeftButton)
    wait_until(lambda: tab.table.rowCount() == rows + 1 and not f.busy, f"{what} in the ledger")
    settle(window)


def select_unbilled(tab: LedgerTab) -> None:
    """Ctrl+click every charge line not yet on a claim, as the front desk does to build one."""
    table = tab.table
    table.clearSelection()
    picked = 0
    for r in range(table.rowCount()):
        status = table.item(r, 7).text() if table.item(r, 7) else ""
        if table.item(r, 5) and not table.item(r, 5).text().startswith("-") and "claim" not in status:
            rect = table.visualItemRect(table.item(r, 2))
            QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                             rect.center())
            picked += 1
    if not picked:
        raise ScreenshotError("no ledger line could be put on a claim")


def shot_lab(st: Stage) -> Path:
    """Lab: a zirconia crown for tooth 3 sent with its seat booked in time, then a night guard whose seat
    appointment is too early (before the due date plus the remake buffer): its row and the form warn."""
    with st.window(Role.FRONT_DESK, RIVERA) as w:
        tab = show_tab(w, "Lab")
        wait_until(lambda: tab.view is not None and tab.view.patient_id == RIVERA, "Rivera's lab cases")
        form = tab.form
        if form.lab.count() == 0:
            raise ScreenshotError("the Lab form lists no lab")
        form.lab.setCurrentIndex(0)
        form.kind.setCurrentIndex(max(0, form.kind.findData("crown")))
        QTest.keyClicks(form.teeth, "3")
        QTest.keyClicks(form.shade, "A2")
        zirconia = form.material.findText("zirconia", Qt.MatchFlag.MatchContains)
        if zirconia >= 0:
            form.material.setCurrentIndex(zirconia)
        form.has_seat.setChecked(True)
        set_seat(form, dt.date.today() + dt.timedelta(days=21))
        QTest.keyClicks(form.instructions, "Match the contact on 2; light occlusion.")
        send_case(w, tab, "the crown")
        form.kind.setCurrentIndex(max(0, form.kind.findData("night guard")))
        acrylic = form.material.findText("acrylic", Qt.MatchFlag.MatchContains)
        if acrylic >= 0:
            form.material.setCurrentIndex(acrylic)
        set_seat(form, dt.date.today() + dt.timedelta(days=5))
        if not form.seat_warning.text():
            raise ScreenshotError("a seat appointment in 5 days raised no warning")
        QTest.keyClicks(form.instructions, "Upper arch, hard acrylic, 2 mm.")
        send_case(w, tab, "the night guard")
        for r in range(tab.cases.rowCount()):
            if tab.cases.item(r, 1).text().startswith("Night guard"):
                tab.cases.selectRow(r)
        settle(w)
        return grab_window(w, st.out, "lab")


def set_seat(form: Any, day: dt.date) -> None:
    form.seat.setDate(QDate(day.year, day.month, day.day))


def send_case(window: MainWindow, tab: Any, what: str) -> None:
    """Press Send to lab and wait for the case in the list (or say why it was refused)."""
    rows = tab.cases.rowCount()
    QTest.mouseClick(tab.form.send_button, Qt.MouseButton.LeftButton)
    wait_until(lambda: tab.cases.rowCount() == rows + 1 or tab.form.error.text() != "", f"{what} to be sent")
    if tab.form.error.text():
        raise ScreenshotError(f"{what} was refused: {tab.form.error.text()}")
    settle(window)


def shot_imaging(st: Stage) -> Path:
    """Imaging: a generated panoramic DICOM imported with its teeth, uploaded and shown in the viewer."""
    from odonto_desk.domain.teeth import Tooth
    from odonto_desk.services.imaging import UploadState

    path = write_panoramic(st.scratch / "panoramic.dcm")
    with st.window(Role.DENTIST, RIVERA) as w:
        tab = show_tab(w, "Imaging")
        wait_until(lambda: tab.patient_id == RIVERA, "Rivera's images")
        tab.import_path(path, teeth=(Tooth("3"), Tooth("14"), Tooth("19"), Tooth("30")), title="Panoramic, recall")
        wait_until(lambda: any(r.title == "Panoramic, recall" and r.state == UploadState.SENT for r in tab.rows),
                   "the panoramic to reach the server", timeout=30)
        settle(w)
        for r in range(tab.table.rowCount()):
            if tab.table.item(r, 1) and "Panoramic, recall" in tab.table.item(r, 2).text():
                tab.table.selectRow(r)
        settle(w)
        return grab_window(w, st.out, "imaging")


def write_panoramic(path: Path) -> Path:
    """A synthetic 12-bit panoramic-like DICOM (no patient image): bright crowns and roots on grey bone."""
    import numpy as np
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    rows, cols = 400, 900
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    mid = (x - cols / 2) / (cols / 2)
    picture = 600 + 600 * np.exp(-((y - rows / 2) / (rows * 0.42)) ** 2) * (1 - 0.4 * mid ** 2)
    occlusal = rows / 2 + rows * 0.1 * mid ** 2
    for n in range(14):
        cx = cols * (0.1 + 0.8 * (n + 0.5) / 14)
        half = cols / 14 * (0.36 if abs(2 * cx / cols - 1) > 0.4 else 0.28)
        for arch in (-1, 1):
            cy = occlusal[0, int(cx)] + arch * rows * 0.08
            picture += 2000 * np.exp(-(((x - cx) / half) ** 4 + ((y - cy) / (rows * 0.06)) ** 4))
            ry = cy + arch * rows * 0.17
            picture += 1000 * np.exp(-(((x - cx) / (half * 0.4)) ** 2 + ((y - ry) / (rows * 0.13)) ** 4))
    picture += np.random.default_rng(11).normal(0, 35, picture.shape)
    pixels = np.clip(picture, 0, 4095).astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # digital X-ray, for presentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.StudyDate, ds.SeriesDescription = "PX", dt.date.today().strftime("%Y%m%d"), "synthetic demo image"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.SamplesPerPixel = 16, 12, 11, 1
    ds.PhotometricInterpretation, ds.PixelRepresentation = "MONOCHROME2", 0
    ds.WindowCenter, ds.WindowWidth = 1900, 3000
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def shot_offline(st: Stage) -> Path:
    """Sync status: the server cannot be reached; caries typed on Mia Chen's primary T is kept on this
    computer and queued, and the status bar says so (offline, how many queued, when the last sync was)."""
    from odonto_desk.domain.teeth import Tooth

    with unreachable_server() as url, st.window(Role.DENTIST, CHEN, base_url=url) as w:
        tab = w.chart_tab
        QTest.keyClicks(tab.command.edit, "T DO car")
        QTest.keyClick(tab.command.edit, Qt.Key.Key_Return)
        wait_until(lambda: any(m.tooth == Tooth("T") and m.kind.value == "caries" for m in tab.view.marks),
                   "the typed caries on T")
        show_whole_table(tab.findChild(QSplitter), tab.marks)
        settle(w)
        path = grab_window(w, st.out, "offline")
        if not w.sync_label.text().startswith("Offline"):
            raise ScreenshotError(f"the status bar says {w.sync_label.text()!r}, not offline")
        return path


@contextlib.contextmanager
def unreachable_server() -> Iterator[str]:
    """An address where nothing answers: a loopback port held (bound, never listening) for the shot."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


def shot_conflicts(st: Stage) -> Path:
    """Sync and conflicts: a planned mark completed here while someone else edits it on the server."""
    with st.window(Role.DENTIST, RIVERA) as w:
        tab = w.chart_tab
        planned = next((m for m in tab.view.marks if m.status.value == "tp" and m.id), None)
        if planned is None:
            raise ScreenshotError("Rivera has no planned work to complete")
        resource_type = planned_resource_type(w, planned.id)
        for r in range(tab.marks.rowCount()):
            if tab.marks.item(r, 0).data(Qt.ItemDataRole.UserRole) == planned.id:
                tab.marks.selectRow(r)
        QTest.mouseClick(tab.complete_button, Qt.MouseButton.LeftButton)
        settle(w)
        with ApexClient(st.server.base_url, credentials=ApiKey(OTHER_CLIENT_KEY)) as other:
            theirs = other.read(resource_type, planned.id)
            theirs["note"] = [{"text": "Patient asked to wait until after the holidays"}]
            other.update(theirs, gpid=RIVERA_GPID)
        w.sync_now()
        wait_until(lambda: w.conflicts_dock.isVisible(), "the Conflicts panel to open after the sync")
        settle(w)
        wait_until(lambda: w.conflict_list.count() > 0 and w.conflict_list.item(0).text() != "No conflicts.",
                   "the conflict to be listed")
        w.conflict_list.setCurrentRow(0)
        settle(w)
        return grab_window(w, st.out, "conflicts")


def planned_resource_type(window: MainWindow, resource_id: str) -> str:
    """Which FHIR type holds the planned mark (the window's cache knows; planned work is a ServiceRequest)."""
    cache = window.session.cache()
    for kind in ("ServiceRequest", "Procedure", "Condition"):
        if cache.get(kind, resource_id) is not None:
            return kind
    raise ScreenshotError(f"mark {resource_id} is not in the cache")


# --- the terminal screens ----------------------------------------------------------------------------


def run_command(argv: list[str], shown: str) -> list[str]:
    """Run a real command; return the prompt line and its output lines (exit status noted when not 0)."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = [f"$ {shown}", *done.stdout.rstrip("\n").splitlines()]
    if done.returncode != 0:
        raise ScreenshotError(f"{shown} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return lines


def terminal_image(lines: list[str]) -> QImage:
    """Monospace light text on a dark background, long lines wrapped between words as a terminal
    of the picture's width would show them (continuations indented so each item stays one block)."""
    font = QFont("DejaVu Sans Mono")
    font.setStyleHint(QFont.StyleHint.Monospace)
    font.setPixelSize(16)
    metrics = QFontMetrics(font)
    pad, step = 18, metrics.lineSpacing() + 2
    columns = (TERMINAL_WIDTH - 2 * pad) // metrics.horizontalAdvance("M")
    wrapped: list[tuple[str, bool]] = []
    for line in lines:
        is_prompt = line.startswith("$ ")
        chunks = textwrap.wrap(line, columns, subsequent_indent="      ", break_on_hyphens=False,
                               break_long_words=True) or [""]
        wrapped += [(c, is_prompt) for c in chunks]
    image = QImage(TERMINAL_WIDTH, 2 * pad + step * (len(wrapped) + 1), QImage.Format.Format_RGB32)
    image.fill(QColor("#1E1E1E"))
    painter = QPainter(image)
    painter.setFont(font)
    for n, (text, is_prompt) in enumerate(wrapped):
        painter.setPen(QColor("#8AE234") if is_prompt else QColor("#E6E6E6"))
        painter.drawText(pad, pad + metrics.ascent() + n * step, text)
    painter.setPen(QColor("#8AE234"))
    painter.drawText(pad, pad + metrics.ascent() + len(wrapped) * step, "$ ")
    painter.end()
    return image


def shot_sdk(st: Stage) -> Path:
    """The SDK: examples/sdk_quickstart.py run against a reference server."""
    return save(terminal_image(st.commands["sdk"].result()), st.out, "sdk")


def shot_certify(st: Stage) -> Path:
    """``certify``: the 12-item certification track against a reference server, as an admin client."""
    return save(terminal_image(st.commands["certify"].result()), st.out, "certify")


# The two developer screens run as real commands in the background while the app's screens are taken,
# against a reference server of their own (``odonto-desk sandbox`` as a child process, as the app runs
# its embedded one): what they write never shows in the app's screenshots. The SDK runs first, so it
# sees only the three demo patients; certify then adds its own.
TERMINAL_SHOTS = ("sdk", "certify")


def developer_commands(base: str, wanted: list[str]) -> dict[str, Callable[[], list[str]]]:
    certify = ["certify", "--server", base, "--client-id", "demo-admin", "--client-secret", "sandbox-secret-admin"]
    commands = {
        "sdk": lambda: run_command([sys.executable, "examples/sdk_quickstart.py", "--server", base],
                                   f"python examples/sdk_quickstart.py --server {base}"),
        "certify": lambda: run_command([sys.executable, "-m", "odonto_desk", *certify],
                                       "odonto-desk " + shlex.join(certify)),
    }
    return {name: commands[name] for name in TERMINAL_SHOTS if name in wanted}


@contextlib.contextmanager
def in_background(wanted: list[str]) -> Iterator[dict[str, Future[list[str]]]]:
    """Start the developer commands' server and run the wanted commands one after the other on a
    thread; each shot waits for its own command's output when its turn comes."""
    if not any(name in wanted for name in TERMINAL_SHOTS):
        yield {}
        return
    from odonto_desk.services.embedded import EmbeddedServer

    with tempfile.TemporaryDirectory(prefix="odonto-shots-dev-") as tmp, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="developer-commands") as pool:
        server = EmbeddedServer(Path(tmp))
        base = server.server.base_url or ""

        def ready() -> None:
            server.start()
            if not server.wait_ready():
                raise ScreenshotError(f"the developer screens' server did not start: {server.log_path.read_text()}")

        started = pool.submit(ready)

        def after_start(run: Callable[[], list[str]]) -> list[str]:
            started.result()  # the start's own error, if it failed
            return run()

        try:
            yield {name: pool.submit(after_start, run) for name, run in developer_commands(base, wanted).items()}
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            server.stop()


# In the guide's order. The terminal shots only draw their command's output (run in the background, above).
SHOTS: dict[str, Callable[[Stage], Path]] = {
    "first-start": shot_sign_in,
    "chart": shot_chart,
    "perio": shot_perio,
    "plan": shot_plan,
    "ledger": shot_ledger,
    "lab": shot_lab,
    "imaging": shot_imaging,
    "offline": shot_offline,
    "conflicts": shot_conflicts,
    "sdk": shot_sdk,
    "certify": shot_certify,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "images", help="folder for the PNGs")
    ap.add_argument("--only", nargs="+", choices=list(SHOTS), help="take only these screenshots")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    app.setApplicationName("Odonto Desk")
    wanted = args.only or list(SHOTS)
    started = time.monotonic()
    with in_background(wanted) as commands, stage(args.out) as st:
        st.commands = commands
        for name in SHOTS:
            if name in wanted:
                t = time.monotonic()
                path = SHOTS[name](st)
                print(f"{path.name}: {path.stat().st_size // 1024} kB, {time.monotonic() - t:.1f} s", flush=True)
    print(f"{len(wanted)} screenshots in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
