"""What the status bar and the conflicts panel ask of sync. Plain blocking Python, no Qt."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from odonto_desk.services.session import Session


@dataclass(frozen=True)
class SyncBadge:
    """The status bar's facts, ready to show."""

    state: Literal["online", "degraded", "offline", "local"]
    latency_ms: float | None
    queued: int
    last_sync: str | None
    conflicts: int
    last_error: str | None

    @property
    def text(self) -> str:
        parts = [{"online": "Online", "degraded": "Degraded", "offline": "Offline — working locally",
                  "local": "No server"}[self.state]]
        if self.latency_ms is not None and self.state != "offline":
            parts.append(f"{self.latency_ms:.0f} ms")
        parts.append(f"{self.queued} queued" if self.queued else "all sent")
        if self.conflicts:
            parts.append(f"{self.conflicts} conflict{'s' if self.conflicts != 1 else ''}")
        if self.last_sync:
            parts.append("synced " + self.last_sync[11:16] + " UTC")
        return " · ".join(parts)


@dataclass(frozen=True)
class ConflictRow:
    id: int
    what: str  # "Condition/abc"
    mine: str  # short JSON of the local edit
    theirs: str  # short JSON of the server's version
    server_version: str | None


class SyncService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def start(self, interval: float = 30.0) -> None:
        self.session.sync().start(interval)

    def badge(self, *, probe: bool = True) -> SyncBadge:
        s = self.session.sync_status(probe=probe)
        return SyncBadge(s.state, s.latency_ms, s.queued, s.last_sync, s.conflicts,
                         s.errors[0] if s.errors else None)

    def sync_now(self) -> SyncBadge:
        self.session.sync().run_once()
        return self.badge(probe=False)

    def conflicts(self) -> list[ConflictRow]:
        cache = self.session.cache()
        return [ConflictRow(c.cid, f"{c.type}/{c.id}", _short(c.local), _short(c.server), c.server_version)
                for c in cache.open_conflicts()]

    def resolve(self, conflict_id: int, keep: Literal["mine", "theirs"]) -> None:
        user = self.session.user
        self.session.cache().resolve(conflict_id, keep, user.name, user.role.value)
        self.session.sync().wake()


def _short(resource: object) -> str:
    if resource is None:
        return "(deleted)"
    text = json.dumps(resource, sort_keys=True)
    return text if len(text) < 400 else text[:400] + " …"
