"""A signed-in session: who is working, on which server, with which cache file.

Plain blocking Python, no Qt. The UI builds one :class:`Session` after sign-in and hands it to the
services; background ops call the services from worker threads, so the session gives each thread
its own cache connection (SQLite connections are not shared across threads).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from odonto_desk.store.peek import StatePeek

# The cache, the HTTP client, the secret store and the sync engine are imported when first used, not
# at start: the app shows the cached chart before it needs any of them (see the cold_start benchmark).
if TYPE_CHECKING:
    from odonto_desk.api.auth import Credentials
    from odonto_desk.api.client import ApexClient
    from odonto_desk.store.cache import Cache
    from odonto_desk.store.secrets import SecretStore
    from odonto_desk.store.sync import SyncEngine, SyncStatus

SECRET_SERVICE = "odonto-desk"


class Role(enum.StrEnum):
    DENTIST = "dentist"
    HYGIENIST = "hygienist"
    FRONT_DESK = "front-desk"

    @property
    def label(self) -> str:
        return {Role.DENTIST: "Dentist", Role.HYGIENIST: "Hygienist", Role.FRONT_DESK: "Front desk"}[self]


# The reference server's published demo clients (README); used only for a loopback server.
DEMO_CLIENTS = {
    Role.DENTIST: ("demo-dentist", "sandbox-secret-dentist"),
    Role.HYGIENIST: ("demo-hygienist", "sandbox-secret-hygienist"),
    Role.FRONT_DESK: ("demo-front-desk", "sandbox-secret-front-desk"),
}


@dataclass(frozen=True)
class Server:
    """Where the data lives. ``base_url`` is an Apex server; ``fhir_base`` alone a plain FHIR server."""

    base_url: str | None
    fhir_base: str | None = None
    embedded: bool = False

    @property
    def is_loopback(self) -> bool:
        host = urlparse(self.base_url or self.fhir_base or "").hostname or ""
        return host in ("127.0.0.1", "localhost", "::1")

    @property
    def label(self) -> str:
        where = self.base_url or self.fhir_base or "?"
        return f"embedded reference server ({where})" if self.embedded else where


@dataclass(frozen=True)
class User:
    name: str
    role: Role


class CredentialsMissing(Exception):
    """No stored credentials for this server and role (and it is not a loopback demo server)."""


def credentials_for(server: Server, role: Role, secrets: SecretStore | None = None) -> Credentials:
    """OAuth client credentials asking only for the role's scopes (least privilege).

    Stored secrets win; a loopback server falls back to the reference server's demo clients.
    """
    from odonto_desk.api.auth import ApiKey, ClientCredentials
    from odonto_desk.store.secrets import SecretStore

    if server.base_url is None:
        raise CredentialsMissing("a plain FHIR server needs a token; sign in to an Apex server instead")
    store = secrets or SecretStore()
    key = f"{server.base_url}|{role.value}"
    api_key = store.load(SECRET_SERVICE, key + "|api-key")
    if api_key:
        return ApiKey(api_key)
    client_id = store.load(SECRET_SERVICE, key + "|client-id")
    client_secret = store.load(SECRET_SERVICE, key + "|client-secret")
    if not (client_id and client_secret):
        if not server.is_loopback:
            raise CredentialsMissing(f"no credentials stored for {role.label} on {server.base_url}")
        client_id, client_secret = DEMO_CLIENTS[role]
    return ClientCredentials.for_role(f"{server.base_url}/oauth/token", client_id, client_secret,
                                      _scope_role(role))


def _scope_role(role: Role) -> str:
    return "front_desk" if role is Role.FRONT_DESK else role.value


class Session:
    """One user on one server with one cache file. Safe to use from any thread."""

    def __init__(self, user: User, server: Server, cache_path: str | Path, *,
                 credentials: Credentials | None = None, today: dt.date | None = None) -> None:
        self.user = user
        self._today = today
        self.server = server
        self.cache_path = Path(cache_path)
        self._credentials = credentials
        self._local = threading.local()
        self._lock = threading.Lock()
        self._caches: list[Cache] = []
        self._client: ApexClient | None = None
        self._engine: SyncEngine | None = None

    def today(self) -> dt.date:
        """The practice's day: every service dates new work by it (a test or a replay fixes it)."""
        return self._today or dt.date.today()

    def may_write(self, resource_type: str) -> bool:
        """Whether this user's role asks the server for the scope to write ``resource_type``.

        The server decides; this is what a screen uses to offer an edit it would refuse later (a
        front-desk user changing a medical alert) as read-only, with the reason, instead."""
        from odonto_desk.api.auth import ROLE_SCOPES

        scopes = ROLE_SCOPES.get(_scope_role(self.user.role), ())
        return f"system/{resource_type}.write" in scopes or "system/*.write" in scopes

    # --- per-thread cache ----------------------------------------------------------------------

    def peek(self) -> StatePeek:
        """The cache file's state, read without opening the cache: the first frame of a cold start."""
        return StatePeek(self.cache_path)

    def cache(self) -> Cache:
        """This thread's connection to the cache file."""
        cache = getattr(self._local, "cache", None)
        if cache is None:
            from odonto_desk.store.cache import Cache

            cache = Cache(self.cache_path)
            self._local.cache = cache
            with self._lock:
                self._caches.append(cache)
        return cache

    # --- server ----------------------------------------------------------------------------------

    def client(self) -> ApexClient:
        from odonto_desk.api.client import ApexClient

        with self._lock:
            if self._client is None:
                creds = self._credentials or credentials_for(self.server, self.user.role)
                self._client = ApexClient(self.server.base_url, fhir_base=self.server.fhir_base,
                                          credentials=creds, retries=2, timeout=10.0)
            return self._client

    def sync(self) -> SyncEngine:
        """The sync engine (built on first use; its loop runs on its own thread once started)."""
        with self._lock:
            engine = self._engine
        if engine is None:
            from odonto_desk.store.sync import SyncEngine

            client = self.client()
            with self._lock:
                if self._engine is None:
                    from odonto_desk.store.cache import Cache

                    self._engine = SyncEngine(Cache(self.cache_path), client)
                engine = self._engine
        return engine

    def sync_status(self, *, probe: bool = True) -> SyncStatus:
        return self.sync().status(probe=probe)

    def close(self) -> None:
        """Stop syncing and close every connection (call once, at sign-out or exit)."""
        with self._lock:
            engine, self._engine = self._engine, None
            client, self._client = self._client, None
            caches, self._caches = self._caches, []
        if engine is not None:
            engine.stop(timeout=10)
            caches.append(engine.cache)
        if client is not None:
            client.close()
        for cache in caches:
            with contextlib.suppress(Exception):  # a connection made on another thread: SQLite closes it at exit
                cache.close()
