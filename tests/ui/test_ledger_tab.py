"""The Ledger tab end to end: typed postings with the rules shown live, planned work completed, a double
click that posts once, claims built from selected lines, the scrubber, and the payer's response.

The tab runs on a front-desk session (the role that posts and bills) against the real reference server
(loopback, demo patients) with a real SQLite cache copied per test; assertions read the cache, the
outbox and, after a sync, what the server holds.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from PySide6.QtCore import QDate, QSettings, Qt
from PySide6.QtGui import QUndoStack

from odonto_desk.api.auth import ApiKey
from odonto_desk.domain.cdt import demo_catalog
from odonto_desk.services.session import Role, Server, Session, User
from odonto_desk.ui.ledger.tab import LedgerTab
from odonto_desk.ui.settings import Settings
from odonto_desk.ui.tabs import TabContext
from odonto_desk.ui.tasks import TaskManager

TODAY = dt.date.today()  # the tab posts against the real clock (the conftest pins its TODAY to the same day)
RIVERA, HADDAD = "demo-rivera", "demo-haddad"


@pytest.fixture
def front_session(ui_server, synced_cache, tmp_path):
    path = tmp_path / "front.sqlite"
    src, dst = sqlite3.connect(synced_cache), sqlite3.connect(path)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    s = Session(User("Pat Front", Role.FRONT_DESK), Server(base_url=ui_server.base_url), path,
                credentials=ApiKey("apx_sandbox_front_desk_key"))
    yield s
    s.close()


@pytest.fixture
def tab(qtbot, front_session, tmp_path):
    tasks = TaskManager()
    settings = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    statuses: list[str] = []
    context = TabContext(front_session, settings, tasks, QUndoStack(), demo_catalog(), status=statuses.append)
    t = LedgerTab(context)
    t.statuses = statuses
    qtbot.addWidget(t)
    t.resize(1400, 820)
    t.show()
    t.open_patient(RIVERA)
    qtbot.waitUntil(lambda: t.view is not None and t.view.patient_id == RIVERA, timeout=5000)
    yield t
    tasks.drain()


def fill(tab: LedgerTab, code: str, tooth: str, surfaces: str, fee: str | None = None) -> None:
    f = tab.form
    f.code.setText(code)
    f.tooth.setText(tooth)
    f.surfaces.setText(surfaces)
    if fee is not None:
        f.fee.setText(fee)


def charges(session) -> list[dict]:
    return session.cache().of_type("ChargeItem")


def ops(session) -> list:
    return [e for e in session.cache().outbox.entries() if e.operation == "op"]


def post(qtbot, tab: LedgerTab, session) -> None:
    before = len(charges(session))
    assert tab.form.post_button.isEnabled(), tab.form.verdict.text()
    qtbot.mouseClick(tab.form.post_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(charges(session)) == before + 1 and not tab.form.busy, timeout=5000)
    posted = ops(session)[-1].payload["body"]["charge_items"][0]["id"]

    def listed() -> bool:  # the ledger reloaded with the new charge, not the view from before the post
        return any(tab.table.item(r, 0) is not None and tab.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == posted
                   for r in range(tab.table.rowCount()))

    qtbot.waitUntil(lambda: tab.table.rowCount() == len(tab.view.rows) and listed(), timeout=5000)


def select_rows(qtbot, tab: LedgerTab, rows: list[int]) -> None:
    tab.table.clearSelection()
    for r in rows:
        rect = tab.table.visualItemRect(tab.table.item(r, 2))
        qtbot.mouseClick(tab.table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                         rect.center())


def row_of(tab: LedgerTab, charge_id: str) -> int:
    return next(r for r in range(tab.table.rowCount()) if tab.table.item(r, 0).data(Qt.ItemDataRole.UserRole)
                == charge_id)


def test_the_tab_is_registered_and_shows_the_ledger_in_the_window(qtbot, window):
    ledger = window.tab("Ledger")
    assert isinstance(ledger, LedgerTab)
    for i in range(window.patients.count()):
        if window.patients.item(i).data(Qt.ItemDataRole.UserRole).id == RIVERA:
            window.patients.setCurrentRow(i)
    qtbot.waitUntil(lambda: ledger.view is not None and ledger.view.patient_id == RIVERA, timeout=5000)
    assert ledger.balance.text() == "Balance: 71.00"
    assert ledger.table.item(1, 2).text() == "Insurance payment" and ledger.table.item(1, 5).text() == "-144.00"
    assert ledger.table.item(0, 7).text() == "on a claim"  # the seeded charge: its procedure is on the seeded claim


def test_post_directly_with_the_keyboard(qtbot, tab, front_session, ui_server):
    f = tab.form
    qtbot.keyClicks(f.code, "d2391")
    assert f.code_label.text() == "Back white filling 1 surf" and f.fee.text() == "168.00"  # catalog fee
    qtbot.keyClicks(f.tooth, "5")
    qtbot.keyClicks(f.surfaces, "v")
    assert f.verdict.text().startswith("✔ Ready") and f.post_button.isEnabled()
    post(qtbot, tab, front_session)
    assert f.code.text() == "" and not f.post_button.isEnabled()  # the form is reset for the next procedure
    [op] = ops(front_session)
    charge = op.payload["body"]["charge_items"][0]
    row = row_of(tab, charge["id"])
    cells = [tab.table.item(row, c).text() for c in range(8)]
    assert cells == [TODAY.isoformat(), "Adaeze Okafor, DDS", "D2391 Back white filling 1 surf", "5", "V", "168.00",
                     "239.00", "waiting to send"]
    front_session.sync().run_once()
    assert ui_server.server.store.read("ChargeItem", charge["id"]).resource["status"] == "billable"
    tab.reload()
    qtbot.waitUntil(lambda: tab.table.item(row_of(tab, charge["id"]), 7).text() == "posted", timeout=5000)


def test_post_a_planned_item(qtbot, tab, front_session):
    f = tab.form
    [item] = [f.planned.item(i) for i in range(f.planned.count()) if f.planned.item(i).text().startswith("Tooth 30")]
    rect = f.planned.visualItemRect(item)
    qtbot.mouseClick(f.planned.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert (f.code.text(), f.tooth.text(), f.surfaces.text(), f.fee.text()) == ("D2392", "30", "MO", "185.00")
    assert "completes the planned item" in f.verdict.text()
    post(qtbot, tab, front_session)
    qtbot.waitUntil(lambda: all(not f.planned.item(i).text().startswith("Tooth 30")
                                for i in range(f.planned.count())), timeout=5000)
    assert front_session.cache().get("ServiceRequest", "demo-rivera-m007")["status"] == "completed"
    [op] = ops(front_session)
    assert op.payload["body"]["completes"] == ["demo-rivera-m007"]


def test_rule_messages_update_as_the_user_types(qtbot, tab):
    f = tab.form
    qtbot.keyClicks(f.code, "D2392")
    qtbot.keyClicks(f.tooth, "3")
    qtbot.keyClicks(f.surfaces, "MI")
    assert "no incisal edge" in f.verdict.text()
    assert "#C0392B" in f.surfaces.styleSheet() and not f.post_button.isEnabled()
    qtbot.keyClick(f.surfaces, Qt.Key.Key_Backspace)
    qtbot.keyClicks(f.surfaces, "OD")
    assert "needs exactly 2 surfaces" in f.verdict.text() and "use D2393" in f.verdict.text()
    qtbot.keyClick(f.surfaces, Qt.Key.Key_Backspace)
    assert f.verdict.text().startswith("✔ Ready") and f.surfaces.styleSheet() == ""
    assert f.post_button.isEnabled()


def test_a_double_click_posts_once(qtbot, tab, front_session, ui_server):
    fill(tab, "D2392", "29", "MO")
    before = ui_server.server.store.count("ChargeItem")
    qtbot.mouseClick(tab.form.post_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(tab.form.post_button, Qt.MouseButton.LeftButton)
    qtbot.mouseDClick(tab.form.post_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.form.busy and len(charges(front_session)) == 2, timeout=5000)
    assert len(ops(front_session)) == 1
    # Even a repeated request for the same filled form (the same key) is one posting.
    first = ops(front_session)[0].payload["body"]["charge_items"][0]["id"]
    tab._on_post(tab.form.entry(), first.removeprefix("charge-"), None)
    qtbot.waitUntil(lambda: any("already posted" in s for s in tab.statuses), timeout=5000)
    assert len(ops(front_session)) == 1
    front_session.sync().run_once()
    assert ui_server.server.store.count("ChargeItem") == before + 1


@pytest.mark.parametrize(("typed", "words"), [
    (dict(tooth="33"), "not a Universal tooth"),
    (dict(tooth="3", surfaces="MI"), "no incisal edge"),
    (dict(fee="abc"), "not an amount"),
    (dict(fee="-10"), "cannot be negative"),
    (dict(code="D9999"), "not in the practice's code list"),
    (dict(date=TODAY + dt.timedelta(days=3)), "in the future"),
])
def test_bad_input_shows_a_clear_message_and_nothing_is_saved_or_sent(qtbot, tab, front_session, typed, words):
    values = {"code": "D2392", "tooth": "29", "surfaces": "MO", "fee": "210.00", **typed}
    fill(tab, values["code"], values["tooth"], values["surfaces"], values["fee"])
    if "date" in values:
        d = values["date"]
        tab.form.date.setDate(QDate(d.year, d.month, d.day))
    assert words in tab.form.verdict.text() and not tab.form.post_button.isEnabled()
    audit_before = len(front_session.cache().audit.entries())
    qtbot.mouseClick(tab.form.post_button, Qt.MouseButton.LeftButton)
    tab.form._on_post()  # even a programmatic click on a refused form posts nothing
    qtbot.wait(200)
    assert front_session.cache().outbox.entries() == [] and len(charges(front_session)) == 1
    assert len(front_session.cache().audit.entries()) == audit_before


def test_claim_from_selected_lines_with_the_scrubber(qtbot, tab, front_session, ui_server):
    fill(tab, "D2391", "5", "V")
    post(qtbot, tab, front_session)
    fill(tab, "D2392", "28", "BV")
    post(qtbot, tab, front_session)
    clean_id, bv_id = (op.payload["body"]["charge_items"][0]["id"] for op in ops(front_session))
    builder = tab.builder
    select_rows(qtbot, tab, [row_of(tab, clean_id), row_of(tab, bv_id)])
    qtbot.waitUntil(lambda: builder.draft is not None and len(builder.draft.lines) == 2, timeout=5000)
    texts = [builder.issues.item(i).text() for i in range(builder.issues.count())]
    assert any("line 2" in t and "V is sent as B" in t for t in texts)
    assert not builder.send_button.isEnabled()
    # The seeded line is already on the seeded claim: the scrubber says so.
    select_rows(qtbot, tab, [0])
    qtbot.waitUntil(lambda: builder.draft is not None and builder.draft.lines[0].code == "D2332", timeout=5000)
    assert "already on a claim" in builder.issues.item(0).text() and not builder.send_button.isEnabled()
    select_rows(qtbot, tab, [row_of(tab, clean_id)])
    qtbot.waitUntil(lambda: builder.send_button.isEnabled(), timeout=5000)
    assert builder.issues.item(0).text().startswith("✔") and "total 168.00" in builder.summary.text()
    qtbot.mouseClick(builder.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(tab.view.claims) == 2, timeout=5000)
    assert tab.history.claims.item(1, 3).text() == "waiting"
    assert tab.table.item(row_of(tab, clean_id), 7).text() == "on a claim"
    [claim] = [r for r in front_session.cache().of_type("Claim") if r["id"] != "demo-rivera-claim-1"]
    assert claim["item"][0]["subSite"][0]["coding"][0]["code"] == "B"  # V sent as the buccal letter
    claims_before = ui_server.server.store.count("Claim")
    front_session.sync().run_once()
    assert ui_server.server.store.count("Claim") == claims_before + 1


def test_the_payers_response_is_shown_per_line_and_in_total(qtbot, tab):
    history = tab.history
    assert history.claims.rowCount() == 1 and history.claims.item(0, 4).text() == "complete"
    cells = [history.lines.item(0, c).text() for c in range(8)]
    assert cells == ["1", "D2332", "8", "MIF", "215.00", "180.00", "144.00", "36.00"]
    assert "paid by plan 144.00" in history.totals.text() and "Paid at 80%" in history.totals.text()


def test_a_patient_without_coverage_cannot_send_a_claim(qtbot, tab, front_session):
    tab.open_patient(HADDAD)
    qtbot.waitUntil(lambda: tab.view is not None and tab.view.patient_id == HADDAD, timeout=5000)
    assert tab.table.rowCount() == 0 and tab.builder.coverage.currentText() == "no coverage on file"
    fill(tab, "D0120", "", "")
    before = len(charges(front_session))
    qtbot.mouseClick(tab.form.post_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(charges(front_session)) == before + 1 and tab.table.rowCount() == 1, timeout=5000)
    select_rows(qtbot, tab, [0])
    qtbot.waitUntil(lambda: tab.builder.draft is not None, timeout=5000)
    assert "no dental coverage" in tab.builder.issues.item(0).text() and not tab.builder.send_button.isEnabled()
