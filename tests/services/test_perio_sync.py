"""A perio save reaches the server as one chart PUT, through the outbox, on the real reference
server: exactly the values typed, cleared values retired there, offline saves squashed into one PUT,
no duplicates after the pull, a concurrent mark edit harmless, a concurrent edit of the same exam a
conflict (the local exam kept, nothing overwritten)."""

from __future__ import annotations

import pytest
from helpers import DENTIST_KEY, TODAY

from odonto_desk.api.auth import ApiKey
from odonto_desk.api.client import ApexClient
from odonto_desk.domain.perio import Flag, PerioExam, Site
from odonto_desk.fhir.resources.perio import member_id, visible_exam
from odonto_desk.services.perio import PerioService
from odonto_desk.services.session import Role
from odonto_desk.store.sync import CHART_PERIO_OP, SyncEngine

HADDAD = "demo-haddad"


@pytest.fixture
def service(session):
    return PerioService(session, today=TODAY)


@pytest.fixture
def other(ui_server):
    """Another client of the same server (another workstation, or a partner system)."""
    with ApexClient(ui_server.base_url, credentials=ApiKey(DENTIST_KEY)) as c:
        yield c


def _server_exam(client: ApexClient, gpid: str, exam_id: str) -> PerioExam | None:
    doc, _ = client.get_chart(gpid)
    found = [PerioExam.from_dict(e) for e in doc["perio_exams"] if e["id"] == exam_id]
    assert len(found) <= 1
    return found[0] if found else None


def _server_observations(client: ApexClient, exam_id: str) -> dict[str, dict]:
    panel = client.read("Observation", exam_id)
    return {m["reference"].split("/")[1]: client.read("Observation", m["reference"].split("/")[1])
            for m in panel["hasMember"]}


def _push_counting(session):
    engine = session.sync()
    before = engine.client.stats["requests"]
    report = engine.push()
    return report, engine.client.stats["requests"] - before


def _typed(service) -> PerioExam:
    exam = service.new_exam(HADDAD)
    exam.set_pd(3, Site.MB, 5)
    exam.set_pd(3, Site.B, 2)
    exam.set_gm(3, Site.MB, 1)
    exam.set_flag(3, Site.MB, Flag.BLEEDING)
    return exam


def _chart_ops(session) -> list:
    return [e for e in session.cache().outbox.entries() if e.operation == "op"
            and (e.payload or {}).get("name") == CHART_PERIO_OP]


def test_a_saved_exam_reaches_the_server_in_one_chart_put_with_exactly_the_values_typed(session, service, other):
    exam = _typed(service)
    service.save(exam)
    report, requests = _push_counting(session)
    assert report.confirmed == 1 and not report.rejected and not report.conflicts
    assert requests == 2  # GET the chart (ETag, the server's copy), PUT it: one write request
    gpid = service.charts.gpid(HADDAD)
    assert _server_exam(other, gpid, exam.id) == visible_exam(exam)
    values = {rid: r.get("valueQuantity", {}).get("value", r.get("valueBoolean")) for rid, r in
              _server_observations(other, exam.id).items() if not rid.startswith(f"{exam.id}-state-")}
    assert values == {member_id(exam.id, "pd-3-mb"): 5, member_id(exam.id, "pd-3-b"): 2,
                      member_id(exam.id, "gm-3-mb"): 1, member_id(exam.id, "bleeding-3-mb"): True}
    # The pull brings the server's copies under the same ids: no duplicates in the cache.
    assert not session.sync().pull().conflicts
    cached = [r for r in session.cache().patient_resources(HADDAD, ("Observation",))
              if r["id"] == exam.id or r["id"].startswith(f"{exam.id}-")]
    server = _server_observations(other, exam.id)
    assert sorted(r["id"] for r in cached) == sorted([exam.id, *server])
    assert all(r["meta"]["versionId"] == "1" for r in cached)  # the server's copies, not ours
    assert [e for e in service.open(HADDAD).exams if e.id == exam.id] == [visible_exam(exam)]
    assert [e.state for e in _chart_ops(session)] == ["done"]


def test_a_cleared_value_is_retired_on_the_server(session, service, other):
    exam = _typed(service)
    service.save(exam)
    assert session.sync().run_once().push.confirmed == 1
    exam.set_pd(3, Site.B, None)
    assert service.save(exam).retired == 1
    assert session.sync().run_once().push.confirmed == 1
    cleared = other.read("Observation", member_id(exam.id, "pd-3-b"))
    assert cleared["status"] == "entered-in-error" and cleared["valueQuantity"]["value"] == 2  # kept, marked
    assert _server_exam(other, service.charts.gpid(HADDAD), exam.id).pd(3, Site.B) is None
    assert member_id(exam.id, "pd-3-b") not in _server_observations(other, exam.id)


def test_saves_made_offline_are_squashed_into_one_put_of_the_latest_exam(session, service, other):
    exam = _typed(service)
    service.save(exam)
    exam.set_pd(3, Site.MB, 6)
    service.save(exam)
    exam.set_pd(3, Site.B, None)
    exam.set_pd(14, Site.L, 4)
    service.save(exam)
    assert [e.state for e in _chart_ops(session)] == ["cancelled", "cancelled", "pending"]
    report, requests = _push_counting(session)
    assert report.confirmed == 1 and requests == 2
    assert _server_exam(other, service.charts.gpid(HADDAD), exam.id) == visible_exam(exam)
    assert other.read("Observation", exam.id)["meta"]["versionId"] == "1"  # written once
    assert member_id(exam.id, "pd-3-b") not in _server_observations(other, exam.id)


class _RacingClient(ApexClient):
    """A real client; right after its first chart GET, another client edits the chart's marks (a real
    PUT on the real server), so its own PUT meets a fresh ETag: the 412 of a concurrent mark edit."""

    def __init__(self, *args, rival: ApexClient, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rival = rival
        self.raced = 0

    def get_chart(self, gpid):
        doc, etag = super().get_chart(gpid)
        if not self.raced:
            self.raced += 1
            theirs, their_etag = self.rival.get_chart(gpid)
            mark = {"id": "race-caries-30", "tooth": "30", "kind": "caries", "status": "cn", "surfaces": ["M", "O"]}
            self.rival.put_chart(gpid, [*theirs["marks"], mark], their_etag)
        return doc, etag


def test_a_mark_edit_by_another_client_is_no_conflict_even_between_get_and_put(session, service, other, ui_server):
    gpid = service.charts.gpid(HADDAD)
    doc, etag = other.get_chart(gpid)
    other.put_chart(gpid, [*doc["marks"], {"id": "before-caries-31", "tooth": "31", "kind": "caries",
                                            "status": "cn", "surfaces": ["O"]}], etag)  # before our push
    exam = _typed(service)
    service.save(exam)
    with _RacingClient(ui_server.base_url, credentials=ApiKey(DENTIST_KEY), rival=other) as racing:
        report = SyncEngine(session.cache(), racing).push()
        assert racing.raced == 1
    assert report.confirmed == 1 and not report.conflicts and not report.rejected
    assert not session.cache().open_conflicts()
    doc, _ = other.get_chart(gpid)
    assert {"before-caries-31", "race-caries-30"} <= {m["id"] for m in doc["marks"]}  # their marks stand
    assert _server_exam(other, gpid, exam.id) == visible_exam(exam)


def test_an_edit_of_the_same_exam_by_another_client_is_a_conflict_and_nothing_is_overwritten(
        session, session_as, service, other):
    gpid = service.charts.gpid(HADDAD)
    colleague = session_as(Role.HYGIENIST, "Sam Hygienist")
    for s in (session, colleague):  # both up to date with the server (other tests here change it)
        assert not s.sync().run_once().push.conflicts
    latest = service.open(HADDAD).exams[-1]  # on the server, in both caches
    mine = latest.copy()
    mine.set_pd(3, Site.DB, 7)
    service.save(mine)
    theirs = PerioService(colleague, today=TODAY)
    their_exam = theirs.open(HADDAD).exams[-1]
    their_exam.set_pd(3, Site.DB, 9)
    theirs.save(their_exam)
    assert colleague.sync().run_once().push.confirmed == 1  # they sent first
    report = session.sync().run_once()
    assert report.push.conflicts == [("Observation", latest.id)] and report.push.confirmed == 0
    assert _server_exam(other, gpid, latest.id).pd(3, Site.DB) == 9  # theirs, not overwritten
    conflicts = session.cache().open_conflicts()
    assert [(c.type, c.id) for c in conflicts] == [("Observation", latest.id)]
    assert [e.state for e in _chart_ops(session)] == ["conflict"]  # held, still holding our exam
    chart = service.open(HADDAD)
    assert chart.draft is not None and chart.draft.pd(3, Site.DB) == 7  # our edit kept on screen
    # Keeping ours sends it over their version, knowingly.
    session.cache().resolve(conflicts[0].cid, "mine", "Dr. Lee", "dentist")
    assert session.sync().run_once().push.confirmed == 1
    assert _server_exam(other, gpid, latest.id).pd(3, Site.DB) == 7


def test_keeping_theirs_drops_our_save_and_the_pull_restores_their_exam(session, session_as, service, other):
    gpid = service.charts.gpid(HADDAD)
    colleague = session_as(Role.HYGIENIST, "Sam Hygienist")
    for s in (session, colleague):  # both up to date with the server (other tests here change it)
        assert not s.sync().run_once().push.conflicts
    latest = service.open(HADDAD).exams[-1]
    mine = latest.copy()
    mine.set_pd(3, Site.B, 8)
    mine.set_pd(14, Site.DL, 6)  # a value the server never gets
    service.save(mine)
    theirs = PerioService(colleague, today=TODAY)
    their_exam = theirs.open(HADDAD).exams[-1]
    their_exam.set_pd(14, Site.DL, 3)
    theirs.save(their_exam)
    assert colleague.sync().run_once().push.confirmed == 1
    assert session.sync().run_once().push.conflicts == [("Observation", latest.id)]
    cid = session.cache().open_conflicts()[0].cid
    assert session.cache().resolve(cid, "theirs", "Dr. Lee", "dentist") is None
    assert [e.state for e in _chart_ops(session)] == ["cancelled"]
    report = session.sync().run_once()
    assert report.push.confirmed == 0 and not report.pull.conflicts
    shown = next(e for e in service.open(HADDAD).exams if e.id == latest.id)
    assert shown == _server_exam(other, gpid, latest.id) == visible_exam(their_exam)
    assert service.open(HADDAD).draft is None
