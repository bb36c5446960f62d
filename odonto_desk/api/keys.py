"""Idempotency keys (no HTTP here: the cache mints a key when it queues an edit, before any network)."""

from __future__ import annotations

import uuid


def new_key() -> str:
    return f"odk-{uuid.uuid4()}"
