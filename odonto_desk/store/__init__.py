"""The offline cache (SQLite): resources, the outbox of pending writes, conflicts, sync state, audit.

The only layer that speaks SQL. Start at :class:`odonto_desk.store.cache.Cache`.
"""

from odonto_desk.store.audit import AuditEntry, AuditLog
from odonto_desk.store.cache import (
    Cache,
    CachedResource,
    Conflict,
    ConflictCandidate,
    PutResult,
    ResourceDeleted,
    StoreError,
    UnknownResource,
)
from odonto_desk.store.outbox import Outbox, OutboxEntry, OutboxError, PushItem, squash

__all__ = [
    "AuditEntry",
    "AuditLog",
    "Cache",
    "CachedResource",
    "Conflict",
    "ConflictCandidate",
    "Outbox",
    "OutboxEntry",
    "OutboxError",
    "PushItem",
    "PutResult",
    "ResourceDeleted",
    "StoreError",
    "UnknownResource",
    "squash",
]
