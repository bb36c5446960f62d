"""The claim panel: the claim the selected ledger lines make, what the scrubber finds in it, and the
claims already made with the payer's adjudication (ClaimResponse) when there is one.

The panel only shows; the tab runs the draft and send ops and hands the results here.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from odonto_desk.domain.billing import ADJUDICATION_FIELDS, ClaimResponse, Coverage
from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.services.ledger import ClaimDraft, ClaimView


def make_table(columns: Sequence[str], name: str) -> QTableWidget:
    t = QTableWidget(0, len(columns))
    t.setAccessibleName(name)
    t.setHorizontalHeaderLabels(list(columns))
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.verticalHeader().setVisible(False)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    return t


def cell(text: str, *, right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def money(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount:,.2f}"


class ClaimBuilder(QGroupBox):
    """Coverage choice, the scrubber's list for the selected lines, and Send (enabled only when clean)."""

    coverage_changed = Signal()
    send_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("New claim from the selected lines", parent)
        self.coverage = QComboBox()
        self.coverage.setAccessibleName("Coverage to bill")
        self.summary = QLabel("Select posted lines in the ledger (Ctrl+click for several).")
        self.summary.setWordWrap(True)
        self.issues = QListWidget()
        self.issues.setAccessibleName("Claim scrubber")
        self.issues.setWordWrap(True)
        self.issues.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.send_button = QPushButton("Send &claim")
        self.send_button.setAccessibleName("Send the claim to the payer")
        self.send_button.setEnabled(False)
        self.draft: ClaimDraft | None = None
        row = QHBoxLayout()
        row.addWidget(QLabel("Coverage:"))
        row.addWidget(self.coverage, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.summary)
        lay.addWidget(self.issues, 1)
        lay.addWidget(self.send_button)
        self.coverage.currentIndexChanged.connect(lambda _i: self.coverage_changed.emit())
        self.send_button.clicked.connect(self._on_send)

    def set_coverages(self, coverages: Sequence[Coverage]) -> None:
        current = self.coverage.currentData()
        self.coverage.blockSignals(True)
        self.coverage.clear()
        for c in coverages:
            self.coverage.addItem(f"{c.plan or 'Dental'} · {c.subscriber_id} ({c.status.value})", c.id)
        if not coverages:
            self.coverage.addItem("no coverage on file", None)
        index = self.coverage.findData(current)
        self.coverage.setCurrentIndex(max(index, 0))
        self.coverage.blockSignals(False)

    def coverage_id(self) -> str | None:
        data = self.coverage.currentData()
        return str(data) if data else None

    def show_draft(self, draft: ClaimDraft | None) -> None:
        self.draft = draft
        self.issues.clear()
        if draft is None or not draft.lines:
            self.summary.setText("Select posted lines in the ledger (Ctrl+click for several).")
            self.send_button.setEnabled(False)
            return
        total = sum((line.fee for line in draft.lines), Decimal("0.00"))
        self.summary.setText(f"{len(draft.lines)} line(s), total {money(total)}. Checked as a payer would:")
        for issue in draft.issues:
            item = QListWidgetItem(f"✖ {issue}")
            item.setForeground(QColor("#A93226"))
            self.issues.addItem(item)
        if not draft.issues:
            item = QListWidgetItem("✔ Nothing a payer would reject: ready to send.")
            item.setForeground(QColor("#1E7B34"))
            self.issues.addItem(item)
        self.send_button.setEnabled(not draft.issues)

    def _on_send(self) -> None:
        if self.draft is not None and self.draft.lines and not self.draft.issues:
            self.send_button.setEnabled(False)  # one claim per click; the draft is rebuilt after the send
            self.send_requested.emit()


class ClaimHistory(QGroupBox):
    """The patient's claims and, for the one selected, the payer's adjudication per line and in total."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Claims and payer responses", parent)
        self.claims = make_table(["Created", "Lines", "Total", "Sent", "Response"], "Claims")
        self.claims.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.lines = make_table(["Line", "Code", "Tooth", "Surf.", "Submitted", "Allowed", "Paid", "Patient"],
                            "Adjudication")
        self.totals = QLabel("")
        self.totals.setWordWrap(True)
        self.totals.setAccessibleName("Adjudication totals")
        self.views: list[ClaimView] = []
        self.numbering = NumberingSystem.UNIVERSAL
        lay = QVBoxLayout(self)
        lay.addWidget(self.claims, 1)
        lay.addWidget(self.lines, 2)
        lay.addWidget(self.totals)
        self.claims.itemSelectionChanged.connect(self._on_select)

    def show_claims(self, views: Sequence[ClaimView]) -> None:
        self.views = list(views)
        self.claims.setRowCount(len(views))
        for r, v in enumerate(views):
            outcome = v.response.outcome.value if v.response else "none yet"
            cells = [v.claim.created.date().isoformat(), str(len(v.claim.items)), money(v.claim.total),
                     "yes" if v.sent else "waiting", outcome]
            for c, text in enumerate(cells):
                self.claims.setItem(r, c, cell(text, right=c == 2))
        if views:
            self.claims.selectRow(len(views) - 1)
        else:
            self.show_response(None)

    def _on_select(self) -> None:
        rows = {i.row() for i in self.claims.selectedIndexes()}
        self.show_response(self.views[min(rows)] if rows else None)

    def show_response(self, view: ClaimView | None) -> None:
        if view is None:
            self.lines.setRowCount(0)
            self.totals.setText("")
            return
        response = view.response
        adjudicated = {a.item_sequence: a for a in response.items} if response else {}
        self.lines.setRowCount(len(view.claim.items))
        for r, item in enumerate(view.claim.items):
            a = adjudicated.get(item.sequence)
            amounts = [money(getattr(a, f)) if a else "" for f in ADJUDICATION_FIELDS]
            cells = [str(item.sequence), item.code, item.tooth.format(self.numbering) if item.tooth else "",
                     item.surface_string, *amounts]
            for c, text in enumerate(cells):
                self.lines.setItem(r, c, cell(text, right=c >= 4))
        self.totals.setText(_totals_text(response))


def _totals_text(response: ClaimResponse | None) -> str:
    if response is None:
        return "No response from the payer yet."
    words = {"submitted": "submitted", "eligible": "allowed", "benefit": "paid by plan", "copay": "patient pays"}
    parts = [f"{words[k]} {money(v)}" for k, v in response.totals().items()]
    text = f"<b>{response.outcome.value.capitalize()}</b>: " + ", ".join(parts)
    if response.payment is not None:
        when = f" on {response.payment.date.isoformat()}" if response.payment.date else ""
        text += f".<br>Payment {money(response.payment.amount)}{when}"
    if response.disposition:
        text += f" — {response.disposition}"
    return text
