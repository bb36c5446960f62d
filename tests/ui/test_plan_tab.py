"""The Plan tab in the whole window, on the real reference server and a real cache file.

Assertions read what the tab shows and what the cache and outbox hold; the webhook test changes
the plan with another client's key and waits for the open tab to redraw.
"""

from __future__ import annotations

import subprocess
import time

from PySide6.QtCore import QPoint, Qt

from odonto_desk.api.auth import ApiKey
from odonto_desk.api.client import ApexClient
from odonto_desk.domain.plan import LineStatus
from odonto_desk.store.secrets import SecretStore
from odonto_desk.ui.main_window import MainWindow
from odonto_desk.ui.plan.tab import PlanTab

RIVERA = "demo-rivera"
RIVERA_PLAN = "demo-rivera-plan-1"


def open_plan_tab(qtbot, w: MainWindow, patient_id: str) -> PlanTab:
    tab = w.tab("Plan")
    assert isinstance(tab, PlanTab)
    w.tabs.setCurrentWidget(w.patient_tabs["Plan"])
    for i in range(w.patients.count()):
        if w.patients.item(i).data(Qt.ItemDataRole.UserRole).id == patient_id:
            w.patients.setCurrentRow(i)
    qtbot.waitUntil(lambda: tab.view is not None and tab.view.patient_id == patient_id, timeout=5000)
    return tab


def rows(tab: PlanTab) -> list[list[str]]:
    return [[tab.lines.topLevelItem(r).text(c) for c in range(tab.lines.columnCount())]
            for r in range(tab.lines.topLevelItemCount())]


def select_line(tab: PlanTab, item_id: str) -> None:
    for r in range(tab.lines.topLevelItemCount()):
        row = tab.lines.topLevelItem(r)
        row.setSelected(row.data(0, Qt.ItemDataRole.UserRole) == item_id)


def ops(session) -> int:
    return sum(1 for e in session.cache().outbox.entries() if e.operation == "op")


def test_phases_show_subtotals_and_accepting_an_option_rejects_its_sibling(qtbot, window, session):
    tab = open_plan_tab(qtbot, window, RIVERA)
    shown = rows(tab)
    phase_rows = [r for r in shown if r[2].startswith("Phase")]
    assert [r[2] for r in phase_rows] == ["Phase 1: Disease control", "Phase 2: Definitive restoration"]
    assert [r[6] for r in phase_rows] == ["$185.00", "$1,150.00"]  # the option D2644 is not added
    assert "$1,335.00" in tab.totals.text()
    select_line(tab, "item-3")
    assert tab.status_buttons[LineStatus.ACCEPTED].isEnabled()
    qtbot.mouseClick(tab.status_buttons[LineStatus.ACCEPTED], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.plan is not None and tab.plan.item("item-3").accepted, timeout=5000)
    assert tab.plan.item("item-2").line_status is LineStatus.REJECTED
    phase2 = next(r for r in rows(tab) if r[2].startswith("Phase 2"))
    assert phase2[6] == "$980.00"
    assert "$1,165.00" in tab.totals.text()
    crown = next(r for r in rows(tab) if "D2740" in r[2])
    assert crown[5] == "Rejected" and crown[6] == "($1,150.00)"
    # Status buttons follow the selection: a completed line cannot be moved again.
    select_line(tab, "item-1")
    qtbot.mouseClick(tab.status_buttons[LineStatus.COMPLETED], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.plan.item("item-1").line_status is LineStatus.COMPLETED, timeout=5000)
    select_line(tab, "item-1")
    assert not any(b.isEnabled() for b in tab.status_buttons.values())
    assert ops(session) == 2


def test_a_new_plan_takes_lines_with_fee_estimates_and_refuses_bad_ones(qtbot, window, session):
    tab = open_plan_tab(qtbot, window, RIVERA)
    tab.new_title.setText("Upper right")
    qtbot.mouseClick(tab.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.plan is not None and tab.plan.title == "Upper right", timeout=5000)
    form = tab.form
    for fields, words, outlined in [
        (("D2392", "33", "MO", ""), "33", form.tooth),
        (("D1110", "", "", "-5"), "negative", form.fee),
        (("D9999", "", "", ""), "not on the", form.code),
        (("D2740", "3", "MO", ""), "surface", form.surfaces),
    ]:
        before = ops(session)
        for w, text in zip((form.code, form.tooth, form.surfaces, form.fee), fields, strict=True):
            w.setText(text)
        qtbot.mouseClick(form.add_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda words=words: words in tab.notice.text(), timeout=5000)
        assert "B00020" in outlined.styleSheet()  # the field named by the domain is outlined
        assert ops(session) == before and tab.plan.items == ()
    for w, text in zip((form.code, form.tooth, form.surfaces, form.fee), ("D2740", "3", "", ""), strict=True):
        w.setText(text)
    qtbot.mouseClick(form.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.plan is not None and len(tab.plan.items) == 1, timeout=5000)
    crown = next(r for r in rows(tab) if "D2740" in r[2])
    # The demo fee schedule's crown fee, restorative at 80 % for an insured patient.
    assert crown[6:9] == ["$1,180.00", "$944.00", "$236.00"]
    assert "Restorative" in crown[3] and not form.tooth.styleSheet()
    # the form is ready for the next line: fields emptied, phase and priority kept
    form.phase.setValue(2)
    form.priority.setCurrentIndex(1)
    for w, text in zip((form.code, form.tooth, form.surfaces, form.fee), ("D2392", "30", "MO", "150"), strict=True):
        w.setText(text)
    qtbot.mouseClick(form.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.plan is not None and len(tab.plan.items) == 2, timeout=5000)
    assert [form.code.text(), form.tooth.text(), form.surfaces.text(), form.fee.text()] == ["", "", "", ""]
    assert form.phase.value() == 2 and form.priority.currentIndex() == 1


def test_a_line_keeps_its_priority_moves_in_progress_and_planned_chart_work_joins_the_plan(qtbot, window, session):
    from odonto_desk.domain.plan import Priority

    tab = open_plan_tab(qtbot, window, RIVERA)
    tab.new_title.setText("Urgent work")
    qtbot.mouseClick(tab.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.plan is not None and tab.plan.title == "Urgent work", timeout=5000)
    form = tab.form
    for w, text in zip((form.code, form.tooth, form.surfaces, form.fee), ("D2740", "3", "", ""), strict=True):
        w.setText(text)
    form.priority.setCurrentIndex(form.priority.findData(Priority.URGENT))
    qtbot.mouseClick(form.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.plan is not None and len(tab.plan.items) == 1, timeout=5000)
    [line] = tab.plan.items
    assert line.priority is Priority.URGENT
    assert next(r for r in rows(tab) if "D2740" in r[2])[4] == "urgent"
    select_line(tab, line.id)
    qtbot.mouseClick(tab.status_buttons[LineStatus.IN_PROGRESS], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.plan.item(line.id).line_status is LineStatus.IN_PROGRESS, timeout=5000)
    assert next(r for r in rows(tab) if "D2740" in r[2])[5] == LineStatus.IN_PROGRESS.label
    from odonto_desk.domain.chart import ChartMark
    from odonto_desk.services.chart import ChartService

    ChartService(session).add_marks(RIVERA, [ChartMark(patient=RIVERA, tooth="29", kind="filling", status="tp",
                                                       surfaces="DO", material="composite", code="D2392")])
    tab.reload()  # as the Chart tab's edit would make it
    qtbot.waitUntil(lambda: bool(tab.view.candidates), timeout=5000)
    candidates = [m.id for m in tab.view.candidates]
    assert tab.from_chart_button.isEnabled()
    qtbot.mouseClick(tab.from_chart_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(tab.plan.items) == 1 + len(candidates), timeout=5000)
    assert {i.service_request for i in tab.plan.items[1:]} == set(candidates) and not tab.view.candidates


def test_the_signature_pad_signs_and_the_case_presentation_pdf_has_it(qtbot, window, session, tmp_path):
    tab = open_plan_tab(qtbot, window, RIVERA)
    pad = tab.pad
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=QPoint(30, 60))
    for x in range(30, 300, 15):
        qtbot.mouseMove(pad, QPoint(x, 60 + (x // 15 % 3) * 10))
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=QPoint(300, 60))
    assert not pad.is_empty and pad.png().startswith(b"\x89PNG")
    assert not tab.sign_button.isEnabled()  # who signed is needed too
    tab.signer.setText("Jordan Rivera")
    qtbot.mouseClick(tab.sign_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.plan is not None and tab.plan.signature is not None, timeout=5000)
    assert "Signed by Jordan Rivera" in tab.signed_label.text()
    pdf = tmp_path / "plan.pdf"
    tab.export_pdf(str(pdf))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for expected in ("Treatment plan", "Jordan Rivera", "Phase 1: Disease control", "$1,335.00", "D2392",
                     "Restorative", "Signed by Jordan Rivera"):
        assert expected in text, expected
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf), str(tmp_path / "page")], check=True)
    from PySide6.QtGui import QImage

    page = QImage(str(tmp_path / "page-1.png"))
    dark = sum(1 for y in range(0, page.height(), 4) for x in range(0, page.width(), 4)
               if page.pixelColor(x, y).lightness() < 200)
    assert dark > 500  # the chart and the table are drawn, not a blank page
    # The chart picture and the signature captured on the pad are in the PDF as images (text alone passes above).
    listed = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    images = [line.split() for line in listed.splitlines()[2:] if line.split()[2:3] == ["image"]]
    assert len(images) == 2, listed
    assert sorted(int(i[3]) > 600 for i in images) == [False, True]  # the wide chart and the smaller signature
    qtbot.waitUntil(lambda: any(
        r[0] == "exported" for r in session.cache().db.conn.execute("SELECT action FROM audit WHERE type='CarePlan'")),
        timeout=5000)


def test_a_plan_changed_by_another_client_refreshes_the_open_tab_within_two_seconds(qtbot, window, session,
                                                                                     ui_server, tmp_path):
    tab = open_plan_tab(qtbot, window, RIVERA)
    window.sync_service.secret_store = SecretStore(file_path=tmp_path / "secrets.json", use_keyring=False)
    link = window.sync_service.start_webhooks(window.webhook_patient.emit)
    other = ApexClient(ui_server.base_url, credentials=ApiKey("apx_sandbox_admin_key"))
    try:
        plan = other.read("CarePlan", RIVERA_PLAN)
        plan["title"] = "Changed at the front desk"
        started = time.monotonic()
        other.update(plan, gpid="APX-1A2B3C4D")
        qtbot.waitUntil(lambda: tab.plan is not None and tab.plan.title == "Changed at the front desk",
                        timeout=2000)
        assert time.monotonic() - started < 2.0
        assert "Changed at the front desk" in tab.plans.currentText()
    finally:
        other.close()
        link.stop()
