"""The sync engine: pushes the outbox to the server and pulls the server's changes into the cache.

Push sends the squashed outbox (:meth:`Outbox.pending_for_push`) in order. A run of never-sent
creates and updates of one patient travels as one FHIR transaction when the server supports them
(creates get ``urn:uuid:`` fullUrls so references between them resolve on the server); everything
else — deletes, ``/odonto/v1`` operations, items already attempted on their own — goes one request
per item. Nothing is marked done before the server confirmed it, and every retry repeats the
first attempt byte for byte with the same ``Idempotency-Key``, so a lost answer or a crash never
makes a second copy:

- a single create or operation reuses its outbox row's key (the server replays its first answer);
- a transaction's key and its members are written to ``sync_state`` in the same SQLite
  transaction that freezes the rows, and the next push resends exactly that bundle first;
- a PUT whose answer was lost comes back as 409/412 on the retry; when the server already holds
  exactly what we sent, that is our own write and it is confirmed instead of called a conflict.

A real 409/412 becomes a conflict record (the local edit is kept and held), a 400/422 (or 403) is
noted on the row and skipped so one bad edit cannot block the queue (retried on the next push; a
later edit of the same resource replaces it), and a network failure, a 429 storm or a 5xx stops
the push with the rest left pending.

Pull asks every type for ``_lastUpdated=gt<cursor>&_sort=_lastUpdated`` (no filter on the first
run), follows ``next`` links, stores each page in one SQLite transaction together with the
cursor advance, and records conflicts for server changes to locally edited resources. Malformed
resources are skipped and reported.

A search never returns deleted resources, so after each type's search the pull looks for deletes
(:meth:`SyncEngine._pull_deletes`): where the CapabilityStatement lists ``history-type`` for the
type, ``GET [type]/_history?_since=<deletes cursor>`` (entries with ``request.method=DELETE``; the
newest entry per id wins, so a resource deleted and re-created stays); elsewhere, at most every
``delete_check_interval`` seconds, the cached ids are searched by ``_id`` in chunks and each one
missing is read (410/404) and its delete version asked of its instance ``_history``. A resource
deleted on the server keeps its cached row, flagged deleted (screens no longer show it) and
audited; a local edit of it becomes a conflict (server side: deleted) instead of being dropped.

One :class:`~odonto_desk.store.cache.Cache` is one SQLite connection for one thread, so the engine
opens its own connection on any other thread that calls it (the background loop, the webhook
receiver's request threads); a lock keeps pushes and pulls from interleaving.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from odonto_desk.api.client import ApexClient, next_link, version_etag
from odonto_desk.api.errors import (
    ApiError,
    AuthError,
    Gone,
    NetworkError,
    NotFound,
    RateLimited,
    ScopeError,
    ServerError,
    ServerRejected,
    VersionConflict,
)
from odonto_desk.domain.errors import DomainError
from odonto_desk.fhir.codes import GPID_SYSTEM, LOCAL_ID_SYSTEM
from odonto_desk.fhir.resources.perio import exam_fingerprint
from odonto_desk.fhir.validate import ODONTO_TYPES
from odonto_desk.store.audit import utc_now
from odonto_desk.store.cache import Cache
from odonto_desk.store.db import transaction
from odonto_desk.store.outbox import (
    OutboxEntry,
    PushItem,
    parse_reference,
    rewrite_references_many,
)

log = logging.getLogger(__name__)

Json = dict[str, Any]
# unauthorized: the server refuses our credentials (revoked, disabled, a wrong secret); nothing is
# sent until they work again, and the outbox waits intact.
State = Literal["online", "degraded", "offline", "unauthorized"]

TYPES: tuple[str, ...] = (*ODONTO_TYPES, "Task")
# Types that belong to no patient (or have no ``patient`` search parameter in R4): skipped by patient pulls.
PATIENTLESS = frozenset({"Practitioner", "Organization", "Binary"})
INFLIGHT_KEY = "push:transaction"
LAST_SYNC_KEY = "sync:last"
PAGE_SIZE = 1000
BATCH_SIZE = 100
MAX_ERRORS = 50
DELETES_KEY = "deletes:{}"  # per type: the server instant up to which its history was read for deletes
CHECKED_KEY = "deletes:{}:checked"  # per type: when cached ids were last checked (no type-level history)
DELETE_CHECK_INTERVAL = 6 * 3600.0
ID_CHUNK = 50
# The op that saves one perio exam with PUT /odonto/v1/chart/{gpid} (payload: {"name", "body":
# {"perio_exams": [exam]}, "base": digest of the server's exam the edit started from, None if new}).
CHART_PERIO_OP = "chart/perio"
CHART_RETRIES = 3  # fresh GETs after a 412 caused by another change to the chart (e.g. a mark edit)
REFUSED = "refused: "  # how a refusal is told apart from a failure to reach the server in outbox.last_error
SLOW_PROBE_MS = 2000.0
# Errors after which the server is known to have written nothing and will refuse the same request again.
REFUSALS = (ServerRejected, ScopeError)
# Errors that stop a push or pull: the server is unreachable, overloaded or refuses our credentials.
STOPPERS = (NetworkError, RateLimited, ServerError, AuthError)


# --- reports ---------------------------------------------------------------------------------------


@dataclass
class PushReport:
    confirmed: int = 0
    transactions: int = 0
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[tuple[str, str, str]] = field(default_factory=list)  # (type, id, the server's message)
    stopped: str | None = None  # why the push stopped early (the rest stays queued)


@dataclass
class PullReport:
    fetched: int = 0
    stored: int = 0
    pages: int = 0
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (type, id or #index, reason)
    deleted: list[tuple[str, str]] = field(default_factory=list)  # cached resources deleted on the server
    stopped: str | None = None

    def merge(self, other: PullReport) -> None:
        self.fetched += other.fetched
        self.stored += other.stored
        self.pages += other.pages
        self.conflicts += other.conflicts
        self.deleted += other.deleted
        self.skipped += other.skipped
        self.stopped = self.stopped or other.stopped


@dataclass
class SyncReport:
    push: PushReport
    pull: PullReport | None  # None when the push stopped and the pull was not attempted


@dataclass(frozen=True)
class SyncStatus:
    """What the sync status screen shows."""

    state: State
    latency_ms: float | None
    queued: int  # local edits not yet confirmed (pending or being sent)
    last_sync: str | None  # when a full push + pull last completed
    conflicts: int
    errors: tuple[str, ...]  # the most recent first


class _Stop(Exception):
    """Internal: a push or pull must stop here (the cause is chained)."""

    def __init__(self, cause: ApiError) -> None:
        super().__init__(str(cause))
        self.cause = cause


# --- helpers (pure) ----------------------------------------------------------------------------


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def _later(a: str | None, b: str | None) -> str | None:
    """The later of two FHIR instants (unparseable ones lose)."""
    ta, tb = _instant(a), _instant(b)
    if tb is None:
        return a if ta is not None else None
    if ta is None or tb > ta:
        return b
    return a


def _content(resource: Json | None) -> Json | None:
    """A resource without what the server sets on every write (id, versionId, lastUpdated)."""
    if resource is None:
        return None
    out = {k: v for k, v in resource.items() if k != "id"}
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated", "source")}
    out.pop("meta", None)
    if meta:
        out["meta"] = meta
    return out


def same_content(a: Json | None, b: Json | None) -> bool:
    """Whether two copies say the same thing, ignoring server bookkeeping (our own write coming back)."""
    return a is not None and b is not None and _content(a) == _content(b)


def _local_identifier(resource: Json | None) -> str | None:
    """``identifier=<system>|<value>`` of the client-generated business identifier, for If-None-Exist."""
    for ident in (resource or {}).get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") == LOCAL_ID_SYSTEM and isinstance(ident.get("value"), str):
            return f"identifier={LOCAL_ID_SYSTEM}|{ident['value']}"
    return None


def _urn(item: PushItem) -> str:
    """The transaction placeholder of a create: its client id when that is a uuid (it always is from the cache)."""
    try:
        return f"urn:uuid:{uuid.UUID(item.id)}"
    except ValueError:
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{item.type}/{item.id}')}"


def _without_id(resource: Json) -> Json:
    return {k: v for k, v in resource.items() if k != "id"}


def transaction_key(group: Sequence[PushItem]) -> str:
    """The same members always give the same key (derived from theirs)."""
    digest = hashlib.sha256("|".join(i.idempotency_key for i in group).encode()).hexdigest()
    return f"odk-tx-{digest[:48]}"


def build_transaction(group: Sequence[PushItem]) -> Json:
    """A transaction Bundle for creates and updates; references to the group's creates become their urns.

    Built only from the frozen payloads, so a retry sends the very same bytes.
    """
    urns = {f"{i.type}/{i.id}": _urn(i) for i in group if i.operation == "create"}
    entries = []
    for item in group:
        assert item.payload is not None and item.operation in ("create", "update")
        resource: Json = rewrite_references_many(item.payload, urns)  # a copy: the frozen payload stays
        if item.operation == "create":
            request: Json = {"method": "POST", "url": item.type}
            cond = _local_identifier(item.payload)
            if cond:
                request["ifNoneExist"] = cond
            entries.append({"fullUrl": urns[f"{item.type}/{item.id}"], "resource": _without_id(resource),
                            "request": request})
        else:
            resource["id"] = item.id  # the payload may predate the server's id (queued before the create landed)
            request = {"method": "PUT", "url": f"{item.type}/{item.id}"}
            if item.base_version is not None:
                request["ifMatch"] = version_etag(item.base_version)
            entries.append({"resource": resource, "request": request})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _parse_location(location: str) -> tuple[str, str | None]:
    """``Type/id/_history/v`` (relative or absolute) → (id, version)."""
    parts = location.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        return parts[-3], parts[-1]
    return parts[-1], None


def _etag_version(etag: Any) -> str | None:
    if not isinstance(etag, str):
        return None
    return etag.removeprefix("W/").strip('"') or None


def _meta(resource: Json | None, name: str) -> str | None:
    value = ((resource or {}).get("meta") or {}).get(name)
    return value if isinstance(value, str) else None


def _history_entry(rtype: str, entry: Any) -> tuple[str, str | None, bool, str | None] | None:
    """(id, when, deleted, version) of one history Bundle entry of ``rtype``; None when unusable."""
    if not isinstance(entry, dict):
        return None
    request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
    response = entry.get("response") if isinstance(entry.get("response"), dict) else {}
    resource = entry.get("resource") if isinstance(entry.get("resource"), dict) else None
    status = str(response.get("status", ""))
    deleted = request.get("method") == "DELETE" or (resource is None and status[:3] in ("204", "410"))
    rid = resource.get("id") if resource is not None else None
    if not isinstance(rid, str):
        for where in (request.get("url"), entry.get("fullUrl")):
            ref = parse_reference(where.split("?")[0]) if isinstance(where, str) else None
            if ref is not None and ref[0] == rtype:
                rid = ref[1]
                break
    if not isinstance(rid, str):
        return None
    when = response.get("lastModified") if isinstance(response.get("lastModified"), str) else _meta(resource, "lastUpdated")
    version = _etag_version(response.get("etag")) or _meta(resource, "versionId")
    return rid, when, deleted, version


# --- the engine --------------------------------------------------------------------------------


class SyncEngine:
    """Push and pull between one cache file and one server.

    ``transactions``: send batches as FHIR transactions (None: ask the server's CapabilityStatement
    once). ``patient_scope``: pull only these patients' data (plus the patient-less types).
    """

    def __init__(self, cache: Cache, client: ApexClient, *, types: Sequence[str] = TYPES,
                 patient_scope: str | Sequence[str] | None = None, transactions: bool | None = None,
                 page_size: int = PAGE_SIZE, batch_size: int = BATCH_SIZE,
                 delete_check_interval: float = DELETE_CHECK_INTERVAL) -> None:
        self.cache = cache
        self.client = client
        self.types = tuple(types)
        self.patient_scope = (patient_scope,) if isinstance(patient_scope, str) else \
            tuple(patient_scope) if patient_scope is not None else None
        self.page_size = page_size
        self.batch_size = max(1, batch_size)
        self._transactions = transactions
        self.delete_check_interval = delete_check_interval
        self._capabilities: dict[str, frozenset[str]] | None = None
        self._owner = threading.get_ident()
        self._local = threading.local()
        self._lock = threading.RLock()
        self._state: State = "online"
        self._latency: float | None = None
        self._errors: deque[str] = deque(maxlen=MAX_ERRORS)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.webhooks_applied = 0

    # --- threads and connections ----------------------------------------------------------------

    @contextmanager
    def _db(self) -> Iterator[Cache]:
        """The cache connection for the calling thread (a short-lived one on a foreign thread)."""
        if threading.get_ident() == self._owner:
            yield self.cache
            return
        mine = getattr(self._local, "cache", None)
        if mine is not None:
            yield mine
            return
        temporary = Cache(self.cache.path)
        try:
            yield temporary
        finally:
            temporary.close()

    def _note(self, message: str) -> None:
        log.warning("sync: %s", message)
        self._errors.appendleft(f"{utc_now()} {message}")

    def _stopped_by(self, exc: ApiError) -> str:
        if isinstance(exc, AuthError):
            self._state = "unauthorized"
            message = f"AuthError: the server refuses our credentials ({exc}); edits stay queued"
            self._note(message)
            return message
        self._state = "offline" if isinstance(exc, NetworkError) else "degraded"
        message = f"{type(exc).__name__}: {exc}"
        self._note(message)
        return message

    # --- push -------------------------------------------------------------------------------------

    def push(self) -> PushReport:
        """Send the outbox in order until it is empty or the server cannot be reached."""
        report = PushReport()
        with self._lock, self._db() as cache:
            skip: set[int] = set()
            blocked: set[tuple[str, str]] = set()  # resources whose create was refused: later edits wait
            while True:
                items = [i for i in self._supersede_refused(cache, cache.outbox.pending_for_push())
                         if i.seqs[0] not in skip and (i.type, i.id) not in blocked]
                if not items:
                    break
                try:
                    group, key = self._next_group(cache, items)
                    if key is not None:
                        if not self._send_transaction(cache, group, key, report):
                            continue  # refused as a whole: its members go one by one next
                    else:
                        self._send_one(cache, group[0], report)
                except _Stop as stop:
                    report.stopped = self._stopped_by(stop.cause)
                    return report
                for item in group:
                    if self._still_open(cache, item):
                        skip.add(item.seqs[0])
                        if item.operation == "create":
                            blocked.add((item.type, item.id))
            if report.confirmed or report.conflicts or report.rejected:  # the server answered
                self._state = "online"
        return report

    def _supersede_refused(self, cache: Cache, items: list[PushItem]) -> list[PushItem]:
        """Cancel a refused update or delete once a later edit of the same resource is queued.

        The later edit carries the user's whole newest version, so the refused one is obsolete; sent
        after it (as a retry would be), it would put older content over newer.
        """
        refused = {e.seq for e in cache.outbox.entries(("sending",)) if (e.last_error or "").startswith(REFUSED)}
        if not refused:
            return items  # the usual case: nothing was refused, nothing to supersede
        last = {(item.type, item.id): n for n, item in enumerate(items)}  # one pass, not one per item
        keep: list[PushItem] = []
        for n, item in enumerate(items):
            later = last[(item.type, item.id)] > n
            if later and item.operation in ("update", "delete") and all(s in refused for s in item.seqs):
                with transaction(cache.db) as conn:
                    conn.executemany("UPDATE outbox SET state = 'cancelled' WHERE seq = ? AND state = 'sending'",
                                     [(s,) for s in item.seqs])
                self._note(f"refused {item.operation} of {item.type}/{item.id} replaced by a later edit")
                continue
            keep.append(item)
        return keep

    @staticmethod
    def _still_open(cache: Cache, item: PushItem) -> bool:
        return bool(cache.db.conn.execute(
            f"SELECT 1 FROM outbox WHERE seq IN ({','.join('?' * len(item.seqs))}) AND state IN ('pending', 'sending')",
            item.seqs).fetchone())

    def _supports_transactions(self) -> bool:
        if self._transactions is None:
            try:
                rest = self.client.metadata().get("rest") or []
            except STOPPERS as exc:
                raise _Stop(exc) from exc
            except ApiError:
                rest = []
            self._transactions = any(i.get("code") == "transaction" for r in rest for i in r.get("interaction") or [])
        return self._transactions

    def _next_group(self, cache: Cache, items: list[PushItem]) -> tuple[list[PushItem], str | None]:
        """What to send next: the unanswered transaction first, else a new batch or the head item alone."""
        inflight = cache.get_state(INFLIGHT_KEY)
        if inflight:
            record = json.loads(inflight)
            by_first = {i.seqs[0]: i for i in items}
            members = [by_first.get(s) for s in record["seqs"]]
            if all(m is not None for m in members):
                return [m for m in members if m is not None], str(record["key"])
            # Some members were settled elsewhere (e.g. a conflict held them): the bundle cannot be repeated.
            self._note(f"unanswered transaction {record['key']} can no longer be repeated; sending its items singly")
            cache.set_state(INFLIGHT_KEY, "")
        states = {e.seq: e for e in cache.outbox.entries(("pending",))}
        head = items[0]
        if not self._batchable(head, states, None) or not self._supports_transactions():
            return [head], None
        group, seen = [head], {(head.type, head.id)}
        for item in items[1:]:
            if len(group) >= self.batch_size or (item.type, item.id) in seen \
                    or not self._batchable(item, states, head.gpid):
                break
            group.append(item)
            seen.add((item.type, item.id))
        if len(group) == 1:
            return group, None
        return group, transaction_key(group)

    @staticmethod
    def _batchable(item: PushItem, pending: dict[int, OutboxEntry], gpid: str | None) -> bool:
        """Never-attempted creates and updates only (a tried item must repeat its own request)."""
        return (item.operation in ("create", "update") and all(s in pending for s in item.seqs)
                and (gpid is None or item.gpid == gpid))

    def _send_transaction(self, cache: Cache, group: list[PushItem], key: str, report: PushReport) -> bool:
        """Send one batch; False when the server refused it as a whole (nothing was written)."""
        with transaction(cache.db):
            for item in group:
                cache.outbox.mark_sending(item)
            cache.set_state(INFLIGHT_KEY, json.dumps({"key": key, "seqs": [i.seqs[0] for i in group]}))
        try:
            answer = self.client.transaction(build_transaction(group), gpid=group[0].gpid, idempotency_key=key)
        except STOPPERS as exc:
            for item in group:
                cache.outbox.mark_failed(item, f"{type(exc).__name__}: {exc}")
            raise _Stop(exc) from exc
        except ApiError as exc:
            # A transaction is all or nothing: find the culprit by sending the members one by one.
            self._note(f"transaction of {len(group)} refused ({exc}); sending its items singly")
            cache.set_state(INFLIGHT_KEY, "")
            return False
        try:
            results = self._transaction_results(group, answer)
        except ValueError as exc:
            # It was applied but cannot be read back: keep it frozen (a retry replays the same answer), stop.
            raise _Stop(ServerError(f"unusable transaction-response: {exc}")) from exc
        with transaction(cache.db):
            for item, (server_id, version, raw) in zip(group, results, strict=True):
                cache.confirm_push(item, version=version, raw=raw, server_id=server_id)
            cache.set_state(INFLIGHT_KEY, "")
        report.confirmed += len(group)
        report.transactions += 1
        return True

    @staticmethod
    def _transaction_results(group: list[PushItem], answer: Json) -> list[tuple[str, str | None, Json]]:
        """(server id, version, server copy) per member, from a transaction-response."""
        entries = answer.get("entry") or []
        if len(entries) != len(group):
            raise ValueError(f"{len(entries)} entries for {len(group)} requests")
        ids: dict[str, str] = {}
        parsed = []
        for item, entry in zip(group, entries, strict=True):
            response = entry.get("response") or {}
            if not str(response.get("status", "")).startswith("2"):
                raise ValueError(f"the entry for {item.type}/{item.id} answered {response.get('status')}")
            server_id, version = _parse_location(str(response.get("location") or f"{item.type}/{item.id}"))
            version = _etag_version(response.get("etag")) or version
            parsed.append((server_id, version, response.get("lastModified"), entry.get("resource")))
            if item.operation == "create":
                ids[f"{item.type}/{item.id}"] = f"{item.type}/{server_id}"
        out = []
        for item, (server_id, version, modified, resource) in zip(group, parsed, strict=True):
            if isinstance(resource, dict):
                out.append((server_id, version, resource))
                continue
            # No body in the answer: our content, as the server stored it (ids resolved, versioned).
            raw: Json = rewrite_references_many(item.payload or {}, ids)  # a copy
            raw["id"] = server_id
            meta = dict(raw.get("meta") or {})
            if version is not None:
                meta["versionId"] = version
            if isinstance(modified, str):
                meta["lastUpdated"] = modified
            raw["meta"] = meta
            out.append((server_id, version, raw))
        return out

    def _send_one(self, cache: Cache, item: PushItem, report: PushReport) -> None:
        cache.outbox.mark_sending(item)
        try:
            self._request(cache, item, report)
        except STOPPERS as exc:
            cache.outbox.mark_failed(item, f"{type(exc).__name__}: {exc}")
            raise _Stop(exc) from exc
        except REFUSALS as exc:
            self._reject(cache, item, exc, report)
        except ApiError as exc:  # e.g. an operation a plain FHIR server does not have
            self._reject(cache, item, exc, report)

    def _reject(self, cache: Cache, item: PushItem, exc: ApiError, report: PushReport) -> None:
        message = f"{type(exc).__name__}: {exc}"
        cache.outbox.mark_failed(item, REFUSED + message)
        report.rejected.append((item.type, item.id, message))
        self._note(f"{item.operation} {item.type}/{item.id} refused: {message}")

    def _request(self, cache: Cache, item: PushItem, report: PushReport) -> None:
        """One item as one request; confirm, or record what the server said."""
        client = self.client
        if item.operation == "op":
            if not client.has_odonto:
                raise ApiError("this server is a plain FHIR server: it has no /odonto/v1 operations")
            body = (item.payload or {})
            if body.get("name") == CHART_PERIO_OP:
                self._send_perio(cache, item, report)
                return
            client.request("POST", f"{client.base_url}/odonto/v1/{str(body.get('name', '')).strip('/')}",
                           json=body.get("body"), gpid=item.gpid, idempotency_key=item.idempotency_key)
            cache.confirm_push(item, version=None)
        elif item.operation == "create":
            assert item.payload is not None
            try:
                made = client.create(_without_id(item.payload), gpid=item.gpid,
                                     if_none_exist=_local_identifier(item.payload),
                                     idempotency_key=item.idempotency_key)
            except VersionConflict as exc:  # If-None-Exist matched several: nothing sensible to adopt
                raise ServerRejected(str(exc), status=exc.status, outcome=exc.outcome) from exc
            if not isinstance(made.get("id"), str):
                raise ServerRejected("the server created the resource but did not return it", status=201)
            cache.confirm_push(item, version=_meta(made, "versionId"), raw=made, server_id=made["id"])
        elif item.operation == "update":
            assert item.payload is not None
            try:
                saved = client.update({**item.payload, "id": item.id}, gpid=item.gpid, version=item.base_version)
            except (VersionConflict, NotFound, Gone):
                self._on_conflict(cache, item, report)
                return
            cache.confirm_push(item, version=_meta(saved, "versionId"), raw=saved or None)
        else:
            try:
                client.delete(item.type, item.id, gpid=item.gpid, version=item.base_version)
            except (NotFound, Gone):
                pass  # already gone there: the delete's effect holds
            except VersionConflict:
                self._on_conflict(cache, item, report)
                return
            cache.confirm_push(item, version=None)
        report.confirmed += 1

    def _send_perio(self, cache: Cache, item: PushItem, report: PushReport) -> None:
        """One perio exam by chart PUT, only over the server's copy the edit started from.

        GET the chart for its ETag and the server's copy of this exam. Already what we send (our own
        write whose answer was lost): confirmed. Changed since the base (another client saved this
        exam): a conflict, nothing sent. Else PUT the exam alone (marks left out, so the server keeps
        them) with If-Match; a 412 means the chart moved in between (another client's mark edit,
        another exam): read it again, up to :data:`CHART_RETRIES` times.
        """
        payload = item.payload or {}
        exams = (payload.get("body") or {}).get("perio_exams") or []
        if not item.gpid or len(exams) != 1 or not isinstance(exams[0], dict):
            raise ServerRejected("a perio save names its patient's GPID and carries one exam")
        exam, base = exams[0], payload.get("base")
        mine = exam_fingerprint(exam)
        for _ in range(CHART_RETRIES + 1):
            doc, etag = self.client.get_chart(item.gpid)
            theirs = next((e for e in doc.get("perio_exams") or [] if e.get("id") == exam.get("id")), None)
            try:
                server_fp = exam_fingerprint(theirs)
            except DomainError as exc:
                raise ServerRejected(f"the server's copy of exam {exam.get('id')} cannot be read: {exc}") from exc
            if server_fp == mine:
                break
            if server_fp != base:
                self._perio_conflict(cache, item, server_fp, report)
                return
            try:
                self.client.put_chart(item.gpid, None, etag, perio_exams=[exam])
            except VersionConflict:
                continue
            break
        else:
            raise ServerError(f"the chart of {item.gpid} kept changing during {CHART_RETRIES + 1} attempts")
        cache.confirm_push(item, version=None)
        report.confirmed += 1

    def _perio_conflict(self, cache: Cache, item: PushItem, server_fp: str | None, report: PushReport) -> None:
        """Another client changed (or retired) this exam: kept here, held, recorded on its panel."""
        try:
            server: Json | None = self.client.read(item.type, item.id)
        except (NotFound, Gone):
            server = None
        cache.hold_op(item, item.type, item.id, local=cache.get(item.type, item.id), server=server,
                      server_version=_meta(server, "versionId"), theirs=server_fp)
        report.conflicts.append((item.type, item.id))
        self._note(f"conflict on perio exam {item.type}/{item.id}: saved on the server by someone else meanwhile")

    def _on_conflict(self, cache: Cache, item: PushItem, report: PushReport) -> None:
        """409/412: our own earlier write (lost answer) is confirmed; anything else becomes a conflict."""
        try:
            server: Json | None = self.client.read(item.type, item.id)
        except (NotFound, Gone):
            server = None
        version = _meta(server, "versionId")
        if item.operation == "delete" and server is None:
            cache.confirm_push(item, version=None)
            report.confirmed += 1
            return
        if item.operation == "update" and same_content(server, item.payload):
            cache.confirm_push(item, version=version, raw=server)
            report.confirmed += 1
            return
        cache.record_conflict(item.type, item.id, server, version)
        report.conflicts.append((item.type, item.id))
        self._note(f"conflict on {item.type}/{item.id}: the server is at version {version or 'deleted'}")

    # --- pull -------------------------------------------------------------------------------------

    def pull(self) -> PullReport:
        """Every type's changes since its cursor (only the scoped patients' when a scope is set)."""
        report = PullReport()
        with self._lock, self._db() as cache:
            try:
                if self.patient_scope is None:
                    for rtype in self.types:
                        report.merge(self._pull_query(cache, rtype, {}, f"cursor:{rtype}"))
                else:
                    for rtype in self.types:
                        if rtype in PATIENTLESS:
                            report.merge(self._pull_query(cache, rtype, {}, f"cursor:{rtype}"))
                    for pid in self.patient_scope:
                        report.merge(self._pull_patient(cache, pid))
                for rtype in self.types:
                    if (rtype, "*") not in {(t, w) for t, w, _ in report.skipped}:
                        report.merge(self._pull_deletes(cache, rtype))
            except _Stop as stop:
                report.stopped = self._stopped_by(stop.cause)
                return report
            self._state = "online"
        return report

    def pull_patient(self, patient_id: str) -> PullReport:
        """One patient's changes (e.g. after a webhook), with cursors of its own."""
        with self._lock, self._db() as cache:
            try:
                return self._pull_patient(cache, patient_id)
            except _Stop as stop:
                return PullReport(stopped=self._stopped_by(stop.cause))

    def _pull_patient(self, cache: Cache, pid: str) -> PullReport:
        report = PullReport()
        for rtype in self.types:
            if rtype in PATIENTLESS:
                continue
            params = {"_id": pid} if rtype == "Patient" else {"patient": pid}
            report.merge(self._pull_query(cache, rtype, params, f"cursor:{rtype}:patient/{pid}"))
        return report

    def _pull_query(self, cache: Cache, rtype: str, params: dict[str, Any], cursor_key: str) -> PullReport:
        """Follow one search to its end, storing each page with its cursor advance atomically."""
        report = PullReport()
        cursor = cache.get_state(cursor_key) or None
        query = {**params, "_sort": "_lastUpdated", "_count": self.page_size}
        if cursor:
            query["_lastUpdated"] = f"gt{cursor}"
        try:
            page = self.client.search_page(rtype, query)
            while True:
                report.pages += 1
                self._store_page(cache, rtype, page, cursor_key, report)
                nxt = next_link(page)
                if nxt is None:
                    return report
                page = self.client.search_page(url=nxt)
        except STOPPERS as exc:
            raise _Stop(exc) from exc
        except ApiError as exc:  # this type cannot be searched here (e.g. a plain server lacks it)
            self._note(f"pull of {rtype} refused: {type(exc).__name__}: {exc}")
            report.skipped.append((rtype, "*", str(exc)))
            return report

    def _store_page(self, cache: Cache, rtype: str, page: Json, cursor_key: str, report: PullReport) -> None:
        resources = [e["resource"] for e in page.get("entry") or []
                     if isinstance(e, dict) and "resource" in e
                     and ((e.get("search") or {}).get("mode", "match") == "match")]
        newest = cache.get_state(cursor_key) or None
        usable: list[Any] = []
        for index, resource in enumerate(resources):
            if isinstance(resource, dict):
                newest = _later(newest, _meta(resource, "lastUpdated"))
            if not isinstance(resource, dict) or resource.get("resourceType") != rtype:
                self._skip(report, rtype, resource, index, f"not a {rtype}")
                continue
            usable.append(resource)
        report.fetched += len(resources)
        with transaction(cache.db):
            result = cache.put_from_server(usable)
            for index, reason in result.skipped:
                self._skip(report, rtype, usable[index], index, reason)
            for candidate in result.conflicts:
                if same_content(candidate.server, candidate.local):
                    continue  # our own write whose answer was lost; the push retry confirms it
                cache.record_conflict(candidate.type, candidate.id, candidate.server, candidate.server_version)
                report.conflicts.append((candidate.type, candidate.id))
                self._note(f"conflict on {candidate.type}/{candidate.id}: changed on the server and here")
            if newest:
                cache.set_state(cursor_key, newest)
        report.stored += result.stored

    def _skip(self, report: PullReport, rtype: str, resource: Any, index: int, reason: str) -> None:
        rid = resource.get("id") if isinstance(resource, dict) else None
        where = str(rid) if isinstance(rid, str) else f"#{index}"
        report.skipped.append((rtype, where, reason))
        self._note(f"skipped malformed {rtype} {where}: {reason}")

    # --- deletes on the server ----------------------------------------------------------------------

    def _interactions(self, rtype: str) -> frozenset[str]:
        """What the server's CapabilityStatement says it can do with ``rtype`` (asked once)."""
        if self._capabilities is None:
            try:
                statement = self.client.metadata()
            except STOPPERS as exc:
                raise _Stop(exc) from exc
            except ApiError:
                statement = {}
            caps: dict[str, frozenset[str]] = {}
            for rest in statement.get("rest") or []:
                for res in rest.get("resource") or [] if isinstance(rest, dict) else []:
                    if isinstance(res, dict) and isinstance(res.get("type"), str):
                        caps[res["type"]] = frozenset(i.get("code") for i in res.get("interaction") or []
                                                      if isinstance(i, dict) and isinstance(i.get("code"), str))
            self._capabilities = caps
        return self._capabilities.get(rtype, frozenset())

    def _pull_deletes(self, cache: Cache, rtype: str) -> PullReport:
        """Mark the cached resources of ``rtype`` the server has deleted since the last look."""
        try:
            if "history-type" in self._interactions(rtype):
                return self._deletes_from_history(cache, rtype)
            return self._deletes_by_checking_ids(cache, rtype)
        except STOPPERS as exc:
            raise _Stop(exc) from exc
        except ApiError as exc:
            self._note(f"deletes of {rtype} not checked: {type(exc).__name__}: {exc}")
            return PullReport(skipped=[(rtype, "deletes", str(exc))])

    def _search_cursor(self, cache: Cache, rtype: str) -> str | None:
        """The earliest search cursor of the type: deletes before it were of rows the search never returned."""
        rows = cache.db.conn.execute("SELECT value FROM sync_state WHERE (key = ? OR key LIKE ?) AND value != ''",
                                     (f"cursor:{rtype}", f"cursor:{rtype}:patient/%")).fetchall()
        instants = [v for (v,) in rows if _instant(v) is not None]
        return min(instants, key=lambda v: _instant(v)) if instants else None  # type: ignore[arg-type,return-value]

    def _deletes_from_history(self, cache: Cache, rtype: str) -> PullReport:
        key = DELETES_KEY.format(rtype)
        since = cache.get_state(key) or self._search_cursor(cache, rtype)
        newest: dict[str, tuple[str | None, bool, str | None]] = {}  # id → (when, deleted, version)
        seen = since
        page = self.client.history(rtype, since=since, count=self.page_size)
        while True:
            for entry in page.get("entry") or []:
                parsed = _history_entry(rtype, entry)
                if parsed is None:
                    continue
                rid, when, deleted, version = parsed
                seen = _later(seen, when)
                prior = newest.get(rid)
                # Newest first by the spec; the instants decide when a server orders otherwise.
                if prior is None or (when is not None and _later(prior[0], when) == when and when != prior[0]):
                    newest[rid] = (when, deleted, version)
            nxt = next_link(page)
            if nxt is None:
                break
            page = self.client.search_page(url=nxt)
        report = PullReport()
        with transaction(cache.db):
            for rid, (_when, deleted, version) in newest.items():
                if deleted:
                    self._apply_delete(cache, rtype, rid, version, report)
            if seen and seen != since:
                cache.set_state(key, seen)
        return report

    def _deletes_by_checking_ids(self, cache: Cache, rtype: str) -> PullReport:
        """Without type-level history: are the cached ids still there? (``_id`` search, then a read each.)"""
        key = CHECKED_KEY.format(rtype)
        last = _instant(cache.get_state(key))
        started = utc_now()
        started_t = _instant(started)
        if last is not None and started_t is not None and \
                (started_t - last).total_seconds() < self.delete_check_interval:
            return PullReport()
        sql = "SELECT id FROM resource WHERE type = ? AND deleted = 0 AND version IS NOT NULL"
        params: list[str] = [rtype]
        if self.patient_scope is not None and rtype not in PATIENTLESS:
            column = "id" if rtype == "Patient" else "patient"
            sql += f" AND {column} IN ({', '.join('?' * len(self.patient_scope))})"
            params += self.patient_scope
        ids = [rid for (rid,) in cache.db.conn.execute(sql + " ORDER BY id", params)]
        report = PullReport()
        history = "history-instance" in self._interactions(rtype)
        for n in range(0, len(ids), ID_CHUNK):
            chunk = ids[n:n + ID_CHUNK]
            found = {r.get("id") for r in self.client.search(rtype, {"_id": ",".join(chunk), "_count": len(chunk)})}
            for rid in (i for i in chunk if i not in found):
                try:
                    self.client.read(rtype, rid)
                    continue  # there after all (a search that hides it): keep it
                except (Gone, NotFound):
                    pass
                version = None
                if history:
                    try:
                        parsed = [_history_entry(rtype, e) for e in
                                  self.client.history(rtype, rid, count=1).get("entry") or []]
                        version = next((p[3] for p in parsed if p is not None and p[2]), None)
                    except (NotFound, Gone):
                        pass  # purged: no history left either
                with transaction(cache.db):
                    self._apply_delete(cache, rtype, rid, version, report)
        cache.set_state(key, started)
        return report

    def _apply_delete(self, cache: Cache, rtype: str, rid: str, version: str | None, report: PullReport) -> None:
        """One server delete: flag a clean row (kept, audited); a local edit becomes a conflict."""
        row = cache.row(rtype, rid)
        if row is None or row.deleted:
            return  # never cached, or already deleted here
        if cache.db.conn.execute("SELECT 1 FROM conflict WHERE type = ? AND id = ? AND resolved IS NULL "
                                 "AND server IS NULL", (rtype, rid)).fetchone():
            return  # already held against this delete
        candidate = cache.apply_server_delete(rtype, rid, version)
        if candidate is not None:
            cache.record_conflict(rtype, rid, None, version)
            report.conflicts.append((rtype, rid))
            self._note(f"conflict on {rtype}/{rid}: deleted on the server and changed here")
            return
        cache.audit.record("server", "sync", "deleted", rtype, rid, version, "deleted on the server (seen by a pull)")
        report.deleted.append((rtype, rid))

    # --- webhooks ---------------------------------------------------------------------------------

    def first_delivery(self, delivery_id: str) -> bool:
        """For :class:`~odonto_desk.api.webhooks.WebhookReceiver`'s ``first_time``: records the id durably."""
        with self._db() as cache:
            return not cache.seen_delivery(delivery_id)

    def on_webhook(self, event: Json) -> PullReport:
        """A ``odonto.treatment_plan.updated`` delivery: pull the patient it names."""
        gpid = event.get("patient_gpid")
        if not isinstance(gpid, str) or not gpid:
            self._note(f"webhook {event.get('event')!r} names no patient")
            return PullReport()
        try:
            found = list(self.client.search("Patient", {"identifier": f"{GPID_SYSTEM}|{gpid}"}))
        except ApiError as exc:
            return PullReport(stopped=self._stopped_by(exc))
        report = PullReport()
        for patient in found:
            if isinstance(patient.get("id"), str):
                report.merge(self.pull_patient(patient["id"]))
        self.webhooks_applied += 1
        return report

    # --- the whole cycle and its status --------------------------------------------------------

    def run_once(self) -> SyncReport:
        """Push, then pull; the pull waits for a push that could not finish (its answers may still come)."""
        with self._lock:
            pushed = self.push()
            if pushed.stopped:
                return SyncReport(pushed, None)
            pulled = self.pull()
            if not pulled.stopped:
                with self._db() as cache:
                    cache.set_state(LAST_SYNC_KEY, utc_now())
            return SyncReport(pushed, pulled)

    def status(self, *, probe: bool = True) -> SyncStatus:
        """The connection state (probed now unless ``probe`` is False), the queue and the latest errors."""
        state = self._state
        if probe:
            try:
                body, self._latency = self.client.status()
                healthy = body.get("status") == "operational" and self._latency < SLOW_PROBE_MS
                if self._state == "unauthorized":
                    state = "unauthorized"  # the probe proves the server is up, not that it takes us
                else:
                    state = "online" if healthy and self._state != "degraded" else "degraded"
            except NetworkError:
                state, self._latency = "offline", None
            except AuthError:
                state = self._state = "unauthorized"
            except ApiError:
                state = "degraded"
        with self._db() as cache:
            queued = cache.db.conn.execute(
                "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')").fetchone()[0]
            conflicts = len(cache.open_conflicts())
            last = cache.get_state(LAST_SYNC_KEY)
        return SyncStatus(state, self._latency, int(queued), last, conflicts, tuple(self._errors))

    def start(self, interval: float = 30.0) -> None:
        """Sync every ``interval`` seconds on a background thread (its own cache connection)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(interval,), name="odonto-sync", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Sync now instead of at the next interval."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self, interval: float) -> None:
        self._local.cache = Cache(self.cache.path)
        try:
            while not self._stop.is_set():
                try:
                    self.run_once()
                except Exception as exc:  # the loop must outlive any one failure; it is reported
                    self._note(f"sync failed: {type(exc).__name__}: {exc}")
                self._wake.wait(interval)
                self._wake.clear()
        finally:
            self._local.cache.close()
            self._local.cache = None
