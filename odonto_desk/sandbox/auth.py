"""Authentication and scopes of the reference server.

* OAuth2 client credentials: ``POST /oauth/token`` with ``grant_type=client_credentials``
  (client id and secret in the form or HTTP Basic) gives a short-lived opaque bearer token.
  A client may ask for fewer scopes than its role has (least privilege), never more.
* API keys: ``X-API-Key: <key>`` carries the role's full scopes.

Scopes follow SMART's ``system/<Type>.<read|write>`` for FHIR and ``odonto/<operation>.write``
for the operational endpoints. Only hashes of secrets, keys and tokens are stored.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from odonto_desk.sandbox.outcome import ApiError

TOKEN_TTL = dt.timedelta(minutes=5)  # the default; ServerConfig.token_ttl sets a server's own

READ_ALL = "system/*.read"
_CLINICAL = ("Condition", "Procedure", "Observation", "CarePlan", "ServiceRequest", "Encounter")
_FRONT = ("Patient", "Coverage", "Claim", "ClaimResponse", "ChargeItem", "ServiceRequest", "Task", "ImagingStudy",
          "DocumentReference", "Binary", "Procedure", "Organization", "Practitioner", "Encounter")

ROLE_SCOPES: dict[str, frozenset[str]] = {
    "dentist": frozenset({READ_ALL, *(f"system/{t}.write" for t in _CLINICAL),
                          "odonto/chart.write", "odonto/treatment-plans.write", "odonto/procedures.write",
                          "odonto/lab.write", "odonto/imaging.write", "odonto/webhooks.write"}),
    "hygienist": frozenset({READ_ALL, "system/Observation.write", "system/Encounter.write",
                            "odonto/chart.write", "odonto/imaging.write"}),
    "front_desk": frozenset({READ_ALL, *(f"system/{t}.write" for t in _FRONT), "odonto/procedures.write",
                             "odonto/lab.write", "odonto/imaging.write", "odonto/webhooks.write"}),
    "read_only": frozenset({READ_ALL}),
    "admin": frozenset({READ_ALL, "system/*.write", "odonto/*.write", "odonto/admin"}),
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS auth_client (
    client_id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, api_key_hash TEXT UNIQUE, role TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_token (
    token_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, scopes TEXT NOT NULL, issued TEXT NOT NULL,
    expires TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0
);
"""


def _h(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling and what they may do."""

    client_id: str
    role: str
    scopes: frozenset[str]
    via: str  # "token" or "api-key"

    def allows(self, scope: str) -> bool:
        if scope in self.scopes:
            return True
        kind, _, rest = scope.partition("/")
        _, _, action = rest.rpartition(".")
        return f"{kind}/*.{action}" in self.scopes or (kind == "odonto" and "odonto/*.write" in self.scopes
                                                       and action == "write")

    def require(self, scope: str) -> None:
        if not self.allows(scope):
            raise ApiError(403, "forbidden", f"the {self.role} role's token has no scope {scope}")


@dataclass(frozen=True)
class DemoClient:
    client_id: str
    secret: str
    api_key: str
    role: str


def demo_clients() -> list[DemoClient]:
    """The sandbox's fixed demo credentials, one client per role (documented in the README)."""
    return [DemoClient(f"demo-{role.replace('_', '-')}", f"sandbox-secret-{role.replace('_', '-')}",
                       f"apx_sandbox_{role}_key", role) for role in ROLE_SCOPES]


class Auth:
    def __init__(self, conn: sqlite3.Connection, *, clock: Callable[[], dt.datetime],
                 token_ttl: dt.timedelta = TOKEN_TTL) -> None:
        if token_ttl < dt.timedelta(seconds=1):
            raise ValueError("a token lives at least one second (expires_in is whole seconds)")
        self._conn = conn
        self._clock = clock
        self.token_ttl = token_ttl
        conn.executescript(_SCHEMA)

    def register(self, client_id: str, secret: str, role: str, api_key: str | None = None) -> None:
        if role not in ROLE_SCOPES:
            raise ValueError(f"unknown role {role!r}")
        self._conn.execute(
            "INSERT OR REPLACE INTO auth_client VALUES (?,?,?,?,1,?)",
            (client_id, _h(secret), _h(api_key) if api_key else None, role, self._clock().isoformat()))

    def ensure_demo_clients(self) -> list[DemoClient]:
        clients = demo_clients()
        for c in clients:
            self.register(c.client_id, c.secret, c.role, c.api_key)
        return clients

    def issue_token(self, client_id: str, secret: str, requested: Iterable[str] | None) -> dict[str, object]:
        row = self._conn.execute("SELECT secret_hash, role, active FROM auth_client WHERE client_id=?",
                                 (client_id,)).fetchone()
        if row is None or not row[2] or not hmac.compare_digest(row[0], _h(secret)):
            raise ApiError(401, "login", "unknown client or wrong secret",
                           headers={"WWW-Authenticate": 'Basic realm="apex-odonto"'})
        role_scopes = ROLE_SCOPES[row[1]]
        wanted = frozenset(requested) if requested else role_scopes
        extra = sorted(s for s in wanted if not Principal(client_id, row[1], role_scopes, "token").allows(s))
        if extra:
            raise ApiError(400, "forbidden", f"scope(s) not granted to the {row[1]} role: {' '.join(extra)}")
        token = secrets.token_urlsafe(32)
        now = self._clock()
        self._conn.execute("INSERT INTO auth_token VALUES (?,?,?,?,?,0)",
                           (_h(token), client_id, " ".join(sorted(wanted)), now.isoformat(),
                            (now + self.token_ttl).isoformat()))
        return {"access_token": token, "token_type": "Bearer", "expires_in": int(self.token_ttl.total_seconds()),
                "scope": " ".join(sorted(wanted))}

    def set_active(self, client_id: str, active: bool) -> None:
        """Revoke a client's credentials (its secret, API key and every token it holds) or restore them."""
        if self._conn.execute("UPDATE auth_client SET active=? WHERE client_id=?",
                              (int(active), client_id)).rowcount != 1:
            raise KeyError(client_id)

    def revoke(self, token: str) -> None:
        self._conn.execute("UPDATE auth_token SET revoked=1 WHERE token_hash=?", (_h(token),))

    def authenticate(self, authorization: str | None, api_key: str | None) -> Principal:
        if api_key:
            row = self._conn.execute("SELECT client_id, role, active FROM auth_client WHERE api_key_hash=?",
                                     (_h(api_key),)).fetchone()
            if row is None or not row[2]:
                raise ApiError(401, "login", "unknown API key")
            return Principal(row[0], row[1], ROLE_SCOPES[row[1]], "api-key")
        if not authorization:
            raise ApiError(401, "login", "credentials required: a bearer token or an X-API-Key header",
                           headers={"WWW-Authenticate": 'Bearer realm="apex-odonto"'})
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise ApiError(401, "login", "use 'Authorization: Bearer <token>'",
                           headers={"WWW-Authenticate": 'Bearer realm="apex-odonto"'})
        row = self._conn.execute(
            "SELECT t.client_id, t.scopes, t.expires, t.revoked, c.role, c.active FROM auth_token t "
            "JOIN auth_client c ON c.client_id=t.client_id WHERE t.token_hash=?", (_h(value.strip()),)).fetchone()
        if row is None:
            raise ApiError(401, "login", "unknown token",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        client_id, scopes, expires, revoked, role, active = row
        if revoked or not active:
            raise ApiError(401, "login", "the token was revoked",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if dt.datetime.fromisoformat(expires) <= self._clock():
            raise ApiError(401, "expired", "the token has expired; request a new one",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return Principal(client_id, role, frozenset(scopes.split()), "token")


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    cid, sep, secret = raw.partition(":")
    return (cid, secret) if sep else None
