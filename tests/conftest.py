"""Shared test set-up: Qt offscreen, hypothesis profiles, the reference examples."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest
from helpers import DENTIST_KEY, EXAMPLES_DIR, GPID, session_on, sqlite_copy, token_for
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
# Seeding the demo (some 2,700 validated resources) and syncing a cache from it take seconds, so they
# are done once per test process (``demo_template``). Each module then gets a server of its own on a
# copy of that seeded database, and a copy of the synced cache that matches it; each test gets its
# own copy of that cache file. Copies use SQLite's backup API, so tests stay independent and fast.


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory):
    """(server database, cache) files: the demo seeded once, and a dentist's cache synced from it."""
    folder = tmp_path_factory.mktemp("demo-template")
    running = start_in_thread(ServerConfig(db_path=folder / "apex.sqlite"))
    try:
        seed_demo_if_empty(running.server)
        s = Session(User("Dr. Lee", Role.DENTIST), Server(base_url=running.base_url), folder / "cache.sqlite",
                    credentials=ApiKey(DENTIST_KEY))
        s.sync().run_once()
        s.close()
    finally:
        running.stop()
    return folder / "apex.sqlite", folder / "cache.sqlite"


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, demo_template):
    """A seeded reference server of this module's own (what its tests write stays in the module)."""
    folder = tmp_path_factory.mktemp("apex")
    sqlite_copy(demo_template[0], folder / "apex.sqlite")
    running = start_in_thread(ServerConfig(db_path=folder / "apex.sqlite"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def demo_server(tmp_path, demo_template):
    """A seeded reference server for one test (its writes are its own), and how many resources it holds."""
    sqlite_copy(demo_template[0], tmp_path / "apex-demo.sqlite")
    running = start_in_thread(ServerConfig(db_path=tmp_path / "apex-demo.sqlite"))
    try:
        yield running, running.server.store.count()
    finally:
        running.stop()


@pytest.fixture(scope="module")
def synced_cache(ui_server, demo_template, tmp_path_factory):
    """A cache synced from ``ui_server`` as it was seeded (made from the same seeded database)."""
    path = tmp_path_factory.mktemp("template") / "cache.sqlite"
    sqlite_copy(demo_template[1], path)
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
