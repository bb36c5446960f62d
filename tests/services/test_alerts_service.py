"""Recording medical alerts against the real cache and the reference server: audited, queued,
synced, never deleted."""

from __future__ import annotations

import pytest
from helpers import TODAY

from odonto_desk.domain.errors import DomainError
from odonto_desk.services.alerts import AlertService
from odonto_desk.services.chart import ChartService
from odonto_desk.services.session import Role

RIVERA, CHEN = "demo-rivera", "demo-chen"  # Rivera has a latex allergy; Chen has no alerts


def test_an_added_alert_is_in_the_header_audited_queued_and_reaches_the_server(session):
    service = AlertService(session, today=TODAY)
    cache = session.cache()
    queued = len(cache.outbox.pending_for_push())
    alert = service.add(CHEN, "  penicillin  ", "allergy")
    assert (alert.text, alert.kind.value, alert.recorded, alert.active) == ("penicillin", "allergy", TODAY, True)
    assert [a.label for a in ChartService(session, today=TODAY).open(CHEN).alerts] == ["Penicillin"]
    assert len(cache.outbox.pending_for_push()) == queued + 1
    [row] = [e for e in cache.audit.entries() if e.id == alert.id]
    assert (row.user, row.role, row.action, row.type) == ("Dr. Lee", "dentist", "created", "Condition")

    assert session.sync().run_once().push.confirmed == 1
    server_id = cache.server_id_for("Condition", alert.id)
    on_server = session.client().read("Condition", server_id)
    assert on_server["code"] == {"text": "penicillin"}
    assert on_server["subject"]["reference"] == f"Patient/{CHEN}"


def test_resolving_keeps_the_alert_listed_and_takes_it_off_the_header(session):
    service = AlertService(session, today=TODAY)
    [latex] = service.listed(RIVERA)
    done = service.resolve(RIVERA, latex.id)
    assert not done.active and not done.entered_in_error
    assert ChartService(session, today=TODAY).open(RIVERA).alerts == ()
    assert [(a.text, a.active) for a in service.listed(RIVERA)] == [("latex allergy", False)]
    again = service.reactivate(RIVERA, latex.id)
    assert again.active and [a.label for a in ChartService(session, today=TODAY).open(RIVERA).alerts] == [
        "Latex allergy"]
    # each change is a new local version over the server's copy, audited as changed
    changes = [e for e in session.cache().audit.entries() if e.id == latex.id and e.action == "changed"]
    assert len(changes) == 2


def test_an_alert_entered_in_error_is_kept_in_the_record_but_listed_nowhere(session):
    service = AlertService(session, today=TODAY)
    [latex] = service.listed(RIVERA)
    service.entered_in_error(RIVERA, latex.id)
    assert service.listed(RIVERA) == []
    kept = session.cache().get("Condition", latex.id)
    assert kept is not None and kept["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
    assert "clinicalStatus" not in kept
    assert session.sync().run_once().push.confirmed == 1
    server = session.client().read("Condition", latex.id)
    assert server["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
    # a stale editor elsewhere cannot bring it back by resolving or reactivating it
    for change in (service.resolve, service.reactivate):
        with pytest.raises(DomainError, match="was entered in error"):
            change(RIVERA, latex.id)
    assert service.listed(RIVERA) == []


def test_a_duplicate_or_bad_alert_is_refused_and_writes_nothing(session):
    service = AlertService(session, today=TODAY)
    cache = session.cache()
    queued, audited = len(cache.outbox.pending_for_push()), len(cache.audit.entries())
    with pytest.raises(DomainError, match="already listed"):
        service.add(RIVERA, "Latex allergy", "allergy")
    with pytest.raises(DomainError, match="needs its text"):
        service.add(RIVERA, "   ", "allergy")
    with pytest.raises(DomainError, match="at most 120"):
        service.add(RIVERA, "x" * 121, "condition")
    with pytest.raises(DomainError) as err:
        service.add(RIVERA, "bees", "rumour")
    assert err.value.field == "kind"
    with pytest.raises(KeyError):
        service.add("nobody", "latex", "allergy")
    with pytest.raises(KeyError):
        service.resolve(CHEN, service.listed(RIVERA)[0].id)  # another patient's alert
    assert (len(cache.outbox.pending_for_push()), len(cache.audit.entries())) == (queued, audited)


@pytest.mark.parametrize("role", [Role.HYGIENIST, Role.FRONT_DESK])
def test_a_role_the_server_would_refuse_reads_alerts_but_cannot_change_them(session_as, role):
    service = AlertService(session_as(role, "Sam Ortiz"), today=TODAY)
    assert not service.editable
    [latex] = service.listed(RIVERA)
    cache = service.session.cache()
    queued = len(cache.outbox.pending_for_push())
    with pytest.raises(PermissionError, match=r"cannot change medical alerts.*ask a dentist"):
        service.add(CHEN, "penicillin", "allergy")
    with pytest.raises(PermissionError):
        service.resolve(RIVERA, latex.id)
    assert len(cache.outbox.pending_for_push()) == queued and service.listed(RIVERA) == [latex]
    assert AlertService(session_as(Role.DENTIST, "Dr. Lee"), today=TODAY).editable


def test_the_finder_rows_carry_each_patients_active_alerts(session):
    from odonto_desk.services.patients import PatientService

    rows = {r.id: r.alerts for r in PatientService(session, today=TODAY).find()}
    assert rows == {RIVERA: ("Latex allergy",), CHEN: (),
                    "demo-haddad": ("Premedicate: joint replacement", "Anticoagulant (warfarin)")}
    service = AlertService(session, today=TODAY)
    service.resolve(RIVERA, service.listed(RIVERA)[0].id)
    service.add(CHEN, "asthma", "condition")
    rows = {r.id: r.alerts for r in PatientService(session, today=TODAY).find()}
    assert rows[RIVERA] == () and rows[CHEN] == ("Asthma",)


def test_changing_the_status_of_an_alert_from_another_system_keeps_the_rest_of_its_record(session):
    from odonto_desk.fhir import codes

    foreign = {"resourceType": "Condition", "id": "ehr-7", "subject": {"reference": f"Patient/{CHEN}"},
               "clinicalStatus": {"coding": [{"system": codes.CONDITION_CLINICAL, "code": "inactive"}]},
               "verificationStatus": {"coding": [{"system": codes.CONDITION_VER_STATUS, "code": "provisional"}]},
               "category": [{"coding": [{"system": codes.CONDITION_CATEGORY, "code": "problem-list-item"}]},
                            {"coding": [{"system": "http://ehr.example/cat", "code": "medical-history"}]}],
               "code": {"coding": [{"system": codes.SNOMED, "code": "195967001", "display": "Asthma"}]},
               "abatementDateTime": "2020-02-02", "note": [{"text": "from the intake form"}]}
    session.cache().put_local_copies([foreign])
    service = AlertService(session, today=TODAY)
    [asthma] = [a for a in service.listed(CHEN) if a.id == "ehr-7"]
    assert asthma.text == "Asthma" and not asthma.active
    service.reactivate(CHEN, "ehr-7")
    after = session.cache().get("Condition", "ehr-7")
    assert after["clinicalStatus"]["coding"][0]["code"] == "active"
    assert "abatementDateTime" not in after  # an active Condition has no abatement (con-4)
    for kept in ("code", "category", "verificationStatus", "note", "subject"):
        assert after[kept] == foreign[kept], kept
    service.entered_in_error(CHEN, "ehr-7")
    wrong = session.cache().get("Condition", "ehr-7")
    assert "clinicalStatus" not in wrong and wrong["code"] == foreign["code"]
    assert wrong["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
