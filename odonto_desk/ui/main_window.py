"""The main window: patient finder on the left, the open patient's header and tabs on the right.

For now it shows the demo patients and the demo code list (the app shell and odontogram come
with their own issue). Reads go through ``services``; no widget touches storage or the network.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.services.demo import DemoService
from odonto_desk.ui.palette import STATUS_COLOURS


def _table(headers: list[str], name: str) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.setAccessibleName(name)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.verticalHeader().setVisible(False)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    t.setAlternatingRowColors(True)
    return t


class MainWindow(QMainWindow):
    def __init__(self, service: DemoService | None = None) -> None:
        super().__init__()
        self._service = service or DemoService()
        self._numbering = NumberingSystem.UNIVERSAL
        self._patient_id: str | None = None
        self.setWindowTitle("Odonto Desk")
        self.resize(1100, 680)

        self.patients = QListWidget()
        self.patients.setAccessibleName("Patients")
        self.finder = QLineEdit()
        self.finder.setPlaceholderText("Find patient: name, GPID or date of birth")
        self.finder.setAccessibleName("Find patient")
        self.finder.setClearButtonEnabled(True)
        left = QWidget()
        lay = QVBoxLayout(left)
        lay.addWidget(self.finder)
        lay.addWidget(self.patients)

        self.header = QLabel()
        self.header.setAccessibleName("Patient header")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setMargin(6)
        self.chart = _table(["Tooth", "Surfaces", "What", "Code", "Status", "Date", "Note"], "Chart marks")
        self.code_filter = QLineEdit()
        self.code_filter.setPlaceholderText("Search codes: number, abbreviation or label")
        self.code_filter.setAccessibleName("Search procedure codes")
        self.codes = _table(["Code", "Abbr.", "Label", "Category", "Fee"], "Procedure codes")
        codes_page = QWidget()
        cl = QVBoxLayout(codes_page)
        cl.addWidget(self.code_filter)
        cl.addWidget(self.codes)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Patient tabs")
        self.tabs.addTab(self.chart, "&Chart")
        self.tabs.addTab(codes_page, "C&odes")
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.addWidget(self.header)
        rl.addWidget(self.tabs)

        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        self.setCentralWidget(split)
        self._build_menus()
        self.statusBar().showMessage("Demo data — no server configured")

        self.finder.textChanged.connect(self._fill_patients)
        self.patients.currentItemChanged.connect(self._on_patient_changed)
        self.code_filter.textChanged.connect(self._fill_codes)
        self._fill_patients("")
        self._fill_codes("")
        if self.patients.count():
            self.patients.setCurrentRow(0)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.setStatusTip("Close Odonto Desk")
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        view = self.menuBar().addMenu("&View")
        numbering = view.addMenu("Tooth &numbering")
        group = QActionGroup(self)
        for system in NumberingSystem:
            a = QAction(system.label, self, checkable=True)
            a.setChecked(system is self._numbering)
            a.setData(system.value)
            a.triggered.connect(lambda _=False, s=system: self.set_numbering(s))
            group.addAction(a)
            numbering.addAction(a)
        find = QAction("&Find patient", self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.triggered.connect(self.finder.setFocus)
        self.addAction(find)

    def set_numbering(self, system: NumberingSystem) -> None:
        self._numbering = system
        self._fill_chart()

    def _fill_patients(self, text: str) -> None:
        needle = text.strip().lower()
        self.patients.clear()
        for p in self._service.patients():
            hay = f"{p.name} {p.gpid} {p.birth_date}".lower()
            if needle and needle not in hay:
                continue
            item = QListWidgetItem(f"{p.name}\n{p.gpid} · born {p.birth_date}")
            item.setData(Qt.ItemDataRole.UserRole, p.id)
            self.patients.addItem(item)

    def _on_patient_changed(self, item: QListWidgetItem | None) -> None:
        self._patient_id = item.data(Qt.ItemDataRole.UserRole) if item else None
        self._fill_header()
        self._fill_chart()

    def _fill_header(self) -> None:
        row = next((p for p in self._service.patients() if p.id == self._patient_id), None)
        if row is None:
            self.header.setText("<i>No patient open</i>")
            return
        alerts = "".join(f" <span style='color:#B00020'>⚠ {a}</span>" for a in row.alerts)
        self.header.setText(f"<b style='font-size:14pt'>{row.name}</b> &nbsp; {row.age} y · born "
                            f"{row.birth_date} · {row.gpid}{alerts}")

    def _fill_chart(self) -> None:
        self.chart.setRowCount(0)
        if self._patient_id is None:
            return
        rows = self._service.chart(self._patient_id, self._numbering)
        self.chart.setRowCount(len(rows))
        for r, m in enumerate(rows):
            colour, short = STATUS_COLOURS[m.status_code]
            cells = [m.tooth, m.surfaces, m.what, m.code, f"{short} · {m.status}", m.date, m.note]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 4:
                    item.setForeground(QColor(colour))
                self.chart.setItem(r, c, item)

    def _fill_codes(self, text: str) -> None:
        rows = self._service.codes(text)
        self.codes.setRowCount(len(rows))
        for r, e in enumerate(rows):
            for c, value in enumerate((e.code, e.abbreviation, e.label, e.category, e.fee)):
                item = QTableWidgetItem(value)
                if c == 4:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.codes.setItem(r, c, item)
