"""Credentials for the Apex API: OAuth2 client credentials (token cached and refreshed before it
expires) or an API key. The scopes asked for follow the signed-in role (least privilege)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from odonto_desk.api.errors import AuthError, NetworkError, error_for

_READ = "system/*.read"
# What each role needs, and nothing more.
ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    "dentist": (_READ, "system/Condition.write", "system/Procedure.write", "system/Observation.write",
                "system/CarePlan.write", "system/ServiceRequest.write", "system/Encounter.write",
                "odonto/chart.write", "odonto/treatment-plans.write", "odonto/procedures.write", "odonto/lab.write",
                "odonto/imaging.write", "odonto/webhooks.write"),
    "hygienist": (_READ, "system/Observation.write", "system/Encounter.write", "odonto/chart.write",
                  "odonto/imaging.write"),
    "front_desk": (_READ, "system/Patient.write", "system/Coverage.write", "system/Claim.write",
                   "system/ChargeItem.write", "system/Procedure.write", "system/ServiceRequest.write",
                   "system/Task.write", "system/ImagingStudy.write", "system/DocumentReference.write",
                   "system/Binary.write", "odonto/procedures.write", "odonto/lab.write", "odonto/imaging.write",
                   "odonto/webhooks.write"),
    "read_only": (_READ,),
}
REFRESH_MARGIN = 30.0  # seconds before expiry a token is replaced…
REFRESH_SHARE = 0.2  # …or this share of its lifetime, when that is shorter (a 10 s token lasts 8 s)


class Credentials:
    """Adds credentials to a request; ``invalidate`` after a 401 forces a fresh token."""

    def headers(self, http: httpx.Client) -> dict[str, str]:
        raise NotImplementedError

    def invalidate(self) -> None:  # pragma: no cover - API keys have nothing to refresh
        pass


@dataclass
class ApiKey(Credentials):
    key: str

    def headers(self, http: httpx.Client) -> dict[str, str]:
        return {"X-API-Key": self.key}


@dataclass
class NoAuth(Credentials):
    """For open FHIR servers (``--fhir-base`` with no credentials)."""

    def headers(self, http: httpx.Client) -> dict[str, str]:
        return {}


@dataclass
class StaticToken(Credentials):
    token: str

    def headers(self, http: httpx.Client) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class ClientCredentials(Credentials):
    """OAuth2 client credentials. Thread-safe: one token request at a time, shared by all."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = ()
    clock: Callable[[], float] = time.monotonic
    _token: str | None = field(default=None, repr=False)
    _expires: float = 0.0
    _refresh_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def for_role(cls, token_url: str, client_id: str, client_secret: str, role: str) -> ClientCredentials:
        return cls(token_url, client_id, client_secret, ROLE_SCOPES[role])

    @property
    def granted_scopes(self) -> tuple[str, ...]:
        return self.scopes

    def headers(self, http: httpx.Client) -> dict[str, str]:
        with self._lock:
            if self._token is None or self.clock() >= self._refresh_at:
                self._fetch(http)
            return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _fetch(self, http: httpx.Client) -> None:
        data = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret}
        if self.scopes:
            data["scope"] = " ".join(self.scopes)
        try:
            r = http.post(self.token_url, data=data)
        except httpx.HTTPError as exc:
            raise NetworkError(f"token endpoint unreachable: {exc}") from exc
        if r.status_code != 200:
            try:
                body = r.json()
            except ValueError:
                body = None
            err = error_for(r.status_code, body)
            raise AuthError(f"token refused: {err.message}", status=r.status_code)
        payload = r.json()
        self._token = payload["access_token"]
        # Replaced shortly before it expires; a token found expired anyway (a clock that stood still
        # through a suspend, a slow link) is answered with 401, and the client re-authenticates then.
        lifetime = max(0.0, float(payload.get("expires_in", 300)))
        now = self.clock()
        self._expires = now + lifetime
        self._refresh_at = self._expires - min(REFRESH_MARGIN, lifetime * REFRESH_SHARE)
        granted = tuple(str(payload.get("scope", "")).split())
        if granted:
            self.scopes = granted
