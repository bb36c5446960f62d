"""The offline cache on real SQLite files: schema, local writes, server pulls, ids, conflicts, sync state."""

from __future__ import annotations

import json
import sqlite3

import pytest

from odonto_desk.store import Cache, ResourceDeleted, StoreError, UnknownResource
from odonto_desk.store import db as dbmod
from odonto_desk.store.audit import AuditLog

USER, ROLE = "dr.lee", "dentist"


@pytest.fixture
def cache(tmp_path):
    c = Cache(tmp_path / "cache.sqlite")
    yield c
    assert c.integrity_check() == "ok"
    assert c.audit.verify() is None
    c.close()


def server_patient(pid: str = "p1", version: str = "1", updated: str = "2024-05-01T10:00:00+00:00", **extra) -> dict:
    return {"resourceType": "Patient", "id": pid, "meta": {"versionId": version, "lastUpdated": updated}, **extra}


def server_condition(cid: str, pid: str = "p1", version: str = "1", **extra) -> dict:
    return {"resourceType": "Condition", "id": cid, "meta": {"versionId": version},
            "subject": {"reference": f"Patient/{pid}"}, **extra}


def counts(cache: Cache) -> tuple[int, int, int]:
    q = cache.db.conn.execute
    return (q("SELECT count(*) FROM resource").fetchone()[0], q("SELECT count(*) FROM outbox").fetchone()[0],
            q("SELECT count(*) FROM audit").fetchone()[0])


# --- the file ----------------------------------------------------------------------------------------


def test_connection_settings(cache):
    q = cache.db.conn.execute
    assert q("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert q("PRAGMA foreign_keys").fetchone()[0] == 1
    assert q("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert dbmod.schema_version(cache.db) == dbmod.SCHEMA_VERSION


def test_a_v1_file_with_rows_migrates_and_keeps_every_row(tmp_path):
    path = tmp_path / "old.sqlite"
    old = dbmod.connect(path, migrate_to=1)
    assert dbmod.schema_version(old) == 1
    assert "last_updated" not in {r[1] for r in old.conn.execute("PRAGMA table_info(resource)")}
    with dbmod.transaction(old) as conn:
        conn.executemany(
            "INSERT INTO resource (type, id, version, patient, raw, local, local_state, deleted) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [("Patient", "p1", "3", "p1", json.dumps(server_patient(version="3")), None, "clean", 0),
             ("Condition", "c1", "1", "p1", json.dumps(server_condition("c1")), '{"x":1}', "updated", 0),
             ("Condition", "c2", None, "p1", None, '{"y":2}', "created", 0)])
        conn.execute("INSERT INTO outbox (type, id, operation, payload, idempotency_key, created) "
                     "VALUES ('Condition', 'c2', 'create', '{}', 'k-1', '2024-01-01')")
        conn.execute("INSERT INTO sync_state VALUES ('cursor:Patient', '2024-05-01T10:00:00Z')")
    AuditLog(old).record(USER, ROLE, "viewed", "Patient", "p1")
    before = {t: old.conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
              for t in ("resource", "outbox", "sync_state", "audit", "id_map")}
    old.close()

    with Cache(path) as cache:
        assert dbmod.schema_version(cache.db) == dbmod.SCHEMA_VERSION
        cols = ("type, id, version, patient, raw, local, local_state, deleted")
        after = cache.db.conn.execute(f"SELECT {cols} FROM resource ORDER BY 1, 2").fetchall()
        assert after == before["resource"]
        for table in ("outbox", "sync_state", "audit", "id_map"):
            assert cache.db.conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() == before[table]
        assert cache.row("Patient", "p1").last_updated == "2024-05-01T10:00:00+00:00"  # backfilled
        assert cache.get("Condition", "c1") == {"x": 1}
        assert cache.cursor("Patient") == "2024-05-01T10:00:00Z"
        assert cache.audit.verify() is None
        assert cache.integrity_check() == "ok"


def test_a_file_from_a_newer_program_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    Cache(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        Cache(path)


# --- local writes --------------------------------------------------------------------------------


def test_create_edit_delete_keep_local_state_and_reads_prefer_local(cache):
    cache.put_from_server([server_patient(name=[{"family": "Server"}])])
    assert cache.get("Patient", "p1")["name"] == [{"family": "Server"}]
    cache.edit({**server_patient(), "name": [{"family": "Local"}]}, USER, ROLE, gpid="GP-1")
    row = cache.row("Patient", "p1")
    assert (row.local_state, row.version, row.content["name"]) == ("updated", "1", [{"family": "Local"}])
    raw = cache.db.conn.execute("SELECT raw FROM resource WHERE id = 'p1'").fetchone()[0]
    assert json.loads(raw)["name"] == [{"family": "Server"}]  # the server's copy is untouched

    made = cache.create({"resourceType": "Condition", "subject": {"reference": "Patient/p1"}}, USER, ROLE)
    assert cache.row("Condition", made["id"]).local_state == "created"
    assert cache.row("Condition", made["id"]).version is None
    cache.edit({**made, "note": [{"text": "x"}]}, USER, ROLE)
    assert cache.row("Condition", made["id"]).local_state == "created"  # still unknown to the server

    cache.delete("Patient", "p1", USER, ROLE)
    assert cache.get("Patient", "p1") is None
    row = cache.row("Patient", "p1")
    assert row is not None and row.deleted and row.local_state == "deleted"  # nothing is hard-deleted
    with pytest.raises(ResourceDeleted):
        cache.edit(server_patient(), USER, ROLE)
    with pytest.raises(UnknownResource):
        cache.edit(server_patient("nobody"), USER, ROLE)
    actions = [e.action for e in cache.audit.entries()]
    assert actions == ["changed", "created", "changed", "deleted"]
    outbox = [(e.operation, e.base_version) for e in cache.outbox.entries()]
    assert outbox == [("update", "1"), ("create", None), ("update", None), ("delete", "1")]


def test_an_edit_is_all_or_nothing_when_the_audit_fails(cache, monkeypatch):
    cache.put_from_server([server_patient()])
    before = counts(cache)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(cache.audit, "record", broken)
    with pytest.raises(RuntimeError):
        cache.edit({**server_patient(), "gender": "female"}, USER, ROLE)
    with pytest.raises(RuntimeError):
        cache.create({"resourceType": "Condition"}, USER, ROLE)
    with pytest.raises(RuntimeError):
        cache.delete("Patient", "p1", USER, ROLE)
    assert counts(cache) == before
    row = cache.row("Patient", "p1")
    assert (row.local_state, row.deleted, "gender" in row.content) == ("clean", False, False)
    assert cache.db.conn.execute("SELECT count(*) FROM id_map").fetchone()[0] == 0
    assert not cache.db.conn.in_transaction


def test_an_edit_is_all_or_nothing_when_the_outbox_insert_fails(cache):
    cache.put_from_server([server_patient()])
    cache.db.conn.execute("CREATE TRIGGER outbox_broken BEFORE INSERT ON outbox "
                          "BEGIN SELECT RAISE(ABORT, 'outbox broken'); END")
    before = counts(cache)
    with pytest.raises(sqlite3.IntegrityError, match="outbox broken"):
        cache.edit({**server_patient(), "gender": "female"}, USER, ROLE)
    assert counts(cache) == before
    assert cache.row("Patient", "p1").local_state == "clean"
    assert cache.audit.entries() == []


def test_patient_resources_is_one_indexed_query(cache):
    cache.put_from_server([server_patient("p1"), server_patient("p2"), server_condition("c1", "p1"),
                           server_condition("c2", "p2"),
                           {"resourceType": "Claim", "id": "cl1", "patient": {"reference": "Patient/p1"}},
                           {"resourceType": "Task", "id": "t1", "for": {"reference": "https://x/fhir/Patient/p1"}}])
    cache.create({"resourceType": "Observation", "subject": {"reference": "Patient/p1"}}, USER, ROLE)
    cache.delete("Condition", "c1", USER, ROLE)
    got = cache.patient_resources("p1")
    assert sorted(r["resourceType"] for r in got) == ["Claim", "Observation", "Patient", "Task"]
    assert [r["id"] for r in cache.patient_resources("p1", types=["Patient", "Claim"])] in (["cl1", "p1"],
                                                                                           ["p1", "cl1"])
    plan = cache.db.conn.execute(
        "EXPLAIN QUERY PLAN SELECT coalesce(local, raw) FROM resource WHERE patient = ? AND type IN (?, ?) "
        "AND deleted = 0", ("p1", "Patient", "Claim")).fetchall()
    assert any("resource_patient" in row[-1] for row in plan)


# --- server pulls ------------------------------------------------------------------------------------


def test_put_from_server_keeps_raw_text_skips_bad_entries_and_stays_whole(cache):
    text = '{"resourceType": "Patient",  "id": "p1", "meta": {"versionId": "1"}, "gender": "male"}'
    result = cache.put_from_server([text, "{not json", ["a"], {"resourceType": "Patient"},
                                    {"resourceType": "Patient", "id": "bad id!"},
                                    {"resourceType": "Patient", "id": "p2", "meta": {"versionId": 2}},
                                    b'{"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"}}'])
    assert result.stored == 2
    assert [i for i, _ in result.skipped] == [1, 2, 3, 4, 5]
    assert "not JSON" in result.skipped[0][1] and "id" in result.skipped[3][1]
    assert cache.db.conn.execute("SELECT raw FROM resource WHERE id = 'p1'").fetchone()[0] == text
    assert cache.row("Condition", "c1").patient == "p1"


def test_put_from_server_ignores_older_versions_and_never_overwrites_local_edits(cache):
    cache.put_from_server([server_patient(version="2", updated="2024-05-02T00:00:00Z", gender="male")])
    cache.put_from_server([server_patient(version="1", updated="2024-05-01T00:00:00Z", gender="other")])
    assert cache.get("Patient", "p1")["gender"] == "male"
    cache.put_from_server([server_patient(version="3", updated="2024-05-03T00:00:00Z", gender="female")])
    assert cache.row("Patient", "p1").version == "3"

    cache.edit({**server_patient(version="3"), "gender": "unknown"}, USER, ROLE)
    same = cache.put_from_server([server_patient(version="3", updated="2024-05-03T00:00:00Z", gender="female")])
    assert same.conflicts == []
    newer = server_patient(version="4", updated="2024-05-04T00:00:00Z", gender="male")
    result = cache.put_from_server([newer])
    assert result.stored == 0
    [candidate] = result.conflicts
    assert (candidate.server, candidate.server_version, candidate.local["gender"]) == (newer, "4", "unknown")
    row = cache.row("Patient", "p1")
    assert (row.version, row.local_state, row.content["gender"]) == ("3", "updated", "unknown")


def test_apply_server_delete_flags_clean_rows_and_reports_edited_ones(cache):
    cache.put_from_server([server_patient(), server_condition("c1")])
    cache.edit({**server_condition("c1"), "note": [{"text": "n"}]}, USER, ROLE)
    assert cache.apply_server_delete("Patient", "p1", "2") is None
    assert cache.get("Patient", "p1") is None and cache.row("Patient", "p1").deleted
    candidate = cache.apply_server_delete("Condition", "c1", "2")
    assert candidate is not None and candidate.server is None
    assert cache.get("Condition", "c1")["note"] == [{"text": "n"}]


# --- confirmations and server ids --------------------------------------------------------------------


def test_adopting_the_server_id_renames_and_rewrites_references(cache):
    patient = cache.create({"resourceType": "Patient"}, USER, ROLE)
    local = patient["id"]
    cond = cache.create({"resourceType": "Condition", "subject": {"reference": f"Patient/{local}"}}, USER, ROLE)
    assert cache.row("Condition", cond["id"]).patient == local
    first = cache.outbox.pending_for_push()[0]
    assert (first.type, first.id) == ("Patient", local)
    cache.outbox.mark_sending(first)
    cache.confirm_push(first, version="1", server_id="srv-p", raw=server_patient("srv-p"))

    assert cache.row("Patient", local) is None
    row = cache.row("Patient", "srv-p")
    assert (row.version, row.local_state, row.content) == ("1", "clean", server_patient("srv-p"))
    assert cache.server_id_for("Patient", local) == "srv-p"
    assert cache.get("Condition", cond["id"])["subject"] == {"reference": "Patient/srv-p"}
    assert cache.row("Condition", cond["id"]).patient == "srv-p"
    [pending] = cache.outbox.pending_for_push()
    assert pending.payload["subject"] == {"reference": "Patient/srv-p"}
    assert {r["resourceType"] for r in cache.patient_resources("srv-p")} == {"Patient", "Condition"}


def test_a_confirmed_update_rebases_later_edits(cache):
    cache.put_from_server([server_condition("c1")])
    cache.edit({**server_condition("c1"), "note": [{"text": "a"}]}, USER, ROLE)
    [item] = cache.outbox.pending_for_push()
    cache.outbox.mark_sending(item)
    cache.edit({**server_condition("c1"), "note": [{"text": "b"}]}, USER, ROLE)
    cache.confirm_push(item, version="2")
    row = cache.row("Condition", "c1")
    assert (row.version, row.local_state, row.content["note"]) == ("2", "updated", [{"text": "b"}])
    [later] = cache.outbox.pending_for_push()
    assert later.base_version == "2"
    cache.outbox.mark_sending(later)
    cache.confirm_push(later, version="3")
    row = cache.row("Condition", "c1")
    assert (row.version, row.local_state) == ("3", "clean")
    assert cache.db.conn.execute("SELECT local FROM resource WHERE id = 'c1'").fetchone()[0] is None
    assert json.loads(cache.db.conn.execute("SELECT raw FROM resource WHERE id = 'c1'").fetchone()[0])[
        "meta"]["versionId"] == "3"


def test_a_confirmed_delete_leaves_a_settled_tombstone(cache):
    cache.put_from_server([server_condition("c1")])
    cache.delete("Condition", "c1", USER, ROLE)
    [item] = cache.outbox.pending_for_push()
    assert (item.operation, item.base_version) == ("delete", "1")
    cache.confirm_push(item, version="2")
    row = cache.row("Condition", "c1")
    assert (row.deleted, row.local_state, row.version) == (True, "clean", "2")
    assert cache.outbox.pending_for_push() == []


def test_ops_are_queued_in_order_and_settled_by_confirmation(cache):
    cache.queue_op("procedures/post", {"procedures": []}, USER, ROLE, gpid="GP-1")
    cache.queue_op("lab-orders", {"service_request": {}}, USER, ROLE, gpid="GP-1")
    items = cache.outbox.pending_for_push()
    assert [i.payload["name"] for i in items] == ["procedures/post", "lab-orders"]
    cache.confirm_push(items[0], version=None)
    assert [i.payload["name"] for i in cache.outbox.pending_for_push()] == ["lab-orders"]


# --- conflicts -----------------------------------------------------------------------------------


def conflicted(cache: Cache) -> int:
    cache.put_from_server([server_condition("c1", note=[{"text": "base"}])])
    cache.edit({**server_condition("c1"), "note": [{"text": "mine"}]}, USER, ROLE)
    [item] = cache.outbox.pending_for_push()
    cache.outbox.mark_sending(item)
    theirs = server_condition("c1", version="2", note=[{"text": "theirs"}])
    return cache.record_conflict("Condition", "c1", theirs, "2")


def test_a_conflict_holds_the_resource_out_of_the_push(cache):
    cid = conflicted(cache)
    cache.create({"resourceType": "Patient"}, USER, ROLE)
    assert [i.type for i in cache.outbox.pending_for_push()] == ["Patient"]
    [c] = cache.open_conflicts()
    assert (c.cid, c.local["note"], c.server["note"], c.server_version) == (cid, [{"text": "mine"}],
                                                                            [{"text": "theirs"}], "2")
    assert cache.record_conflict("Condition", "c1", server_condition("c1", version="3"), "3") == cid


def test_resolve_theirs_takes_the_server_copy_and_drops_the_edit(cache):
    cid = conflicted(cache)
    assert cache.resolve(cid, "theirs", USER, ROLE) is None
    row = cache.row("Condition", "c1")
    assert (row.version, row.local_state, row.content["note"]) == ("2", "clean", [{"text": "theirs"}])
    assert cache.outbox.pending_for_push() == []
    assert cache.open_conflicts() == []
    assert cache.conflict(cid).resolution == "theirs"
    assert cache.audit.entries()[-1].action == "conflict-resolved"
    with pytest.raises(StoreError):
        cache.resolve(cid, "mine", USER, ROLE)


def test_resolve_mine_requeues_the_edit_on_the_server_version(cache):
    cid = conflicted(cache)
    entry = cache.resolve(cid, "mine", USER, ROLE)
    assert entry is not None
    [item] = cache.outbox.pending_for_push()
    assert (item.operation, item.base_version, item.payload["note"]) == ("update", "2", [{"text": "mine"}])
    assert item.idempotency_key == entry.idempotency_key
    row = cache.row("Condition", "c1")
    assert (row.version, row.local_state, row.content["note"]) == ("2", "updated", [{"text": "mine"}])
    assert {e.state for e in cache.outbox.entries()} == {"cancelled", "pending"}
    last = cache.audit.entries()[-1]
    assert (last.action, last.summary) == ("conflict-resolved", "kept mine")


# --- sync bookkeeping --------------------------------------------------------------------------------


def test_cursors_and_state_persist(tmp_path):
    path = tmp_path / "cache.sqlite"
    with Cache(path) as cache:
        assert cache.cursor("Condition") is None
        cache.set_cursor("Condition", "2024-05-01T10:00:00Z")
        cache.set_cursor("Condition", "2024-05-02T10:00:00Z")
        cache.set_state("last_sync", "2024-05-02T10:00:05Z")
    with Cache(path) as cache:
        assert cache.cursor("Condition") == "2024-05-02T10:00:00Z"
        assert cache.get_state("last_sync") == "2024-05-02T10:00:05Z"
        assert cache.get_state("missing", "dflt") == "dflt"


def test_webhook_deliveries_are_seen_once_even_across_restarts(tmp_path):
    path = tmp_path / "cache.sqlite"
    with Cache(path) as cache:
        assert cache.seen_delivery("dlv-1") is False
        assert cache.seen_delivery("dlv-1") is True
    with Cache(path) as cache, Cache(path) as other:
        assert other.seen_delivery("dlv-1") is True
        assert cache.seen_delivery("dlv-2") is False
        assert other.seen_delivery("dlv-2") is True
        assert cache.integrity_check() == "ok"


def test_nested_transactions_roll_back_only_the_inner_part(cache):
    with dbmod.transaction(cache.db):
        cache.set_state("outer", "1")
        with pytest.raises(RuntimeError), dbmod.transaction(cache.db):
            cache.set_state("inner", "2")
            raise RuntimeError("inner failure")
    assert (cache.get_state("outer"), cache.get_state("inner")) == ("1", None)
    assert not cache.db.conn.in_transaction
