"""The reference server's FHIR storage: versioned resources on SQLite, nothing ever hard-deleted.

Every write appends a row to ``history`` and replaces the ``current`` row, in one transaction.
``meta.lastUpdated`` is strictly increasing across the whole server (a write in the same
microsecond as the last one is moved one microsecond on), so ``(lastUpdated, id)`` orders every
version ever written and makes keyset paging exact.

Searches run *as of* a snapshot instant: the first page fixes it, ``next`` links carry it, and
each page reads the latest version at or before it from ``history``. Pages therefore neither lose
nor repeat resources while other clients write; what changed after the snapshot is found by the
next ``_lastUpdated=gt`` pull.

Thread-safety: one connection behind a lock. SQLite serialises writers anyway, and the server's
load (80 requests/s) is far below what one connection does.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

Resource = dict[str, Any]


class NewResource(NamedTuple):
    """One resource for :meth:`FhirStore.load`: its JSON text and what the store indexes it by."""

    type: str
    id: str
    patient: str | None
    text: str
    identifiers: tuple[tuple[str, str], ...] = ()  # (system, value)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS current (
    type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, last_updated TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0, patient TEXT, json TEXT NOT NULL,
    PRIMARY KEY (type, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS current_patient ON current (patient, type);
CREATE INDEX IF NOT EXISTS current_updated ON current (type, last_updated, id);
CREATE TABLE IF NOT EXISTS history (
    type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, last_updated TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0, method TEXT NOT NULL, patient TEXT, json TEXT NOT NULL,
    PRIMARY KEY (type, id, version)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS history_updated ON history (type, last_updated, id);
CREATE TABLE IF NOT EXISTS identifier (
    type TEXT NOT NULL, system TEXT NOT NULL, value TEXT NOT NULL, id TEXT NOT NULL,
    PRIMARY KEY (type, system, value, id)
) WITHOUT ROWID;
"""


class StoreError(Exception):
    """A FHIR REST failure with its HTTP status and OperationOutcome issue code."""

    status = 400
    code = "processing"

    def __init__(self, message: str, *, expression: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression


class NotFound(StoreError):
    status, code = 404, "not-found"


class Gone(StoreError):
    status, code = 410, "deleted"


class VersionConflict(StoreError):
    status, code = 412, "conflict"


class Invalid(StoreError):
    status, code = 400, "invalid"


class MultipleMatches(StoreError):
    status, code = 412, "multiple-matches"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def format_instant(t: dt.datetime) -> str:
    """FHIR instant with microseconds, always UTC ('Z')."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_instant(text: str) -> dt.datetime:
    """A FHIR instant or date (search prefixes removed) → aware UTC datetime."""
    s = text.strip().replace("Z", "+00:00")
    try:
        if len(s) == 10:
            return dt.datetime.fromisoformat(s).replace(tzinfo=dt.UTC)
        t = dt.datetime.fromisoformat(s)
    except ValueError:
        raise Invalid(f"{text!r} is not a FHIR instant", expression="_lastUpdated") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def patient_of(resource: Resource) -> str | None:
    """The Patient id a resource belongs to (its own id for a Patient)."""
    rtype = resource.get("resourceType")
    if rtype == "Patient":
        return resource.get("id")
    for key in ("subject", "patient", "beneficiary", "for", "securityContext"):
        ref = resource.get(key)
        if isinstance(ref, dict):
            value = ref.get("reference")
            if isinstance(value, str) and value.startswith("Patient/"):
                return value.split("/")[1]
    return None


@dataclass(frozen=True)
class Stored:
    type: str
    id: str
    version: int
    last_updated: str
    deleted: bool
    resource: Resource | None  # None for a deletion

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


class FhirStore:
    def __init__(self, path: str | Path, *, clock: Callable[[], dt.datetime] = _now) -> None:
        self.path = str(path)
        self._clock = clock
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(_SCHEMA)
        self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        row = self._conn.execute("SELECT MAX(last_updated) FROM history").fetchone()
        self._last = parse_instant(row[0]) if row and row[0] else None
        self._depth = 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """For the server's own tables (auth, idempotency, webhooks, audit); use under :meth:`transaction`."""
        return self._conn

    # --- transactions -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit; nests (inner levels are savepoints)."""
        with self._lock:
            name = f"sp{self._depth}"
            if self._depth == 0:
                self._conn.execute("BEGIN IMMEDIATE")
            else:
                self._conn.execute(f"SAVEPOINT {name}")
            self._depth += 1
            saved_last = self._last
            try:
                yield self._conn
            except BaseException:
                self._depth -= 1
                self._last = saved_last
                if self._depth == 0:
                    self._conn.execute("ROLLBACK")
                else:
                    self._conn.execute(f"ROLLBACK TO {name}")
                    self._conn.execute(f"RELEASE {name}")
                raise
            else:
                self._depth -= 1
                if self._depth == 0:
                    self._conn.execute("COMMIT")
                else:
                    self._conn.execute(f"RELEASE {name}")

    def _tick(self) -> str:
        t = self._clock()
        if self._last is not None and t <= self._last:
            t = self._last + dt.timedelta(microseconds=1)
        self._last = t
        return format_instant(t)

    def _ticks(self, n: int) -> list[str]:
        """``n`` instants as ``n`` calls of :meth:`_tick` in the same microsecond would give them
        (consecutive microseconds from now), formatted without a strftime each."""
        t = self._clock().astimezone(dt.UTC)
        if self._last is not None and t <= self._last:
            t = self._last + dt.timedelta(microseconds=1)
        out: list[str] = []
        second, micro = t.replace(microsecond=0), t.microsecond
        while len(out) < n:
            head = second.strftime("%Y-%m-%dT%H:%M:%S.")
            take = min(n - len(out), 1_000_000 - micro)
            out += [f"{head}{u:06d}Z" for u in range(micro, micro + take)]
            second, micro = second + dt.timedelta(seconds=1), 0
        if n:
            self._last = t + dt.timedelta(microseconds=n - 1)
        return out

    def now(self) -> str:
        """The server's current instant (for Bundle.meta.lastUpdated and sync cursors)."""
        with self._lock:
            t = self._clock()
            if self._last is not None and t < self._last:
                t = self._last
            return format_instant(t)

    # --- reads ----------------------------------------------------------------------------------

    def _row(self, rtype: str, rid: str) -> sqlite3.Row | tuple | None:
        return self._conn.execute(
            "SELECT version, last_updated, deleted, json FROM current WHERE type=? AND id=?", (rtype, rid)
        ).fetchone()

    def read(self, rtype: str, rid: str) -> Stored:
        with self._lock:
            row = self._row(rtype, rid)
        if row is None:
            raise NotFound(f"{rtype}/{rid} is not known")
        version, last, deleted, text = row
        if deleted:
            raise Gone(f"{rtype}/{rid} was deleted (version {version}); its history is kept")
        return Stored(rtype, rid, version, last, False, json.loads(text))

    def current_version(self, rtype: str, rid: str) -> int | None:
        with self._lock:
            row = self._row(rtype, rid)
        return None if row is None else int(row[0])

    def vread(self, rtype: str, rid: str, version: int) -> Stored:
        with self._lock:
            row = self._conn.execute(
                "SELECT last_updated, deleted, json FROM history WHERE type=? AND id=? AND version=?",
                (rtype, rid, version)).fetchone()
        if row is None:
            raise NotFound(f"{rtype}/{rid} has no version {version}")
        last, deleted, text = row
        if deleted:
            raise Gone(f"version {version} of {rtype}/{rid} is a deletion")
        return Stored(rtype, rid, version, last, False, json.loads(text))

    def history(self, rtype: str | None, rid: str | None = None, *, since: str | None = None,
                count: int = 50, before_key: tuple[str, str, int] | None = None,
                at: str | None = None) -> list[Stored]:
        """Versions newest first (deletions included), for instance- and type-level ``_history``."""
        sql = "SELECT type, id, version, last_updated, deleted, json FROM history WHERE 1=1"
        args: list[Any] = []
        if rtype:
            sql += " AND type=?"
            args.append(rtype)
        if rid:
            sql += " AND id=?"
            args.append(rid)
        if since:
            sql += " AND last_updated > ?"
            args.append(format_instant(parse_instant(since)))
        if at:
            sql += " AND last_updated <= ?"
            args.append(at)
        if before_key:
            sql += " AND (last_updated, type, id, version) < (?, ?, ?, ?)"
            args.extend(before_key)
        sql += " ORDER BY last_updated DESC, type DESC, id DESC, version DESC LIMIT ?"
        args.append(count)
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        return [Stored(t, i, v, lu, bool(d), None if d else json.loads(j)) for t, i, v, lu, d, j in rows]

    def search(self, rtype: str, *, ids: list[str] | None = None, patient: str | None = None,
               updated: list[tuple[str, str]] = (), identifier: tuple[str | None, str] | None = None,
               descending: bool = False, count: int = 50, after: tuple[str, str] | None = None,
               at: str | None = None) -> tuple[list[Stored], str]:
        """One page of current resources as of ``at`` (default: now), keyset-ordered.

        ``updated`` is a list of (op, instant) with op in gt/ge/lt/le/eq; ``after`` is the
        (lastUpdated, id) of the last row of the previous page. Returns (rows, at).
        """
        with self._lock:
            snapshot = at or (format_instant(self._last) if self._last else self.now())
            sql = (
                "SELECT h.type, h.id, h.version, h.last_updated, h.json FROM history h "
                "WHERE h.type=? AND h.last_updated <= ? AND h.deleted=0 AND h.version = ("
                " SELECT MAX(h2.version) FROM history h2 WHERE h2.type=h.type AND h2.id=h.id"
                " AND h2.last_updated <= ?)"
            )
            args: list[Any] = [rtype, snapshot, snapshot]
            if ids:
                sql += f" AND h.id IN ({','.join('?' * len(ids))})"
                args.extend(ids)
            if patient:
                sql += " AND h.patient=?"
                args.append(patient)
            ops = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "eq": "="}
            for op, instant in updated:
                sql += f" AND h.last_updated {ops[op]} ?"
                args.append(format_instant(parse_instant(instant)))
            if identifier:
                system, value = identifier
                sub = "SELECT id FROM identifier WHERE type=? AND value=?"
                args_sub: list[Any] = [rtype, value]
                if system:
                    sub += " AND system=?"
                    args_sub.append(system)
                sql += f" AND h.id IN ({sub})"
                args.extend(args_sub)
            if after:
                sql += " AND (h.last_updated, h.id) " + ("< (?, ?)" if descending else "> (?, ?)")
                args.extend(after)
            order = "DESC" if descending else "ASC"
            sql += f" ORDER BY h.last_updated {order}, h.id {order} LIMIT ?"
            args.append(count)
            rows = self._conn.execute(sql, args).fetchall()
        return [Stored(t, i, v, lu, False, json.loads(j)) for t, i, v, lu, j in rows], snapshot

    def by_identifier(self, rtype: str, system: str | None, value: str) -> list[str]:
        sql = "SELECT c.id FROM identifier i JOIN current c ON c.type=i.type AND c.id=i.id " \
              "WHERE i.type=? AND i.value=? AND c.deleted=0"
        args: list[Any] = [rtype, value]
        if system:
            sql += " AND i.system=?"
            args.append(system)
        with self._lock:
            return [r[0] for r in self._conn.execute(sql, args).fetchall()]

    def count(self, rtype: str | None = None) -> int:
        with self._lock:
            if rtype:
                return int(self._conn.execute("SELECT COUNT(*) FROM current WHERE type=? AND deleted=0",
                                              (rtype,)).fetchone()[0])
            return int(self._conn.execute("SELECT COUNT(*) FROM current WHERE deleted=0").fetchone()[0])

    # --- writes ---------------------------------------------------------------------------------

    def _write(self, rtype: str, rid: str, resource: Resource | None, method: str, version: int) -> Stored:
        last = self._tick()
        deleted = resource is None
        if resource is not None:
            resource = copy.deepcopy(resource)
            resource["id"] = rid
            meta = dict(resource.get("meta") or {})
            meta["versionId"] = str(version)
            meta["lastUpdated"] = last
            resource["meta"] = meta
            text = json.dumps(resource, separators=(",", ":"), ensure_ascii=False)
            patient = patient_of(resource)
        else:
            prev = self._row(rtype, rid)
            text = prev[3] if prev else "{}"
            patient = patient_of(json.loads(text)) if prev else None
        c = self._conn
        c.execute("INSERT INTO history VALUES (?,?,?,?,?,?,?,?)",
                  (rtype, rid, version, last, int(deleted), method, patient, text))
        c.execute("INSERT OR REPLACE INTO current VALUES (?,?,?,?,?,?,?)",
                  (rtype, rid, version, last, int(deleted), patient, text))
        c.execute("DELETE FROM identifier WHERE type=? AND id=?", (rtype, rid))
        if resource is not None:
            for ident in resource.get("identifier") or []:
                if isinstance(ident, dict) and ident.get("value"):
                    c.execute("INSERT OR IGNORE INTO identifier VALUES (?,?,?,?)",
                              (rtype, ident.get("system") or "", ident["value"], rid))
        return Stored(rtype, rid, version, last, deleted, resource)

    def load(self, rows: Iterable[NewResource], *, batch: int = 5000) -> int:
        """Write new resources (version 1) from their JSON text, for bulk loads; returns how many.

        Each row's ``text`` is the compact JSON (``separators=(",", ":")``, ``ensure_ascii=False``)
        of a resource that starts with its ``resourceType`` and ``id`` and has no ``meta``; the row
        names its patient (:func:`patient_of`) and identifiers. The store appends ``meta`` as
        :meth:`update` does, so a loaded resource is stored byte for byte as an update would store
        it, without parsing or copying it. Nothing is validated beyond that shape: the caller
        builds the resources through the mappers. A row whose ``(type, id)`` exists already is a
        :class:`VersionConflict` and the whole load is rolled back. Call it inside a transaction
        of your own to make it part of a larger unit."""
        n = 0
        chunk: list[NewResource] = []
        with self.transaction():
            for row in rows:
                chunk.append(row)
                if len(chunk) >= batch:
                    n += self._load(chunk)
                    chunk = []
            if chunk:
                n += self._load(chunk)
        return n

    def _load(self, rows: list[NewResource]) -> int:
        history, current, idents = [], [], []
        for (rtype, rid, patient, text, identifiers), last in zip(rows, self._ticks(len(rows)), strict=True):
            if not text.startswith(f'{{"resourceType":"{rtype}","id":"{rid}"') or not text.endswith("}") \
                    or '"meta":' in text:
                raise Invalid(f"{rtype}/{rid}: a loaded resource starts with its resourceType and id and has "
                              "no meta", expression=f"{rtype}.id")
            stored = f'{text[:-1]},"meta":{{"versionId":"1","lastUpdated":"{last}"}}}}'
            history.append((rtype, rid, 1, last, 0, "PUT", patient, stored))
            current.append((rtype, rid, 1, last, 0, patient, stored))
            idents += [(rtype, system, value, rid) for system, value in identifiers]
        c = self._conn
        try:
            c.executemany("INSERT INTO current VALUES (?,?,?,?,?,?,?)", current)
        except sqlite3.IntegrityError:
            raise VersionConflict("a loaded resource exists already; bulk loads only create") from None
        c.executemany("INSERT INTO history VALUES (?,?,?,?,?,?,?,?)", history)
        c.executemany("INSERT OR IGNORE INTO identifier VALUES (?,?,?,?)", idents)
        return len(rows)

    def create(self, rtype: str, resource: Resource, *, rid: str | None = None) -> Stored:
        with self.transaction():
            new_id = rid or str(uuid.uuid4())
            if self._row(rtype, new_id) is not None:
                raise VersionConflict(f"{rtype}/{new_id} already exists")
            return self._write(rtype, new_id, resource, "POST", 1)

    def update(self, rtype: str, rid: str, resource: Resource, *, if_match: int | None = None) -> tuple[Stored, bool]:
        """Update (or create with a client id). Returns (stored, created)."""
        with self.transaction():
            row = self._row(rtype, rid)
            current = int(row[0]) if row else None
            if if_match is not None and current != if_match:
                raise VersionConflict(
                    f"{rtype}/{rid} is at version {current if current is not None else 'none'}, "
                    f"not {if_match}; re-read it and apply the change again")
            if row is not None and row[2] and if_match is None:
                pass  # updating a deleted resource revives it as a new version
            stored = self._write(rtype, rid, resource, "PUT", (current or 0) + 1)
            return stored, current is None

    def delete(self, rtype: str, rid: str, *, if_match: int | None = None) -> Stored | None:
        """A tombstone version; the history stays. None when there was nothing to delete."""
        with self.transaction():
            row = self._row(rtype, rid)
            if row is None or row[2]:
                return None
            if if_match is not None and int(row[0]) != if_match:
                raise VersionConflict(f"{rtype}/{rid} is at version {row[0]}, not {if_match}")
            return self._write(rtype, rid, None, "DELETE", int(row[0]) + 1)

    def purge(self, rtype: str, rid: str) -> int:
        """Remove every version of one resource (retention only: the caller checks the horizon)."""
        with self.transaction() as c:
            n = c.execute("DELETE FROM history WHERE type=? AND id=?", (rtype, rid)).rowcount
            c.execute("DELETE FROM current WHERE type=? AND id=?", (rtype, rid))
            c.execute("DELETE FROM identifier WHERE type=? AND id=?", (rtype, rid))
            return int(n)

    def patient_resources(self, patient: str) -> list[tuple[str, str]]:
        with self._lock:
            return [(t, i) for t, i in self._conn.execute(
                "SELECT type, id FROM current WHERE patient=? ORDER BY type, id", (patient,)).fetchall()]
