"""The Plan tab: the patient's treatment plans, phase by phase, with fees, estimate and signature.

Left: the plan's lines grouped by phase (each phase row carries its subtotal), the status buttons,
and the form that adds a line (or an option to the selected line). Right: totals by the portal's
eight service categories, the insurance / patient estimate, the signature pad and the case
presentation PDF. Every read and write runs as an op (``ui/ops/plans.py``); the screen redraws from
the cache after each write, and again when a webhook or a sync says the plan changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from odonto_desk.domain.cdt import ServiceCategory
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.plan import LineStatus, PlanItem, Priority, TreatmentPlan, estimate
from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.services.plans import PlanService, PlanView
from odonto_desk.ui.errors import describe, show_error
from odonto_desk.ui.ops import plans as plan_ops
from odonto_desk.ui.plan.presentation import money, write_presentation
from odonto_desk.ui.plan.signature import SignaturePad
from odonto_desk.ui.tabs import TabContext

COLUMNS = ["Tooth", "Surf.", "Procedure", "Category", "Priority", "Status", "Fee", "Insurance", "Patient"]
STATUS_COLOURS = {LineStatus.PROPOSED: "#8A4B00", LineStatus.ACCEPTED: "#1B6E3A", LineStatus.REJECTED: "#6B7280",
                  LineStatus.IN_PROGRESS: "#1D4ED8", LineStatus.COMPLETED: "#0F3D91"}
ERROR = "color: #B00020;"


class PlanTab(QWidget):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.service = PlanService(context.session, context.catalog)
        self.numbering = context.numbering
        self.patient_id: str | None = None
        self.view: PlanView | None = None
        self.plan_id: str | None = None

        self.plans = QComboBox()
        self.plans.setAccessibleName("Treatment plan")
        self.new_title = QLineEdit()
        self.new_title.setPlaceholderText("New plan title, e.g. Restore upper right")
        self.new_title.setAccessibleName("New plan title")
        self.new_button = QPushButton("&New plan")
        self.from_chart_button = QPushButton("Add planned work from &chart")
        self.from_chart_button.setAccessibleName("Add the chart's planned marks to this plan")

        self.lines = QTreeWidget()
        self.lines.setAccessibleName("Plan lines by phase")
        self.lines.setColumnCount(len(COLUMNS))
        self.lines.setHeaderLabels(COLUMNS)
        self.lines.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.lines.setRootIsDecorated(False)
        self.lines.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.lines.header().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.lines.header().setStretchLastSection(False)
        self.lines.setAlternatingRowColors(True)
        self.status_buttons = {s: QPushButton(s.label) for s in LineStatus}
        for s, b in self.status_buttons.items():
            b.setAccessibleName(f"Mark the selected line {s.value}")

        self.form = _LineForm(context)
        self.totals = QLabel()
        self.totals.setAccessibleName("Totals by service category")
        self.totals.setTextFormat(Qt.TextFormat.RichText)
        self.totals.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.pad = SignaturePad()
        self.signer = QLineEdit()
        self.signer.setPlaceholderText("Who signs (patient or guardian)")
        self.signer.setAccessibleName("Signer's name")
        self.sign_button = QPushButton("&Sign plan")
        self.clear_button = QPushButton("Clear")
        self.signed_label = QLabel()
        self.signed_label.setWordWrap(True)
        self.pdf_button = QPushButton("Case presentation &PDF…")
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setAccessibleName("Plan messages")
        self._layout()
        self._connect()
        self._enable()

    def _layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel("Plan:"))
        top.addWidget(self.plans, 2)
        top.addWidget(self.new_title, 2)
        top.addWidget(self.new_button)
        top.addWidget(self.from_chart_button)
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("Selected line:"))
        for b in self.status_buttons.values():
            buttons.addWidget(b)
        buttons.addStretch()
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addLayout(top)
        ll.addWidget(self.lines, 1)
        ll.addLayout(buttons)
        ll.addWidget(self.form)
        ll.addWidget(self.notice)
        sign_box = QGroupBox("Patient's signature")
        sl = QVBoxLayout(sign_box)
        sl.addWidget(self.pad)
        row = QHBoxLayout()
        row.addWidget(self.signer, 1)
        row.addWidget(self.clear_button)
        row.addWidget(self.sign_button)
        sl.addLayout(row)
        sl.addWidget(self.signed_label)
        totals_box = QGroupBox("Totals and estimate")
        tl = QVBoxLayout(totals_box)
        # Scrolls rather than growing the window when the header is taller (a patient with alerts).
        totals_scroll = QScrollArea()
        totals_scroll.setWidget(self.totals)
        totals_scroll.setWidgetResizable(True)
        totals_scroll.setFrameShape(QFrame.Shape.NoFrame)
        totals_scroll.setMinimumHeight(90)
        tl.addWidget(totals_scroll)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(totals_box, 1)
        rl.addWidget(sign_box)
        rl.addWidget(self.pdf_button)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([900, 380])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

    def _connect(self) -> None:
        self.plans.currentIndexChanged.connect(self._on_plan_chosen)
        self.new_button.clicked.connect(self._on_new)
        self.new_title.returnPressed.connect(self._on_new)
        self.from_chart_button.clicked.connect(self._on_from_chart)
        self.lines.itemSelectionChanged.connect(self._enable)
        for status, button in self.status_buttons.items():
            button.clicked.connect(lambda _=False, s=status: self._on_status(s))
        self.form.add_button.clicked.connect(self._on_add)
        self.form.option_button.clicked.connect(lambda: self._on_add(as_option=True))
        self.pad.changed.connect(self._enable)
        self.signer.textChanged.connect(self._enable)
        self.clear_button.clicked.connect(self.pad.clear)
        self.sign_button.clicked.connect(self._on_sign)
        self.pdf_button.clicked.connect(self._on_pdf_dialog)

    # --- the protocol every patient tab follows -----------------------------------------------------

    def open_patient(self, patient_id: str | None) -> None:
        self.patient_id = patient_id
        self.plan_id = None
        self.pad.clear()
        if patient_id is None:
            self.view = None
            self._show_plan(None)
            self.plans.clear()
            return
        self.reload()

    def reload(self) -> None:
        if self.patient_id is None:
            return
        wanted = self.patient_id
        plan_ops.open_plans(parent=self, service=self.service, patient_id=wanted).success(
            lambda view: self._show(view) if view.patient_id == self.patient_id else None).run(self.context.tasks)

    def set_numbering(self, system: NumberingSystem) -> None:
        self.numbering = system
        self.form.numbering = system
        self._show_plan(self.plan)

    # --- showing ------------------------------------------------------------------------------------

    @property
    def plan(self) -> TreatmentPlan | None:
        return self.view.plan(self.plan_id) if self.view else None

    def _show(self, view: PlanView) -> None:
        self.view = view
        if view.plan(self.plan_id) is None:
            self.plan_id = view.plans[0].id if view.plans else None
        self.plans.blockSignals(True)
        self.plans.clear()
        for p in view.plans:
            number = f"{p.care_plan_id} · " if p.care_plan_id else ""
            self.plans.addItem(f"{number}{p.title} ({p.status.value})", p.id)
        self.plans.setCurrentIndex(max(0, self.plans.findData(self.plan_id)))
        self.plans.blockSignals(False)
        self._show_plan(self.plan)

    def _on_plan_chosen(self, index: int) -> None:
        self.plan_id = self.plans.itemData(index)
        self._show_plan(self.plan)

    def _show_plan(self, plan: TreatmentPlan | None) -> None:
        selected = self.selected_item_id()
        self.lines.clear()
        self.form.set_phases(plan)
        if plan is None or self.view is None:
            self.totals.setText("<i>No plan yet: give it a title and press New plan.</i>" if self.patient_id
                                else "")
            self.signed_label.setText("")
            self._enable()
            return
        coverage = self.view.coverage
        bold = QFont()
        bold.setBold(True)
        for phase in plan.phases:
            est = self.service.estimate(plan, coverage, phase.number)
            head = QTreeWidgetItem(["", "", f"Phase {phase.number}" + (f": {phase.title}" if phase.title else ""),
                                    "", "", "", money(est.fee), money(est.insurance), money(est.patient)])
            for c in range(len(COLUMNS)):
                head.setFont(c, bold)
                head.setBackground(c, QColor("#E3E9F2"))
            _align_money(head)
            self.lines.addTopLevelItem(head)
            for item in phase.items:
                row = self._line_row(plan, item, coverage)
                self.lines.addTopLevelItem(row)
                if item.id == selected:
                    row.setSelected(True)
        self._show_totals(plan)
        sig = plan.signature
        self.signed_label.setText(f"Signed by {sig.signer}, {sig.signed:%Y-%m-%d %H:%M}" if sig else
                                  "Not signed yet.")
        self._enable()

    def _line_row(self, plan: TreatmentPlan, item: PlanItem,
                  coverage: Mapping[ServiceCategory, int] | None) -> QTreeWidgetItem:
        catalog = self.context.catalog
        label = catalog.label(item.code) if item.code in catalog else ""
        option = "   ↳ or " if item.alternate_group and plan.alternatives(item.alternate_group)[0] is not item else ""
        counted = plan.counts(item)
        fee = money(item.fee) if item.fee is not None else "—"
        ins = pat = ""
        if counted and item.fee is not None:
            e = estimate(item.fee, self.service.category_of(item.code), coverage)
            ins, pat = money(e.insurance), money(e.patient)
        cells = [item.tooth.format(self.numbering) if item.tooth else "", item.surface_string,
                 f"{option}{item.code} {label}".rstrip(), self.service.category_of(item.code).label,
                 item.priority.value, item.line_status.label, fee if counted else f"({fee})", ins, pat]
        row = QTreeWidgetItem(cells)
        row.setData(0, Qt.ItemDataRole.UserRole, item.id)
        row.setForeground(5, QColor(STATUS_COLOURS[item.line_status]))
        if not counted:
            for c in (0, 1, 2, 3, 4, 6):
                row.setForeground(c, QColor("#6B7280"))
            row.setToolTip(2, "Not added to the totals: rejected, or an option not chosen")
        _align_money(row)
        return row

    def _show_totals(self, plan: TreatmentPlan) -> None:
        assert self.view is not None
        by_cat = plan.category_totals(self.service.category_of)
        rows = "".join(f"<tr><td>{c.label}</td><td align='right'>{money(by_cat[c])}</td></tr>"
                       for c in ServiceCategory)
        est = self.service.estimate(plan, self.view.coverage)
        note = ("Insurance estimated at the usual 100/80/50 coverage." if self.view.coverage
                else "No insurance on file: the patient pays the full fee.")
        self.totals.setText(
            f"<table width='100%' cellspacing='2'>{rows}"
            f"<tr><td colspan='2'><hr></td></tr>"
            f"<tr><td><b>Total</b></td><td align='right'><b>{money(est.fee)}</b></td></tr>"
            f"<tr><td>Insurance (est.)</td><td align='right'>{money(est.insurance)}</td></tr>"
            f"<tr><td><b>Patient (est.)</b></td><td align='right'><b>{money(est.patient)}</b></td></tr></table>"
            f"<p style='color:#5B6575'>{note}</p>")

    def selected_item_id(self) -> str | None:
        rows = self.lines.selectedItems()
        return rows[0].data(0, Qt.ItemDataRole.UserRole) if rows else None

    def _enable(self) -> None:
        plan = self.plan
        line = plan.item(self.selected_item_id()) if plan and self.selected_item_id() else None
        for status, button in self.status_buttons.items():
            button.setEnabled(plan is not None and line is not None and plan.can_move(line.id, status))
        self.form.set_enabled(plan is not None, option=line is not None)
        self.from_chart_button.setEnabled(plan is not None and bool(self.view and self.view.candidates))
        self.new_button.setEnabled(self.patient_id is not None)
        self.sign_button.setEnabled(plan is not None and bool(plan.items) and not self.pad.is_empty
                                    and bool(self.signer.text().strip()))
        self.pdf_button.setEnabled(plan is not None)

    # --- writing ------------------------------------------------------------------------------------

    def _run(self, op: plan_ops.MutationOp[TreatmentPlan], *, done: str,
             then: Callable[[], None] | None = None) -> None:
        def ok(plan: TreatmentPlan) -> None:
            if then is not None:
                then()
            self.plan_id = plan.id
            self.notice.setStyleSheet("")
            self.notice.setText(done)
            self.context.status(done)
            self.reload()

        op.success(ok).failure(self._failed).run(self.context.tasks)

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, DomainError):
            self.notice.setStyleSheet(ERROR)
            self.notice.setText(describe(exc))
            self.form.mark_error(exc.field)
        else:
            show_error(self, exc)

    def _on_new(self) -> None:
        if self.patient_id is None:
            return
        title = self.new_title.text()
        self.new_title.clear()
        self._run(plan_ops.new_plan(parent=self, service=self.service, patient_id=self.patient_id, title=title),
                  done="Plan started.")

    def _on_add(self, as_option: bool = False) -> None:
        if self.plan_id is None:
            return
        f = self.form
        self.form.mark_error(None)
        self._run(plan_ops.add_line(
            parent=self, service=self.service, plan_id=self.plan_id, code=f.code.text(), tooth=f.tooth.text(),
            surfaces=f.surfaces.text(), phase=f.phase.value(), fee=f.fee.text(), priority=f.priority.currentData(),
            alternative_of=self.selected_item_id() if as_option else None, numbering=self.numbering),
            done="Line added.", then=self.form.clear_line)

    def _on_from_chart(self) -> None:
        if self.plan_id is None or self.view is None:
            return
        ids = [m.id for m in self.view.candidates]
        self._run(plan_ops.add_from_chart(parent=self, service=self.service, plan_id=self.plan_id, mark_ids=ids,
                                          phase=self.form.phase.value()), done=f"{len(ids)} line(s) from the chart.")

    def _on_status(self, status: LineStatus) -> None:
        item_id = self.selected_item_id()
        if self.plan_id is None or item_id is None:
            return
        self._run(plan_ops.set_status(parent=self, service=self.service, plan_id=self.plan_id, item_id=item_id,
                                      status=status), done=f"Line {status.value}.")

    def _on_sign(self) -> None:
        if self.plan_id is None:
            return
        png, signer = self.pad.png(), self.signer.text()
        self.pad.clear()
        self._run(plan_ops.sign(parent=self, service=self.service, plan_id=self.plan_id, png=png, signer=signer),
                  done="Signature saved with the plan.")

    def _on_pdf_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save case presentation", "treatment-plan.pdf", "PDF (*.pdf)")
        if path:
            self.export_pdf(path)

    def export_pdf(self, path: str) -> None:
        plan, view = self.plan, self.view
        if plan is None or view is None:
            return
        write_presentation(path, plan, view, self.context.catalog, numbering=self.numbering)
        plan_ops.record_export(parent=self, service=self.service, plan_id=plan.id,
                               what="case presentation PDF").run(self.context.tasks)
        self.notice.setStyleSheet("")
        self.notice.setText(f"Case presentation saved to {path}")


def _align_money(row: QTreeWidgetItem) -> None:
    for c in (6, 7, 8):
        row.setTextAlignment(c, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class _LineForm(QGroupBox):
    """Code, tooth, surfaces, phase, fee and priority of a new line; a bad field is shown in red."""

    def __init__(self, context: TabContext) -> None:
        super().__init__("Add a line")
        self.numbering = context.numbering
        self.code = QLineEdit()
        self.code.setPlaceholderText("D2392")
        self.code.setAccessibleName("CDT code")
        self.tooth = QLineEdit()
        self.tooth.setPlaceholderText("30")
        self.tooth.setAccessibleName("Tooth")
        self.surfaces = QLineEdit()
        self.surfaces.setPlaceholderText("MO")
        self.surfaces.setAccessibleName("Surfaces")
        self.phase = QSpinBox()
        self.phase.setRange(1, 9)
        self.phase.setAccessibleName("Phase")
        self.fee = QLineEdit()
        self.fee.setPlaceholderText("schedule")
        self.fee.setAccessibleName("Fee")
        self.priority = QComboBox()
        self.priority.setAccessibleName("Priority")
        for p in Priority:
            self.priority.addItem(p.value, p)
        self.add_button = QPushButton("&Add line")
        self.option_button = QPushButton("Add as &option to selected")
        self.option_button.setAccessibleName("Add as an alternative to the selected line")
        self.fields = {"code": self.code, "tooth": self.tooth, "surfaces": self.surfaces, "fee": self.fee}
        for w, chars in ((self.code, 7), (self.tooth, 4), (self.surfaces, 6), (self.fee, 8)):
            w.setMinimumWidth(w.fontMetrics().horizontalAdvance("M" * chars))
        grid = QGridLayout(self)
        for col, (name, w) in enumerate((("Code", self.code), ("Tooth", self.tooth), ("Surfaces", self.surfaces),
                                         ("Phase", self.phase), ("Fee $", self.fee), ("Priority", self.priority))):
            form = QFormLayout()
            form.addRow(name, w)
            grid.addLayout(form, 0, col)
        # The buttons under the fields, so the tab fits beside the patient list in the default window.
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.option_button)
        grid.addLayout(buttons, 1, 0, 1, 6)

    def set_phases(self, plan: TreatmentPlan | None) -> None:
        last = max((p.number for p in plan.phases), default=1) if plan else 1
        self.phase.setMaximum(max(9, last + 1))

    def set_enabled(self, has_plan: bool, *, option: bool) -> None:
        self.add_button.setEnabled(has_plan)
        self.option_button.setEnabled(has_plan and option)

    def mark_error(self, field: str | None) -> None:
        """Outline the field the domain named (``tooth``, ``fee``, ``phases[0].items[0].surfaces``…)."""
        name = (field or "").rsplit(".", 1)[-1]
        for key, w in self.fields.items():
            w.setStyleSheet("border: 2px solid #B00020;" if key == name else "")

    def clear_line(self) -> None:
        """After a line is added: empty code, tooth, surfaces and fee for the next one (phase and
        priority stay, as the next line is usually in the same phase), the cursor back in Code."""
        for w in self.fields.values():
            w.clear()
        self.mark_error(None)
        self.code.setFocus()
