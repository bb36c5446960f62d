"""The Imaging tab: the patient's images, a viewer, import, and the upload queue with its progress.

Reads, imports and uploads run as ops (``ui/ops/imaging.py``). The upload queue is resumed when the
tab is built (an app restarted after a crash goes on where it stopped), after every import, and
every :data:`RETRY_MS` while the server cannot be reached.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.teeth import NumberingSystem, Tooth
from odonto_desk.services.imaging import (
    ImageRow,
    ImageStack,
    ImagingService,
    UploadJob,
    UploadReport,
    UploadState,
    job_row,
)
from odonto_desk.ui.errors import describe, show_error
from odonto_desk.ui.imaging.import_dialog import ImportDialog
from odonto_desk.ui.imaging.viewer import ImageViewer
from odonto_desk.ui.ops import imaging as ops
from odonto_desk.ui.tabs import TabContext

RETRY_MS = 30_000
_STATE_TEXT = {UploadState.WAITING: ("Waiting to send", "#D55E00"), UploadState.SENT: ("On server", "#0072B2"),
               UploadState.REFUSED: ("Refused", "#B00020")}


class _Progress(QObject):
    """Carries upload progress from the worker thread to the UI thread (a queued signal)."""

    moved = Signal(str, int, int)


class ImagingTab(QWidget):
    images_changed = Signal(list)  # list[ImageRow], after every reload
    stack_shown = Signal(object)  # ImageStack, when the viewer shows a new image

    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.service = ImagingService(context.session)
        self.numbering = context.numbering
        self.patient_id: str | None = None
        self.rows: list[ImageRow] = []
        self._uploading = False
        self._shown_path: str | None = None  # the spooled file on screen, to select its row
        self._progress = _Progress(self)
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.setInterval(RETRY_MS)

        self.table = QTableWidget(0, 5)
        self.table.setAccessibleName("Images")
        self.table.setHorizontalHeaderLabels(["Date", "Kind", "Title", "Teeth", "State"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.import_button = QPushButton("&Import image…")
        self.import_button.setAccessibleName("Import a PNG, JPEG or DICOM image")
        self.folder_button = QPushButton("Import CBCT &folder…")
        self.folder_button.setAccessibleName("Import a folder of DICOM slices")
        self.send_button = QPushButton("&Send now")
        self.send_button.setAccessibleName("Send waiting images to the server")
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Upload progress")
        self.progress.setVisible(False)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Imaging message")

        self.viewer = ImageViewer()
        self.info = QLabel()
        self.info.setAccessibleName("Image information")
        self.level = self._slider("Level (window centre)")
        self.width_slider = self._slider("Window width")
        self.frame = self._slider("Frame")
        self.frame_label = QLabel("Frame 1 / 1")
        fit = QPushButton("Fit")
        fit.setAccessibleName("Fit the image to the viewer")
        zoom_in, zoom_out = QPushButton("+"), QPushButton("−")
        zoom_in.setAccessibleName("Zoom in")
        zoom_out.setAccessibleName("Zoom out")
        for b in (fit, zoom_in, zoom_out):
            b.setMaximumWidth(48)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        buttons = QHBoxLayout()
        for b in (self.import_button, self.folder_button, self.send_button):
            buttons.addWidget(b)
        ll.addLayout(buttons)
        ll.addWidget(self.table, 1)
        ll.addWidget(self.progress)
        ll.addWidget(self.message)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.info)
        rl.addWidget(self.viewer, 1)
        controls = QHBoxLayout()
        for label, widget in (("Level", self.level), ("Width", self.width_slider)):
            controls.addWidget(QLabel(label))
            controls.addWidget(widget, 1)
        controls.addWidget(zoom_out)
        controls.addWidget(fit)
        controls.addWidget(zoom_in)
        rl.addLayout(controls)
        frames = QHBoxLayout()
        frames.addWidget(self.frame_label)
        frames.addWidget(self.frame, 1)
        rl.addLayout(frames)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 2)
        split.setSizes([460, 840])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

        self.table.itemSelectionChanged.connect(self._on_selection)
        self.import_button.clicked.connect(self._on_import_file)
        self.folder_button.clicked.connect(self._on_import_folder)
        self.send_button.clicked.connect(self.send)
        self.level.valueChanged.connect(lambda v: self.viewer.set_window(v, self.viewer.window.width))
        self.width_slider.valueChanged.connect(lambda v: self.viewer.set_window(self.viewer.window.center, v))
        self.frame.valueChanged.connect(self.viewer.set_frame)
        self.viewer.window_changed.connect(self._on_window_changed)
        self.viewer.frame_changed.connect(self._on_frame_changed)
        fit.clicked.connect(self.viewer.fit)
        zoom_in.clicked.connect(lambda: self.viewer.set_zoom(self.viewer.zoom * 1.25))
        zoom_out.clicked.connect(lambda: self.viewer.set_zoom(self.viewer.zoom / 1.25))
        self._progress.moved.connect(self._on_progress)
        self._retry.timeout.connect(self.send)
        self._set_patient_controls()
        self.send()  # resume what an earlier run left unsent

    @staticmethod
    def _slider(name: str) -> QSlider:
        s = QSlider(Qt.Orientation.Horizontal)
        s.setAccessibleName(name)
        s.setEnabled(False)
        return s

    # --- the tab protocol ----------------------------------------------------------------------

    def open_patient(self, patient_id: str | None) -> None:
        self.patient_id = patient_id
        self.rows = []
        self._shown_path = None
        self.table.setRowCount(0)
        self.viewer.set_stack(None)
        self.info.clear()
        self.message.clear()
        self._set_patient_controls()
        self.reload()

    def reload(self) -> None:
        if self.patient_id is None:
            return
        wanted = self.patient_id
        ops.list_images(parent=self, service=self.service, patient_id=wanted).success(
            lambda rows: self._fill(rows) if wanted == self.patient_id else None).run(self.context.tasks)

    def set_numbering(self, system: NumberingSystem) -> None:
        self.numbering = system
        self._fill(self.rows)

    def _set_patient_controls(self) -> None:
        for b in (self.import_button, self.folder_button):
            b.setEnabled(self.patient_id is not None)

    # --- the list ------------------------------------------------------------------------------

    def _fill(self, rows: list[ImageRow]) -> None:
        selected = self._selected()
        self.rows = rows
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            state, colour = _STATE_TEXT.get(row.state, (row.state, "#444444"))
            cells = [row.date, row.kind, row.title, _teeth_text(row.teeth, self.numbering), state]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, row.key)
                if c == 4:
                    item.setForeground(QColor(colour))
                    if row.error:
                        item.setToolTip(row.error)
                self.table.setItem(r, c, item)
        # Keep the image on screen selected in the list, also once its upload row became a server row.
        self.table.blockSignals(True)
        for r, row in enumerate(rows):
            if (selected is not None and row.key == selected.key) or (
                    self._shown_path is not None and row.local_path == self._shown_path):
                self.table.selectRow(r)
        self.table.blockSignals(False)
        self.images_changed.emit(rows)

    def _selected(self) -> ImageRow | None:
        r = self.table.currentRow()
        return self.rows[r] if 0 <= r < len(self.rows) else None

    def _on_selection(self) -> None:
        row = self._selected()
        if row is None:
            return
        self._shown_path = row.local_path
        if row.error:
            self.message.setText(f"The server refused this image: {row.error}")
        ops.load_image(parent=self, service=self.service, row=row).success(
            lambda stack: self.show_stack(stack, row)).failure(self._failed).run(self.context.tasks)

    def show_stack(self, stack: ImageStack, row: ImageRow | None = None) -> None:
        self.viewer.set_stack(stack)
        shown = self.viewer.stack
        if shown is None or shown.frames is None:
            return
        lo, hi = float(shown.frames.min()), float(shown.frames.max())
        for slider, low, high in ((self.level, lo, hi), (self.width_slider, 1, max(2.0, hi - lo) * 2)):
            slider.blockSignals(True)
            slider.setRange(int(low), int(high))
            slider.setEnabled(shown.window is not None)
            slider.blockSignals(False)
        self.frame.blockSignals(True)
        self.frame.setRange(0, shown.frame_count - 1)
        self.frame.setEnabled(shown.frame_count > 1)
        self.frame.blockSignals(False)
        self._on_window_changed(self.viewer.window.center, self.viewer.window.width)
        self._on_frame_changed(self.viewer.frame)
        count = shown.frame_count
        what = [row.kind, row.title] if row else []
        what += [shown.description, f"{shown.frames.shape[2]}×{shown.frames.shape[1]} px",
                 f"{count} frames" if count > 1 else ""]
        self.info.setText(" · ".join(x for x in what if x))
        self.stack_shown.emit(shown)

    def _on_window_changed(self, center: float, width: float) -> None:
        for slider, value in ((self.level, center), (self.width_slider, width)):
            slider.blockSignals(True)
            slider.setValue(round(value))
            slider.blockSignals(False)
        self.context.status(f"Window: level {center:.0f}, width {width:.0f}")

    def _on_frame_changed(self, index: int) -> None:
        total = self.viewer.stack.frame_count if self.viewer.stack else 1
        self.frame_label.setText(f"Frame {index + 1} / {total}")
        self.frame.blockSignals(True)
        self.frame.setValue(index)
        self.frame.blockSignals(False)

    # --- importing -----------------------------------------------------------------------------

    def _on_import_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import image", "",
                                              "Images (*.dcm *.dicom *.png *.jpg *.jpeg);;All files (*)")
        if path:
            self._ask_and_import(Path(path))

    def _on_import_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import a CBCT series folder")
        if path:
            self._ask_and_import(Path(path), kind="cbct")

    def _ask_and_import(self, path: Path, kind: str | None = None) -> None:
        dialog = ImportDialog(path.name, self.numbering, kind=kind, parent=self)
        if dialog.exec():
            self.import_path(path, kind=dialog.chosen_kind, teeth=dialog.teeth, title=dialog.title.text())

    def import_path(self, path: Path, *, kind: str | None = None, teeth: tuple[Tooth, ...] = (),
                    title: str | None = None) -> None:
        """Check, spool and queue ``path`` for the open patient; then show it and start sending."""
        if self.patient_id is None:
            return
        self.message.setText(f"Checking {path.name}…")
        ops.import_image(parent=self, service=self.service, patient_id=self.patient_id, path=path, kind=kind,
                         teeth=teeth, title=title).success(self._imported).failure(self._failed).run(self.context.tasks)

    def _imported(self, result: tuple[UploadJob, ImageStack]) -> None:
        job, stack = result
        self.message.setStyleSheet("")
        self.message.setText(f"“{job.title}” is saved on this computer and queued for the server.")
        self.context.status("Image imported")
        self._shown_path = job.path
        self.show_stack(stack, job_row(job))
        self.reload()
        self.send()

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, DomainError):  # a bad file or input: said here, next to the list
            self.message.setText(f"Not imported: {exc.message}")
            self.message.setStyleSheet("color: #B00020;")
            return
        show_error(self, exc)

    # --- sending -------------------------------------------------------------------------------

    def send(self) -> None:
        """Send the waiting images (all patients), from where the server stopped."""
        if self._uploading:
            return
        self._uploading = True
        self._retry.stop()
        moved = self._progress.moved
        ops.upload_pending(parent=self, service=self.service, on_progress=moved.emit).success(
            self._sent).failure(self._send_failed).run(self.context.tasks)

    def _on_progress(self, _job: str, done: int, total: int) -> None:
        self.progress.setVisible(True)
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(1000 * done / max(1, total)))
        self.progress.setFormat(f"Sending image: {done // 1024:,} of {total // 1024:,} kB")

    def _sent(self, report: UploadReport) -> None:
        self._uploading = False
        self.progress.setVisible(False)
        if report.offline:
            self.message.setStyleSheet("")
            self.message.setText(f"{report.waiting} image(s) wait on this computer: the server cannot be reached. "
                                 "They will be sent automatically.")
            self._retry.start()
        elif report.sent or report.refused:
            self.message.setStyleSheet("")
            self.message.setText(f"{len(report.sent)} image(s) sent."
                                 + (f" {len(report.refused)} refused by the server." if report.refused else ""))
        if report.sent or report.refused:
            self.reload()

    def _send_failed(self, exc: Exception) -> None:
        self._uploading = False
        self.progress.setVisible(False)
        self.message.setText(f"Images are not being sent: {describe(exc)}")
        self._retry.start()


def _teeth_text(teeth: tuple[Tooth, ...], numbering: NumberingSystem) -> str:
    return ", ".join(t.format(numbering) for t in teeth)
