"""Shared test set-up: Qt offscreen, hypothesis profiles, the reference examples."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
EXAMPLES_DIR = SHARED / "reference" / "fhir-examples"
# A copy of the reference examples lives in the repo so the tests do not depend on shared/.
LOCAL_EXAMPLES_DIR = REPO / "tests" / "data" / "fhir-examples"


def example_files() -> list[Path]:
    return sorted(LOCAL_EXAMPLES_DIR.glob("*.json"))


@pytest.fixture
def load_example():
    def _load(name: str) -> dict:
        return json.loads((LOCAL_EXAMPLES_DIR / name).read_text(encoding="utf-8"))

    return _load
