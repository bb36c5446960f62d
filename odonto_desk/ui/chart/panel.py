"""The charting panel: the typed command line, and the pick-what-and-status form.

Both build marks only through the domain (``parse_command``, ``ChartMark``): what the panel shows as
wrong is exactly what the domain refuses, checked live as the user types or picks, and nothing is
saved until the domain accepts it.

The command grammar and the mark model are imported when first used, not with this module: the
panel is built for the first frame of a cold start, before the models are loaded (see
``services/first_frame.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from odonto_desk.domain.cdt import Catalog, ServiceCategory
from odonto_desk.domain.errors import DomainError, from_validation_error
from odonto_desk.domain.mark_kinds import KIND_RULES, MarkKind, MarkStatus, Material
from odonto_desk.domain.surfaces import Surface
from odonto_desk.domain.teeth import NumberingSystem, Tooth

if TYPE_CHECKING:
    from odonto_desk.domain.chart import ChartMark

ERROR_STYLE = "color:#B00020;"
OK_STYLE = "color:#1B5E20;"
HINT_STYLE = "color:#555555;"
NOTHING_SELECTED = "Select teeth or surfaces on the chart (click, Ctrl+click, drag), then chart them here."


class CommandLine(QWidget):
    """``14 MOD comp tp`` + Enter. A wrong command shows why, inline, and nothing is saved."""

    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.numbering = NumberingSystem.UNIVERSAL
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("Chart by typing, e.g.  14 MOD comp tp   ·   3 crn zr c   ·   19 ext tp")
        self.edit.setAccessibleName("Charting command")
        self.edit.setClearButtonEnabled(True)
        self.message = QLabel(" ")
        self.message.setAccessibleName("Charting command message")
        self.message.setWordWrap(True)
        self._model = QStringListModel(self)
        completer = QCompleter(self._model, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.edit.setCompleter(completer)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit)
        lay.addWidget(self.message)
        self.edit.textEdited.connect(self._on_text_edited)
        self.edit.returnPressed.connect(self._on_return)

    def _on_text_edited(self, text: str) -> None:
        self.message.setText(" ")
        self.message.setStyleSheet("")
        if text.endswith(" "):
            from odonto_desk.domain.chart_command import complete

            try:
                self._model.setStringList([text + s for s in complete(text, numbering=self.numbering)][:30])
            except DomainError:
                self._model.setStringList([])

    def check(self) -> DomainError | None:
        """Parse without saving; show and return the error, if any."""
        from odonto_desk.domain.chart_command import parse_command

        text = self.edit.text()
        try:
            parse_command(text, numbering=self.numbering)
        except DomainError as exc:
            self.show_error(exc)
            return exc
        return None

    def show_error(self, exc: DomainError) -> None:
        self.message.setStyleSheet(ERROR_STYLE)
        self.message.setText(f"✗ {exc.message}")
        span = getattr(exc, "span", None)
        if span and span[1] > span[0]:
            self.edit.setSelection(span[0], span[1] - span[0])

    def show_done(self, text: str) -> None:
        self.message.setStyleSheet(OK_STYLE)
        self.message.setText(f"✓ {text}")

    def _on_return(self) -> None:
        if self.check() is None:
            self.submitted.emit(self.edit.text())


class MarkForm(QWidget):
    """Pick a condition or procedure, its material, status and CDT code; validated live."""

    chart_requested = Signal(list)  # list[ChartMark], one per selected tooth

    def __init__(self, catalog: Catalog, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self.selection: dict[Tooth, frozenset[Surface]] = {}
        self.patient_id: str | None = None
        self.kind = QComboBox()
        self.kind.setAccessibleName("Condition or procedure")
        for k in MarkKind:
            self.kind.addItem(k.value.capitalize(), k)
        self.material = QComboBox()
        self.material.setAccessibleName("Material")
        self.status = QComboBox()
        self.status.setAccessibleName("Status")
        for s in MarkStatus:
            self.status.addItem(f"{s.value.upper()} · {s.label}", s)
        self.category = QComboBox()
        self.category.setAccessibleName("Service category")
        self.category.addItem("All categories", None)
        for c in ServiceCategory:
            self.category.addItem(c.label, c)
        self.code = QLineEdit()
        self.code.setAccessibleName("CDT code")
        self.code.setPlaceholderText("code, abbreviation or words (blank: suggested)")
        self._codes = QStringListModel(self)
        completer = QCompleter(self._codes, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.code.setCompleter(completer)
        self.verdict = QLabel(" ")
        self.verdict.setWordWrap(True)
        self.verdict.setAccessibleName("Validation")
        self.chart_button = QPushButton("Chart on selected teeth")
        self.chart_button.setAccessibleName("Chart on selected teeth")
        form = QFormLayout()
        form.addRow("&What", self.kind)
        form.addRow("&Material", self.material)
        form.addRow("&Status", self.status)
        code_row = QHBoxLayout()
        code_row.addWidget(self.category)
        code_row.addWidget(self.code, 1)
        form.addRow("CDT code", code_row)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(form)
        lay.addWidget(self.verdict)
        lay.addWidget(self.chart_button)
        self.kind.currentIndexChanged.connect(self._on_kind_changed)
        for w in (self.material, self.status):
            w.currentIndexChanged.connect(self.revalidate)
        self.code.textChanged.connect(self.revalidate)
        self.category.currentIndexChanged.connect(self._fill_codes)
        self.chart_button.clicked.connect(self._on_chart)
        self._fill_codes()
        self._on_kind_changed()

    def set_selection(self, selection: dict[Tooth, frozenset[Surface]]) -> None:
        self.selection = selection
        self.revalidate()

    def _on_kind_changed(self) -> None:
        kind: MarkKind = self.kind.currentData()
        rule = KIND_RULES[kind]
        self.material.blockSignals(True)
        self.material.clear()
        self.material.addItem("—", None)
        for m in sorted(rule.materials, key=lambda m: m.value):
            self.material.addItem(m.value, m)
        self.material.setEnabled(bool(rule.materials))
        self.material.blockSignals(False)
        # A condition has one status; a procedure defaults to planned.
        wanted = MarkStatus.CONDITION if rule.condition else MarkStatus.TREATMENT_PLANNED
        self.status.setCurrentIndex(self.status.findData(wanted))
        self.revalidate()

    def _fill_codes(self) -> None:
        category = self.category.currentData()
        self._codes.setStringList([f"{e.code}  {e.abbreviation or ''}  {e.label}".replace("    ", "  ")
                                   for e in self.catalog.search("", category, limit=5000)])

    def _code(self) -> str | None:
        text = self.code.text().strip()
        return text.split()[0] if text else None

    def build(self) -> list[ChartMark]:
        """One mark per selected tooth, or raise the domain's error."""
        from odonto_desk.domain.chart import ChartMark

        if not self.selection:
            raise DomainError("select one or more teeth on the chart first", field="tooth")
        kind: MarkKind = self.kind.currentData()
        material: Material | None = self.material.currentData()
        status: MarkStatus = self.status.currentData()
        marks = []
        for tooth, surfaces in self.selection.items():
            try:
                mark = ChartMark(patient=self.patient_id, tooth=tooth, kind=kind, status=status,
                                 surfaces=surfaces, material=material, code=self._code())
            except ValueError as exc:  # pydantic's wrapper around our DomainError
                raise (exc if isinstance(exc, DomainError) else from_validation_error(exc)) from None
            if mark.code is None and (suggested := mark.suggested_code()):
                mark = mark.model_copy(update={"code": suggested})
            marks.append(mark)
        return marks

    def revalidate(self) -> None:
        if not self.selection:  # nothing picked yet is the start of the work, not a mistake
            self.verdict.setStyleSheet(HINT_STYLE)
            self.verdict.setText(NOTHING_SELECTED)
            self.chart_button.setEnabled(False)
            return
        try:
            marks = self.build()
        except DomainError as exc:
            self.verdict.setStyleSheet(ERROR_STYLE)
            self.verdict.setText(f"✗ {exc.message}")
            self.chart_button.setEnabled(False)
            return
        self.verdict.setStyleSheet(OK_STYLE)
        self.verdict.setText("✓ " + "; ".join(m.describe() for m in marks[:4]) + (" …" if len(marks) > 4 else ""))
        self.chart_button.setEnabled(True)

    def _on_chart(self) -> None:
        try:
            self.chart_requested.emit(self.build())
        except DomainError as exc:
            self.verdict.setText(f"✗ {exc.message}")
