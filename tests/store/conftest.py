"""Fixtures of the sync tests: a direct client to the reference server, and the fault proxy in front of it.

The server itself (``sandbox``) is in tests/conftest.py.
"""

from __future__ import annotations

import pytest
from helpers import admin_client
from proxy import FaultProxy


@pytest.fixture
def apex(sandbox):
    """A direct client, to look at (and change) the server behind the engine's back."""
    c = admin_client(sandbox.base_url)
    yield c
    c.close()


@pytest.fixture
def proxy(sandbox):
    """A real TCP proxy in front of the server, to cut, slow or break the link on the wire."""
    p = FaultProxy(sandbox.host, sandbox.port)
    yield p
    p.close()
