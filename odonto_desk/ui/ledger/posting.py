"""The posting form: complete a planned item or post work directly, with the rules checked as the user types.

Every keystroke runs the domain's :func:`~odonto_desk.domain.billing.check_posting` (pure, instant): the
fields at fault get a red frame and their message, and Post stays disabled until nothing is wrong.
Each filled form carries one posting key; the key changes only when the form is reset after a
successful post, so a second click on the same form can never post the work twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QDateEdit,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from odonto_desk.domain.billing import PostingCheck, PostingInput, check_posting
from odonto_desk.domain.cdt import Catalog
from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.services.ledger import PlannedWork, Provider

_BAD = "border: 2px solid #C0392B; border-radius: 3px;"
FIELD_LABELS = {"code": "Code", "tooth": "Tooth", "surfaces": "Surfaces", "fee": "Fee", "date": "Date",
                "provider": "Provider", "planned": "Planned item"}


class PostingForm(QGroupBox):
    """Emits ``post_requested(entry, key, completes)``; the tab runs the op and calls :meth:`posted`."""

    post_requested = Signal(object, str, object)  # PostingInput, posting key, ServiceRequest id | None

    def __init__(self, catalog: Catalog, *, today: dt.date, parent: QWidget | None = None) -> None:
        super().__init__("Post completed work", parent)
        self.catalog = catalog
        self.today = today  # the service's day (Session.today), never the wall clock
        self.numbering = NumberingSystem.UNIVERSAL
        self.key = str(uuid.uuid4())
        self.completes: str | None = None
        self.busy = False
        self._fee_typed = False

        self.planned = QListWidget()
        self.planned.setAccessibleName("Planned work")
        self.planned.setMaximumHeight(120)
        self.direct_button = QPushButton("Post &unplanned work")
        self.direct_button.setAccessibleName("Clear the form to post work that was not planned")
        self.code = QLineEdit()
        self.code.setPlaceholderText("D2392")
        self.code.setAccessibleName("Procedure code")
        completer = QCompleter([f"{e.code} {e.label}" for e in catalog], self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.activated.connect(lambda text: self.code.setText(text.split(" ", 1)[0]))
        self.code.setCompleter(completer)
        self.code_label = QLabel("")
        self.code_label.setStyleSheet("color: #555;")
        self.tooth = QLineEdit()
        self.tooth.setAccessibleName("Tooth")
        self.surfaces = QLineEdit()
        self.surfaces.setPlaceholderText("MOD")
        self.surfaces.setAccessibleName("Surfaces")
        self.fee = QLineEdit()
        self.fee.setPlaceholderText("0.00")
        self.fee.setAccessibleName("Fee")
        self.date = QDateEdit(QDate(self.today.year, self.today.month, self.today.day))
        self.date.setCalendarPopup(True)
        self.date.setDisplayFormat("yyyy-MM-dd")
        self.date.setAccessibleName("Date of service")
        self.provider = QComboBox()
        self.provider.setAccessibleName("Provider")
        self.verdict = QLabel("")
        self.verdict.setWordWrap(True)
        self.verdict.setAccessibleName("Posting check")
        self.post_button = QPushButton("&Post")
        self.post_button.setAccessibleName("Post the procedure and its fee")
        self.post_button.setDefault(True)

        form = QFormLayout()
        code_row = QHBoxLayout()
        code_row.addWidget(self.code, 1)
        code_row.addWidget(self.code_label, 2)
        code_caption = QLabel("&Code")
        code_caption.setBuddy(self.code)
        form.addRow(code_caption, code_row)
        form.addRow("&Tooth", self.tooth)
        form.addRow("&Surfaces", self.surfaces)
        form.addRow("&Fee", self.fee)
        form.addRow("&Date", self.date)
        form.addRow("P&rovider", self.provider)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Planned work (click to complete it):"))
        lay.addWidget(self.planned)
        lay.addWidget(self.direct_button)
        lay.addLayout(form)
        lay.addWidget(self.verdict)
        lay.addWidget(self.post_button)
        lay.addStretch(1)

        for edit in (self.code, self.tooth, self.surfaces):
            edit.textChanged.connect(self.refresh)
        self.code.textChanged.connect(self._on_code)
        self.fee.textEdited.connect(self._on_fee_typed)
        self.fee.textChanged.connect(self.refresh)
        self.date.dateChanged.connect(self.refresh)
        self.provider.currentIndexChanged.connect(self.refresh)
        self.planned.itemClicked.connect(self._on_planned)
        self.direct_button.clicked.connect(self.reset)
        self.post_button.clicked.connect(self._on_post)
        self.refresh()

    # --- filling -------------------------------------------------------------------------------

    def set_choices(self, planned: Sequence[PlannedWork], providers: Sequence[Provider]) -> None:
        current = self.provider.currentData()
        self.provider.blockSignals(True)
        self.provider.clear()
        self.provider.addItem("— choose —", None)
        for p in providers:
            self.provider.addItem(p.name, p.id)
        index = self.provider.findData(current) if current is not None else -1
        self.provider.setCurrentIndex(index if index >= 0 else min(1, self.provider.count() - 1))
        self.provider.blockSignals(False)
        self.planned.clear()
        for work in planned:
            m = work.mark
            fee = f"{work.fee:.2f}" if work.fee is not None else "no fee"
            where = " ".join(x for x in (f"Tooth {m.tooth.format(self.numbering)}", m.surface_string) if x)
            item = QListWidgetItem(f"{where} · {m.code} {self._label(m.code)} — {fee}")
            item.setData(Qt.ItemDataRole.UserRole, work)
            self.planned.addItem(item)
            if m.id == self.completes:
                item.setSelected(True)
        self.refresh()

    def _on_planned(self, item: QListWidgetItem) -> None:
        work: PlannedWork = item.data(Qt.ItemDataRole.UserRole)
        m = work.mark
        self.key = str(uuid.uuid4())  # another procedure: another posting
        self.completes = m.id
        self.code.setText(m.code or "")
        self.tooth.setText(m.tooth.format(self.numbering))
        self.surfaces.setText(m.surface_string)
        self.fee.setText(f"{work.fee:.2f}" if work.fee is not None else "")
        self._fee_typed = work.fee is not None
        if m.provider and self.provider.findData(m.provider) >= 0:
            self.provider.setCurrentIndex(self.provider.findData(m.provider))
        self.refresh()

    def reset(self) -> None:
        """An empty form with a fresh posting key (after a post, or to post unplanned work)."""
        self.key = str(uuid.uuid4())
        self.completes = None
        self.planned.clearSelection()
        for edit in (self.code, self.tooth, self.surfaces, self.fee):
            edit.clear()
        self._fee_typed = False
        self.date.setDate(QDate(self.today.year, self.today.month, self.today.day))
        self.refresh()

    def set_numbering(self, numbering: NumberingSystem) -> None:
        self.numbering = numbering
        self.tooth.setPlaceholderText({NumberingSystem.UNIVERSAL: "30", NumberingSystem.FDI: "46",
                                       NumberingSystem.PALMER: "LR6", NumberingSystem.HADERUP: "6-"}[numbering])
        self.refresh()

    # --- checking as the user types ---------------------------------------------------------------

    def entry(self) -> PostingInput:
        d = self.date.date()
        return PostingInput(self.code.text(), self.tooth.text(), self.surfaces.text(), self.fee.text(),
                            dt.date(d.year(), d.month(), d.day()), self.provider.currentData())

    def check(self) -> PostingCheck:
        return check_posting(self.entry(), self.catalog, today=self.today, numbering=self.numbering)

    def refresh(self) -> None:
        result = self.check()
        self.show_problems(result.problems)
        self.post_button.setEnabled(result.ok and not self.busy)

    def show_problems(self, problems: dict[str, str]) -> None:
        fields = {"code": self.code, "tooth": self.tooth, "surfaces": self.surfaces, "fee": self.fee,
                  "date": self.date, "provider": self.provider}
        untouched = not any((self.code.text(), self.tooth.text(), self.surfaces.text(), self.fee.text()))
        for name, widget in fields.items():
            widget.setStyleSheet(_BAD if name in problems and not untouched else "")
        if untouched:
            self.verdict.setText("Pick planned work above, or type a code to post work directly.")
            self.verdict.setStyleSheet("color: #555;")
        elif problems:
            self.verdict.setText("\n".join(f"✖ {FIELD_LABELS.get(k, k)}: {v}" for k, v in problems.items()))
            self.verdict.setStyleSheet("color: #A93226;")
        else:
            what = "completes the planned item" if self.completes else "posts directly"
            self.verdict.setText(f"✔ Ready: {self.code.text().strip().upper()} {what}.")
            self.verdict.setStyleSheet("color: #1E7B34;")

    def _on_code(self, text: str) -> None:
        code = text.strip().upper()
        entry = self.catalog.get(code) if len(code) == 5 and code in self.catalog else None
        self.code_label.setText(entry.label if entry else "")
        if entry is not None and entry.fee is not None and not self._fee_typed:
            self.fee.setText(f"{entry.fee:.2f}")

    def _on_fee_typed(self, _text: str) -> None:
        self._fee_typed = True

    def _label(self, code: str | None) -> str:
        return self.catalog.label(code) if code and code in self.catalog else ""

    # --- posting -------------------------------------------------------------------------------

    def _on_post(self) -> None:
        if self.busy or not self.check().ok:
            return  # a click while the previous post runs, or on a form that changed under it
        self.busy = True
        self.post_button.setEnabled(False)
        self.post_requested.emit(self.entry(), self.key, self.completes)

    def posted(self) -> None:
        self.busy = False
        self.reset()

    def failed(self, problems: dict[str, str]) -> None:
        """The service refused (the same rules, or the planned item was closed meanwhile); keep what was typed."""
        self.busy = False
        self.refresh()
        if problems:
            self.verdict.setText("\n".join(f"✖ {FIELD_LABELS.get(k, k)}: {v}" for k, v in problems.items()))
            self.verdict.setStyleSheet("color: #A93226;")
