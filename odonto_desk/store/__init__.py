"""The offline cache (SQLite): resources, the outbox of pending writes, conflicts, sync state, audit.

The only layer that speaks SQL. Start at :class:`odonto_desk.store.cache.Cache`.

The names below are loaded when first used (PEP 562), so that importing one small module of the
package (``store.peek``, what a cold start's first frame reads) does not bring in the cache.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOME = {
    "AuditEntry": "audit", "AuditLog": "audit",
    "Cache": "cache", "CachedResource": "cache", "Conflict": "cache", "ConflictCandidate": "cache",
    "PutResult": "cache", "ResourceDeleted": "cache", "StoreError": "cache", "UnknownResource": "cache",
    "Outbox": "outbox", "OutboxEntry": "outbox", "OutboxError": "outbox", "PushItem": "outbox", "squash": "outbox",
}

__all__ = [
    "AuditEntry", "AuditLog", "Cache", "CachedResource", "Conflict", "ConflictCandidate", "Outbox", "OutboxEntry",
    "OutboxError", "PushItem", "PutResult", "ResourceDeleted", "StoreError", "UnknownResource", "squash",
]
assert sorted(__all__) == sorted(_HOME)


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
