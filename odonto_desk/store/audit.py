"""The client's audit trail: who viewed, changed, printed or exported what, and when.

Append-only twice over: SQLite triggers refuse any UPDATE or DELETE of the ``audit`` table, and
each row's ``hash`` is the sha256 of the previous row's hash and the row's own fields, so an edit
made around the triggers (another tool, a dropped trigger) breaks the chain and :meth:`AuditLog.verify`
names the first row that no longer matches.

A row names a resource (type, id, version) and carries a short summary; it never holds resource
content or secrets, because the trail outlives both (a purged patient's trail stays). Summaries are
capped at :data:`MAX_SUMMARY` characters to keep it that way.

Call :meth:`AuditLog.record` inside the transaction of the change it describes, so the trail and the
data cannot disagree; outside one it opens its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

from odonto_desk.store.db import Database, transaction

# The last three are the workstation lock's (no resource named): lock, unlock, a wrong PIN or name.
Action = Literal["viewed", "created", "changed", "deleted", "printed", "exported", "conflict-resolved",
                 "locked", "unlocked", "unlock-failed"]
ACTIONS: frozenset[str] = frozenset(get_args(Action))
GENESIS = "0" * 64
MAX_SUMMARY = 200


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    user: str
    role: str
    action: str
    type: str | None
    id: str | None
    version: str | None
    summary: str
    prev_hash: str
    hash: str


def entry_hash(prev_hash: str, at: str, user: str, role: str, action: str, rtype: str | None,
               rid: str | None, version: str | None, summary: str) -> str:
    """sha256 over the previous hash and this row's fields, in a fixed unambiguous encoding."""
    fields = [prev_hash, at, user, role, action, rtype, rid, version, summary]
    return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()


class AuditLog:
    """The ``audit`` table of one cache file."""

    def __init__(self, db: Database, *, clock: Callable[[], str] = utc_now) -> None:
        self.db = db
        self._clock = clock

    def record(self, user: str, role: str, action: Action, rtype: str | None = None, rid: str | None = None,
               version: str | None = None, summary: str = "") -> AuditEntry:
        """Append one row chained to the last one."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        if not user or not role:
            raise ValueError("an audit row needs a user and a role")
        if len(summary) > MAX_SUMMARY:
            raise ValueError(f"audit summaries are short (≤ {MAX_SUMMARY} characters), never resource content")
        with transaction(self.db) as conn:
            row = conn.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            prev = row[0] if row else GENESIS
            at = self._clock()
            digest = entry_hash(prev, at, user, role, action, rtype, rid, version, summary)
            cur = conn.execute(
                "INSERT INTO audit (at, user, role, action, type, id, version, summary, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (at, user, role, action, rtype, rid, version, summary, prev, digest))
            seq = cur.lastrowid
        assert seq is not None
        return AuditEntry(seq, at, user, role, action, rtype, rid, version, summary, prev, digest)

    def entries(self, rtype: str | None = None, rid: str | None = None) -> list[AuditEntry]:
        """The rows in order, all or those of one resource."""
        sql = "SELECT seq, at, user, role, action, type, id, version, summary, prev_hash, hash FROM audit"
        params: tuple[str, ...] = ()
        if rtype is not None and rid is not None:
            sql += " WHERE type = ? AND id = ?"
            params = (rtype, rid)
        return [AuditEntry(*row) for row in self.db.conn.execute(sql + " ORDER BY seq", params)]

    def verify(self) -> int | None:
        """The seq of the first row whose chain link or hash does not match, or None when all do."""
        prev = GENESIS
        for e in self.entries():
            expected = entry_hash(prev, e.at, e.user, e.role, e.action, e.type, e.id, e.version, e.summary)
            if e.prev_hash != prev or e.hash != expected:
                return e.seq
            prev = e.hash
        return None
