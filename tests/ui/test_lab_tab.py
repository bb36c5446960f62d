"""The Lab tab on a real session (reference server on loopback, real SQLite cache): sending cases from the
form, the due date and the seat-appointment warning, the status buttons, and refused input."""

from __future__ import annotations

import datetime as dt

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QUndoStack

from odonto_desk.domain.cdt import demo_catalog
from odonto_desk.domain.lab import Lab, LabCalendar, LabStatus, us_lab_closures
from odonto_desk.services.lab import LabService
from odonto_desk.ui.lab.tab import COLUMNS, LabTab
from odonto_desk.ui.tabs import TabContext
from odonto_desk.ui.tasks import TaskManager

TODAY = dt.date(2026, 11, 25)
HADDAD = "demo-haddad"
RIVERA = "demo-rivera"
NORTHSIDE = "odonto-lab-1"
FAST = "odonto-lab-fast"


@pytest.fixture
def tab(qtbot, session, settings):
    LabService(session, today=TODAY).save_calendar(LabCalendar(
        labs=(Lab(id=NORTHSIDE, name="Northside Dental Lab", turnaround_days=7),
              Lab(id=FAST, name="Quick Crowns", turnaround_days=3)),
        holidays=us_lab_closures(2026), seat_buffer_days=2))
    tasks = TaskManager()
    widget = LabTab(TabContext(session, settings, tasks, QUndoStack(), demo_catalog()), today=TODAY)
    qtbot.addWidget(widget)
    widget.resize(1300, 640)
    widget.show()
    yield widget
    tasks.drain()


def open_patient(qtbot, tab: LabTab, patient_id: str) -> None:
    tab.open_patient(patient_id)
    qtbot.waitUntil(lambda: tab.view is not None and tab.view.patient_id == patient_id, timeout=5000)


def cell(tab: LabTab, row: int, column: str) -> str:
    return tab.cases.item(row, COLUMNS.index(column)).text()


def lab_posts(session) -> list:
    return [e for e in session.cache().outbox.entries(("pending",))
            if e.operation == "op" and e.payload["name"] == "lab/orders"]


def fill(tab: LabTab, *, lab=NORTHSIDE, kind="crown", teeth="30", shade="A2", seat=dt.date(2026, 12, 14)) -> None:
    form = tab.form
    form.lab.setCurrentIndex(form.lab.findData(lab))
    form.kind.setCurrentIndex(form.kind.findData(kind))
    form.teeth.setText(teeth)
    form.shade.setText(shade)
    form.has_seat.setChecked(seat is not None)
    if seat is not None:
        form.seat.setDate(QDate(seat.year, seat.month, seat.day))


def send(qtbot, tab: LabTab) -> None:
    rows = tab.cases.rowCount()
    qtbot.mouseClick(tab.form.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.cases.rowCount() == rows + 1, timeout=5000)


def send_refused(qtbot, tab: LabTab) -> str:
    qtbot.mouseClick(tab.form.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.form.error.text() != "", timeout=5000)
    return tab.form.error.text()


def select(qtbot, tab: LabTab, order_id: str) -> int:
    for row in range(tab.cases.rowCount()):
        if tab.cases.item(row, 0).data(Qt.ItemDataRole.UserRole) == order_id:
            tab.cases.selectRow(row)
            return row
    raise AssertionError(f"{order_id} is not listed")


def test_the_window_builds_the_lab_tab_and_lists_the_demo_case(qtbot, window):
    tab = window.tab("Lab")
    assert isinstance(tab, LabTab)
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())].count("La&b") == 1
    for i in range(window.patients.count()):
        if window.patients.item(i).data(Qt.ItemDataRole.UserRole).id == HADDAD:
            window.patients.setCurrentRow(i)
    qtbot.waitUntil(lambda: tab.view is not None and tab.view.patient_id == HADDAD, timeout=5000)
    assert tab.cases.rowCount() == 1
    assert cell(tab, 0, "Case") == "Veneer #9" and cell(tab, 0, "Status") == "Sent"


def test_a_new_case_is_listed_at_once_and_queued_for_the_lab(qtbot, tab, session):
    open_patient(qtbot, tab, RIVERA)
    assert tab.cases.rowCount() == 0 and "0 open cases" in tab.summary.text()
    fill(tab, teeth="30", shade="a3")
    tab.form.instructions.setPlainText("Light occlusal contact")
    send(qtbot, tab)
    assert cell(tab, 0, "Case") == "Crown #30" and cell(tab, 0, "Shade") == "A3"
    assert cell(tab, 0, "Due back") == "Tue 8 Dec" and cell(tab, 0, "Server") == "waiting to be sent"
    [post] = lab_posts(session)
    assert post.payload["body"]["service_request"]["note"] == [{"text": "Light occlusal contact"}]
    assert tab.form.teeth.text() == "" and tab.form.kind.currentData() is None  # ready for the next case


def test_the_due_date_is_shown_and_recomputed_when_the_lab_changes(qtbot, tab):
    open_patient(qtbot, tab, RIVERA)
    form = tab.form
    fill(tab, lab=NORTHSIDE)
    assert "Tue 8 Dec 2026" in form.due.text() and "7 working days" in form.due.text()
    form.lab.setCurrentIndex(form.lab.findData(FAST))
    # 3 working days from Wed 25 Nov: Thanksgiving, the Friday after and the weekend are skipped.
    assert "Wed 2 Dec 2026" in form.due.text() and "3 working days" in form.due.text()


def test_a_seat_before_the_due_date_plus_the_buffer_is_warned_about(qtbot, tab):
    open_patient(qtbot, tab, RIVERA)
    fill(tab, lab=NORTHSIDE, seat=dt.date(2026, 12, 8))  # on the due date itself
    assert "book it on or after Thu 10 Dec 2026" in tab.form.seat_warning.text()
    tab.form.seat.setDate(QDate(2026, 12, 10))
    assert tab.form.seat_warning.text() == ""
    tab.form.lab.setCurrentIndex(tab.form.lab.findData(FAST))  # due sooner: still fine
    assert tab.form.seat_warning.text() == ""
    tab.form.seat.setDate(QDate(2026, 12, 3))
    assert "Fri 4 Dec 2026" in tab.form.seat_warning.text()
    send(qtbot, tab)  # a warning, not a refusal: the case is sent and keeps its warning in the list
    due = tab.cases.item(0, COLUMNS.index("Due back"))
    assert due.text().startswith("⚠") and "Fri 4 Dec 2026" in due.toolTip()
    assert "1 seat appointment too early" in tab.summary.text()


def test_two_cases_for_one_seat_appointment(qtbot, tab):
    open_patient(qtbot, tab, RIVERA)
    fill(tab, kind="crown", teeth="30", seat=dt.date(2026, 12, 14))
    send(qtbot, tab)
    fill(tab, kind="night guard", teeth="", shade="", seat=dt.date(2026, 12, 14))
    send(qtbot, tab)
    assert [cell(tab, r, "Seat appt.") for r in range(2)] == ["Mon 14 Dec  (2 cases)"] * 2
    assert sorted(cell(tab, r, "Case") for r in range(2)) == ["Crown #30", "Night guard"]
    assert len(tab.view.for_seat(dt.date(2026, 12, 14))) == 2


def test_status_buttons_allow_only_the_valid_moves(qtbot, tab, session):
    open_patient(qtbot, tab, RIVERA)
    fill(tab)
    send(qtbot, tab)
    order_id = tab.view.cases[0].order.id
    buttons = tab.move_buttons
    assert not any(b.isEnabled() for b in buttons.values())  # nothing selected
    select(qtbot, tab, order_id)
    enabled = {s for s, b in buttons.items() if b.isEnabled()}
    assert enabled == {LabStatus.RETURNED, LabStatus.IN_LAB, LabStatus.CANCELLED}
    qtbot.mouseClick(buttons[LabStatus.RETURNED], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: cell(tab, 0, "Status") == "Received", timeout=5000)
    select(qtbot, tab, order_id)
    assert not buttons[LabStatus.RETURNED].isEnabled() and buttons[LabStatus.CHECKED].isEnabled()
    qtbot.mouseClick(buttons[LabStatus.CHECKED], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: cell(tab, 0, "Status") == "Checked", timeout=5000)
    select(qtbot, tab, order_id)
    enabled = {s for s, b in buttons.items() if b.isEnabled()}
    assert enabled == {LabStatus.SEATED, LabStatus.IN_LAB, LabStatus.CANCELLED}
    tasks = [p.payload["body"]["task"]["businessStatus"]["coding"][0]["code"] for p in lab_posts(session)]
    assert tasks == ["sent", "returned", "checked"]


@pytest.mark.parametrize(("change", "expected"), [
    ({"shade": "Z9"}, "Shade: 'Z9' is not a VITA"),
    ({"teeth": "33"}, "Teeth: "),
    ({"kind": None}, "What: choose what the lab is to make"),
    ({"seat": dt.date(2026, 11, 20)}, "Seat appointment: the seat appointment (Fri 20 Nov 2026) is in the past"),
])
def test_bad_input_is_refused_next_to_the_form_and_nothing_is_saved(qtbot, tab, session, change, expected):
    open_patient(qtbot, tab, RIVERA)
    fill(tab, **change)
    before = len(session.cache().outbox.entries())
    assert expected in send_refused(qtbot, tab)
    if "teeth" in change:
        assert "33" in tab.form.error.text()
    assert len(session.cache().outbox.entries()) == before
    assert tab.cases.rowCount() == 0
    assert [c for c in LabService(session, today=TODAY).open(RIVERA, audit=False).cases] == []


def test_a_seat_in_the_past_is_flagged_while_typing(qtbot, tab):
    open_patient(qtbot, tab, RIVERA)
    fill(tab, seat=dt.date(2026, 11, 24))
    assert "is in the past" in tab.form.seat_warning.text()


def test_files_too_big_or_unreadable_are_refused_when_attached(qtbot, tab, session, tmp_path):
    open_patient(qtbot, tab, RIVERA)
    big = tmp_path / "full-arch.stl"
    with big.open("wb") as f:
        f.truncate(2 * 1024 * 1024)
    tab.form.attach_requested.emit(str(big))
    qtbot.waitUntil(lambda: tab.form.error.text() != "", timeout=5000)
    assert tab.form.error.text().startswith("Files: full-arch.stl is 2.0 MB") and tab.form.files == []
    tab.form.attach_requested.emit(str(tmp_path / "gone.pdf"))
    qtbot.waitUntil(lambda: "gone.pdf cannot be read" in tab.form.error.text(), timeout=5000)
    photo = tmp_path / "shade.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + b"0" * 5000)
    tab.form.attach_requested.emit(str(photo))
    qtbot.waitUntil(lambda: tab.form.file_list.count() == 1, timeout=5000)
    assert tab.form.file_list.item(0).text() == "shade.jpg  (5 kB)" and tab.form.error.text() == ""
    fill(tab)
    send(qtbot, tab)
    assert cell(tab, 0, "Files") == "1"
    [post] = lab_posts(session)
    assert post.payload["body"]["task"]["input"][0]["valueAttachment"]["title"] == "shade.jpg"


def test_a_file_that_became_unreadable_before_sending_stops_the_send(qtbot, tab, session, tmp_path):
    open_patient(qtbot, tab, RIVERA)
    photo = tmp_path / "shade.jpg"
    photo.write_bytes(b"\xff\xd8\xff" + b"0" * 100)
    tab.form.attach_requested.emit(str(photo))
    qtbot.waitUntil(lambda: tab.form.file_list.count() == 1, timeout=5000)
    photo.unlink()  # moved away between attaching and sending
    fill(tab)
    assert "Files: shade.jpg cannot be read" in send_refused(qtbot, tab)
    assert lab_posts(session) == [] and tab.cases.rowCount() == 0


def test_the_numbering_system_changes_how_teeth_are_shown(qtbot, tab):
    from odonto_desk.domain.teeth import NumberingSystem

    open_patient(qtbot, tab, RIVERA)
    fill(tab, teeth="30")
    send(qtbot, tab)
    tab.set_numbering(NumberingSystem.FDI)
    assert cell(tab, 0, "Case") == "Crown 46"
    fill(tab, kind="veneer", teeth="11", shade="A1", seat=None)  # typed in FDI now
    send(qtbot, tab)
    assert "Veneer 11" in [cell(tab, r, "Case") for r in range(2)]
    assert "not booked" in [cell(tab, r, "Seat appt.") for r in range(2)]
