"""Helpers shared by tests (import as ``from helpers import …``)."""

from __future__ import annotations

from pathlib import Path

import httpx

GPID = "APX-1A2B3C4D"  # the GPID of tests/data/fhir-examples/patient.json


def token_for(base_url: str, role: str, scope: str | None = None) -> str:
    data = {"grant_type": "client_credentials", "client_id": f"demo-{role.replace('_', '-')}",
            "client_secret": f"sandbox-secret-{role.replace('_', '-')}"}
    if scope:
        data["scope"] = scope
    r = httpx.post(f"{base_url}/oauth/token", data=data)
    r.raise_for_status()
    return r.json()["access_token"]


EXAMPLES_DIR = Path(__file__).resolve().parent / "data" / "fhir-examples"


def example_files() -> list[Path]:
    """The reference examples (copied from shared/reference/fhir-examples)."""
    return sorted(EXAMPLES_DIR.glob("*.json"))
