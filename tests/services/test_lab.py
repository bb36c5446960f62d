"""Lab cases through the real reference server: a case is queued as one ``/odonto/v1/lab/orders`` post,
shown at once from the cache, stored once on the server with the ids we gave it, and its status moves
(received, checked) arrive there as new versions. Bad input is refused before anything is written."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3

import pytest

from odonto_desk.api.auth import ApiKey
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.lab import Lab, LabCalendar, LabStatus, us_lab_closures
from odonto_desk.fhir.resources.lab import EXT_LAB_STATUS, is_lab_request
from odonto_desk.services.lab import CaseForm, LabService
from odonto_desk.services.session import Role, Server, Session, User

TODAY = dt.date(2026, 11, 25)  # the day before Thanksgiving
RIVERA = "demo-rivera"
LAB = "odonto-lab-1"
KEY = "apx_sandbox_front_desk_key"


@pytest.fixture(scope="module")
def server(ui_server):
    return ui_server


@pytest.fixture(scope="module")
def template(synced_cache):
    return synced_cache


@pytest.fixture
def session(session_as):
    return session_as(Role.FRONT_DESK, "Sam Ortiz")


@pytest.fixture
def service(session):
    return LabService(session, today=TODAY)


def _form(**kw) -> CaseForm:
    return CaseForm(**{"lab": LAB, "kind": "crown", "teeth": "30", "shade": "A2", "material": "zirconia",
                       "instructions": "Light occlusal contact", "seat": dt.date(2026, 12, 14), **kw})


def _lab_rows(session, patient=RIVERA) -> list[dict]:
    return [r for r in session.cache().patient_resources(patient, ("ServiceRequest",)) if is_lab_request(r)]


def _state(session) -> tuple[int, int, int]:
    cache = session.cache()
    resources = cache.db.conn.execute("SELECT count(*) FROM resource").fetchone()[0]
    audit = cache.db.conn.execute("SELECT count(*) FROM audit").fetchone()[0]
    return resources, len(cache.outbox.entries()), audit


def test_the_default_lab_list_is_the_servers_labs_with_this_and_next_years_closures(service):
    cal = service.calendar()
    assert [(lab.id, lab.name, lab.turnaround_days) for lab in cal.labs] == [(LAB, "Northside Dental Lab", 7)]
    assert dt.date(2026, 11, 26) in cal.holidays and dt.date(2027, 11, 25) in cal.holidays
    # 7 working days from Wed 25 Nov over Thanksgiving: Mon 30 … Tue 8 Dec.
    assert service.due(LAB) == dt.date(2026, 12, 8)


def test_a_saved_lab_list_is_used_and_its_change_audited(service, session):
    before = _state(session)[2]
    service.save_calendar(LabCalendar(labs=(Lab(id=LAB, name="Northside Dental Lab", turnaround_days=3),),
                                      holidays=us_lab_closures(2026), seat_buffer_days=1))
    assert service.calendar().labs[0].turnaround_days == 3 and service.calendar().seat_buffer_days == 1
    assert service.due(LAB) == dt.date(2026, 12, 2)
    assert _state(session)[2] == before + 1


def test_a_new_case_is_shown_at_once_and_queued_as_one_lab_order_post(service, session):
    case = service.new_case(RIVERA, _form())
    assert case.order.status is LabStatus.SENT and case.order.due == dt.date(2026, 12, 8)
    pending = session.cache().outbox.entries(("pending",))
    assert [(e.operation, e.payload["name"]) for e in pending] == [("op", "lab/orders")]  # no FHIR creates
    body = pending[0].payload["body"]
    assert body["service_request"]["id"] == case.order.id and body["task"]["id"] == case.task.id
    assert body["task"]["focus"]["reference"] == f"ServiceRequest/{case.order.id}"
    assert pending[0].gpid == "APX-1A2B3C4D"
    view = service.open(RIVERA)
    [shown] = [c for c in view.cases if c.order.id == case.order.id]
    assert shown.sync == "waiting to be sent" and shown.lab_name == "Northside Dental Lab"
    assert shown.order.teeth[0].universal == "30" and shown.order.shade == "A2" and shown.status is LabStatus.SENT
    actions = [r[0] for r in session.cache().db.conn.execute("SELECT action FROM audit ORDER BY rowid DESC LIMIT 3")]
    assert actions == ["viewed", "changed", "created"]  # the view, the case, the queued post


def test_the_server_holds_the_case_once_and_the_pull_does_not_duplicate_it(service, session, server):
    case = service.new_case(RIVERA, _form())
    srs_before, tasks_before = server.server.store.count("ServiceRequest"), server.server.store.count("Task")
    report = session.sync().run_once()
    assert report.push.confirmed >= 1, report
    store = server.server.store
    assert store.count("ServiceRequest") == srs_before + 1 and store.count("Task") == tasks_before + 1
    sr = store.read("ServiceRequest", case.order.id)
    task = store.read("Task", case.task.id)
    assert sr.version == 1 and task.version == 1
    assert task.resource["businessStatus"]["coding"][0]["code"] == "sent" and task.resource["status"] == "requested"
    assert task.resource["focus"]["reference"] == f"ServiceRequest/{case.order.id}"
    session.sync().run_once()  # a second pull brings the server's copies back under the same ids
    ids = [r["id"] for r in _lab_rows(session)]
    assert ids.count(case.order.id) == 1
    cached = session.cache().get("ServiceRequest", case.order.id)
    assert cached["meta"]["versionId"] == "1"
    [back] = [c for c in service.open(RIVERA).cases if c.order.id == case.order.id]
    assert back.sync == "sent" and back.order.seat == dt.date(2026, 12, 14) and back.order.due == dt.date(2026, 12, 8)


def test_received_then_checked_arrive_on_the_server_as_new_versions(service, session, server):
    case = service.new_case(RIVERA, _form())
    session.sync().run_once()
    received = service.move(RIVERA, case.order.id, LabStatus.RETURNED)
    assert received.status is LabStatus.RETURNED
    assert [c.status for c in service.open(RIVERA).cases if c.order.id == case.order.id] == [LabStatus.RETURNED]
    checked = service.move(RIVERA, case.order.id, "checked")
    assert checked.status is LabStatus.CHECKED
    session.sync().run_once()
    store = server.server.store
    task = store.read("Task", case.task.id)
    sr = store.read("ServiceRequest", case.order.id)
    assert task.version == 3 and sr.version == 3
    assert task.resource["businessStatus"]["coding"][0]["code"] == "checked" and task.resource["status"] == "completed"
    assert {"url": EXT_LAB_STATUS, "valueCode": "checked"} in sr.resource["extension"]
    received_v2 = store.vread("Task", case.task.id, 2).resource
    assert received_v2["businessStatus"]["coding"][0]["code"] == "returned"
    assert [c.status for c in service.open(RIVERA).cases if c.order.id == case.order.id] == [LabStatus.CHECKED]


def test_offline_the_case_is_kept_and_waits_in_the_outbox(template, tmp_path):
    path = tmp_path / "offline.sqlite"
    src, dst = sqlite3.connect(template), sqlite3.connect(path)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    nowhere = Session(User("Sam Ortiz", Role.FRONT_DESK), Server(base_url="http://127.0.0.1:9"), path,
                      credentials=ApiKey(KEY))
    try:
        service = LabService(nowhere, today=TODAY)
        case = service.new_case(RIVERA, _form())
        report = nowhere.sync().run_once()
        assert report.push.stopped is not None  # the server cannot be reached
        [shown] = [c for c in service.open(RIVERA).cases if c.order.id == case.order.id]
        assert shown.sync == "waiting to be sent" and shown.status is LabStatus.SENT
    finally:
        nowhere.close()


def test_a_move_the_workflow_does_not_allow_is_refused_and_nothing_is_queued(service, session):
    case = service.new_case(RIVERA, _form())
    before = _state(session)
    with pytest.raises(DomainError) as e:
        service.move(RIVERA, case.order.id, LabStatus.SEATED)  # sent → seated skips the return and the check
    assert e.value.field == "status" and "cannot become seated" in e.value.message
    assert _state(session)[:2] == before[:2]


def test_attachments_travel_in_the_task_and_reach_the_server(service, session, server, tmp_path):
    photo = tmp_path / "shade-tab.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20)
    case = service.new_case(RIVERA, _form(files=(str(photo),)))
    assert [(a.title, a.content_type) for a in case.task.attachments] == [("shade-tab.png", "image/png")]
    session.sync().run_once()
    [item] = server.server.store.read("Task", case.task.id).resource["input"]
    assert base64.b64decode(item["valueAttachment"]["data"]) == photo.read_bytes()
    assert item["valueAttachment"]["size"] == photo.stat().st_size
    moved = service.move(RIVERA, case.order.id, "returned")  # a status move keeps the files
    assert moved.task.attachments == case.task.attachments


def test_two_cases_for_one_seat_appointment_and_the_seat_warning(service):
    seat = dt.date(2026, 12, 9)  # due Tue 8 Dec: one working day after, inside the 2-day buffer
    first = service.new_case(RIVERA, _form(seat=seat))
    second = service.new_case(RIVERA, _form(kind="night guard", teeth="", shade="", material=None, seat=seat))
    view = service.open(RIVERA)
    assert {c.order.id for c in view.for_seat(seat)} == {first.order.id, second.order.id}
    assert first.warning is not None and "Thu 10 Dec 2026" in first.warning
    relaxed = service.new_case(RIVERA, _form(seat=dt.date(2026, 12, 10)))
    assert relaxed.warning is None


@pytest.mark.parametrize(("kw", "field", "words"), [
    ({"shade": "Z9"}, "shade", "VITA"),
    ({"teeth": "33"}, "teeth", "33"),
    ({"kind": None}, "kind", "choose what the lab is to make"),
    ({"kind": "crown", "teeth": ""}, "teeth", "at least 1 tooth"),
    ({"seat": dt.date(2026, 11, 24)}, "seat", "in the past"),
    ({"lab": "no-such-lab"}, "lab", "not one of the practice's labs"),
])
def test_bad_input_names_the_field_and_saves_and_sends_nothing(service, session, kw, field, words):
    before = _state(session)
    with pytest.raises(DomainError) as e:
        service.new_case(RIVERA, _form(**kw))
    assert e.value.field == field and words in e.value.message
    assert _state(session) == before


def test_a_file_too_big_is_refused_before_it_is_read(service, session, tmp_path):
    big = tmp_path / "full-arch.stl"
    with big.open("wb") as f:
        f.truncate(3 * 1024 * 1024)  # sparse: 3 MB on paper
    before = _state(session)
    with pytest.raises(DomainError) as e:
        service.new_case(RIVERA, _form(files=(str(big),)))
    assert e.value.field == "attachments" and "full-arch.stl is 3.0 MB" in e.value.message
    assert _state(session) == before


@pytest.mark.parametrize("make", ["missing", "folder", "symlink loop"])
def test_an_unreadable_file_is_refused_clearly(service, session, tmp_path, make):
    path = tmp_path / "rx-slip.pdf"
    if make == "folder":
        path.mkdir()
    elif make == "symlink loop":  # unreadable even for root, unlike a chmod 0 file
        path.symlink_to(path)
    before = _state(session)
    with pytest.raises(DomainError) as e:
        service.new_case(RIVERA, _form(files=(str(path),)))
    assert e.value.field == "attachments" and "rx-slip.pdf" in e.value.message
    assert _state(session) == before


def test_a_case_the_server_refuses_says_so_in_the_list(service, session, server):
    case = service.new_case(RIVERA, _form())
    # A post the server refuses (here: the order lost its lab on the way) stays listed, saying why.
    cache = session.cache()
    [entry] = [e for e in cache.outbox.entries(("pending",)) if e.payload["body"]["service_request"]["id"]
               == case.order.id]
    body = entry.payload["body"]
    body["service_request"]["performer"] = []
    cache.db.conn.execute("UPDATE outbox SET payload = ? WHERE seq = ?",
                          (json.dumps(entry.payload), entry.seq))
    session.sync().run_once()
    [shown] = [c for c in service.open(RIVERA).cases if c.order.id == case.order.id]
    assert shown.sync.startswith("refused by the server:") and "performer" in shown.sync
