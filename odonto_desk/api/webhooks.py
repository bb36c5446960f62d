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
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

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


# --- a receiver the reference server (or Apex) can call --------------------------------------------

class WebhookReceiver:
    """A small HTTP endpoint on this machine that accepts signed deliveries.

    ``secrets()`` returns the secrets valid now (two during a rotation). ``first_time(delivery_id)``
    must record the id durably and say whether it was new (the cache does that in SQLite, so a replay
    after a restart is still refused). ``on_event(body)`` runs once per accepted delivery. Answers:
    204 accepted, 200 a duplicate (acknowledged so the sender stops retrying, not applied again),
    401 a bad or stale signature, 400 a body that is not a JSON object, 413 an oversized body.
    """

    MAX_BODY = 64 * 1024

    def __init__(self, secrets: Callable[[], list[str]], first_time: Callable[[str], bool],
                 on_event: Callable[[dict[str, Any]], None], *, host: str = "127.0.0.1", port: int = 0,
                 path: str = "/apex/webhooks", tolerance: float = TOLERANCE_SECONDS) -> None:
        self.secrets = secrets
        self.first_time = first_time
        self.on_event = on_event
        self.path = path
        self.tolerance = tolerance
        self.rejected: list[str] = []  # reasons, for the sync status screen (never secrets)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                status = receiver._handle(self.path, dict(self.headers.items()), self.rfile,
                                          int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{self.path}"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handle(self, path: str, headers: dict[str, str], stream: Any, length: int) -> int:
        if path != self.path:
            return 404
        if length > self.MAX_BODY:
            self.rejected.append("body too large")
            return 413
        body = stream.read(length)
        h = {k.lower(): v for k, v in headers.items()}
        try:
            verify(h.get("x-apex-signature"), self.secrets(), h.get("x-apex-timestamp"), body,
                   tolerance=self.tolerance)
        except WebhookRejected as exc:
            self.rejected.append(str(exc))
            return 401
        delivery = h.get("x-apex-delivery", "")
        if not delivery:
            self.rejected.append("no delivery id")
            return 400
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            self.rejected.append("body is not a JSON object")
            return 400
        if not self.first_time(delivery):
            return 200
        self.on_event(event)
        return 204
