"""The Ledger tab: post completed work, read the patient's ledger, and build, scrub and send claims.

Left, the posting form (planned work to complete, or a direct posting). Right, the ledger (date,
provider, code, tooth, surfaces, amount, running balance, whether it reached the server yet); the
lines selected there make the claim drafted below, which the scrubber checks before Send is
allowed; beside it, the claims made so far and the payer's adjudication. Reads and writes are ops
on ``context.tasks``; the ledger reloads from the cache after every write.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from odonto_desk.domain.billing import Claim, PostingInput
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.services.ledger import ClaimDraft, LedgerService, LedgerView, Posted, PostingRefused
from odonto_desk.ui.errors import describe, show_error
from odonto_desk.ui.ledger.claims import ClaimBuilder, ClaimHistory, cell, make_table, money
from odonto_desk.ui.ledger.posting import PostingForm
from odonto_desk.ui.ops import ledger as ledger_ops
from odonto_desk.ui.tabs import TabContext

_COLUMNS = ["Date", "Provider", "Code", "Tooth", "Surf.", "Amount", "Balance", "Status"]


class LedgerTab(QWidget):
    def __init__(self, context: TabContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.service = LedgerService(context.session, context.catalog)
        self.patient_id: str | None = None
        self.view: LedgerView | None = None
        self.numbering = context.numbering

        self.form = PostingForm(context.catalog, today=self.service.today)
        self.form.setMinimumWidth(360)
        self.table = make_table(_COLUMNS, "Ledger")
        self.balance = QLabel("")
        self.balance.setAccessibleName("Balance")
        font = QFont(self.balance.font())
        font.setBold(True)
        self.balance.setFont(font)
        self.builder = ClaimBuilder()
        self.history = ClaimHistory()

        ledger_box = QWidget()
        lv = QVBoxLayout(ledger_box)
        lv.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(QLabel("<b>Ledger</b> — select posted lines to put them on a claim"))
        head.addStretch(1)
        head.addWidget(self.balance)
        lv.addLayout(head)
        lv.addWidget(self.table, 1)
        bottom = QSplitter()
        bottom.addWidget(self.builder)
        bottom.addWidget(self.history)
        bottom.setSizes([420, 560])
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(ledger_box)
        right.addWidget(bottom)
        right.setSizes([380, 380])
        split = QSplitter()
        split.addWidget(self.form)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([380, 1000])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

        self.form.post_requested.connect(self._on_post)
        self.table.itemSelectionChanged.connect(self.redraft)
        self.builder.coverage_changed.connect(self.redraft)
        self.builder.send_requested.connect(self._on_send)
        self.set_numbering(self.numbering)
        self.setEnabled(False)

    # --- the tab protocol ----------------------------------------------------------------------------

    def open_patient(self, patient_id: str | None) -> None:
        self.patient_id = patient_id
        self.view = None
        self.form.reset()
        self.table.setRowCount(0)
        self.builder.show_draft(None)
        self.history.show_claims(())
        self.setEnabled(patient_id is not None)
        self.reload()

    def reload(self) -> None:
        if self.patient_id is None:
            return
        wanted = self.patient_id
        ledger_ops.open_ledger(parent=self, service=self.service, patient_id=wanted).success(
            lambda view: self._show(view) if view.patient_id == self.patient_id else None).run(self.context.tasks)

    def set_numbering(self, system: NumberingSystem) -> None:
        self.numbering = system
        self.form.set_numbering(system)
        self.history.numbering = system
        if self.view is not None:
            self._show(self.view)

    # --- showing -------------------------------------------------------------------------------------

    def _show(self, view: LedgerView) -> None:
        selected = set(self.selected_charges())
        self.view = view
        self.form.set_choices(view.planned, view.providers)
        self.builder.set_coverages(view.coverages)
        self.history.show_claims(view.claims)
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(view.rows))
        for r, row in enumerate(view.rows):
            c = row.charge
            if c is not None:
                label = self.context.catalog.label(c.code) if c.code in self.context.catalog else ""
                status = "on a claim" if row.billed else ("posted" if row.sent else "waiting to send")
                cells = [row.date.isoformat(), row.provider, f"{c.code} {label}".strip(),
                         c.tooth.format(self.numbering) if c.tooth else "", c.surface_string, money(row.amount),
                         money(row.balance), status]
            else:
                cells = [row.date.isoformat(), "", "Insurance payment", "", "", money(row.amount),
                         money(row.balance), row.note]
            for col, text in enumerate(cells):
                item = cell(text, right=col in (5, 6))
                item.setData(Qt.ItemDataRole.UserRole, c.id if c is not None else None)
                if c is None:
                    item.setForeground(QColor("#1E7B34"))
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
                elif col == 7 and not row.sent:
                    item.setForeground(QColor("#B35C00"))
                self.table.setItem(r, col, item)
            if c is not None and c.id in selected:
                self.table.selectRow(r)
        self.table.blockSignals(False)
        self.balance.setText(f"Balance: {money(view.balance)}")
        if view.unreadable:
            self.context.status(f"Ledger: {len(view.unreadable)} record(s) could not be read")
        self.redraft()

    def selected_charges(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        ids = [self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in rows]
        return [i for i in ids if i]

    # --- posting ---------------------------------------------------------------------------------------

    def _on_post(self, entry: PostingInput, key: str, completes: str | None) -> None:
        if self.patient_id is None:
            self.form.failed({})
            return

        def done(posted: Posted) -> None:
            self.form.posted()
            what = "already posted" if posted.repeated else "posted"
            self.context.status(f"{posted.charge.code} {money(posted.charge.fee)} {what}")
            self.reload()

        def refused(exc: Exception) -> None:
            if isinstance(exc, PostingRefused):
                self.form.failed(exc.problems)
            elif isinstance(exc, DomainError):
                self.form.failed({exc.field or "code": exc.message})
                self.reload()  # e.g. the planned item was completed elsewhere
            else:
                self.form.failed({})
                show_error(self, exc)

        ledger_ops.post(parent=self, service=self.service, patient_id=self.patient_id, entry=entry, key=key,
                        completes=completes, numbering=self.numbering).success(done).failure(refused).run(
            self.context.tasks)

    # --- claims ----------------------------------------------------------------------------------------

    def redraft(self) -> None:
        ids = self.selected_charges()
        if self.patient_id is None or not ids:
            self.builder.show_draft(None)
            return
        wanted = (self.patient_id, ids, self.builder.coverage_id())

        def show(draft: ClaimDraft) -> None:
            if (self.patient_id, self.selected_charges(), self.builder.coverage_id()) == wanted:
                self.builder.show_draft(draft)

        ledger_ops.draft_claim(parent=self, service=self.service, patient_id=wanted[0], charge_ids=ids,
                               coverage_id=wanted[2]).success(show).run(self.context.tasks)

    def _on_send(self) -> None:
        if self.patient_id is None:
            return

        def sent(claim: Claim) -> None:
            self.context.status(f"Claim of {len(claim.items)} line(s), {money(claim.total)}, queued for the payer")
            self.table.clearSelection()
            self.reload()

        def refused(exc: Exception) -> None:
            self.context.status(f"Claim not sent: {describe(exc)}")
            self.redraft()
            if not isinstance(exc, DomainError):
                show_error(self, exc)

        ledger_ops.send_claim(parent=self, service=self.service, patient_id=self.patient_id,
                              charge_ids=self.selected_charges(), coverage_id=self.builder.coverage_id()).success(
            sent).failure(refused).run(self.context.tasks)
