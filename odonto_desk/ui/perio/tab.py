"""The Perio tab: the grid for keyboard entry, the graph, the indices and the classification.

Typing goes to the grid's :class:`PerioEntry`; after each keystroke the tab keeps a copy of the
exam and has it written as a local draft (so a crash loses nothing), and once typing pauses it
saves the exam as FHIR Observations through the outbox. Older exams are shown read-only: a new
exam (blank, or a copy of the previous one) is started with the buttons or Ctrl+N / Ctrl+Shift+N.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QKeySequence, QPageLayout, QPageSize, QPainter, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from odonto_desk.domain.classification import GRADES, ROMAN, RULES, Classification, FlagKind, PerioDiagnosis
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.perio import PerioExam
from odonto_desk.domain.perio_entry import Outcome, PerioEntry, RedThresholds
from odonto_desk.domain.perio_indices import summarize
from odonto_desk.domain.perio_paths import PathName, Segment, parse_segments
from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.services.perio import PerioChart, PerioService, SaveReport
from odonto_desk.ui.errors import describe, show_error
from odonto_desk.ui.ops import perio as perio_ops
from odonto_desk.ui.perio.grid import PerioGrid
from odonto_desk.ui.tabs import TabContext

SAVE_AFTER_MS = 1500
CLASSIFY_AFTER_MS = 400
PATHS = ((PathName.MAXILLARY_FIRST, "Maxillary first"), (PathName.FACIALS_FIRST, "Facials first"),
         (PathName.MANDIBULAR_LINGUAL_FIRST, "Mandibular lingual last"), (PathName.CUSTOM, "Custom"))
KIND_TITLES = {FlagKind.GRAY_ZONE: "To confirm", FlagKind.MISSING_DATA: "Missing data",
               FlagKind.HISTORY: "History", FlagKind.ASSUMPTION: "Assumption"}


class PerioTab(QWidget):
    def __init__(self, context: TabContext) -> None:
        super().__init__()
        self.context = context
        self.tasks = context.tasks
        self.settings = context.settings
        self.service = PerioService(context.session)
        self.patient_id: str | None = None
        self.chart: PerioChart | None = None
        self.exam: PerioExam | None = None  # the exam shown
        self.editable = False
        self.proposed: Classification | None = None
        self._dirty = False
        self._draft_busy = False
        self._draft_wanted: PerioExam | None = None
        self.graph: Any = None  # built on first use (pyqtgraph is imported then)

        # toolbar
        self.exams = QComboBox()
        self.exams.setAccessibleName("Exam")
        self.exams.setMinimumContentsLength(18)
        self.new_button = QPushButton("&New exam")
        self.copy_button = QPushButton("Cop&y previous")
        self.path = QComboBox()
        self.path.setAccessibleName("Entry path")
        for name, label in PATHS:
            self.path.addItem(label, name.value)
        self.reverse = QCheckBox("Reverse (r)")
        self.triplets = QCheckBox("Triplets (t)")
        self.implants = QCheckBox("Stop at implants")
        self.older = QSpinBox()
        self.older.setRange(0, 5)
        self.older.setPrefix("older shown: ")
        self.older.setAccessibleName("Older exams shown")
        self.baseline = QComboBox()
        self.baseline.setAccessibleName("Compare with")
        self.print_button = QPushButton("&Print PDF…")
        for combo in (self.exams, self.baseline):  # "2024-11-05 (being entered)" is shown whole
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        # Two rows, so the tab fits beside the patient list in the default window: which exam is shown
        # (and against what), then how it is entered.
        exam_row = QHBoxLayout()
        for w in (QLabel("Exam"), self.exams, self.new_button, self.copy_button, self.older,
                  QLabel("Compare with"), self.baseline):
            exam_row.addWidget(w)
        exam_row.addStretch(1)
        exam_row.addWidget(self.print_button)
        entry_row = QHBoxLayout()
        for w in (QLabel("Path"), self.path, self.reverse, self.triplets, self.implants):
            entry_row.addWidget(w)
        entry_row.addStretch(1)
        bar = QVBoxLayout()
        bar.addLayout(exam_row)
        bar.addLayout(entry_row)

        # grid and the line under it
        self.grid = PerioGrid()
        scroll = QScrollArea()
        scroll.setWidget(self.grid)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        scroll.setMinimumHeight(220)
        self.scroll = scroll
        self.where = QLabel("")
        self.where.setAccessibleName("Cursor")
        self.message = QLabel("")
        self.message.setAccessibleName("Perio message")
        self.message.setStyleSheet("color: #B71C1C; font-weight: bold;")
        self.saved = QLabel("")
        self.saved.setAccessibleName("Saved state")
        line = QHBoxLayout()
        line.addWidget(self.where)
        line.addWidget(self.message, 1)
        line.addWidget(self.saved)
        keys = QLabel("digits enter and advance · Shift+digit = bleeding too · Ctrl+digit 10–19 (GM: coronal) · "
                      "b/Space s p c flags · g j f m rows, . probing · t triplets · r reverse · x missing · "
                      "Backspace · Ctrl+Z undo")
        keys.setStyleSheet("color: #555;")
        keys.setWordWrap(True)

        # indices and classification
        self.indices = QLabel("")
        self.indices.setAccessibleName("Perio indices")
        self.indices.setTextFormat(Qt.TextFormat.RichText)
        indices_box = QGroupBox("Indices")
        QVBoxLayout(indices_box).addWidget(self.indices)
        self.result = QLabel("")
        self.result.setAccessibleName("Classification")
        self.result.setTextFormat(Qt.TextFormat.RichText)
        self.result.setWordWrap(True)
        self.reasons = QListWidget()
        self.reasons.setAccessibleName("Rules that fired")
        self.notices = QListWidget()
        self.notices.setAccessibleName("To confirm and missing data")
        for lst in (self.reasons, self.notices):
            lst.setWordWrap(True)
            lst.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.smoking = QSpinBox()
        self.smoking.setRange(-1, 100)
        self.smoking.setSpecialValueText("unknown")
        self.smoking.setValue(-1)
        self.smoking.setSuffix(" /day")
        self.diabetes = QComboBox()
        self.diabetes.addItems(["unknown", "no", "yes"])
        self.hba1c = QDoubleSpinBox()
        self.hba1c.setRange(0, 20)
        self.hba1c.setDecimals(1)
        self.hba1c.setSpecialValueText("not recorded")
        self.hba1c.setSuffix(" %")
        self.stage = QComboBox()
        self.stage.addItems(["as proposed", *[f"Stage {r}" for r in ROMAN]])
        self.grade = QComboBox()
        self.grade.addItems(["as proposed", *[f"Grade {g}" for g in GRADES]])
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("why the stage or grade differs (required to override)")
        self.reason.setAccessibleName("Override reason")
        self.confirm_button = QPushButton("&Record classification")
        self.recorded = QLabel("")
        self.recorded.setWordWrap(True)
        self.override_message = QLabel("")
        self.override_message.setWordWrap(True)
        self.override_message.setStyleSheet("color: #B71C1C; font-weight: bold;")
        self.override_message.setAccessibleName("Classification message")
        self.recorded.setAccessibleName("Recorded classification")
        form = QFormLayout()
        form.addRow("Cigarettes", self.smoking)
        form.addRow("Diabetes", self.diabetes)
        form.addRow("HbA1c", self.hba1c)
        form.addRow("Stage", self.stage)
        form.addRow("Grade", self.grade)
        form.addRow("Reason", self.reason)
        class_box = QGroupBox("Classification (2017 AAP/EFP)")
        cl = QVBoxLayout(class_box)
        cl.addWidget(self.result)
        cl.addWidget(QLabel("Rules that fired"))
        cl.addWidget(self.reasons, 2)
        cl.addWidget(QLabel("To confirm · missing data"))
        cl.addWidget(self.notices, 2)
        cl.addLayout(form)
        cl.addWidget(self.confirm_button)
        cl.addWidget(self.override_message)
        cl.addWidget(self.recorded)
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(indices_box)
        sl.addWidget(class_box, 1)
        # The panel scrolls on a short screen (or under a patient's alert line) rather than making
        # the whole window taller than the screen.
        side_scroll = QScrollArea()
        side_scroll.setWidget(side)
        side_scroll.setWidgetResizable(True)
        side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side_scroll.setMinimumWidth(316)
        side_scroll.setMaximumWidth(396)

        self.graph_holder = QWidget()
        self.graph_layout = QVBoxLayout(self.graph_holder)
        self.graph_layout.setContentsMargins(0, 0, 0, 0)
        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addWidget(scroll, 1)
        tl.addLayout(line)
        tl.addWidget(keys)
        left = QSplitter(Qt.Orientation.Vertical)  # grid above, graph below: drag to give either more room
        left.addWidget(top)
        left.addWidget(self.graph_holder)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 2)
        left.setChildrenCollapsible(False)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(side_scroll)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(split, 1)

        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_AFTER_MS)
        self._save_timer.timeout.connect(self.save_now)
        self._classify_timer = QTimer(self)
        self._classify_timer.setSingleShot(True)
        self._classify_timer.setInterval(CLASSIFY_AFTER_MS)
        self._classify_timer.timeout.connect(self._refresh_derived)

        self._load_settings()
        self._connect()
        self._set_enabled(False)

    # --- wiring ----------------------------------------------------------------------------------

    def _load_settings(self) -> None:
        s = self.settings
        self.path.setCurrentIndex(max(0, self.path.findData(s.get("setting/perio_path"))))
        self.implants.setChecked(bool(s.get("setting/perio_implants")))
        self.grid.set_thresholds(self.thresholds())
        self.grid.set_numbering(self.context.numbering)

    def thresholds(self) -> RedThresholds:
        s = self.settings
        return RedThresholds(pd=s.get("setting/perio_red_pd"), gm=s.get("setting/perio_red_gm"),
                             cal=s.get("setting/perio_red_cal"), mgj=s.get("setting/perio_red_mgj"),
                             furcation=s.get("setting/perio_red_furcation"),
                             mobility=s.get("setting/perio_red_mobility"))

    def _connect(self) -> None:
        self.grid.edited.connect(self._on_edited)
        self.grid.refused.connect(self._on_refused)
        self.grid.cursor_moved.connect(self._on_cursor)
        self.new_button.clicked.connect(lambda: self.start_exam(copy=False))
        self.copy_button.clicked.connect(lambda: self.start_exam(copy=True))
        QShortcut(QKeySequence("Ctrl+N"), self, activated=lambda: self.start_exam(copy=False))
        QShortcut(QKeySequence("Ctrl+Shift+N"), self, activated=lambda: self.start_exam(copy=True))
        self.exams.activated.connect(self._on_exam_chosen)
        self.path.activated.connect(self._on_path)
        self.reverse.toggled.connect(self._on_reverse)
        self.triplets.toggled.connect(self._on_triplets)
        self.implants.toggled.connect(self._on_implants)
        self.older.valueChanged.connect(lambda _v: self._show_exam())
        self.baseline.activated.connect(lambda _i: self._show_exam())
        self.confirm_button.clicked.connect(self.record_classification)
        self.print_button.clicked.connect(self._print_dialog)
        for w in (self.smoking, self.hba1c):
            w.valueChanged.connect(lambda _v: self._classify_timer.start())
        self.diabetes.currentIndexChanged.connect(lambda _i: self._classify_timer.start())
        self.settings.changed.connect(self._on_setting)

    def _on_setting(self, key: str) -> None:
        if key.startswith("setting/perio_red_"):
            self.grid.set_thresholds(self.thresholds())
        elif key == "setting/perio_path":
            index = self.path.findData(self.settings.get(key))
            if index >= 0 and index != self.path.currentIndex():
                self.path.setCurrentIndex(index)
                self._on_path(index)
        elif key == "setting/perio_custom_path" and self.path.currentData() == PathName.CUSTOM.value:
            self._on_path(self.path.currentIndex())

    def segments(self) -> tuple[Segment, ...] | None:
        """The passes of the custom path (from Preferences) when it is chosen, else None."""
        if self.path.currentData() != PathName.CUSTOM.value:
            return None
        return parse_segments(self.settings.get("setting/perio_custom_path"))

    def _set_enabled(self, on: bool) -> None:
        for w in (self.new_button, self.copy_button, self.print_button, self.confirm_button):
            w.setEnabled(on)

    # --- the tab protocol ------------------------------------------------------------------------

    def open_patient(self, patient_id: str | None) -> None:
        self.save_now()
        self.patient_id = patient_id
        self.chart, self.exam, self.proposed = None, None, None
        self.grid.set_exam(None)
        self._set_enabled(False)
        if patient_id is None:
            self.exams.clear()
            return
        self.reload()

    def reload(self) -> None:
        if self.patient_id is None:
            return
        if self._dirty:
            self.save_now(then_reload=True)
            return
        wanted = self.patient_id
        perio_ops.open_chart(parent=self, service=self.service, patient_id=wanted).success(
            lambda chart: self._on_chart(chart) if self.patient_id == wanted else None).run(self.tasks)

    def set_numbering(self, system: NumberingSystem) -> None:
        self.grid.set_numbering(system)
        if self.graph is not None:
            self.graph.set_numbering(system)

    # --- exams -----------------------------------------------------------------------------------

    def _on_chart(self, chart: PerioChart) -> None:
        self.chart = chart
        self._set_enabled(True)
        self.copy_button.setEnabled(bool(chart.exams))
        keep = self.exam.id if self.exam is not None else None
        if chart.draft is not None:
            self.exam = chart.draft
            self.editable = True
            self.saved.setText("Restored the exam typed before the app closed")
        else:
            ids = [e.id for e in chart.exams]
            self.exam = chart.exams[ids.index(keep)] if keep in ids else (chart.exams[-1] if chart.exams else None)
            self.editable = self.exam is not None and self.exam.date == self.service.today
        self._fill_exam_list()
        self._show_exam(new_entry=True)

    def _fill_exam_list(self) -> None:
        chart = self.chart
        self.exams.clear()
        self.baseline.clear()
        self.baseline.addItem("nothing", None)
        if chart is None:
            return
        listed = list(reversed(chart.exams))
        if self.exam is not None and all(e.id != self.exam.id for e in listed):
            listed.insert(0, self.exam)  # a new or restored exam not saved yet
        for e in listed:
            tag = " (being entered)" if e is self.exam and self.editable else ""
            self.exams.addItem(f"{e.date:%Y-%m-%d}{tag}" if e.date else f"undated{tag}", e.id)
            if e is not self.exam:
                self.baseline.addItem(f"{e.date:%Y-%m-%d}" if e.date else "undated", e.id)
        if self.exam is not None:
            self.exams.setCurrentIndex(max(0, self.exams.findData(self.exam.id)))

    def _others(self) -> list[PerioExam]:
        """The saved exams before the shown one, newest first."""
        if self.chart is None or self.exam is None:
            return []
        date = self.exam.date
        return [e for e in reversed(self.chart.exams) if e.id != self.exam.id and (date is None or e.date is None
                                                                                  or e.date <= date)]

    def _show_exam(self, *, new_entry: bool = False) -> None:
        exam = self.exam
        if exam is None:
            self.grid.set_exam(None)
            self.where.setText("No perio exam yet: press New exam (Ctrl+N).")
            self._refresh_derived()
            return
        entry = self.grid.entry if self.grid.entry is not None and self.grid.entry.exam is exam and not new_entry \
            else self._entry_for(exam)
        if entry is None:
            return
        baseline_id = self.baseline.currentData()
        baseline = next((e for e in self.chart.exams if e.id == baseline_id), None) if self.chart else None
        self.grid.set_exam(entry, older=self._others()[: self.older.value()], baseline=baseline,
                           read_only=not self.editable)
        if not self.editable:
            self.where.setText(f"The exam of {exam.date} is read-only: start a new exam or copy it (Ctrl+Shift+N).")
        self._refresh_derived()

    def _entry_for(self, exam: PerioExam) -> PerioEntry | None:
        try:
            entry = PerioEntry(exam, path=self.path.currentData(), segments=self.segments(),
                               include_implants=self.implants.isChecked())
        except DomainError as exc:
            self.message.setText(str(exc))
            return None
        if self.reverse.isChecked():
            entry.reverse()
        if self.triplets.isChecked():
            entry.set_triplet(True)
        return entry

    def _on_exam_chosen(self, index: int) -> None:
        exam_id = self.exams.itemData(index)
        if self.chart is None or self.exam is None or exam_id == self.exam.id:
            return
        self.save_now()
        self.exam = next((e for e in self.chart.exams if e.id == exam_id), self.exam)
        self.editable = self.exam.date == self.service.today
        self._fill_exam_list()
        self._show_exam(new_entry=True)

    def start_exam(self, *, copy: bool) -> None:
        if self.patient_id is None or self.chart is None:
            return
        self.save_now()
        previous = self.chart.exams[-1] if copy and self.chart.exams else None
        perio_ops.new_exam(parent=self, service=self.service, patient_id=self.patient_id,
                           previous=previous).success(self._on_new_exam).run(self.tasks)

    def _on_new_exam(self, exam: PerioExam) -> None:
        self.exam = exam
        self.editable = True
        self._fill_exam_list()
        self._show_exam(new_entry=True)
        self._mark_dirty()
        self.grid.setFocus()

    # --- options ---------------------------------------------------------------------------------

    def _on_path(self, _index: int) -> None:
        name = self.path.currentData()
        self.settings.set("setting/perio_path", name)
        if self.grid.entry is not None:
            try:
                segments = self.segments()
            except DomainError as exc:
                self._on_refused(f"custom path: {exc} (File ▸ Preferences)")
                return
            self._report(self.grid.entry.set_path(name, segments))

    def _on_reverse(self, on: bool) -> None:
        entry = self.grid.entry
        if entry is not None and entry.reversed != on:
            self.grid.apply(("reverse", (), {}))

    def _on_triplets(self, on: bool) -> None:
        entry = self.grid.entry
        if entry is not None and entry.triplet != on:
            self.grid.apply(("set_triplet", (on,), {}))
        self.grid.setFocus()

    def _on_implants(self, on: bool) -> None:
        self.settings.set("setting/perio_implants", on)
        if self.exam is not None:
            self._show_exam(new_entry=True)

    def _report(self, outcome: Outcome) -> None:
        if outcome.refused:
            self._on_refused(outcome.refused)
        elif self.grid.entry is not None:
            self.grid.update()
            self._on_cursor(self.grid.entry.position_text())

    # --- typing and saving -----------------------------------------------------------------------

    def _on_cursor(self, text: str) -> None:
        self.where.setText(text)
        self.message.setText("")
        entry = self.grid.entry
        if entry is not None:
            self.triplets.blockSignals(True)
            self.triplets.setChecked(entry.triplet)
            self.triplets.blockSignals(False)
            self.reverse.blockSignals(True)
            self.reverse.setChecked(entry.reversed)
            self.reverse.blockSignals(False)

    def _on_refused(self, why: str) -> None:
        self.message.setText(f"Not entered: {why}")

    def _on_edited(self, _outcome: Outcome) -> None:
        self._mark_dirty()

    def _mark_dirty(self) -> None:
        if self.exam is None:
            return
        self._dirty = True
        self.saved.setText("Saving…")
        self._draft_wanted = self.exam.copy()
        self._write_draft()
        self._save_timer.start()
        self._classify_timer.start()

    def _write_draft(self) -> None:
        """One draft write at a time; keystrokes typed meanwhile are folded into the next one."""
        if self._draft_busy or self._draft_wanted is None:
            return
        snapshot, self._draft_wanted = self._draft_wanted, None
        self._draft_busy = True

        def done(_: object) -> None:
            self._draft_busy = False
            self._write_draft()

        def failed(exc: Exception) -> None:
            self._draft_busy = False
            self.saved.setText(f"Not saved: {describe(exc)}")

        perio_ops.save_draft(parent=self, service=self.service, snapshot=snapshot).success(done).failure(
            failed).run(self.tasks)

    def save_now(self, *, then_reload: bool = False) -> None:
        """Save the exam as Observations now (typing paused, patient or exam changing, closing)."""
        self._save_timer.stop()
        if not self._dirty or self.exam is None:
            return
        self._dirty = False
        snapshot = self.exam.copy()

        def done(report: SaveReport) -> None:
            self.saved.setText("Saved" + (f" · {report.changed} value(s) queued to send" if report.changed else ""))
            if then_reload:
                self.reload()

        def failed(exc: Exception) -> None:
            self._dirty = True
            self.saved.setText(f"Not saved: {describe(exc)}")

        perio_ops.save(parent=self, service=self.service, snapshot=snapshot).success(done).failure(failed).run(
            self.tasks)

    # --- derived: graph, indices, classification -------------------------------------------------

    def _ensure_graph(self) -> Any:
        if self.graph is None:
            from odonto_desk.ui.perio.graph import PerioGraph

            self.graph = PerioGraph()
            self.graph.set_numbering(self.context.numbering)
            self.graph.setMinimumHeight(220)
            self.graph_layout.addWidget(self.graph)
        return self.graph

    def _refresh_derived(self) -> None:
        exam = self.exam
        self._ensure_graph().set_exam(exam)
        if exam is None:
            self.indices.setText("")
            self.result.setText("<i>No exam</i>")
            self.reasons.clear()
            self.notices.clear()
            return
        s = summarize(exam, include_implants=self.implants.isChecked())
        rows = [("Bleeding on probing", _pct(s.bleeding.percent), f"{s.bleeding.count}/{s.bleeding.total} sites"),
                ("Plaque", _pct(s.plaque.percent), f"{s.plaque.count}/{s.plaque.total} sites"),
                ("Mean PD", _mm(s.mean_pd), ""), ("Mean CAL", _mm(s.mean_cal), ""),
                ("Sites PD ≥ 4 mm", str(s.pd.at_least_4), ""), ("Sites PD ≥ 6 mm", str(s.pd.at_least_6), "")]
        self.indices.setText("<table cellspacing=3>" + "".join(
            f"<tr><td>{a}</td><td align=right><b>{b}</b></td><td style='color:#666'>{c}</td></tr>"
            for a, b, c in rows) + "</table>")
        if self.chart is None:
            return
        perio_ops.classify(parent=self, service=self.service, chart=self.chart, snapshot=exam.copy(),
                           clinical=self.clinical()).success(self._show_classification).failure(
            lambda exc: self.result.setText(f"<i>Not classified: {describe(exc)}</i>")).run(self.tasks)

    def clinical(self) -> dict[str, Any]:
        """The grade modifiers typed in the panel; unknown ones are left out (the result flags them)."""
        out: dict[str, Any] = {}
        if self.smoking.value() >= 0:
            out["cigarettes_per_day"] = float(self.smoking.value())
        if self.diabetes.currentIndex() > 0:
            out["diabetes"] = self.diabetes.currentIndex() == 2
        if self.hba1c.value() > 0:
            out["hba1c"] = self.hba1c.value()
        return out

    def _show_classification(self, result: Classification) -> None:
        self.proposed = result
        if result.diagnosis == "periodontitis":
            head = f"Periodontitis <b>Stage {result.stage}</b>, <b>Grade {result.grade}</b>, {result.extent or ''}"
        else:
            head = {"health": "Periodontal health", "gingivitis": "Gingivitis",
                    "undetermined": "Not enough data to classify",
                    "not_a_periodontitis_case": "Not a periodontitis case"}.get(result.diagnosis, result.diagnosis)
            head = f"<b>{head}</b>"
        floor = self.chart.highest_stage if self.chart else None
        extra = f"<br><span style='color:#555'>Highest stage so far: {floor}</span>" if floor else ""
        self.result.setText(f"<span style='font-size:12pt'>{head}</span>{extra}")
        self.reasons.clear()
        for r in result.reasons:
            item = QListWidgetItem(r.text)
            item.setToolTip(RULES.get(r.rule, r.rule))
            item.setData(Qt.ItemDataRole.UserRole, r.rule)
            self.reasons.addItem(item)
        self.notices.clear()
        for n in result.flags:
            item = QListWidgetItem(f"{KIND_TITLES.get(n.kind, n.kind)}: {n.text}")
            item.setData(Qt.ItemDataRole.UserRole, n.flag)
            self.notices.addItem(item)
        recorded = self.chart.diagnosis_for(self.exam.id) if self.chart and self.exam else None
        self.recorded.setText(_recorded_text(recorded))

    def record_classification(self) -> None:
        if self.chart is None or self.exam is None or self.proposed is None:
            return
        self.override_message.setText("")
        stage = ROMAN[self.stage.currentIndex() - 1] if self.stage.currentIndex() > 0 else None
        grade = GRADES[self.grade.currentIndex() - 1] if self.grade.currentIndex() > 0 else None
        self.save_now()
        perio_ops.confirm(parent=self, service=self.service, chart=self.chart, snapshot=self.exam.copy(),
                          proposed=self.proposed, stage=stage, grade=grade,  # type: ignore[arg-type]
                          reason=self.reason.text()).success(self._on_recorded).failure(
            lambda exc: self.override_message.setText(f"Not recorded: {describe(exc)}")).run(self.tasks)

    def _on_recorded(self, diagnosis: PerioDiagnosis) -> None:
        self.override_message.setText("")
        self.recorded.setText(_recorded_text(diagnosis))
        self.stage.setCurrentIndex(0)
        self.grade.setCurrentIndex(0)
        self.reason.clear()
        self.reload()

    # --- printing --------------------------------------------------------------------------------

    def print_pdf(self, path: str) -> None:
        """The exam with its grid, graph, indices and classification on one landscape A4 page."""
        from PySide6.QtGui import QPdfWriter

        if self.exam is None:
            raise DomainError("there is no exam to print", field="exam")
        writer = QPdfWriter(path)
        writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
        writer.setPageOrientation(QPageLayout.Orientation.Landscape)
        writer.setResolution(150)
        patient = self.chart.patient if self.chart else None
        writer.setTitle(f"Perio exam — {patient.name if patient else ''}")
        p = QPainter(writer)
        page = p.viewport()
        title = (f"{patient.name} · {patient.gpid} · born {patient.birth_date}" if patient else "") + \
            f"    Perio exam of {self.exam.date}"
        font = p.font()
        font.setPointSize(11)
        p.setFont(font)
        p.drawText(0, 0, page.width(), 40, Qt.AlignmentFlag.AlignLeft, title)
        grid, graph = self.page_pictures()
        gw = page.width() * 0.72
        gh = grid.height() * gw / grid.width()
        p.drawPixmap(0, 50, int(gw), int(gh), grid)
        top = 60 + int(gh)
        rest = page.height() - top
        graph_w = int(min(gw, graph.width() * rest / max(1, graph.height())))
        p.drawPixmap(0, top, graph_w, int(graph.height() * graph_w / max(1, graph.width())), graph)
        font.setPointSize(8)
        p.setFont(font)
        text = [self.indices.text().replace("</tr>", "\n"), self.result.text()]
        side_x = int(gw) + 20
        lines = [*_plain(text[0]).splitlines(), "", _plain(text[1]), "",
                 *[self.reasons.item(i).text() for i in range(self.reasons.count())], "",
                 *[self.notices.item(i).text() for i in range(self.notices.count())], "", self.recorded.text()]
        p.drawText(side_x, 50, page.width() - side_x, page.height() - 50,
                   Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap, "\n".join(lines))
        p.end()
        if self.patient_id is not None:
            perio_ops.record_printed(parent=self, service=self.service, patient_id=self.patient_id).run(self.tasks)

    def page_pictures(self) -> tuple[Any, Any]:
        """The grid and the graph drawn afresh at print size (not as the screen happens to be laid out)."""
        from odonto_desk.ui.perio.graph import PerioGraph

        assert self.exam is not None
        grid = PerioGrid()
        grid.set_thresholds(self.grid.thresholds)
        grid.set_numbering(self.grid.numbering)
        grid.set_exam(PerioEntry(self.exam.copy()), older=self.grid.older, baseline=self.grid.baseline,
                      read_only=True)
        grid.resize(grid.sizeHint())
        graph = PerioGraph()
        graph.set_numbering(self.grid.numbering)
        graph.set_exam(self.exam)
        graph.resize(QSize(1100, 560))
        return grid.grab(), graph.grab()

    def _print_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self, "Print perio exam", "perio.pdf", "PDF (*.pdf)")
        if path:
            try:
                self.print_pdf(path)
            except (OSError, DomainError) as exc:
                show_error(self, exc)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} %"


def _mm(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} mm"


def _plain(html: str) -> str:
    import re

    return re.sub(r"<[^>]+>", " ", html.replace("<br>", "\n")).replace("&nbsp;", " ").strip()


def _recorded_text(d: PerioDiagnosis | None) -> str:
    if d is None:
        return "Not recorded yet for this exam."
    what = f"Stage {d.stage} Grade {d.grade}" if d.stage else d.diagnosis
    why = f" — override: {d.reason}" if d.overridden else ""
    return f"Recorded {d.date}: {what} by {d.clinician}{why}"
