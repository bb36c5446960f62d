"""Shared test set-up: Qt offscreen, hypothesis profiles, the reference examples."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest
from helpers import DENTIST_KEY, EXAMPLES_DIR, GPID, session_on, token_for
from hypothesis import HealthCheck, settings

from odonto_desk.api.auth import ApiKey
from odonto_desk.sandbox.app import ServerConfig
from odonto_desk.sandbox.runner import start_in_thread
from odonto_desk.sandbox.seed import seed_demo_if_empty
from odonto_desk.services.session import Role, Server, Session, User

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# A copy of shared/reference/fhir-examples lives in tests/data so the tests do not depend on shared/.


@pytest.fixture
def load_example():
    def _load(name: str) -> dict:
        return json.loads((EXAMPLES_DIR / name).read_text(encoding="utf-8"))

    return _load


# --- a real reference server on a loopback port with a real SQLite file, per test ---------------


@pytest.fixture
def sandbox(tmp_path) -> Iterator:
    running = start_in_thread(ServerConfig(db_path=tmp_path / "apex.sqlite"))
    try:
        yield running
    finally:
        running.stop()


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


# --- a seeded reference server per module, and a signed-in session on a copy of a synced cache -----
# The server (demo patients seeded) and one synced cache are made once per module; each test gets
# its own copy of that cache file (SQLite's backup API), so tests stay independent and fast.


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("apex")
    running = start_in_thread(ServerConfig(db_path=folder / "apex.sqlite"))
    seed_demo_if_empty(running.server)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def synced_cache(ui_server, tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "cache.sqlite"
    s = Session(User("Dr. Lee", Role.DENTIST), Server(base_url=ui_server.base_url), path,
                credentials=ApiKey(DENTIST_KEY))
    s.sync().run_once()
    s.close()
    return path


@pytest.fixture
def session(ui_server, synced_cache, tmp_path):
    """The dentist Dr. Lee on a copy of the synced cache."""
    s = session_on(ui_server.base_url, synced_cache, tmp_path / "cache.sqlite")
    yield s
    s.close()


@pytest.fixture
def session_as(ui_server, synced_cache, tmp_path):
    """``session_as(role, name)``: another user, each on a copy of the synced cache of their own."""
    made: list[Session] = []

    def make(role: Role, name: str) -> Session:
        s = session_on(ui_server.base_url, synced_cache, tmp_path / f"cache-{len(made)}.sqlite", role=role,
                       name=name)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
