"""Verifying Apex webhook deliveries.

A delivery carries ``X-Apex-Delivery`` (its id), ``X-Apex-Timestamp`` (unix seconds) and
``X-Apex-Signature: v1=<hex>[,v1=<hex>]`` — HMAC-SHA256 over ``f"{timestamp}.{body}"`` with the
subscription's secret; during a secret rotation the server signs with both secrets. A delivery is
accepted when any signature matches any of our current secrets (compared in constant time) and
its timestamp is within the tolerance of our clock, which stops replays of old captures. Replays
of recent ones are stopped by remembering delivery ids (the store does that durably).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

TOLERANCE_SECONDS = 300


class WebhookRejected(ValueError):
    """Why a delivery was refused (never the secret)."""


def sign(secret: str, timestamp: str | int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def signatures(header: str) -> list[str]:
    out = []
    for part in header.split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme == "v1" and value:
            out.append(value.strip().lower())
    return out


def verify(header: str | None, secrets: Iterable[str], timestamp: str | None, body: bytes, *,
           now: float | None = None, tolerance: float = TOLERANCE_SECONDS) -> None:
    """Raise :class:`WebhookRejected` unless the delivery is authentic and fresh."""
    if not header or not timestamp:
        raise WebhookRejected("missing signature or timestamp")
    try:
        ts = int(timestamp)
    except ValueError:
        raise WebhookRejected("timestamp is not a whole number of seconds") from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance:
        raise WebhookRejected(f"timestamp is {int(current - ts)} s from now; tolerance is {int(tolerance)} s")
    given = signatures(header)
    if not given:
        raise WebhookRejected("no v1 signature")
    ok = False
    for secret in secrets:
        expected = sign(secret, ts, body)
        for sig in given:
            ok |= hmac.compare_digest(expected, sig)  # no early exit: constant time over the set
    if not ok:
        raise WebhookRejected("signature does not match")
