"""The audit trail (every write, chained hashes) and the 7-year retention purge."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from odonto_desk.cli import main
from odonto_desk.sandbox.audit import verify
from odonto_desk.sandbox.retention import RetentionRefused, purge_patient


def _encounter(pid: str, start: str, end: str | None) -> dict:
    period = {"start": start} | ({"end": end} if end else {})
    return {"resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": f"Patient/{pid}"}, "period": period}


@pytest.fixture
def patient(client_for, load_example):
    fhir = client_for("admin")
    pid = fhir.post("/Patient", json=load_example("patient.json")).json()["id"]
    return fhir, pid


def test_every_write_is_audited_with_its_client_and_the_chain_holds(sandbox, patient, load_example):
    fhir, pid = patient
    cond = load_example("condition-caries-tooth30-mo.json") | {"subject": {"reference": f"Patient/{pid}"}}
    cond.pop("id", None)
    cid = fhir.post("/Condition", json=cond).json()["id"]
    cond["id"] = cid
    cond["note"] = [{"text": "re-checked"}]
    assert fhir.put(f"/Condition/{cid}", json=cond, headers={"If-Match": 'W/"1"'}).status_code == 200
    assert fhir.delete(f"/Condition/{cid}").status_code == 204
    trail = sandbox.server.audit.entries("Condition", cid)
    assert [(e.action, e.version, e.actor) for e in trail] == [
        ("create", 1, "demo-admin"), ("update", 2, "demo-admin"), ("delete", 3, "demo-admin")]
    assert sandbox.server.audit.entries("Patient", pid)[0].action == "create"
    assert verify(sandbox.server.store.connection) is None


def test_a_refused_write_leaves_no_audit_row(sandbox, patient, load_example):
    fhir, pid = patient
    before = len(sandbox.server.audit.entries())
    cond = load_example("condition-caries-tooth30-mo.json") | {"subject": {"reference": f"Patient/{pid}"}}
    r = fhir.post("/Condition", json=cond, headers={"X-Apex-GPID": "APX-ZZZZZZZZ"})
    assert r.status_code == 403
    assert len(sandbox.server.audit.entries()) == before


def test_an_altered_row_breaks_the_chain_and_the_cli_says_where(tmp_path, sandbox, patient):
    fhir, pid = patient
    fhir.post("/Encounter", json=_encounter(pid, "2024-01-01", "2024-01-01"))
    db = str(sandbox.server.store.path)
    sandbox.stop()
    assert main(["sandbox-admin", "audit", "--db", db]) == 0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_log SET actor='someone-else' WHERE seq=1")
    with sqlite3.connect(db) as conn:
        assert verify(conn) == 1
    assert main(["sandbox-admin", "audit", "--db", db]) == 4


def _history_rows(sandbox, pid: str) -> int:
    conn = sandbox.server.store.connection
    return conn.execute("SELECT COUNT(*) FROM history WHERE id=? OR json LIKE ?",
                        (pid, f'%"Patient/{pid}"%')).fetchone()[0]


def test_purge_waits_seven_years_from_the_last_encounter(sandbox, patient):
    fhir, pid = patient
    fhir.post("/Encounter", json=_encounter(pid, "2012-03-01", "2012-03-01"))
    fhir.post("/Encounter", json=_encounter(pid, "2016-05-09T09:00:00Z", "2016-05-10T10:00:00Z"))
    server = sandbox.server
    before = _history_rows(sandbox, pid)
    with pytest.raises(RetentionRefused, match="purge allowed from 2023-05-10"):
        purge_patient(server.store, server.audit, pid, today=dt.date(2023, 5, 9), actor="t")
    assert _history_rows(sandbox, pid) == before  # nothing touched
    report = purge_patient(server.store, server.audit, pid, today=dt.date(2023, 5, 10), actor="records-officer")
    assert report.purged and report.anchor == dt.date(2016, 5, 10) and report.anchor_kind == "last encounter"
    assert len(report.resources) == 3
    assert _history_rows(sandbox, pid) == 0
    assert fhir.get(f"/Patient/{pid}").status_code == 404
    purges = [e for e in server.audit.entries() if e.action == "purge"]
    assert {(e.type, e.actor) for e in purges} == {("Patient", "records-officer"), ("Encounter", "records-officer")}
    assert all(set(e.detail) == {"rule", "anchor", "anchor_kind", "patient"} for e in purges)  # no content kept
    assert verify(server.store.connection) is None


def test_without_an_encounter_the_horizon_counts_from_the_last_write(sandbox, patient):
    _, pid = patient
    with pytest.raises(RetentionRefused, match="last write"):
        purge_patient(sandbox.server.store, sandbox.server.audit, pid, today=dt.date.today(), actor="t")


def test_leap_day_anchor(sandbox, patient):
    fhir, pid = patient
    fhir.post("/Encounter", json=_encounter(pid, "2016-02-29", "2016-02-29"))
    server = sandbox.server
    with pytest.raises(RetentionRefused):
        purge_patient(server.store, server.audit, pid, today=dt.date(2023, 2, 27), actor="t")
    assert purge_patient(server.store, server.audit, pid, today=dt.date(2023, 2, 28), actor="t", dry_run=True)


def test_cli_purge_refuses_young_patients_and_dry_run_changes_nothing(sandbox, client_for, load_example, capsys):
    fhir = client_for("admin")
    old = fhir.post("/Patient", json=load_example("patient.json")).json()["id"]
    fhir.post("/Encounter", json=_encounter(old, "2010-01-01", "2010-01-02"))
    young_patient = load_example("patient.json")
    young_patient["identifier"][0]["value"] = "APX-YOUNG001"
    young = fhir.post("/Patient", json=young_patient, headers={"X-Apex-GPID": "APX-YOUNG001"}).json()["id"]
    db = str(sandbox.server.store.path)
    sandbox.stop()
    assert main(["sandbox-admin", "purge", "--db", db, "--expired", "--dry-run", "--today", "2026-11-25"]) == 0
    assert f"would purge Patient/{old}: 2 resources" in capsys.readouterr().out
    assert main(["sandbox-admin", "purge", "--db", db, "--patient", young, "--patient", old]) == 3
    out = capsys.readouterr()
    assert f"purged Patient/{old}" in out.out and f"Patient/{young} is inside" in out.err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM current WHERE type='Patient'").fetchone()[0] == 1
