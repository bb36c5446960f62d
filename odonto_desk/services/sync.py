"""What the status bar and the conflicts panel ask of sync. Plain blocking Python, no Qt.

Live refresh: :meth:`SyncService.start_webhooks` runs a loopback receiver for the server's
``odonto.treatment_plan.updated`` deliveries, applies each through the sync engine (a pull of the
patient it names) and tells the caller which patient changed. The 30 s pull stays as the fallback
for whatever a lost delivery would have said.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from odonto_desk.domain.teeth import NumberingSystem
from odonto_desk.fhir.codes import GPID_SYSTEM
from odonto_desk.services.session import SECRET_SERVICE, Session
from odonto_desk.store.cache import Cache

if TYPE_CHECKING:
    from odonto_desk.api.webhooks import WebhookReceiver
    from odonto_desk.store.secrets import SecretStore

log = logging.getLogger(__name__)
PLAN_UPDATED = "odonto.treatment_plan.updated"
SUBSCRIPTION_STATE = "webhook:subscription"  # our current subscription's id on the server (not a secret)


@dataclass(frozen=True)
class SyncBadge:
    """The status bar's facts, ready to show."""

    state: Literal["online", "degraded", "offline", "unauthorized", "local"]
    latency_ms: float | None
    queued: int
    last_sync: str | None
    conflicts: int
    last_error: str | None

    @property
    def text(self) -> str:
        parts = [{"online": "Online", "degraded": "Degraded", "offline": "Offline — working locally",
                  "unauthorized": "Sign-in refused by the server — working locally", "local": "No server"}[self.state]]
        if self.latency_ms is not None and self.state not in ("offline", "unauthorized"):
            parts.append(f"{self.latency_ms:.0f} ms")
        parts.append(f"{self.queued} queued" if self.queued else "all sent")
        if self.conflicts:
            parts.append(f"{self.conflicts} conflict{'s' if self.conflicts != 1 else ''}")
        if self.last_sync:
            parts.append("synced " + self.last_sync[11:16] + " UTC")
        return " · ".join(parts)


@dataclass(frozen=True)
class ConflictChange:
    """One element on which the local edit and the server's version disagree, in words."""

    element: str  # "status", "note", "tooth"…
    mine: str  # "completed"; "—" when the local edit does not have it
    theirs: str


@dataclass(frozen=True)
class ConflictRow:
    id: int
    what: str  # "Condition/abc"
    mine: str  # short JSON of the local edit
    theirs: str  # short JSON of the server's version
    server_version: str | None
    title: str = ""  # what the record is, for a person: "Tooth 19 zirconia crown D2740 (planned work)"
    changes: tuple[ConflictChange, ...] = ()  # where the two versions differ (meta left out)


@dataclass
class WebhookLink:
    """A running receiver and the server subscription that feeds it."""

    receiver: WebhookReceiver
    subscription_id: str

    @property
    def url(self) -> str:
        return self.receiver.url

    def stop(self) -> None:
        self.receiver.stop()


class SyncService:
    def __init__(self, session: Session, *, secret_store: SecretStore | None = None) -> None:
        self.session = session
        self.secret_store = secret_store  # where the webhook secret is kept (default: the OS keyring or file)

    def start(self, interval: float = 30.0) -> None:
        self.session.sync().start(interval)

    def start_webhooks(self, on_patient: Callable[[str], None], *, secret_store: SecretStore | None = None,
                       host: str = "127.0.0.1", port: int = 0) -> WebhookLink:
        """Receive plan changes as they happen; ``on_patient(patient_id)`` runs on a receiver thread.

        The signing secret is made once and kept in the secret store (never logged); each start
        subscribes the new receiver address and deactivates the previous subscription, so a server
        never keeps posting to a port this app no longer listens on.
        """
        from odonto_desk.api.webhooks import WebhookReceiver

        engine = self.session.sync()
        client = self.session.client()
        secret = self._webhook_secret(secret_store)

        def deliver(event: dict[str, Any]) -> None:
            try:
                engine.on_webhook(event)
                for pid in self._patients_with_gpid(event.get("patient_gpid")):
                    on_patient(pid)
            except Exception as exc:  # the receiver thread must answer; the 30 s pull catches up
                log.warning("webhook %s not applied: %s", event.get("event"), type(exc).__name__)

        receiver = WebhookReceiver(lambda: [secret], engine.first_delivery, deliver, host=host, port=port).start()
        try:
            answer = client.subscribe_webhook(receiver.url, [PLAN_UPDATED], secret=secret)
        except Exception:
            receiver.stop()
            raise
        cache = self.session.cache()
        previous = cache.get_state(SUBSCRIPTION_STATE)
        if previous and previous != answer["id"]:
            with contextlib.suppress(Exception):  # already gone, or another key's: nothing to undo
                client.deactivate_webhook(previous)
        cache.set_state(SUBSCRIPTION_STATE, str(answer["id"]))
        return WebhookLink(receiver, str(answer["id"]))

    def start_live_refresh(self, on_patient: Callable[[str], None]) -> WebhookLink | None:
        """:meth:`start_webhooks`, or None when the server or our scopes do not allow it (the pull remains)."""
        try:
            return self.start_webhooks(on_patient)
        except Exception as exc:
            log.warning("no live refresh (webhooks unavailable): %s: %s", type(exc).__name__, exc)
            return None

    def _webhook_secret(self, store: SecretStore | None) -> str:
        from odonto_desk.store.secrets import SecretStore

        store = store or self.secret_store or SecretStore()
        name = f"{self.session.server.base_url}|{self.session.user.role.value}|webhook-secret"
        secret = store.load(SECRET_SERVICE, name)
        if not secret:
            secret = "whsec_" + secrets.token_urlsafe(32)
            store.store(SECRET_SERVICE, name, secret)
        return secret

    def _patients_with_gpid(self, gpid: object) -> list[str]:
        """Local patient ids for a GPID (its own connection: called on a receiver thread)."""
        if not isinstance(gpid, str) or not gpid:
            return []
        with Cache(self.session.cache_path) as cache:
            return [p["id"] for p in cache.of_type("Patient")
                    if any(i.get("system") == GPID_SYSTEM and i.get("value") == gpid for i in p.get("identifier") or [])]

    def badge(self, *, probe: bool = True) -> SyncBadge:
        s = self.session.sync_status(probe=probe)
        return SyncBadge(s.state, s.latency_ms, s.queued, s.last_sync, s.conflicts,
                         s.errors[0] if s.errors else None)

    def sync_now(self) -> SyncBadge:
        self.session.sync().run_once()
        return self.badge(probe=False)

    def conflicts(self, numbering: NumberingSystem = NumberingSystem.UNIVERSAL) -> list[ConflictRow]:
        cache = self.session.cache()
        return [ConflictRow(c.cid, f"{c.type}/{c.id}", _short(c.local), _short(c.server), c.server_version,
                            conflict_title(c.type, c.local, c.server, numbering), conflict_changes(c.local, c.server))
                for c in cache.open_conflicts()]

    def resolve(self, conflict_id: int, keep: Literal["mine", "theirs"]) -> None:
        user = self.session.user
        self.session.cache().resolve(conflict_id, keep, user.name, user.role.value)
        self.session.sync().wake()


# What each synced type holds, in the words of the screens that show it.
_TYPE_WORDS = {"Condition": "finding", "Procedure": "completed or existing work", "ServiceRequest": "planned work",
               "CarePlan": "treatment plan", "Observation": "perio value", "Task": "lab case",
               "DeviceRequest": "lab order", "Claim": "claim", "ChargeItem": "ledger line",
               "DocumentReference": "image", "ImagingStudy": "image", "Patient": "patient details",
               "Coverage": "insurance coverage", "Consent": "consent"}
_ELEMENT_WORDS = {"bodySite": "tooth", "note": "note", "status": "status", "code": "procedure code",
                  "extension": "tooth and surfaces", "performedDateTime": "date", "occurrenceDateTime": "date",
                  "onsetDateTime": "date", "valueQuantity": "value", "valueInteger": "value",
                  "clinicalStatus": "clinical status", "verificationStatus": "verification"}
_IGNORED = frozenset({"meta", "id", "resourceType", "text"})
_MAX_WORDS = 90


def conflict_title(rtype: str, local: object, server: object, numbering: NumberingSystem) -> str:
    """What the conflicting record is, as a person would name it: the chart mark for a tooth-bound one."""
    words = _TYPE_WORDS.get(rtype, rtype)
    resource = server if isinstance(server, dict) else local
    if isinstance(resource, dict) and rtype in ("Condition", "Procedure", "ServiceRequest"):
        from odonto_desk.fhir.errors import FhirMappingError
        from odonto_desk.fhir.resources.chart import read_mark

        with contextlib.suppress(FhirMappingError, ValueError):
            m = read_mark(resource)
            parts = [f"Tooth {m.tooth.format(numbering)}", m.surface_string,
                     m.material.value if m.material else "", m.kind.value, m.code or ""]
            return f"{' '.join(p for p in parts if p)} ({words})"
    return words[:1].upper() + words[1:]


def conflict_changes(local: object, server: object) -> tuple[ConflictChange, ...]:
    """The top-level elements the two versions disagree on, each value in words (a deletion is "deleted")."""
    if not isinstance(local, dict) or not isinstance(server, dict):
        return (ConflictChange("record", "deleted" if local is None else "kept", "deleted" if server is None
                               else "kept"),)
    out = []
    for key in sorted((set(local) | set(server)) - _IGNORED):
        if local.get(key) != server.get(key):
            out.append(ConflictChange(_ELEMENT_WORDS.get(key, _words(key)), _plain(local.get(key)),
                                      _plain(server.get(key))))
    return tuple(out)


def _words(key: str) -> str:
    """``performedPeriod`` → ``performed period``."""
    return "".join(f" {c.lower()}" if c.isupper() else c for c in key).strip()


def _plain(value: object) -> str:
    """An element's value as short text: a note's words, a code's display, a reference, a quantity."""
    text = _plain_inner(value)
    return "—" if not text else (text if len(text) <= _MAX_WORDS else text[: _MAX_WORDS - 1] + "…")


def _plain_inner(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, list):
        return "; ".join(t for t in (_plain_inner(v) for v in value) if t)
    if isinstance(value, dict):
        for key in ("text", "display", "reference"):
            if isinstance(value.get(key), str) and value[key]:
                return str(value[key])
        if "coding" in value:
            return _plain_inner(value["coding"])
        if "code" in value and not isinstance(value["code"], (dict, list)):
            return str(value["code"])
        if "value" in value and not isinstance(value["value"], (dict, list)):
            unit = value.get("unit")
            return f"{value['value']} {unit}" if unit else str(value["value"])
        for key, inner in value.items():  # an extension: its value[x], whatever its type
            if key.startswith("value"):
                return _plain_inner(inner)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _short(resource: object) -> str:
    if resource is None:
        return "(deleted)"
    text = json.dumps(resource, sort_keys=True)
    return text if len(text) < 400 else text[:400] + " …"
