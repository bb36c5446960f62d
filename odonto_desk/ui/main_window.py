"""The main window: patient finder, patient header, the tabs, status bar and conflicts panel.

It is given a signed-in :class:`Session`, the settings and a task runner; every read and write goes
through services run as ops (``ui/ops``). Nothing here touches SQLite or the network.

A cold start (``fast_start=True``, from ``app.run``) builds the window without the services, draws
the chart kept from the last session (``services/first_frame.py``) and imports the services and the
domain models on a worker thread after the first paint; :meth:`MainWindow._attach` then opens the
real chart from the cache. Until then the odontogram answers and the charting panel waits. Built any
other way (tests, tools) the window attaches at once.

File ▸ Lock, Ctrl+L and the idle timer show the lock page instead of patient data (``ui/lock.py``);
a user with an unlock PIN (``services/pins.py``) unlocks with it, and after :data:`MAX_TRIES` wrong
PINs in a row the window signs out. ``locked=True`` opens the window locked (a start whose user has
a PIN). Locks, unlocks and failed unlocks are audited.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QActionGroup, QCloseEvent, QPageLayout, QPageSize, QPainter, QShowEvent, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from odonto_desk.domain.cdt import Catalog, demo_catalog
from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.services.pins import MAX_TRIES, PinError, PinStore, retry_wait, validate
from odonto_desk.services.rows import PatientRow
from odonto_desk.services.session import Session
from odonto_desk.ui.actions import ActionId, create_actions
from odonto_desk.ui.chart.tab import ChartTab
from odonto_desk.ui.errors import show_error
from odonto_desk.ui.lock import LockPage, note_pin, note_pin_failure, pin_failures, pin_noted
from odonto_desk.ui.ops import lock as lock_ops
from odonto_desk.ui.ops import patient as patient_ops
from odonto_desk.ui.ops import sync as sync_ops
from odonto_desk.ui.settings import Settings
from odonto_desk.ui.tabs import TABS, TabContext, build_tab
from odonto_desk.ui.tasks import TaskManager

if TYPE_CHECKING:  # types only: the services load after the first paint of a cold start
    from odonto_desk.services.chart import ChartView
    from odonto_desk.services.first_frame import FirstFrame
    from odonto_desk.services.imaging import ImagingService
    from odonto_desk.services.pins import LockAction
    from odonto_desk.services.sync import ConflictRow, SyncBadge
    from odonto_desk.ui.alerts import AlertsDialog

log = logging.getLogger(__name__)
# What the first frame imports on a worker thread before the window attaches its services.
FIRST_PAINT_WAIT_MS = 400
_ACTIVITY = frozenset({QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.Wheel})  # resets the idle lock
_PAINT = QEvent.Type.Paint
SERVICE_MODULES = ("odonto_desk.services.patients", "odonto_desk.services.chart", "odonto_desk.services.sync")

PROBE_MS = 10_000
# Dark red on pale red with a red bar: 7:1 contrast, noticed at a glance, readable in light and dark themes.
ALERT_STYLE = ("QLabel#medicalAlerts { color: #A30D0D; background: #FDE8E8; border: 1px solid #E3A5A5; "
               "border-left: 5px solid #C62828; border-radius: 3px; padding: 4px 8px; font-weight: bold; "
               "font-size: 11pt; }")


class _AlertShown(Protocol):  # a MedicalAlert, or the first frame's AlertLine
    @property
    def label(self) -> str: ...
    @property
    def detail(self) -> str: ...


def _import_services() -> None:
    import importlib

    for name in SERVICE_MODULES:
        importlib.import_module(name)


class MainWindow(QMainWindow):
    webhook_patient = Signal(str)  # a plan of this patient changed on the server (emitted on a receiver thread)
    synced = Signal(object)  # SyncBadge, after each sync this window started has finished and been shown

    def __init__(self, session: Session, settings: Settings, *, tasks: TaskManager | None = None,
                 catalog: Catalog | None = None, sync: bool = True, fast_start: bool = False,
                 pins: PinStore | None = None, locked: bool = False) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self.pins = pins or PinStore()  # its keyring loads at the first lock, not at start
        self.signed_out = False  # set by File ▸ Sign out: app.run asks who signs in next
        self.tasks = tasks or TaskManager(self)
        self.attached = False  # the services are loaded (at once, or after the first frame)
        self._closed = False
        self._pending_sync: tuple[object | None] | None = None  # start_sync() asked before attaching
        self.first_frame: FirstFrame | None = None  # shown until the real chart replaces it
        self._imaging: ImagingService | None = None  # sends waiting images while the Imaging tab is not built
        self.webhook_patient.connect(self._on_webhook_patient)  # queued: runs on the UI thread
        self.undo_stack = QUndoStack(self)
        self.numbering = NumberingSystem(settings.get("setting/numbering"))
        self.patient: PatientRow | None = None
        self.alerts_dialog: AlertsDialog | None = None  # Patient ▸ Medical alerts, while it is open
        self._conflicts_after_unlock = False  # a sync found conflicts while locked: shown after unlock
        self._enabled_before_lock: set[ActionId] = set()
        self.setWindowTitle(f"Odonto Desk — {session.user.name} ({session.user.role.label})")
        self.setAccessibleName("Odonto Desk")
        self.resize(1360, 820)

        # finder
        self.finder = QLineEdit()
        self.finder.setPlaceholderText("Find patient: name, GPID or date of birth")
        self.finder.setAccessibleName("Find patient")
        self.finder.setClearButtonEnabled(True)
        self.patients = QListWidget()
        self.patients.setAccessibleName("Patients")
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.addWidget(self.finder)
        ll.addWidget(self.patients)

        # header and tabs
        self.header = QLabel("<i>No patient open</i>")
        self.header.setAccessibleName("Patient header")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setMargin(6)
        # Medical alerts (allergies first) under the name, hidden when there are none: seen before treating.
        self.alerts_label = QLabel()
        self.alerts_label.setObjectName("medicalAlerts")
        self.alerts_label.setTextFormat(Qt.TextFormat.PlainText)
        self.alerts_label.setWordWrap(True)
        self.alerts_label.setStyleSheet(ALERT_STYLE)
        self.alerts_label.setAccessibleName("Medical alerts")
        self.alerts_label.hide()
        catalog = catalog or demo_catalog()
        self.chart_tab = ChartTab(None, self.tasks, self.undo_stack, catalog)
        self.chart_tab.set_numbering(self.numbering)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Patient tabs")
        self.tabs.addTab(self.chart_tab, "&Chart")
        context = TabContext(session, settings, self.tasks, self.undo_stack, catalog,
                             self.numbering, status=lambda text: self.statusBar().showMessage(text, 8000))
        self.patient_tabs = {spec.name: build_tab(spec, context) for spec in TABS}
        for spec in TABS:
            self.tabs.addTab(self.patient_tabs[spec.name], spec.title)
        right = QWidget()
        rl = QVBoxLayout(right)
        # The header line, with the way to record alerts beside it (the alert line shows only active ones).
        self.alerts_button = QToolButton()
        self.alerts_button.setAccessibleName("Edit medical alerts")
        self.alerts_button.setEnabled(False)  # until a patient's chart is open
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.header, 1)
        top.addWidget(self.alerts_button, 0, Qt.AlignmentFlag.AlignVCenter)
        rl.addLayout(top)
        rl.addWidget(self.alerts_label)
        rl.addWidget(self.tabs, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 4)
        split.setSizes([260, 1100])

        # lock screen
        self.lock_page = LockPage()
        self.pages = QStackedWidget()
        self.pages.addWidget(split)
        self.pages.addWidget(self.lock_page)
        self.setCentralWidget(self.pages)

        # conflicts
        self.conflicts_dock = QDockWidget("Conflicts", self)
        self.conflicts_dock.setObjectName("conflicts")
        self.conflict_list = QListWidget()
        self.conflict_list.setAccessibleName("Conflicts")
        self.conflict_list.setWordWrap(True)
        self.conflict_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        keep_mine = QPushButton("Keep &mine")
        take_theirs = QPushButton("Take &theirs")
        dock_body = QWidget()
        dl = QVBoxLayout(dock_body)
        explain = QLabel("These edits were changed on the server meanwhile. Nothing was overwritten: "
                         "choose which version stands.")
        explain.setWordWrap(True)
        dl.addWidget(explain)
        dl.addWidget(self.conflict_list)
        row = QHBoxLayout()
        row.addWidget(keep_mine)
        row.addWidget(take_theirs)
        dl.addLayout(row)
        self.conflicts_dock.setWidget(dock_body)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.conflicts_dock)
        self.conflicts_dock.hide()
        keep_mine.clicked.connect(lambda: self._resolve("mine"))
        take_theirs.clicked.connect(lambda: self._resolve("theirs"))

        # status bar
        self.sync_label = QLabel("Starting…")
        self.sync_label.setAccessibleName("Sync status")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(90)
        self.progress.setAccessibleName("Working")
        self.progress.hide()
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.sync_label)
        self.tasks.busy_changed.connect(lambda n: self.progress.setVisible(n > 0))

        self.actions_by_id = create_actions(self)
        self._build_menus()
        self._connect()

        self._probe_timer = QTimer(self)
        self._probe_timer.setInterval(PROBE_MS)
        self._probe_timer.timeout.connect(self.probe)
        self._idle = QTimer(self)
        self._idle.setSingleShot(True)
        self._idle.timeout.connect(lambda: self.lock(reason="when idle"))
        self._reset_idle()
        if locked:
            self.lock(reason="at start")
        QApplication.instance().installEventFilter(self)  # type: ignore[union-attr]
        self._sync_enabled = sync
        self._loading = False
        self._await_first_paint = fast_start
        if fast_start:
            self._show_first_frame()
            # After the first paint (seen by eventFilter), or at the latest after FIRST_PAINT_WAIT_MS.
            QTimer.singleShot(FIRST_PAINT_WAIT_MS, self._load_services)
        else:
            self._attach()

    def _load_services(self) -> None:
        """Import the services on a worker thread (the window keeps answering), then attach them."""
        self._await_first_paint = False
        if self._loading or self.attached:
            return
        self._loading = True
        sync_ops.background(parent=self, fn=_import_services).success(lambda _: self._attach()).failure(
            lambda exc: show_error(self, exc)).run(self.tasks)

    def _show_first_frame(self) -> None:
        """Draw the kept chart of the last patient, if there is one (a cache read before the first paint)."""
        from odonto_desk.services import first_frame

        last = self.settings.get("persist/last_patient")
        frame = first_frame.load(self.session.peek(), last, self.session.today()) if last else None
        if frame is None:
            return
        self.first_frame = frame
        self._header(frame.patient, planned=sum(1 for m in frame.marks if m.status.value == "tp"),
                     unreadable=frame.unreadable, alerts=frame.alerts)
        self.chart_tab.show_first_frame(frame)

    def _attach(self) -> None:
        """Give the window its services and list the patients; the last patient's chart opens from the cache."""
        from odonto_desk.services.chart import ChartService
        from odonto_desk.services.patients import PatientService
        from odonto_desk.services.sync import SyncService

        if self._closed:
            return  # signed out (or quit) before the services had loaded: nothing to start
        self.patients_service = PatientService(self.session)
        self.chart_service = ChartService(self.session)
        self.sync_service = SyncService(self.session)
        self.chart_tab.attach(self.chart_service)
        self.attached = True
        if self._sync_enabled:
            self._probe_timer.start()
        self.refresh_patients()
        if self._pending_sync is not None:
            (embedded,) = self._pending_sync
            self._pending_sync = None
            self.start_sync(embedded)

    # --- building ----------------------------------------------------------------------------

    def _build_menus(self) -> None:
        a = self.actions_by_id
        file_menu = self.menuBar().addMenu("&File")
        for aid in (ActionId.FIND_PATIENT, ActionId.PRINT_CHART, ActionId.EXPORT_CHART, None, ActionId.SYNC_NOW,
                    ActionId.CONFLICTS, None, ActionId.PREFERENCES, None, ActionId.LOCK, ActionId.SET_PIN,
                    ActionId.SIGN_OUT, ActionId.QUIT):
            if aid is None:
                file_menu.addSeparator()
            else:
                file_menu.addAction(a[aid])
        edit = self.menuBar().addMenu("&Edit")
        edit.addAction(a[ActionId.UNDO])
        edit.addAction(a[ActionId.REDO])
        edit.addSeparator()
        edit.addAction(a[ActionId.FOCUS_COMMAND])
        edit.addAction(a[ActionId.FOCUS_CHART])
        patient = self.menuBar().addMenu("&Patient")
        patient.addAction(a[ActionId.MEDICAL_ALERTS])
        view = self.menuBar().addMenu("&View")
        numbering = view.addMenu("Tooth &numbering")
        group = QActionGroup(self)
        self.numbering_actions = {}
        for system in NumberingSystem:
            act = numbering.addAction(system.label)
            act.setCheckable(True)
            act.setChecked(system is self.numbering)
            act.triggered.connect(lambda _=False, s=system: self.set_numbering(s))
            group.addAction(act)
            self.numbering_actions[system] = act
        view.addAction(self.conflicts_dock.toggleViewAction())

    def _connect(self) -> None:
        a = self.actions_by_id
        a[ActionId.FIND_PATIENT].triggered.connect(lambda: (self.finder.setFocus(), self.finder.selectAll()))
        a[ActionId.UNDO].triggered.connect(self.undo_stack.undo)
        a[ActionId.REDO].triggered.connect(self.undo_stack.redo)
        self.undo_stack.canUndoChanged.connect(a[ActionId.UNDO].setEnabled)
        self.undo_stack.canRedoChanged.connect(a[ActionId.REDO].setEnabled)
        self.undo_stack.undoTextChanged.connect(lambda t: a[ActionId.UNDO].setText(f"&Undo {t}".strip()))
        self.undo_stack.redoTextChanged.connect(lambda t: a[ActionId.REDO].setText(f"&Redo {t}".strip()))
        a[ActionId.UNDO].setEnabled(False)
        a[ActionId.REDO].setEnabled(False)
        a[ActionId.SYNC_NOW].triggered.connect(self.sync_now)
        a[ActionId.PRINT_CHART].triggered.connect(self.print_chart)
        a[ActionId.EXPORT_CHART].triggered.connect(self.export_chart_dialog)
        a[ActionId.CONFLICTS].triggered.connect(self.show_conflicts)
        a[ActionId.PREFERENCES].triggered.connect(self.show_preferences)
        a[ActionId.LOCK].triggered.connect(lambda: self.lock())
        a[ActionId.SET_PIN].triggered.connect(self.set_pin_dialog)
        a[ActionId.MEDICAL_ALERTS].triggered.connect(self.edit_alerts)
        a[ActionId.MEDICAL_ALERTS].setEnabled(False)
        self.alerts_button.setDefaultAction(a[ActionId.MEDICAL_ALERTS])
        a[ActionId.SIGN_OUT].triggered.connect(self.sign_out)
        a[ActionId.QUIT].triggered.connect(self.close)
        a[ActionId.FOCUS_COMMAND].triggered.connect(lambda: self.chart_tab.command.edit.setFocus())
        a[ActionId.FOCUS_CHART].triggered.connect(lambda: self.chart_tab.odontogram.setFocus())
        self.lock_page.pin_entered.connect(self.unlock_with_pin)
        self.lock_page.name_unlock_requested.connect(self.unlock)
        self.lock_page.sign_out_requested.connect(self.sign_out)
        self.finder.textChanged.connect(self.refresh_patients)
        self.patients.currentItemChanged.connect(self._on_patient_item)
        self.chart_tab.chart_changed.connect(self._on_chart_changed)

    # --- patients ------------------------------------------------------------------------------

    def refresh_patients(self, text: str | None = None) -> None:
        if not self.attached:
            return  # _attach() lists them
        wanted = self.finder.text() if text is None else text
        patient_ops.find(parent=self, service=self.patients_service, text=wanted).success(
            lambda rows: self._fill_patients(rows) if self.finder.text() == wanted else None).run(self.tasks)

    def _fill_patients(self, rows: list[PatientRow]) -> None:
        current = self.patient.id if self.patient else self.settings.get("persist/last_patient")
        self.patients.blockSignals(True)
        self.patients.clear()
        select = None
        for p in rows:
            # ⚠ after the name of a patient with active medical alerts: seen before the chart is opened
            # (after, so typing a family name in the list still jumps to it).
            flag = "  ⚠" if p.alerts else ""
            item = QListWidgetItem(f"{p.listed}{flag}\n{p.gpid} · born {p.birth_date or '?'}")
            item.setData(Qt.ItemDataRole.UserRole, p)
            said = f", medical alerts: {', '.join(p.alerts)}" if p.alerts else ""
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{p.name}, {p.gpid}, born {p.birth_date}{said}")
            if p.alerts:
                item.setToolTip("⚠ " + "\n⚠ ".join(p.alerts))
            self.patients.addItem(item)
            if p.id == current:
                select = item
        self.patients.blockSignals(False)
        if select is not None and (self.patient is None or self.patient.id != current):
            self.patients.setCurrentItem(select)
        elif select is not None:
            self.patients.blockSignals(True)
            self.patients.setCurrentItem(select)
            self.patients.blockSignals(False)

    def _on_patient_item(self, item: QListWidgetItem | None) -> None:
        self.open_patient(item.data(Qt.ItemDataRole.UserRole) if item else None)

    def open_patient(self, row: PatientRow | None) -> None:
        self.patient = row
        self.undo_stack.clear()
        frame, self.first_frame = self.first_frame, None
        self.actions_by_id[ActionId.MEDICAL_ALERTS].setEnabled(False)  # again once this chart has loaded
        if self.alerts_dialog is not None:
            self.alerts_dialog.close()  # it was about the patient before
        if row is None:
            self.header.setText("<i>No patient open</i>")
            self._show_alerts(())
            self.chart_tab.open_patient(None)
            for tab in self.patient_tabs.values():
                tab.open_patient(None)  # type: ignore[attr-defined]
            return
        self.settings.set("persist/last_patient", row.id)
        if frame is None or frame.patient.id != row.id:  # the first frame's header stays until its chart loads
            self._header(row)
        self.chart_tab.open_patient(row.id)
        for tab in self.patient_tabs.values():
            tab.open_patient(row.id)  # type: ignore[attr-defined]

    def _on_chart_changed(self, view: ChartView) -> None:
        if self.patient is not None and view.patient.id != self.patient.id:
            return  # a chart that finished loading after another patient was opened
        self._header(view.patient, planned=sum(1 for m in view.marks if m.status.value == "tp"),
                     unreadable=len(view.unreadable), alerts=view.alerts)
        self.actions_by_id[ActionId.MEDICAL_ALERTS].setEnabled(True)

    def edit_alerts(self) -> None:
        """Patient ▸ Medical alerts: the editor, beside the window; the header follows each change."""
        if self.patient is None or not self.attached or self.locked:
            return
        from odonto_desk.services.alerts import AlertService
        from odonto_desk.ui.alerts import AlertsDialog

        if self.alerts_dialog is not None:
            self.alerts_dialog.close()
        dialog = AlertsDialog(AlertService(self.session), self.tasks, self.patient.id, self.patient.name, self)
        dialog.changed.connect(self.chart_tab.reload)
        dialog.changed.connect(self.refresh_patients)  # the finder's ⚠ follows too
        dialog.finished.connect(lambda _r, d=dialog: self._alerts_closed(d))
        self.alerts_dialog = dialog
        dialog.open()

    def _alerts_closed(self, dialog: AlertsDialog) -> None:
        dialog.release()  # deleted once its writes are done
        if self.alerts_dialog is dialog:
            self.alerts_dialog = None

    def _header(self, row: PatientRow, *, planned: int | None = None, unreadable: int = 0,
                alerts: Sequence[_AlertShown] | None = None) -> None:
        """The patient's line; ``planned`` and ``alerts`` are None until the chart has loaded."""
        age = f"{row.age} y · " if row.age is not None else ""
        notes = []
        if planned:
            notes.append(f"{planned} planned")
        if unreadable:
            notes.append(f"⚠ {unreadable} record(s) could not be read")
        extra = "".join(f" &nbsp;<span style='color:#8A4B00'>{a}</span>" for a in notes)
        self.header.setText(f"<b style='font-size:14pt'>{row.name}</b> &nbsp; {age}born {row.birth_date} · "
                            f"{row.gpid} · {row.gender}{extra}")
        # Until the chart has loaded, no alerts rather than the previous patient's.
        self._show_alerts(alerts or ())

    def _show_alerts(self, alerts: Sequence[_AlertShown]) -> None:
        labels = [a.label for a in alerts]
        self.alerts_label.setText("⚠ " + " · ".join(labels) if labels else "")
        self.alerts_label.setAccessibleName("Medical alerts: " + ", ".join(labels) if labels else "Medical alerts")
        self.alerts_label.setToolTip("\n".join(a.detail for a in alerts))
        self.alerts_label.setVisible(bool(labels))

    # --- settings ------------------------------------------------------------------------------

    def set_numbering(self, system: NumberingSystem) -> None:
        self.numbering = system
        self.settings.set("setting/numbering", system.value)
        self.numbering_actions[system].setChecked(True)
        self.chart_tab.set_numbering(system)
        for tab in self.patient_tabs.values():
            tab.set_numbering(system)  # type: ignore[attr-defined]

    def show_preferences(self) -> None:
        from odonto_desk.ui.preferences import PreferencesDialog

        if PreferencesDialog(self.settings, self).exec():
            system = NumberingSystem(self.settings.get("setting/numbering"))
            if system is not self.numbering:
                self.set_numbering(system)

    # --- sync ----------------------------------------------------------------------------------

    def start_sync(self, embedded: object | None = None) -> None:
        """Start the embedded server if there is one, then sync in the background (never blocks)."""
        if not self.attached:
            self._pending_sync = (embedded,)  # _attach() starts it
            return

        def start() -> None:
            if embedded is not None:
                embedded.start()  # type: ignore[attr-defined]
                if not embedded.wait_ready():  # type: ignore[attr-defined]
                    raise RuntimeError("the embedded reference server did not start; see "
                                       f"{embedded.log_path}")  # type: ignore[attr-defined]
            self.sync_service.start()
            self.sync_service.start_live_refresh(self.webhook_patient.emit)

        self.sync_label.setText("Starting the embedded server…" if embedded is not None else "Connecting…")
        sync_ops.background(parent=self, fn=start).success(lambda _: self.sync_now()).failure(
            lambda exc: self.sync_label.setText(f"Offline: {exc}")).run(self.tasks)

    def _on_webhook_patient(self, patient_id: str) -> None:
        if self.patient is not None and self.patient.id == patient_id:
            self.reload_tabs()

    def probe(self) -> None:
        if not self.attached:
            return
        sync_ops.probe(parent=self, service=self.sync_service).success(self._show_badge).failure(
            lambda exc: self.sync_label.setText(f"Sync unavailable: {exc}")).run(self.tasks)

    def sync_now(self) -> None:
        if not self.attached:
            return  # _attach() starts the first sync
        self.sync_label.setText("Syncing…")
        sync_ops.sync_now(parent=self, service=self.sync_service).success(self._after_sync).failure(
            lambda exc: self.sync_label.setText(f"Sync failed: {exc}")).run(self.tasks)

    def _after_sync(self, badge: SyncBadge) -> None:
        self._show_badge(badge)
        self.refresh_patients()
        self.reload_tabs()
        self._resume_uploads()
        self.synced.emit(badge)

    def _resume_uploads(self) -> None:
        """Send images an earlier run left waiting, even if the Imaging tab is never opened.

        Once the tab is built it sends and shows its own progress; both use one queue and one uploader.
        """
        if self.patient_tabs["Imaging"].built:  # type: ignore[attr-defined]
            return
        from odonto_desk.services.imaging import ImagingService
        from odonto_desk.ui.ops import imaging as imaging_ops

        if self._imaging is None:
            self._imaging = ImagingService(self.session)

        def done(report: object) -> None:
            sent = len(report.sent)  # type: ignore[attr-defined]
            if sent:
                self.statusBar().showMessage(f"{sent} image(s) left waiting by an earlier session sent.", 8000)

        imaging_ops.upload_pending(parent=self, service=self._imaging).success(done).run(self.tasks)

    def tab(self, name: str) -> QWidget:
        """The patient tab called ``name`` ("Perio", "Plan"…), built now if it was not yet."""
        return self.patient_tabs[name].widget()

    def reload_tabs(self) -> None:
        self.chart_tab.reload()
        for tab in self.patient_tabs.values():
            tab.reload()  # type: ignore[attr-defined]

    def _show_badge(self, badge: SyncBadge) -> None:
        self.sync_label.setText(badge.text)
        tip = badge.last_error or "No recent errors"
        self.sync_label.setToolTip(tip)
        if badge.conflicts and not self.conflicts_dock.isVisible():
            self.show_conflicts()

    def show_conflicts(self) -> None:
        if self.locked:
            self._conflicts_after_unlock = True  # the panel shows patient edits: not over the lock
            return
        self.conflicts_dock.show()
        # A side panel, not half the window: the chart stays usable beside it.
        self.resizeDocks([self.conflicts_dock], [340], Qt.Orientation.Horizontal)
        if not self.attached:
            return
        sync_ops.conflicts(parent=self, service=self.sync_service, numbering=self.numbering).success(
            self._fill_conflicts).run(self.tasks)

    def _fill_conflicts(self, rows: list[ConflictRow]) -> None:
        self.conflict_list.clear()
        for c in rows:
            # In words, as the buttons say them (mine / theirs); the raw JSON is in the tooltip for support.
            lines = [c.title or c.what, *(f"• {d.element} — mine: {d.mine}; theirs: {d.theirs}" for d in c.changes)]
            item = QListWidgetItem("\n".join(lines))
            item.setToolTip(f"{c.what}, server version {c.server_version or '—'}\nmine: {c.mine[:400]}\n"
                            f"theirs: {c.theirs[:400]}")
            item.setData(Qt.ItemDataRole.UserRole, c.id)
            self.conflict_list.addItem(item)
        if not rows:
            self.conflict_list.addItem("No conflicts.")

    def _resolve(self, keep: str) -> None:
        item = self.conflict_list.currentItem()
        cid = item.data(Qt.ItemDataRole.UserRole) if item else None
        if cid is None or not self.attached:
            return
        sync_ops.resolve(parent=self, service=self.sync_service, conflict_id=int(cid), keep=keep).success(  # type: ignore[arg-type]
            lambda _: (self.show_conflicts(), self.reload_tabs())).run(self.tasks)

    # --- print and export ----------------------------------------------------------------------

    def export_chart(self, path: str) -> None:
        """Save the odontogram as PNG or PDF (by the file's extension)."""
        pixmap = self.chart_tab.odontogram.grab_chart(QSize(1600, 900))
        if path.lower().endswith(".pdf"):
            from PySide6.QtGui import QPdfWriter

            writer = QPdfWriter(path)
            writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
            writer.setPageOrientation(QPageLayout.Orientation.Landscape)
            writer.setTitle(f"Chart — {self.patient.name if self.patient else ''}")
            p = QPainter(writer)
            target = p.viewport()
            scaled = pixmap.size().scaled(target.size(), Qt.AspectRatioMode.KeepAspectRatio)
            p.drawText(0, 0, target.width(), 200, Qt.AlignmentFlag.AlignLeft, self._print_title())
            p.drawPixmap(0, 240, scaled.width(), scaled.height() - 240, pixmap)
            p.end()
        elif not pixmap.save(path):
            raise OSError(f"could not write {path}")
        self.session.cache().audit.record(self.session.user.name, self.session.user.role.value, "exported",
                                          "Patient", self.patient.id if self.patient else None, None,
                                          f"chart saved as {path.rsplit('.', 1)[-1].upper()}")

    def _print_title(self) -> str:
        p = self.patient
        return f"{p.name} · {p.gpid} · born {p.birth_date}" if p else ""

    def export_chart_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export chart", "chart.png", "PNG image (*.png);;PDF (*.pdf)")
        if path and not self.locked:  # a platform's own chooser is not closed by the lock: ask again after
            self.export_chart(path)

    def print_chart(self) -> None:
        from PySide6.QtPrintSupport import QPrintDialog, QPrinter

        printer = QPrinter()
        if QPrintDialog(printer, self).exec() and not self.locked:
            p = QPainter(printer)
            pm = self.chart_tab.odontogram.grab_chart(QSize(1600, 900))
            p.drawPixmap(p.viewport(), pm)
            p.end()

    # --- sign out and lock --------------------------------------------------------------------

    def sign_out(self) -> None:
        """Forget the signed-in user and close; the app then asks who signs in next (``app.run``).

        Open work is saved first: the tabs save on close, and queued edits stay in the outbox of
        this server's cache for whoever signs in to it next.
        """
        for key in ("persist/user", "persist/role", "persist/last_patient"):  # the next user starts clean
            self.settings.set(key, "")
        self.signed_out = True
        self.close()

    # --- lock ----------------------------------------------------------------------------------

    def lock(self, *, reason: str = "by the user") -> None:
        """Hide patient data. Unlocking takes the user's PIN when they have one here, else their name."""
        already = self.locked
        if not already:
            self._close_dialogs()
            self._set_actions_enabled(False)
        self.pages.setCurrentWidget(self.lock_page)
        self.menuBar().setEnabled(False)
        self.conflicts_dock.hide()
        self._idle.stop()
        if not already:
            uses_pin, error = self._pin_state()
            user = self.session.user
            self.lock_page.show_locked(user=user.name, role=user.role.label, uses_pin=uses_pin, error=error)
            self._audit("locked", f"locked {reason}" + (", PIN asked" if uses_pin else ", no PIN set"))
        self.lock_page.focus_entry()

    def _set_actions_enabled(self, on: bool) -> None:
        """Every window action on or off (the lock): their shortcuts too, whatever the platform's menu bar
        does with a disabled one. Each keeps the state it had when the lock came."""
        if not on:
            self._enabled_before_lock = {aid for aid, a in self.actions_by_id.items() if a.isEnabled()}
            for aid, action in self.actions_by_id.items():
                action.setEnabled(aid is ActionId.QUIT)  # quitting saves and hides everything anyway
        else:
            for aid in self._enabled_before_lock:
                self.actions_by_id[aid].setEnabled(True)
            self._enabled_before_lock = set()

    def _close_dialogs(self) -> None:
        """Close every open dialog before the lock page shows: one left on top (the alerts editor, a
        plan's print preview, a file chooser) would show patient data over it. Each is cancelled,
        as if its Cancel or Close were pressed; a modal one returns to its caller as cancelled."""
        while (popup := QApplication.activePopupWidget()) is not None:  # an open menu: its items still work
            popup.close()
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, QDialog) and widget.isVisible():
                widget.reject()

    def _pin_state(self) -> tuple[bool, str]:
        """Whether the lock asks a PIN, and what to say when the PIN store cannot be read.

        A store that cannot be read keeps the lock shut for a user noted as having a PIN (they can
        still sign out); a user never noted unlocks by name, as without a PIN.
        """
        name = self.session.user.name
        try:
            has_pin = self.pins.has_pin(name)
        except Exception as exc:  # the keyring or the secrets file refused
            log.warning("unlock PINs cannot be read: %s", type(exc).__name__)
            noted = pin_noted(self.settings, name)
            return noted, f"Unlock PINs cannot be read on this computer: {exc}" if noted else ""
        note_pin(self.settings, name, has_pin)
        return has_pin, ""

    def unlock_with_pin(self, pin: str) -> None:
        """Unlock if ``pin`` is the user's; after MAX_TRIES wrong ones in a row, sign out (work is saved)."""
        if not self.locked:
            return
        page = self.lock_page
        try:
            validate(pin)
        except PinError as exc:  # a PIN that cannot be right is not a try
            page.show_error(str(exc) if pin else "Type your PIN, then press Enter.")
            page.focus_entry()
            return
        count, last = pin_failures(self.settings, self.session.user.name)
        wait = retry_wait(count, time.time() - last)
        if wait > 0:  # after a round of wrong PINs, even across sign-outs and starts
            page.pin.clear()
            page.show_error(f"Too many wrong PINs. Try again in {math.ceil(wait)} s, or sign out.")
            page.focus_entry()
            return
        try:
            right = self.pins.check(self.session.user.name, pin)
        except Exception as exc:
            page.show_error(f"The PIN cannot be checked on this computer: {exc}")
            return
        if right:
            self._unlocked("with the PIN")
            return
        count += 1
        note_pin_failure(self.settings, self.session.user.name, count, time.time())
        in_round = (count - 1) % MAX_TRIES + 1
        left = MAX_TRIES - in_round
        self._audit("unlock-failed", f"wrong PIN ({in_round} of {MAX_TRIES}"
                    + (f", {count} in a row" if count > MAX_TRIES else "") + ")"
                    + ("; signed out" if left <= 0 else ""))
        if left <= 0:
            self.sign_out()
            return
        page.pin.clear()
        page.show_error(f"Wrong PIN, {left} {'try' if left == 1 else 'tries'} left")
        page.focus_entry()

    def unlock(self) -> None:
        """Unlock by typing the user's name: only for a user without a PIN here (the older lock)."""
        from odonto_desk.ui.sign_in import SignInDialog

        if not self.locked or self.lock_page.uses_pin:
            return
        dialog = SignInDialog(user=self.session.user.name, role=self.session.user.role.value, parent=self)
        dialog.server.setEnabled(False)
        if not dialog.exec():
            return
        if dialog.user.text().strip() == self.session.user.name:
            self._unlocked("by name (no PIN set)")
        else:
            self._audit("unlock-failed", "another name typed (no PIN set)")

    def _unlocked(self, how: str) -> None:
        note_pin_failure(self.settings, self.session.user.name, 0, 0.0)
        self.lock_page.pin.clear()
        self.lock_page.show_error("")
        self.pages.setCurrentIndex(0)
        self.menuBar().setEnabled(True)
        self._set_actions_enabled(True)
        if self._conflicts_after_unlock:
            self._conflicts_after_unlock = False
            self.show_conflicts()
        self._reset_idle()
        self._audit("unlocked", f"unlocked {how}")

    def _audit(self, action: LockAction, summary: str) -> None:
        lock_ops.record(parent=self, session=self.session, action=action, summary=summary).failure(
            lambda exc: log.warning("lock event not audited: %s: %s", type(exc).__name__, exc)).run(self.tasks)

    def set_pin_dialog(self) -> None:
        """File ▸ Set unlock PIN…: set, change or remove the signed-in user's PIN."""
        from odonto_desk.ui.pin_dialog import PinDialog

        name = self.session.user.name
        try:
            has_pin = self.pins.has_pin(name)
        except Exception as exc:
            show_error(self, exc)
            return
        dialog = PinDialog(self.pins, name, has_pin=has_pin, parent=self)
        if dialog.exec():
            note_pin(self.settings, name, dialog.outcome != "removed")
            said = {"set": "Unlock PIN set: the lock now asks for it.", "changed": "Unlock PIN changed.",
                    "removed": "Unlock PIN removed: the lock asks for your name again."}
            self.statusBar().showMessage(said[dialog.outcome or "set"], 8000)

    @property
    def locked(self) -> bool:
        return self.pages.currentWidget() is self.lock_page

    def _reset_idle(self) -> None:
        minutes = int(self.settings.get("setting/idle_lock_minutes"))
        if minutes and not self.locked:
            self._idle.start(minutes * 60_000)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()  # every event of the app passes here: keep it cheap
        if kind in _ACTIVITY:
            self._reset_idle()
        elif self._await_first_paint and kind == _PAINT and watched is self.chart_tab.odontogram:
            self._await_first_paint = False  # the chart is being drawn: load the rest once it is on screen
            QTimer.singleShot(0, self._load_services)
        return False

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.locked:  # opened locked: the PIN field takes the keyboard at once
            self.lock_page.focus_entry()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._closed = True
        QApplication.instance().removeEventFilter(self)  # type: ignore[union-attr]
        self._probe_timer.stop()
        self.tasks.drain(10_000)
        super().closeEvent(event)
