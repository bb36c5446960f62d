"""The perio service on a real cache synced from the real reference server: exams read back from
their Observations, drafts that survive a crash, saves that send only what changed and retire
what was cleared, and the classification recorded with its override and its never-regressing stage."""

from __future__ import annotations

import pytest
from helpers import TODAY

from odonto_desk.api.auth import ApiKey
from odonto_desk.api.client import ApexClient
from odonto_desk.domain.errors import DomainError
from odonto_desk.domain.perio import Flag, Measure, Site
from odonto_desk.services.perio import PerioService

HADDAD = "demo-haddad"


@pytest.fixture
def service(session):
    return PerioService(session, today=TODAY)


def test_open_reads_the_demo_exams_oldest_first(service):
    chart = service.open(HADDAD)
    assert [e.date.isoformat() for e in chart.exams] == ["2019-10-08", "2022-01-19", "2024-11-26"]
    last = chart.exams[-1]
    assert last.is_missing(1) and last.is_implant(19)
    assert last.pd(3, Site.MB) is not None
    assert chart.draft is None and not chart.unreadable


def test_a_new_exam_takes_missing_teeth_from_the_chart_or_copies_the_previous(service):
    chart = service.open(HADDAD)
    fresh = service.new_exam(HADDAD)
    assert fresh.date == TODAY and fresh.pd(3, Site.MB) is None
    copied = service.new_exam(HADDAD, previous=chart.exams[-1], measures=[Measure.PD, Measure.TEETH])
    assert copied.pd(3, Site.MB) == chart.exams[-1].pd(3, Site.MB)
    assert copied.gm(3, Site.MB) is None  # GM was not chosen
    assert copied.id != chart.exams[-1].id


def test_a_draft_survives_a_restart_until_saved(session, service, ui_server, tmp_path):
    exam = service.new_exam(HADDAD)
    exam.set_pd(3, Site.MB, 5)
    service.save_draft(exam)
    session.close()  # the app dies here
    from odonto_desk.services.session import Role, Server, Session, User

    again = Session(User("Dr. Lee", Role.DENTIST), Server(base_url=ui_server.base_url), session.cache_path,
                    credentials=ApiKey("apx_sandbox_dentist_key"))
    try:
        chart = PerioService(again, today=TODAY).open(HADDAD)
        assert chart.draft is not None and chart.draft.pd(3, Site.MB) == 5
        PerioService(again, today=TODAY).save(chart.draft)
        assert PerioService(again, today=TODAY).open(HADDAD).draft is None
    finally:
        again.close()


def test_save_sends_only_changes_and_retires_cleared_values_on_the_server(session, service, ui_server):
    exam = service.new_exam(HADDAD)
    exam.set_pd(3, Site.MB, 5)
    exam.set_pd(3, Site.B, 2)
    exam.set_flag(3, Site.MB, Flag.BLEEDING)
    first = service.save(exam)
    states = len(exam.counted_teeth(include_implants=False)) - 32  # missing teeth and implants from the chart
    assert states < 0
    assert (first.created, first.updated, first.retired) == (4 - states, 0, 0)  # panel + 3 values + tooth states
    assert service.save(exam).changed == 0  # nothing changed: nothing written or queued
    # Sent before the next save: saves made while offline are squashed into one PUT of the latest exam
    # (tests/services/test_perio_sync.py), so the server would never see PD 2 to retire it.
    assert session.sync().run_once().push.confirmed == 1
    exam.set_pd(3, Site.B, None)
    exam.set_pd(3, Site.MB, 6)
    second = service.save(exam)
    assert (second.created, second.updated, second.retired) == (0, 2, 1)  # panel + PD 6; PD 2 retired
    report = session.sync().run_once()
    assert not report.push.rejected, report.push.rejected
    panel_id = exam.id  # the chart PUT keeps the ids the client sent
    with ApexClient(ui_server.base_url, credentials=ApiKey("apx_sandbox_dentist_key")) as c:
        panel = c.read("Observation", panel_id)
        members = [c.read("Observation", m["reference"].split("/")[1]) for m in panel["hasMember"]]
        assert len(members) == 2 - states  # PD 6 at MB, bleeding at MB, the tooth states
        assert [m["valueQuantity"]["value"] for m in members if "valueQuantity" in m] == [6]
        retired = [r for r in c.search("Observation", {"subject": "Patient/" + HADDAD})
                   if r.get("status") == "entered-in-error"]
        assert [r["valueQuantity"]["value"] for r in retired] == [2]  # kept, marked, not deleted
    back = service.open(HADDAD)
    saved = next(e for e in back.exams if e.id == panel_id)
    assert saved.pd(3, Site.MB) == 6 and saved.pd(3, Site.B) is None and saved.flag(3, Site.MB, Flag.BLEEDING)
    audited = session.cache().audit.entries("Observation", f"{exam.id}-pd-3-b")
    assert [e.action for e in audited] == ["created", "changed"] and all(e.user == "Dr. Lee" for e in audited)


def test_classification_proposed_confirmed_overridden_and_never_lower(service):
    chart = service.open(HADDAD)
    last = chart.exams[-1]
    proposed = service.classify(chart, last)
    assert proposed.diagnosis == "periodontitis" and proposed.stage is not None
    with pytest.raises(DomainError, match="say why"):
        service.confirm(chart, last, proposed, grade="C")
    recorded = service.confirm(chart, last, proposed, grade="C", reason="smokes 15 a day")
    assert recorded.overridden and recorded.grade == "C"
    chart = service.open(HADDAD)
    assert chart.diagnosis_for(last.id) == recorded and chart.highest_stage == recorded.stage
    # a later, milder exam: the proposal keeps the stage, and a lower stage is refused
    mild = service.new_exam(HADDAD, previous=last, measures=[Measure.TEETH])
    for tooth in mild.counted_teeth(include_implants=False):
        for site in Site:
            mild.set_pd(tooth, site, 2)
            mild.set_gm(tooth, site, 0)
    again = service.classify(chart, mild)
    assert again.stage == recorded.stage and "stage.history" in again.rule_ids()
    with pytest.raises(DomainError, match="never regress"):
        service.confirm(chart, mild, again, stage="I", reason="looks better")



def test_a_draft_is_audited_when_it_begins_and_when_it_is_discarded_not_per_keystroke(session, service):
    audit = session.cache().audit
    before = len(audit.entries())
    exam = service.new_exam(HADDAD)
    for pd in (3, 4, 5):  # three keystrokes
        exam.set_pd(3, Site.MB, pd)
        service.save_draft(exam)
    began = audit.entries()[before:]
    assert [(e.action, e.id) for e in began] == [("changed", HADDAD)] and "draft" in began[0].summary
    service.discard_draft(HADDAD)
    service.discard_draft(HADDAD)  # nothing left to discard: no second row
    assert [e.action for e in audit.entries()[before:]] == ["changed", "deleted"]
    assert service.open(HADDAD).draft is None and audit.verify() is None
