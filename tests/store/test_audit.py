"""The client audit trail: append-only by trigger, tamper-evident by hash chain, free of content."""

from __future__ import annotations

import sqlite3
from itertools import count, pairwise

import pytest

from odonto_desk.store import Cache
from odonto_desk.store.audit import ACTIONS, GENESIS, AuditLog, entry_hash

USER, ROLE = "hyg.kim", "hygienist"


@pytest.fixture
def cache(tmp_path):
    ticks = count()
    c = Cache(tmp_path / "cache.sqlite", clock=lambda: f"2024-05-01T10:00:{next(ticks):02d}+00:00")
    yield c
    assert c.integrity_check() == "ok"
    c.close()


def fill(log: AuditLog) -> None:
    log.record(USER, ROLE, "viewed", "Patient", "p1")
    log.record(USER, ROLE, "changed", "Observation", "o1", "3", "perio exam changed")
    log.record(USER, ROLE, "printed", "Patient", "p1", summary="chart printout")
    log.record("front.desk", "front_desk", "exported", "Claim", "cl1")


def test_rows_chain_from_genesis_and_verify(cache):
    fill(cache.audit)
    rows = cache.audit.entries()
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in pairwise(rows))
    r = rows[1]
    assert r.hash == entry_hash(rows[0].hash, r.at, USER, ROLE, "changed", "Observation", "o1", "3",
                                "perio exam changed")
    assert cache.audit.verify() is None
    assert [e.action for e in cache.audit.entries("Patient", "p1")] == ["viewed", "printed"]


def test_update_and_delete_are_refused_by_triggers(cache):
    fill(cache.audit)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        cache.db.conn.execute("UPDATE audit SET user = 'someone else' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        cache.db.conn.execute("DELETE FROM audit WHERE seq = 2")
    assert len(cache.audit.entries()) == 4
    assert cache.audit.verify() is None


def test_an_edit_around_the_triggers_is_found(cache):
    fill(cache.audit)
    conn = cache.db.conn
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET role = 'admin' WHERE seq = 3")
    assert cache.audit.verify() == 3


def test_a_removed_row_is_found(cache):
    fill(cache.audit)
    conn = cache.db.conn
    conn.execute("DROP TRIGGER audit_no_delete")
    conn.execute("DELETE FROM audit WHERE seq = 2")
    assert cache.audit.verify() == 3  # the next row no longer links to its predecessor


def test_bad_rows_are_refused(cache):
    with pytest.raises(ValueError, match="unknown"):
        cache.audit.record(USER, ROLE, "peeked")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="short"):
        cache.audit.record(USER, ROLE, "viewed", "Patient", "p1", summary="x" * 500)
    with pytest.raises(ValueError, match="user"):
        cache.audit.record("", ROLE, "viewed")
    assert cache.audit.entries() == []
    assert {"viewed", "created", "changed", "deleted", "printed", "exported", "conflict-resolved",
            "locked", "unlocked", "unlock-failed"} == ACTIONS


def test_edits_audit_who_and_what_but_never_the_content(cache):
    secret_note = "patient reports anxiety about extraction"
    cache.put_from_server([{"resourceType": "Condition", "id": "c1", "meta": {"versionId": "4"}}])
    cache.edit({"resourceType": "Condition", "id": "c1", "note": [{"text": secret_note}]}, USER, ROLE)
    [row] = cache.audit.entries()
    assert (row.user, row.role, row.action, row.type, row.id, row.version) == (
        USER, ROLE, "changed", "Condition", "c1", "4")
    dump = "\n".join(str(v) for r in cache.db.conn.execute("SELECT * FROM audit") for v in r)
    assert secret_note not in dump
