"""The plan service end to end: built here, queued, sent through the real reference server, and back.

A module-scoped reference server (demo patients seeded) and one synced cache; each test copies the
cache file. What the server holds is read with a second ApexClient (another key), never a mock.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time

import pytest

from odonto_desk.api.auth import ApiKey
from odonto_desk.api.client import ApexClient
from odonto_desk.domain.cdt import demo_catalog
from odonto_desk.domain.chart import ChartMark
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.plan import LineStatus, Priority
from odonto_desk.fhir.codes import GPID_SYSTEM
from odonto_desk.fhir.resources.plan import build_plan, read_plan
from odonto_desk.services.chart import ChartService
from odonto_desk.services.plans import OPERATION, PlanService
from odonto_desk.services.session import Role, Server, Session, User
from odonto_desk.services.sync import SyncService
from odonto_desk.store.secrets import SecretStore

TODAY = dt.date(2026, 11, 25)
DENTIST_KEY = "apx_sandbox_dentist_key"
OTHER_KEY = "apx_sandbox_admin_key"  # another client of the same practice
HADDAD = "demo-haddad"
# The smallest valid PNG: a 1×1 image.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")


@pytest.fixture(scope="module")
def server(ui_server):
    return ui_server


@pytest.fixture(scope="module")
def template(synced_cache):
    return synced_cache


@pytest.fixture
def service(session):
    return PlanService(session, demo_catalog(), today=TODAY)


@pytest.fixture
def other(server):
    c = ApexClient(server.base_url, credentials=ApiKey(OTHER_KEY))
    yield c
    c.close()


def server_plans(other: ApexClient, patient: str) -> list[dict]:
    return list(other.search("CarePlan", {"patient": patient}))


def ops_queued(session) -> list:
    return [e for e in session.cache().outbox.entries() if e.operation == "op"]


def _crown_or_onlay(service: PlanService) -> tuple:
    plan = service.new_plan(HADDAD, "Restore 3")
    plan = service.add_line(plan.id, code="D2740", tooth="3", phase=1, priority=Priority.URGENT)
    crown = plan.items[-1]
    plan = service.add_line(plan.id, code="D2643", tooth="3", surfaces="MOD", alternative_of=crown.id)
    onlay = plan.items[-1]
    plan = service.add_line(plan.id, code="D1110", phase=2)
    return plan, crown, onlay


def test_a_plan_built_here_reaches_the_server_once_with_one_number(service, session, other):
    plan, crown, onlay = _crown_or_onlay(service)
    plan = service.set_status(plan.id, onlay.id, LineStatus.ACCEPTED)
    assert plan.item(crown.id).line_status is LineStatus.REJECTED
    assert len(ops_queued(session)) == 5 and all(e.payload["name"] == OPERATION for e in ops_queued(session))
    # Offline the tab already shows it: the cache holds the plan as it will be on the server.
    view = service.open(HADDAD)
    assert view.plan(plan.id).item(onlay.id).line_status is LineStatus.ACCEPTED
    assert view.plan(plan.id).care_plan_id is None

    report = session.sync().run_once()
    assert not report.push.rejected, report.push.rejected
    on_server = [p for p in server_plans(other, HADDAD) if p["id"] == plan.id]
    assert len(on_server) == 1  # five posts, one plan: ids are ours and kept
    numbers = {i["value"] for i in on_server[0]["identifier"]}
    assert len(numbers) == 1 and next(iter(numbers)).startswith("CP-")
    back = read_plan(on_server[0])
    assert back.item(onlay.id).accepted and back.item(crown.id).line_status is LineStatus.REJECTED
    assert back.total == plan.total == onlay.fee + service.fees.fee_for("D1110")
    # The tooth lines became planned chart marks on the server; the rejected crown's is revoked.
    crown_sr = other.read("ServiceRequest", crown.service_request)
    onlay_sr = other.read("ServiceRequest", onlay.service_request)
    assert (crown_sr["status"], onlay_sr["status"]) == ("revoked", "active")
    assert plan.item(plan.items[-1].id).service_request is None  # a cleaning is no chart mark
    # After the pull, the cache has the server's copy with its number.
    assert service.open(HADDAD).plan(plan.id).care_plan_id == next(iter(numbers))


def test_a_new_version_sent_before_the_number_came_back_keeps_the_number(service, session, other):
    plan = service.new_plan(HADDAD, "Hygiene")
    session.sync().push()  # sent, numbered on the server; not pulled, so the cache lacks the number
    plan = service.add_line(plan.id, code="D1110")
    assert build_plan(plan).get("identifier") is None
    session.sync().push()
    on_server = [p for p in server_plans(other, HADDAD) if p["id"] == plan.id]
    assert len(on_server) == 1 and len(on_server[0]["activity"]) == 1
    hist = other.history("CarePlan", plan.id)["entry"]
    numbers = {i["value"] for e in hist for i in e["resource"]["identifier"]}
    assert len(hist) == 2 and len(numbers) == 1


@pytest.mark.parametrize(("line", "field", "words"), [
    ({"code": "D1110", "fee": "-5"}, "fee", "negative"),
    ({"code": "D9999"}, "code", "not on the"),
    ({"code": "D2392", "tooth": "33", "surfaces": "MO"}, "tooth", "33"),
    ({"code": "D2740", "tooth": "3", "surfaces": "MO"}, "surfaces", ""),
    ({"code": "D2392", "tooth": "30", "surfaces": "M"}, "surfaces", ""),
    ({"code": "D1110", "fee": "12.345"}, "fee", "decimal"),
])
def test_bad_lines_are_refused_naming_the_field_and_nothing_is_saved_or_sent(service, session, line, field,
                                                                               words):
    plan = service.new_plan(HADDAD, "Plan")
    before_ops = len(ops_queued(session))
    before = session.cache().get("CarePlan", plan.id)
    with pytest.raises(DomainError) as e:
        service.add_line(plan.id, **line)
    assert e.value.field == field and words in str(e.value)
    assert len(ops_queued(session)) == before_ops
    assert session.cache().get("CarePlan", plan.id) == before


def test_completed_lines_are_final_and_a_plan_completes_with_its_work(service):
    plan, crown, _ = _crown_or_onlay(service)
    cleaning = plan.items[-1]
    for line in (crown, cleaning):
        plan = service.set_status(plan.id, line.id, LineStatus.COMPLETED)
    assert plan.status.value == "completed"  # the onlay was rejected when the crown was accepted
    with pytest.raises(DomainError, match="completed"):
        service.set_status(plan.id, crown.id, LineStatus.PROPOSED)


def test_planned_chart_marks_join_the_plan_at_their_scheduled_fee(service, session):
    charts = ChartService(session, today=TODAY)
    edit = charts.add_marks(HADDAD, [ChartMark(patient=HADDAD, tooth="30", kind="filling", status="tp",
                                               surfaces="MO", material="composite", code="D2392")])
    mark_id = edit.after[0]["id"]
    view = service.open(HADDAD)
    assert mark_id in {m.id for m in view.candidates}
    plan = service.new_plan(HADDAD, "Fillings")
    plan = service.add_from_chart(plan.id, [mark_id], phase=1)
    assert plan.items[0].service_request == mark_id and plan.items[0].fee == service.fees.fee_for("D2392")
    assert mark_id not in {m.id for m in service.open(HADDAD).candidates}
    with pytest.raises(DomainError):
        service.add_from_chart(plan.id, ["no-such-mark"])


def test_a_signature_is_kept_with_the_plan_and_a_later_line_voids_it(service, session, other):
    plan, _, _ = _crown_or_onlay(service)
    with pytest.raises(DomainError) as e:
        service.sign(plan.id, b"GIF89a", "Omar Haddad")
    assert e.value.field == "png"
    signed = service.sign(plan.id, PNG, "  Omar   Haddad ")
    assert signed.signature.signer == "Omar Haddad"
    session.sync().run_once()
    back = read_plan(next(p for p in server_plans(other, HADDAD) if p["id"] == plan.id))
    assert back.signature is not None and back.signature.png == PNG
    assert service.add_line(plan.id, code="D0120", phase=2).signature is None


def test_the_plan_works_with_no_server_at_all(tmp_path, template):
    dst = tmp_path / "offline.sqlite"
    src, out = sqlite3.connect(template), sqlite3.connect(dst)
    with out:
        src.backup(out)
    src.close()
    out.close()
    s = Session(User("Dr. Lee", Role.DENTIST), Server(base_url="http://127.0.0.1:9"), dst,
                credentials=ApiKey(DENTIST_KEY))
    try:
        svc = PlanService(s, demo_catalog(), today=TODAY)
        plan = svc.new_plan(HADDAD, "Offline")
        plan = svc.add_line(plan.id, code="D2392", tooth="30", surfaces="MO")
        assert svc.open(HADDAD).plan(plan.id).items[0].code == "D2392"
        assert len(ops_queued(s)) == 2
        audit = [r[0] for r in s.cache().db.conn.execute("SELECT summary FROM audit WHERE type='CarePlan'")]
        assert any("planned D2392 tooth 30" in a for a in audit)
    finally:
        s.close()


def test_a_plan_changed_by_another_client_arrives_by_webhook_within_two_seconds(service, session, other, tmp_path):
    plan = service.new_plan(HADDAD, "Watched")
    session.sync().run_once()
    seen: list[str] = []
    arrived = threading.Event()

    def on_patient(pid: str) -> None:
        seen.append(pid)
        arrived.set()

    store = SecretStore(file_path=tmp_path / "secrets.json", use_keyring=False)
    link = SyncService(session).start_webhooks(on_patient, secret_store=store)
    try:
        server_copy = other.read("CarePlan", plan.id)
        server_copy["title"] = "Changed at the front desk"
        started = time.monotonic()
        other.update(server_copy, gpid=_gpid(session))
        assert arrived.wait(2.0), "no webhook within 2 s"
        elapsed = time.monotonic() - started
        assert seen[0] == HADDAD and elapsed < 2.0
        assert service.open(HADDAD).plan(plan.id).title == "Changed at the front desk"
        secret_names = store._read_file()  # the secret is kept in the secret store, not the cache
        assert any("webhook-secret" in name for names in secret_names.values() for name in names)
    finally:
        link.stop()


def _gpid(session) -> str:
    patient = session.cache().get("Patient", HADDAD)
    return next(i["value"] for i in patient["identifier"] if i["system"] == GPID_SYSTEM)
