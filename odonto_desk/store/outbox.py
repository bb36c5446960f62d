"""The outbox: every local write waiting for the server, in the order it was made.

One row per local change (``create``, ``update``, ``delete`` of a resource, or ``op`` for an
``/odonto/v1`` post), written in the same transaction as the cached resource and its audit row.
Each row gets its ``Idempotency-Key`` once, at enqueue, and keeps it through retries and restarts.

Row states:

- ``pending``: never attempted. Pending rows of one resource are squashed when pushed.
- ``sending``: attempted at least once and not confirmed (in flight, failed, or the app died).
  The rows of one attempt share a ``batch`` and are frozen together: a retry must send the same
  content with the same key, or a create the server did receive would be made twice. Later edits
  of that resource stay pending and are pushed after it.
- ``conflict``: the server answered 409/412; held until the conflict is resolved.
- ``done``: the server confirmed it. Kept (see :meth:`Outbox.prune_done`).
- ``cancelled``: never needs sending: a never-sent create deleted again, or edits replaced by a
  conflict resolution. Kept like done rows.

Squashing (:func:`squash`) mirrors the Android FHIR engine's squashed patch mode: per resource,
create+update… → one create with the latest content; update+update… → one update with the *first*
base version (the version the user's edits started from, for ``If-Match``); create…+delete → nothing;
update…+delete → delete. Items are ordered by where their changes began (a delete by where it was
made). Every request must also be acceptable when it arrives to a server that checks references,
so an edit is only merged into an earlier request when everything it references existed at that
point (a Condition never reaches the server before its new Patient), and the two shortcuts that
skip intermediate states fall back to two requests where another request could notice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from odonto_desk.api.keys import new_key
from odonto_desk.store.audit import utc_now
from odonto_desk.store.db import Database, transaction

Operation = Literal["create", "update", "delete", "op"]
State = Literal["pending", "sending", "conflict", "done", "cancelled"]
Key = tuple[str, str]

OPEN_STATES = ("pending", "sending", "conflict")
MAX_ERROR = 500


class OutboxError(Exception):
    """A sequence of changes that cannot be pushed (e.g. an edit after a delete)."""


@dataclass(frozen=True)
class OutboxEntry:
    """One stored outbox row."""

    seq: int
    type: str
    id: str
    operation: Operation
    payload: dict[str, Any] | None
    base_version: str | None
    idempotency_key: str
    gpid: str | None = None
    created: str = ""
    attempts: int = 0
    last_error: str | None = None
    state: State = "pending"
    batch: int | None = None


@dataclass(frozen=True)
class PushItem:
    """One request for the sync engine to send; ``seqs`` are the outbox rows it settles.

    ``idempotency_key`` goes in ``Idempotency-Key``; ``base_version`` in ``If-Match`` (None for a
    create, or for a resource the server has never versioned).
    """

    seqs: tuple[int, ...]
    type: str
    id: str
    operation: Operation
    payload: dict[str, Any] | None
    base_version: str | None
    idempotency_key: str
    gpid: str | None
    position: int = field(default=0, compare=False)


# --- squashing (pure) ------------------------------------------------------------------------------


def squash(entries: Sequence[OutboxEntry]) -> list[PushItem]:
    """The requests that have the same effect on the server as ``entries`` sent one by one.

    ``entries`` are the open rows (pending and sending) in seq order. Besides the final state,
    every request must be acceptable to a server that checks references when a resource is
    written *and* when one is deleted, at the moment it arrives; the two shortcuts that skip a
    resource's intermediate states are only taken where no other request can notice:

    - create…+delete is dropped unless another request refers to the resource (then: the create
      with its last content, and the delete);
    - update…+delete becomes one delete unless another resource is deleted in between (an update
      skipped here might be the one that stopped referring to it; then: update, and the delete).
    """
    units = _units(entries)
    deletes = [(e.seq, n) for n, unit in enumerate(units) for e in unit if e.operation == "delete"]
    plans: list[list[PushItem]] = []
    droppable: list[int] = []
    for n, unit in enumerate(units):
        first, last = unit[0], unit[-1]
        if first.state == "sending" or last.operation != "delete" or len(unit) == 1:
            plans.append(_reduce(unit))
        elif first.operation == "create":
            droppable.append(n)
            plans.append([])
        elif any(first.seq < seq < last.seq for seq, m in deletes if m != n):
            plans.append(_reduce(unit[:-1]) + _reduce(unit[-1:]))
        else:
            plans.append(_reduce(unit))
    changed = bool(droppable)  # walking every payload's references is only needed to keep a dropped create
    while changed:  # keeping one create can make another one referenced
        referenced = {ref for plan in plans for item in plan for ref in references(item.payload)}
        changed = False
        for n in droppable:
            unit = units[n]
            if not plans[n] and (unit[0].type, unit[0].id) in referenced:
                plans[n] = _reduce(unit[:-1]) + _reduce(unit[-1:])
                changed = True
    return sorted((item for plan in plans for item in plan), key=lambda item: item.position)


def _units(entries: Sequence[OutboxEntry]) -> list[list[OutboxEntry]]:
    """Groups that become one request each: a frozen batch, a run of pending edits, or one op.

    A pending edit joins its resource's run only if everything it references already exists
    where the run begins (on the server, or created earlier in the queue). Otherwise it starts a
    new run: merged into the earlier request it would refer to a resource not created yet, and
    two new resources referring to each other could not be sent in any order.
    """
    creates = {(e.type, e.id): e.seq for e in entries if e.operation == "create"}
    units: list[list[OutboxEntry]] = []
    open_runs: dict[Key, list[OutboxEntry]] = {}
    batches: dict[int, list[OutboxEntry]] = {}
    for e in sorted(entries, key=lambda x: x.seq):
        key = (e.type, e.id)
        run = open_runs.get(key)
        if e.operation == "op":
            units.append([e])
        elif e.state == "sending":
            open_runs.pop(key, None)  # a frozen attempt ends the run before it
            batch = e.batch if e.batch is not None else e.seq
            if batch not in batches:
                batches[batch] = []
                units.append(batches[batch])
            batches[batch].append(e)
        elif run is not None and all(creates.get(ref, 0) <= run[0].seq for ref in references(e.payload)):
            run.append(e)
        else:
            open_runs[key] = [e]
            units.append(open_runs[key])
    return units


def _reduce(unit: list[OutboxEntry]) -> list[PushItem]:
    """The request for a unit of changes to one resource (none when a create is deleted again)."""
    first, last = unit[0], unit[-1]
    for e in unit[:-1]:
        if e.operation == "delete":
            raise OutboxError(f"{e.type}/{e.id} was changed after it was deleted (outbox seq {e.seq})")
    if any(e.operation == "create" for e in unit[1:]):
        raise OutboxError(f"{first.type}/{first.id} is created twice")
    seqs = tuple(e.seq for e in unit)
    if first.operation == "op":
        op, payload, position = "op", first.payload, first.seq
    elif last.operation == "delete":
        if first.operation == "create":
            return []
        # At the delete's own place: whatever still referred to the resource changes before it.
        op, payload, position = "delete", None, last.seq
    else:
        op, payload, position = first.operation, last.payload, first.seq
    base = None if op == "create" else first.base_version
    return [PushItem(seqs, first.type, first.id, op, payload, base, first.idempotency_key,
                     last.gpid or first.gpid, position)]


def references(payload: Any) -> Iterator[Key]:
    """The (type, id) of every relative or absolute ``reference`` inside a FHIR JSON value."""
    if isinstance(payload, dict):
        for k, v in payload.items():
            if k == "reference" and isinstance(v, str):
                ref = parse_reference(v)
                if ref is not None:
                    yield ref
            else:
                yield from references(v)
    elif isinstance(payload, list):
        for v in payload:
            yield from references(v)


def parse_reference(ref: str) -> Key | None:
    """``Patient/1``, ``Patient/1/_history/2`` or ``https://x/fhir/Patient/1`` → ("Patient", "1")."""
    parts = ref.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) >= 2 and parts[-2][:1].isupper() and parts[-1] and "#" not in parts[-1]:
        return parts[-2], parts[-1]
    return None


# --- the table -------------------------------------------------------------------------------------

_COLUMNS = ("seq, type, id, operation, payload, base_version, idempotency_key, gpid, created, attempts, "
            "last_error, state, batch")


def _entry(row: tuple[Any, ...]) -> OutboxEntry:
    values = list(row)
    values[4] = json.loads(values[4]) if values[4] is not None else None
    return OutboxEntry(*values)


class Outbox:
    """The ``outbox`` table. Writes join the caller's transaction when there is one."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(self, rtype: str, rid: str, operation: Operation, payload: dict[str, Any] | None, *,
                base_version: str | None = None, gpid: str | None = None) -> OutboxEntry | None:
        """Queue one change; None when a delete cancelled a create the server never saw.

        Cancelling there (rather than squashing it at push time) keeps nothing lingering for a
        resource that no longer exists anywhere.
        """
        with transaction(self.db) as conn:
            if operation == "delete" and self._cancel_unsent_create(rtype, rid):
                return None
            created = utc_now()
            key = new_key()
            text = json.dumps(payload, ensure_ascii=False, separators=(",", ":")) if payload is not None else None
            cur = conn.execute(
                "INSERT INTO outbox (type, id, operation, payload, base_version, idempotency_key, gpid, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (rtype, rid, operation, text, base_version, key, gpid, created))
            seq = cur.lastrowid
        assert seq is not None
        return OutboxEntry(seq, rtype, rid, operation, payload, base_version, key, gpid, created)

    def _cancel_unsent_create(self, rtype: str, rid: str) -> bool:
        """Cancel a create the server never saw, with its edits, unless a queued change refers to it."""
        open_rows = self.open_entries(rtype, rid)
        if not open_rows or open_rows[0].operation != "create" or any(e.state != "pending" for e in open_rows):
            return False
        referred = self.db.conn.execute(
            "SELECT 1 FROM outbox WHERE state IN (?, ?, ?) AND NOT (type = ? AND id = ?) AND instr(payload, ?) > 0",
            (*OPEN_STATES, rtype, rid, f"{rtype}/{rid}")).fetchone()
        if referred:
            return False
        self._set_state([e.seq for e in open_rows], "cancelled")
        return True

    def entries(self, states: Iterable[State] | None = None) -> list[OutboxEntry]:
        """Rows in seq order, optionally only those in ``states``."""
        sql = f"SELECT {_COLUMNS} FROM outbox"
        params: list[str] = []
        if states is not None:
            params = list(states)
            sql += f" WHERE state IN ({', '.join('?' * len(params))})"
        return [_entry(r) for r in self.db.conn.execute(sql + " ORDER BY seq", params)]

    def open_entries(self, rtype: str, rid: str) -> list[OutboxEntry]:
        """The resource's rows not yet settled (pending, sending or conflict), in order."""
        return [_entry(r) for r in self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE type = ? AND id = ? AND state IN (?, ?, ?) ORDER BY seq",
            (rtype, rid, *OPEN_STATES))]

    def pending_for_push(self) -> list[PushItem]:
        """What to send now, squashed and ordered; resources held by an open conflict are left out."""
        rows = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM outbox o WHERE state IN ('pending', 'sending') AND NOT EXISTS ("
            "SELECT 1 FROM outbox c WHERE c.state = 'conflict' AND c.type = o.type AND c.id = o.id) "
            "ORDER BY seq")
        return squash([_entry(r) for r in rows])

    def mark_sending(self, item: PushItem) -> None:
        """Call just before sending: counts the attempt and freezes the item's rows together."""
        with transaction(self.db) as conn:
            conn.executemany("UPDATE outbox SET state = 'sending', attempts = attempts + 1, batch = ? "
                             "WHERE seq = ? AND state IN ('pending', 'sending')",
                             [(item.seqs[0], s) for s in item.seqs])

    def mark_failed(self, item: PushItem, error: str) -> None:
        """Keep the item frozen for a retry with the same key and note why it failed."""
        with transaction(self.db) as conn:
            conn.executemany("UPDATE outbox SET last_error = ? WHERE seq = ?",
                             [(error[:MAX_ERROR], s) for s in item.seqs])

    def mark_done(self, seqs: Iterable[int]) -> None:
        """The server confirmed these rows."""
        self._set_state(seqs, "done")

    def mark_conflict(self, rtype: str, rid: str) -> None:
        """Hold every unsettled row of the resource until its conflict is resolved."""
        with transaction(self.db) as conn:
            conn.execute("UPDATE outbox SET state = 'conflict' WHERE type = ? AND id = ? AND state IN (?, ?, ?)",
                         (rtype, rid, *OPEN_STATES))

    def cancel_open(self, rtype: str, rid: str) -> None:
        """Drop every unsettled row of the resource (replaced by a conflict resolution)."""
        self._set_state([e.seq for e in self.open_entries(rtype, rid)], "cancelled")

    def rebase(self, rtype: str, rid: str, version: str) -> None:
        """After the server accepted a change: the resource's later rows now build on ``version``."""
        with transaction(self.db) as conn:
            conn.execute("UPDATE outbox SET base_version = ? WHERE type = ? AND id = ? AND state IN (?, ?, ?)",
                         (version, rtype, rid, *OPEN_STATES))

    def rename(self, rtype: str, local_id: str, server_id: str) -> None:
        """The server assigned ``server_id``: move the rows, and rewrite open payloads.

        The resource's own open payloads take the new ``id`` (an update queued before the create
        landed still carries the client id), and references to it in any open payload follow.
        Settled rows keep what was sent.
        """
        old, new = f"{rtype}/{local_id}", f"{rtype}/{server_id}"
        with transaction(self.db) as conn:
            conn.execute("UPDATE outbox SET id = ? WHERE type = ? AND id = ?", (server_id, rtype, local_id))
            rows = conn.execute(
                "SELECT seq, type, id, payload FROM outbox WHERE state IN (?, ?, ?) AND payload IS NOT NULL "
                "AND ((type = ? AND id = ?) OR instr(payload, ?) > 0)",
                (*OPEN_STATES, rtype, server_id, old)).fetchall()
            updates = []
            for seq, row_type, row_id, text in rows:
                payload = rewrite_references(json.loads(text), old, new)
                if (row_type, row_id) == (rtype, server_id) and isinstance(payload, dict) \
                        and payload.get("id") == local_id:
                    payload["id"] = server_id
                updates.append((json.dumps(payload, ensure_ascii=False, separators=(",", ":")), seq))
            conn.executemany("UPDATE outbox SET payload = ? WHERE seq = ?", updates)

    def prune_done(self, older_than: str) -> int:
        """Delete done and cancelled rows created before the ISO instant ``older_than``; return how many.

        Safe because outbox rows are delivery bookkeeping, not clinical records: the resource rows
        and the audit trail keep what happened.
        """
        with transaction(self.db) as conn:
            return conn.execute("DELETE FROM outbox WHERE state IN ('done', 'cancelled') AND created < ?",
                                (older_than,)).rowcount

    def _set_state(self, seqs: Iterable[int], state: State) -> None:
        with transaction(self.db) as conn:
            conn.executemany("UPDATE outbox SET state = ? WHERE seq = ?", [(state, s) for s in seqs])


def rewrite_references(value: Any, old: str, new: str) -> Any:
    """A copy of a FHIR JSON value with every ``reference`` equal to ``old`` (or its history) pointing at ``new``."""
    return rewrite_references_many(value, {old: new})


def rewrite_references_many(value: Any, renames: dict[str, str]) -> Any:
    """A copy of a FHIR JSON value with every ``reference`` to a key of ``renames`` (or to its history)
    pointing at its value: one walk for all of them (a transaction's creates, say), not one each."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "reference" and isinstance(v, str):
                base, history, version = v.partition("/_history/")
                target = renames.get(base)
                out[k] = target + history + version if target is not None else v
            else:
                out[k] = rewrite_references_many(v, renames)
        return out
    if isinstance(value, list):
        return [rewrite_references_many(v, renames) for v in value]
    return value


def rewrite_reference_text(text: str, old: str, new: str) -> str:
    """:func:`rewrite_references` on a JSON text."""
    return json.dumps(rewrite_references(json.loads(text), old, new), ensure_ascii=False, separators=(",", ":"))
