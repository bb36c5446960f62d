"""The offline cache: what the screens read and write, and what the sync engine pushes and pulls.

Each cached resource is one ``resource`` row holding the server's JSON exactly as it was sent
(``raw``) and, while the user's edit has not been confirmed, the edited content (``local``) with its
``local_state``. Reads return ``local`` when there is one, else ``raw``. Nothing is hard-deleted: a
local delete is a state, and a confirmed delete a ``deleted`` flag.

A local write (:meth:`Cache.create`, :meth:`Cache.edit`, :meth:`Cache.delete`, :meth:`Cache.queue_op`)
is one SQLite transaction holding the resource row, its outbox row and its audit row, so a crash
never leaves an edit that will not be sent or a send that was never audited.

For the sync engine (built on top, see :mod:`odonto_desk.store.outbox` for the push side):

- push: ``outbox.pending_for_push()`` → for each item ``outbox.mark_sending(item)``, send it with the
  ApexClient, then :meth:`Cache.confirm_push` (writes back the server's id and version),
  ``outbox.mark_failed`` (retry later, same key) or, on 409/412, :meth:`Cache.record_conflict`.
- pull: :meth:`Cache.put_from_server` with the resources of a page (never overwrites a local edit;
  those come back as :class:`ConflictCandidate`), :meth:`Cache.apply_server_delete` for history
  entries without a resource, cursors in :meth:`Cache.set_cursor`, webhook replay protection with
  :meth:`Cache.seen_delivery`.

One ``Cache`` (one connection) per thread; several may share the file (WAL).
"""

from __future__ import annotations

import gc
import json
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from odonto_desk.store.audit import AuditLog, utc_now
from odonto_desk.store.db import Database, connect, transaction
from odonto_desk.store.outbox import Outbox, OutboxEntry, PushItem, parse_reference, rewrite_reference_text

Json = dict[str, Any]
LocalState = Literal["clean", "created", "updated", "deleted"]

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# The elements that point at the patient a resource belongs to, by resource type's habits.
PATIENT_ELEMENTS = ("patient", "subject", "beneficiary", "for")


class StoreError(Exception):
    """A local write that the cache refuses."""


class UnknownResource(StoreError, KeyError):
    """The resource is not in the cache."""


class ResourceDeleted(StoreError):
    """The resource was deleted locally or on the server; it cannot be edited."""


@dataclass(frozen=True)
class CachedResource:
    """A row with its bookkeeping; ``content`` is what a screen shows (local edit, else server copy)."""

    type: str
    id: str
    version: str | None
    last_updated: str | None
    patient: str | None
    local_state: LocalState
    deleted: bool
    content: Json | None


@dataclass(frozen=True)
class ConflictCandidate:
    """A server version that arrived for a resource the user has changed locally."""

    type: str
    id: str
    local: Json | None
    server: Json | None
    server_version: str | None


@dataclass(frozen=True)
class PutResult:
    stored: int
    skipped: list[tuple[int, str]]
    conflicts: list[ConflictCandidate]


@dataclass(frozen=True)
class Conflict:
    cid: int
    type: str
    id: str
    local: Json | None
    server: Json | None
    server_version: str | None
    detected: str
    resolved: str | None
    resolution: Literal["mine", "theirs"] | None


def patient_of(resource: Json) -> str | None:
    """The id of the patient the resource belongs to (a Patient belongs to itself)."""
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) else None
    for name in PATIENT_ELEMENTS:
        element = resource.get(name)
        if isinstance(element, dict) and isinstance(element.get("reference"), str):
            ref = parse_reference(element["reference"])
            if ref is not None and ref[0] == "Patient":
                return ref[1]
    return None


def _decode_all(rows: Sequence[tuple[Any, ...]]) -> list[Json]:
    """The JSON texts of ``rows`` parsed, with the cyclic GC paused.

    A patient's few hundred resources make tens of thousands of new dicts and lists, enough to set
    off full collections that walk the whole heap (a third of patient_open's p95 was GC). Decoded
    JSON holds no reference cycles, so there is nothing for the collector to find in it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return [json.loads(text) for (text,) in rows if text is not None]
    finally:
        if was_enabled:
            gc.enable()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _meta(resource: Json, name: str) -> str | None:
    meta = resource.get("meta")
    value = meta.get(name) if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def _instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _check_server_resource(item: Any) -> tuple[Json, str]:
    """The parsed resource and its text to store; ValueError with the reason when it is unusable."""
    if isinstance(item, bytes | bytearray):
        item = item.decode("utf-8")
    if isinstance(item, str):
        text = item
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"not JSON: {e.msg} at {e.pos}") from None
    elif isinstance(item, dict):
        parsed, text = item, _dumps(item)
    else:
        raise ValueError(f"not a resource: {type(item).__name__}")
    if not isinstance(parsed, dict):
        raise ValueError("not a JSON object")
    rtype, rid = parsed.get("resourceType"), parsed.get("id")
    if not isinstance(rtype, str) or not rtype[:1].isupper():
        raise ValueError("no resourceType")
    if not isinstance(rid, str) or not FHIR_ID.fullmatch(rid):
        raise ValueError("no valid id")
    meta = parsed.get("meta", {})
    if not isinstance(meta, dict):
        raise ValueError("meta is not an object")
    for name in ("versionId", "lastUpdated"):
        if name in meta and not isinstance(meta[name], str):
            raise ValueError(f"meta.{name} is not a string")
    return parsed, text


class Cache:
    """One cache file. ``clock`` returns ISO instants (injectable for tests)."""

    def __init__(self, path: str | Path, *, clock: Callable[[], str] = utc_now) -> None:
        self.path = path
        self.db: Database = connect(path)
        self._clock = clock
        self.audit = AuditLog(self.db, clock=clock)
        self.outbox = Outbox(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def integrity_check(self) -> str:
        """SQLite's own verdict on the file ("ok" when sound)."""
        return str(self.db.conn.execute("PRAGMA integrity_check").fetchone()[0])

    # --- reads -------------------------------------------------------------------------------------

    _ROW = "SELECT type, id, version, last_updated, patient, local_state, deleted, coalesce(local, raw) FROM resource"

    @staticmethod
    def _cached(row: tuple[Any, ...]) -> CachedResource:
        *head, deleted, content = row
        return CachedResource(*head, bool(deleted), json.loads(content) if content is not None else None)

    def row(self, rtype: str, rid: str) -> CachedResource | None:
        """The row with its bookkeeping, deleted or not."""
        row = self.db.conn.execute(self._ROW + " WHERE type = ? AND id = ?", (rtype, rid)).fetchone()
        return self._cached(row) if row else None

    def get(self, rtype: str, rid: str) -> Json | None:
        """What a screen shows: the local edit if any, else the server's copy; None if absent or deleted."""
        row = self.db.conn.execute(
            "SELECT coalesce(local, raw) FROM resource WHERE type = ? AND id = ? AND deleted = 0",
            (rtype, rid)).fetchone()
        return json.loads(row[0]) if row and row[0] is not None else None

    def patient_resources(self, patient_id: str, types: Iterable[str] | None = None) -> list[Json]:
        """Every live resource of one patient (optionally of some types), in one indexed query."""
        sql = "SELECT coalesce(local, raw) FROM resource WHERE patient = ?"
        params: list[str] = [patient_id]
        if types is not None:
            wanted = list(types)
            sql += f" AND type IN ({', '.join('?' * len(wanted))})"
            params += wanted
        rows = self.db.conn.execute(sql + " AND deleted = 0", params).fetchall()
        return _decode_all(rows)

    def of_type(self, rtype: str) -> list[Json]:
        """Every live resource of one type (e.g. the patient list for the finder)."""
        rows = self.db.conn.execute("SELECT coalesce(local, raw) FROM resource WHERE type = ? AND deleted = 0",
                                    (rtype,)).fetchall()
        return [json.loads(text) for (text,) in rows if text is not None]

    def of_type_containing(self, rtype: str, *needles: str) -> list[Json]:
        """Live resources of one type whose JSON text contains any of ``needles``: a cheap filter in
        SQLite before parsing (the finder's medical alerts among every chart Condition)."""
        if not needles:
            return []
        match = " OR ".join("instr(coalesce(local, raw), ?) > 0" for _ in needles)
        rows = self.db.conn.execute(
            f"SELECT coalesce(local, raw) AS text FROM resource WHERE type = ? AND deleted = 0 AND ({match})",
            (rtype, *needles)).fetchall()
        return [json.loads(text) for (text,) in rows if text is not None]

    # --- local writes: resource + outbox + audit in one transaction -----------------------------

    def create(self, resource: Json, user: str, role: str, gpid: str | None = None) -> Json:
        """Store a new resource and queue its create; returns it with its client id (a uuid) set.

        The client id stands until the server assigns one (:meth:`adopt_server_id`).
        """
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str):
            raise StoreError("a resource needs a resourceType")
        content = dict(resource)
        content.setdefault("id", str(uuid.uuid4()))
        rid = content["id"]
        with transaction(self.db) as conn:
            if self.row(rtype, rid) is not None:
                raise StoreError(f"{rtype}/{rid} already exists")
            conn.execute(
                "INSERT INTO resource (type, id, version, last_updated, patient, raw, local, local_state, deleted) "
                "VALUES (?, ?, NULL, NULL, ?, NULL, ?, 'created', 0)",
                (rtype, rid, patient_of(content), _dumps(content)))
            conn.execute("INSERT INTO id_map (type, local_id, server_id) VALUES (?, ?, NULL)", (rtype, rid))
            self.outbox.enqueue(rtype, rid, "create", content, gpid=gpid)
            self.audit.record(user, role, "created", rtype, rid, None, f"{rtype} created locally")
        return content

    def edit(self, resource: Json, user: str, role: str, gpid: str | None = None,
             base_version: str | None = None) -> OutboxEntry:
        """Store the user's edit of a cached resource and queue its update.

        ``base_version`` is the version the screen showed when the edit began (for ``If-Match``);
        default: the cached version.
        """
        rtype, rid = resource.get("resourceType"), resource.get("id")
        if not isinstance(rtype, str) or not isinstance(rid, str):
            raise StoreError("an edited resource needs resourceType and id")
        with transaction(self.db) as conn:
            current = self._live_row(rtype, rid)
            state = "created" if current.local_state == "created" else "updated"
            conn.execute("UPDATE resource SET local = ?, local_state = ?, patient = ? WHERE type = ? AND id = ?",
                         (_dumps(resource), state, patient_of(resource), rtype, rid))
            base = base_version if base_version is not None else current.version
            entry = self.outbox.enqueue(rtype, rid, "update", resource, base_version=base, gpid=gpid)
            self.audit.record(user, role, "changed", rtype, rid, base, f"{rtype} changed locally")
        assert entry is not None
        return entry

    def delete(self, rtype: str, rid: str, user: str, role: str, gpid: str | None = None,
               base_version: str | None = None) -> OutboxEntry | None:
        """Mark the resource deleted and queue its delete (None: it never reached the server, nothing to send)."""
        with transaction(self.db) as conn:
            current = self._live_row(rtype, rid)
            base = base_version if base_version is not None else current.version
            entry = self.outbox.enqueue(rtype, rid, "delete", None, base_version=base, gpid=gpid)
            # A create cancelled before it was sent leaves a settled tombstone; otherwise the delete waits.
            state = "clean" if entry is None else "deleted"
            conn.execute("UPDATE resource SET local_state = ?, deleted = 1 WHERE type = ? AND id = ?",
                         (state, rtype, rid))
            self.audit.record(user, role, "deleted", rtype, rid, base, f"{rtype} deleted locally")
        return entry

    def queue_op(self, name: str, payload: Json, user: str, role: str, gpid: str | None = None, *,
                 target: tuple[str, str] | None = None, extra: Json | None = None) -> OutboxEntry:
        """Queue an ``/odonto/v1`` operation (e.g. name ``procedures/post``); ops are sent in order.

        Ops are never squashed, except ops with a ``target`` (the resource the op saves as a whole, e.g.
        a perio exam's panel): a newer one replaces those of the same target never sent yet, since it
        carries the whole latest state. ``extra`` goes into the outbox payload beside name and body.
        """
        rtype, op_id = target if target is not None else ("op", str(uuid.uuid4()))
        with transaction(self.db) as conn:
            if target is not None:
                conn.execute("UPDATE outbox SET state = 'cancelled' WHERE type = ? AND id = ? AND operation = 'op' "
                             "AND state = 'pending'", (rtype, op_id))
            entry = self.outbox.enqueue(rtype, op_id, "op", {**(extra or {}), "name": name, "body": payload},
                                        gpid=gpid)
            self.audit.record(user, role, "created", "op", op_id, None, f"queued {name}"[:120])
        assert entry is not None
        return entry

    def put_local_copies(self, resources: Sequence[Json]) -> None:
        """Store what the server will hold once a queued op lands (a screen shows it at once, offline).

        Written as clean rows without a version, so the next pull replaces them with the server's
        copies; a row with a local edit of its own is refused (:class:`StoreError`), nothing written.
        """
        with transaction(self.db):
            stored = self.put_from_server([{k: v for k, v in r.items() if k != "meta"} for r in resources])
            if stored.skipped or stored.conflicts:
                raise StoreError("a resource of this save has a change waiting to be resolved; sync, then try again")

    def hold_op(self, item: PushItem, rtype: str, rid: str, *, local: Json | None, server: Json | None,
                server_version: str | None, theirs: str | None) -> int:
        """An op on ``rtype/rid`` clashes with a change made on the server: a conflict record (``local``:
        what this computer holds, ``server``: the server's copy), the op's rows held, and ``theirs``
        (a digest of the server's state) noted on them for a resolution that keeps ours."""
        with transaction(self.db) as conn:
            conn.executemany("UPDATE outbox SET payload = json_set(payload, '$.theirs', ?) WHERE seq = ?",
                             [(theirs, s) for s in item.seqs])
            cid = self.record_conflict(rtype, rid, server, server_version, local=local)
        return cid

    def _live_row(self, rtype: str, rid: str) -> CachedResource:
        current = self.row(rtype, rid)
        if current is None:
            raise UnknownResource(f"{rtype}/{rid}")
        if current.deleted:
            raise ResourceDeleted(f"{rtype}/{rid} is deleted")
        return current

    # --- server side -------------------------------------------------------------------------------

    def put_from_server(self, resources: Sequence[Json | str | bytes]) -> PutResult:
        """Store a page of server resources in one transaction.

        Clean rows take the newer server copy (an older or identical version is ignored, so
        overlapping pulls are harmless). A row with a local edit is never overwritten: if the
        server's version differs from the one the edit was based on, it comes back as a
        :class:`ConflictCandidate` for the caller to merge or :meth:`record_conflict`. Unusable
        entries are skipped and reported as (index, reason); the rest is stored.
        """
        skipped: list[tuple[int, str]] = []
        conflicts: list[ConflictCandidate] = []
        batch: dict[tuple[str, str], tuple[Any, ...]] = {}
        with transaction(self.db) as conn:
            for index, item in enumerate(resources):
                try:
                    parsed, text = _check_server_resource(item)
                except ValueError as e:
                    skipped.append((index, str(e)))
                    continue
                key = (parsed["resourceType"], parsed["id"])
                version, updated = _meta(parsed, "versionId"), _meta(parsed, "lastUpdated")
                prior = batch.get(key) or conn.execute(
                    "SELECT type, id, version, last_updated, patient, raw, local, local_state FROM resource "
                    "WHERE type = ? AND id = ?", key).fetchone()
                if prior is not None and prior[7] != "clean":
                    if version != prior[2]:
                        local = json.loads(prior[6]) if prior[6] is not None else None
                        conflicts.append(ConflictCandidate(key[0], key[1], local, parsed, version))
                    continue
                if prior is not None and not _newer(version, updated, prior[2], prior[3]):
                    continue
                batch[key] = (key[0], key[1], version, updated, patient_of(parsed), text, None, "clean")
            conn.executemany(
                "INSERT INTO resource (type, id, version, last_updated, patient, raw, local, local_state, deleted) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (type, id) DO UPDATE SET "
                "version = excluded.version, last_updated = excluded.last_updated, patient = excluded.patient, "
                "raw = excluded.raw, deleted = 0 WHERE resource.local_state = 'clean'",
                list(batch.values()))
        return PutResult(len(batch), skipped, conflicts)

    def apply_server_delete(self, rtype: str, rid: str, version: str | None = None) -> ConflictCandidate | None:
        """A delete seen in the server's history (an entry without a resource).

        A clean row gets the ``deleted`` flag. A row with a local edit is left alone and returned as
        a candidate (server None) for :meth:`record_conflict`; a local delete needs nothing more.
        """
        with transaction(self.db) as conn:
            current = self.row(rtype, rid)
            if current is None or current.local_state == "deleted":
                return None
            if current.local_state != "clean":
                return ConflictCandidate(rtype, rid, current.content, None, version)
            conn.execute("UPDATE resource SET deleted = 1, version = coalesce(?, version) WHERE type = ? AND id = ?",
                         (version, rtype, rid))
        return None

    def confirm_push(self, item: PushItem, *, version: str | None, raw: Json | None = None,
                     server_id: str | None = None) -> None:
        """The server accepted ``item``: settle its outbox rows and write back id, version and content.

        ``raw`` is the resource the server returned (``Prefer: return=representation``); without it
        the sent content stands in as the server's copy.
        """
        with transaction(self.db) as conn:
            self.outbox.mark_done(item.seqs)
            if item.operation == "op":
                return
            if item.operation == "create":
                self.adopt_server_id(item.type, item.id, server_id or item.id, version,
                                     raw if raw is not None else _with_version(item.payload, version))
                return
            still_open = bool(self.outbox.open_entries(item.type, item.id))
            if item.operation == "delete":
                conn.execute("UPDATE resource SET deleted = 1, local = NULL, local_state = 'clean', "
                             "version = coalesce(?, version) WHERE type = ? AND id = ?",
                             (version, item.type, item.id))
                return
            server_copy = raw if raw is not None else _with_version(item.payload, version)
            self._write_server_copy(item.type, item.id, version, server_copy, keep_local=still_open)
            if still_open and version is not None:
                self.outbox.rebase(item.type, item.id, version)

    def adopt_server_id(self, rtype: str, local_id: str, server_id: str, version: str | None,
                        raw: Json | None) -> None:
        """The server created ``local_id`` as ``server_id``: rename the row, remember the mapping, rewrite references.

        References to ``rtype/local_id`` in other cached edits and in queued payloads now point at
        the server id, so what is sent later refers to what the server knows. A clean copy pulled
        under the server id before this confirmation is replaced by the renamed row.
        """
        with transaction(self.db) as conn:
            if server_id != local_id:
                existing = self.row(rtype, server_id)
                if existing is not None and existing.local_state != "clean":
                    raise StoreError(f"{rtype}/{server_id} already holds local edits")
                conn.execute("DELETE FROM resource WHERE type = ? AND id = ?", (rtype, server_id))
                conn.execute("UPDATE resource SET id = ? WHERE type = ? AND id = ?", (server_id, rtype, local_id))
                # A local edit still waiting to be sent must carry the new id too, or editing it again fails.
                conn.execute("UPDATE resource SET local = json_set(local, '$.id', ?) "
                             "WHERE type = ? AND id = ? AND local IS NOT NULL", (server_id, rtype, server_id))
                self._rewrite_local_references(f"{rtype}/{local_id}", f"{rtype}/{server_id}")
                if rtype == "Patient":
                    conn.execute("UPDATE resource SET patient = ? WHERE patient = ?", (server_id, local_id))
                self.outbox.rename(rtype, local_id, server_id)
            conn.execute("UPDATE id_map SET server_id = ? WHERE type = ? AND local_id = ?",
                         (server_id, rtype, local_id))
            still_open = bool(self.outbox.open_entries(rtype, server_id))
            self._write_server_copy(rtype, server_id, version, raw, keep_local=still_open)
            if still_open and version is not None:
                self.outbox.rebase(rtype, server_id, version)

    def server_id_for(self, rtype: str, local_id: str) -> str | None:
        """The id the server gave a client-created resource (None until it did)."""
        row = self.db.conn.execute("SELECT server_id FROM id_map WHERE type = ? AND local_id = ?",
                                   (rtype, local_id)).fetchone()
        return row[0] if row else None

    def _write_server_copy(self, rtype: str, rid: str, version: str | None, raw: Json | None, *,
                           keep_local: bool) -> None:
        """Store the server's copy; the local edit stays (as an update) only while more changes are queued."""
        updated = _meta(raw, "lastUpdated") if raw is not None else None
        if keep_local:
            sql = ("UPDATE resource SET version = ?, last_updated = ?, raw = ?, local_state = "
                   "CASE local_state WHEN 'created' THEN 'updated' ELSE local_state END WHERE type = ? AND id = ?")
        else:
            sql = ("UPDATE resource SET version = ?, last_updated = ?, raw = ?, local = NULL, "
                   "local_state = 'clean' WHERE type = ? AND id = ?")
        self.db.conn.execute(sql, (version, updated, _dumps(raw) if raw is not None else None, rtype, rid))

    def _rewrite_local_references(self, old: str, new: str) -> None:
        conn = self.db.conn
        rows = conn.execute("SELECT type, id, local FROM resource WHERE local IS NOT NULL AND instr(local, ?) > 0",
                            (old,)).fetchall()
        conn.executemany("UPDATE resource SET local = ? WHERE type = ? AND id = ?",
                         [(rewrite_reference_text(text, old, new), t, i) for t, i, text in rows])

    # --- conflicts ---------------------------------------------------------------------------------

    def record_conflict(self, rtype: str, rid: str, server: Json | None, server_version: str | None, *,
                        local: Json | Literal["row"] | None = "row") -> int:
        """Note that the server's version (None: deleted there) clashes with the local edit; holds its outbox rows.

        One open conflict per resource: a newer server version updates it. ``local`` defaults to the
        row's local edit.
        """
        with transaction(self.db) as conn:
            current = self.row(rtype, rid)
            if current is None:
                raise UnknownResource(f"{rtype}/{rid}")
            if local == "row":
                local = current.content if current.local_state not in ("clean", "deleted") else None
            local = _dumps(local) if local is not None else None
            server_text = _dumps(server) if server is not None else None
            self.outbox.mark_conflict(rtype, rid)
            row = conn.execute("SELECT cid FROM conflict WHERE type = ? AND id = ? AND resolved IS NULL",
                               (rtype, rid)).fetchone()
            if row:
                conn.execute("UPDATE conflict SET local = ?, server = ?, server_version = ?, detected = ? "
                             "WHERE cid = ?", (local, server_text, server_version, self._clock(), row[0]))
                return int(row[0])
            cur = conn.execute("INSERT INTO conflict (type, id, local, server, server_version, detected) "
                               "VALUES (?, ?, ?, ?, ?, ?)",
                               (rtype, rid, local, server_text, server_version, self._clock()))
            assert cur.lastrowid is not None
            return cur.lastrowid

    def open_conflicts(self) -> list[Conflict]:
        return [c for c in self._conflicts() if c.resolved is None]

    def conflict(self, cid: int) -> Conflict:
        found = self._conflicts(cid)
        if not found:
            raise KeyError(cid)
        return found[0]

    def _conflicts(self, cid: int | None = None) -> list[Conflict]:
        sql = ("SELECT cid, type, id, local, server, server_version, detected, resolved, resolution FROM conflict"
               + (" WHERE cid = ?" if cid is not None else "") + " ORDER BY cid")
        out = []
        for row in self.db.conn.execute(sql, () if cid is None else (cid,)):
            cid_, t, i, local, server, *rest = row
            out.append(Conflict(cid_, t, i, json.loads(local) if local else None,
                                json.loads(server) if server else None, *rest))
        return out

    def resolve(self, cid: int, keep: Literal["mine", "theirs"], user: str, role: str) -> OutboxEntry | None:
        """Settle a conflict: ``mine`` re-queues the local edit on the server's version, ``theirs`` takes
        the server's copy and drops the local edit. Returns the re-queued outbox row (mine) or None.
        """
        if keep not in ("mine", "theirs"):
            raise ValueError("keep must be 'mine' or 'theirs'")
        with transaction(self.db) as conn:
            c = self.conflict(cid)
            if c.resolved is not None:
                raise StoreError(f"conflict {cid} is already resolved")
            current = self.row(c.type, c.id)
            assert current is not None  # the foreign key keeps the row
            # The re-queued change goes to the same patient as the held ones (the server needs its GPID).
            held = self.outbox.open_entries(c.type, c.id)
            gpid = next((e.gpid for e in reversed(held) if e.gpid), None)
            ops = [e for e in held if e.operation == "op" and e.payload is not None]
            self.outbox.cancel_open(c.type, c.id)
            if ops:  # an op saving this resource as a whole (a perio exam): keep ours on their state, or drop it
                entry = None
                if keep == "mine":
                    theirs = next((e.payload.get("theirs") for e in ops if e.payload and "theirs" in e.payload), None)
                    latest = {k: v for k, v in (ops[-1].payload or {}).items() if k != "theirs"}
                    entry = self.outbox.enqueue(c.type, c.id, "op", {**latest, "base": theirs}, gpid=gpid)
                else:
                    # The server's copies replace ours at the next pull: Observations are read again in full.
                    conn.execute("DELETE FROM sync_state WHERE key LIKE ?", (f"cursor:{c.type}%",))
                    conn.execute("UPDATE resource SET raw = ?, version = ?, last_updated = ?, local = NULL, "
                                 "local_state = 'clean', deleted = ? WHERE type = ? AND id = ?",
                                 (_dumps(c.server) if c.server is not None else None, _meta(c.server, "versionId")
                                  if c.server else None, _meta(c.server, "lastUpdated") if c.server else None,
                                  int(c.server is None), c.type, c.id))
                conn.execute("UPDATE conflict SET resolved = ?, resolution = ? WHERE cid = ?",
                             (self._clock(), keep, cid))
                self.audit.record(user, role, "conflict-resolved", c.type, c.id, c.server_version, f"kept {keep}")
                return entry
            server_text = _dumps(c.server) if c.server is not None else None
            updated = _meta(c.server, "lastUpdated") if c.server is not None else None
            entry = None
            if keep == "theirs":
                conn.execute("UPDATE resource SET raw = ?, version = ?, last_updated = ?, local = NULL, "
                             "local_state = 'clean', deleted = ?, patient = coalesce(?, patient) "
                             "WHERE type = ? AND id = ?",
                             (server_text, c.server_version, updated, int(c.server is None),
                              patient_of(c.server) if c.server else None, c.type, c.id))
            else:
                conn.execute("UPDATE resource SET raw = coalesce(?, raw), version = ?, last_updated = ? "
                             "WHERE type = ? AND id = ?", (server_text, c.server_version, updated, c.type, c.id))
                if current.local_state == "deleted":
                    entry = self.outbox.enqueue(c.type, c.id, "delete", None, base_version=c.server_version,
                                                gpid=gpid)
                else:
                    entry = self.outbox.enqueue(c.type, c.id, "update", current.content,
                                                base_version=c.server_version if c.server is not None else None,
                                                gpid=gpid)
            conn.execute("UPDATE conflict SET resolved = ?, resolution = ? WHERE cid = ?", (self._clock(), keep, cid))
            self.audit.record(user, role, "conflict-resolved", c.type, c.id, c.server_version, f"kept {keep}")
        return entry

    # --- sync bookkeeping --------------------------------------------------------------------------

    def get_state(self, key: str, default: str | None = None) -> str | None:
        row = self.db.conn.execute("SELECT value FROM sync_state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_state(self, key: str, value: str) -> None:
        with transaction(self.db) as conn:
            conn.execute("INSERT INTO sync_state (key, value) VALUES (?, ?) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def cursor(self, rtype: str) -> str | None:
        """The last server ``lastUpdated`` seen for ``rtype`` (server time, never the client clock)."""
        return self.get_state(f"cursor:{rtype}")

    def set_cursor(self, rtype: str, instant: str) -> None:
        self.set_state(f"cursor:{rtype}", instant)

    def seen_delivery(self, delivery_id: str) -> bool:
        """True when this webhook delivery was processed before; otherwise records it, atomically."""
        with transaction(self.db) as conn:
            cur = conn.execute("INSERT OR IGNORE INTO webhook_delivery (id, received) VALUES (?, ?)",
                               (delivery_id, self._clock()))
            return cur.rowcount == 0


def _newer(version: str | None, updated: str | None, old_version: str | None, old_updated: str | None) -> bool:
    """Whether an incoming server copy should replace a clean cached one."""
    if version is not None and version == old_version:
        return False
    new_t, old_t = _instant(updated), _instant(old_updated)
    if new_t is not None and old_t is not None:
        try:
            return new_t >= old_t
        except TypeError:  # one naive, one aware: cannot order them, trust the server
            return True
    return True


def _with_version(payload: Json | None, version: str | None) -> Json | None:
    """The sent content as the server's copy when the server returned no body."""
    if payload is None:
        return None
    copy = dict(payload)
    if version is not None:
        copy["meta"] = {**(payload.get("meta") or {}), "versionId": version}
    return copy
