"""The server's audit trail: one row per write, chained by hashes so an edit of the past shows.

Every create, update, delete (a tombstone) and retention purge is written by a change listener inside
the write's own transaction, so the trail and the data cannot disagree. Each row's ``hash`` covers the
previous row's hash and its own fields; :func:`verify` walks the chain and names the first row that
does not match. The trail holds who, what and when, never resource content, so purging a patient's
data under the retention rule leaves the record that it happened without keeping what was purged.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from odonto_desk.sandbox.fhirstore import FhirStore, Stored

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER, detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_target ON audit_log (type, id);
"""
GENESIS = "0" * 64


def _digest(prev: str, at: str, actor: str, action: str, rtype: str, rid: str, version: int | None,
            detail: str) -> str:
    fields = json.dumps([prev, at, actor, action, rtype, rid, version, detail], separators=(",", ":"))
    return hashlib.sha256(fields.encode()).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    type: str
    id: str
    version: int | None
    detail: dict[str, Any]


class AuditTrail:
    def __init__(self, store: FhirStore) -> None:
        self.store = store
        store.connection.executescript(_SCHEMA)

    def record(self, actor: str, action: str, rtype: str, rid: str, version: int | None,
               detail: dict[str, Any] | None = None) -> None:
        """Append one row; call inside the transaction of the write it describes."""
        conn = self.store.connection
        row = conn.execute("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        prev = row[0] if row else GENESIS
        at = self.store.now()
        text = json.dumps(detail or {}, sort_keys=True, separators=(",", ":"))
        conn.execute("INSERT INTO audit_log (at, actor, action, type, id, version, detail, prev_hash, hash) "
                     "VALUES (?,?,?,?,?,?,?,?,?)",
                     (at, actor, action, rtype, rid, version, text, prev,
                      _digest(prev, at, actor, action, rtype, rid, version, text)))

    def on_change(self, rtype: str, stored: Stored, previous: dict[str, Any] | None, actor: str) -> None:
        action = "delete" if stored.deleted else ("update" if previous is not None else "create")
        self.record(actor, action, rtype, stored.id, stored.version)

    def entries(self, rtype: str | None = None, rid: str | None = None) -> list[AuditEntry]:
        sql = "SELECT seq, at, actor, action, type, id, version, detail FROM audit_log"
        args: list[Any] = []
        if rtype is not None:
            sql += " WHERE type=?" + (" AND id=?" if rid is not None else "")
            args = [rtype] + ([rid] if rid is not None else [])
        rows = self.store.connection.execute(sql + " ORDER BY seq", args).fetchall()
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7])) for r in rows]


def verify(conn: sqlite3.Connection) -> int | None:
    """The seq of the first row whose hash does not follow from its content and predecessor; None if intact."""
    prev = GENESIS
    for seq, at, actor, action, rtype, rid, version, detail, prev_hash, digest in conn.execute(
            "SELECT seq, at, actor, action, type, id, version, detail, prev_hash, hash FROM audit_log ORDER BY seq"):
        if prev_hash != prev or digest != _digest(prev, at, actor, action, rtype, rid, version, detail):
            return int(seq)
        prev = digest
    return None
