"""A real reference server on a loopback port with a real SQLite file, per test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from odonto_desk.sandbox.app import ServerConfig
from odonto_desk.sandbox.runner import RunningServer, start_in_thread

GPID = "APX-1A2B3C4D"


@pytest.fixture
def sandbox(tmp_path) -> Iterator[RunningServer]:
    running = start_in_thread(ServerConfig(db_path=tmp_path / "apex.sqlite"))
    try:
        yield running
    finally:
        running.stop()


def token_for(base_url: str, role: str, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials", "client_id": f"demo-{role.replace('_', '-')}",
            "client_secret": f"sandbox-secret-{role.replace('_', '-')}"}
    if scope:
        data["scope"] = scope
    r = httpx.post(f"{base_url}/oauth/token", data=data)
    r.raise_for_status()
    return r.json()["access_token"]


@pytest.fixture
def client_for(sandbox):
    """``client_for(role)`` → an httpx client on the FHIR base with that role's bearer token."""
    made: list[httpx.Client] = []

    def make(role: str = "admin", *, gpid: str | None = GPID, scope: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token_for(sandbox.base_url, role, scope)}",
                   "Accept": "application/fhir+json"}
        if gpid:
            headers["X-Apex-GPID"] = gpid
        c = httpx.Client(base_url=sandbox.fhir_base, headers=headers, timeout=10)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
