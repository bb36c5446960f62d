"""The Apex Odonto client: FHIR R4 REST and the ``/odonto/v1`` operations, usable from plain Python.

One reused ``httpx.Client`` per server. Every request waits for the shared :class:`TokenBucket`,
carries credentials, and on writes the patient's ``X-Apex-GPID``; POSTs always carry an
``Idempotency-Key`` (one is made when the caller gives none) and updates ``If-Match`` with the
version they were based on. Retries with jittered exponential backoff happen only where repeating
is safe: reads, and writes with an idempotency key. A 401 re-authenticates once; a 429 pauses every
thread for ``Retry-After``. Failures come back as the typed errors of :mod:`odonto_desk.api.errors`.

FHIR features work against any FHIR R4 server: give ``fhir_base`` alone (no ``base_url``).
"""

from __future__ import annotations

import hashlib
import json as jsonlib
import os
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from odonto_desk.api.auth import Credentials, NoAuth
from odonto_desk.api.errors import (
    ApiError,
    AuthError,
    NetworkError,
    RateLimited,
    ServerError,
    ServerRejected,
    VersionConflict,
    error_for,
)
from odonto_desk.api.keys import new_key
from odonto_desk.api.ratelimit import TokenBucket

FHIR_JSON = "application/fhir+json"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})


def version_etag(version: str | int) -> str:
    return f'W/"{version}"'


class ApexClient:
    """Blocking and thread-safe; share one per server."""

    def __init__(self, base_url: str | None = None, *, fhir_base: str | None = None,
                 credentials: Credentials | None = None, limiter: TokenBucket | None = None, retries: int = 4,
                 timeout: float = 15.0, backoff_base: float = 0.25, backoff_cap: float = 8.0,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        if base_url is None and fhir_base is None:
            raise ValueError("give base_url (an Apex server) or fhir_base (any FHIR R4 server)")
        self.base_url = base_url.rstrip("/") if base_url else None
        self.fhir_base = (fhir_base or f"{self.base_url}/fhir").rstrip("/")
        self.credentials = credentials or NoAuth()
        self.limiter = limiter or TokenBucket()
        self.retries = retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self._rng = random.Random()
        self.http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False,
                                 headers={"User-Agent": "odonto-desk/0.1", "Accept": FHIR_JSON})
        self.stats = {"requests": 0, "retries": 0, "throttled": 0}

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ApexClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def has_odonto(self) -> bool:
        """True when talking to an Apex server (``/odonto/v1`` exists), not a plain FHIR server."""
        return self.base_url is not None

    def _odonto(self, path: str) -> str:
        if self.base_url is None:
            raise ApiError("this server is a plain FHIR server: it has no /odonto/v1 operations")
        return f"{self.base_url}/odonto/v1{path}"

    # --- the one request path ------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** attempt))

    def request(self, method: str, url: str, *, json: Any = None, content: bytes | None = None,
                params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                gpid: str | None = None, idempotency_key: str | None = None,
                if_match: str | None = None, repeatable: bool = False) -> httpx.Response:
        """``repeatable``: the caller knows this write may be sent twice (e.g. an upload chunk)."""
        method = method.upper()
        if method == "POST" and idempotency_key is None:
            idempotency_key = new_key()
        safe = method in SAFE_METHODS or idempotency_key is not None or repeatable
        h = dict(headers or {})
        if gpid:
            h["X-Apex-GPID"] = gpid
        if idempotency_key:
            h["Idempotency-Key"] = idempotency_key
        if if_match:
            h["If-Match"] = if_match
        if json is not None and "Content-Type" not in h:
            h["Content-Type"] = FHIR_JSON if url.startswith(self.fhir_base) else "application/json"
        reauthed = False
        attempt = 0
        while True:
            self.limiter.acquire()
            self.stats["requests"] += 1
            try:
                auth = self.credentials.headers(self.http)
                body = content if json is None else jsonlib.dumps(json, separators=(",", ":")).encode()
                r = self.http.request(method, url, content=body, params=params, headers={**h, **auth})
            except httpx.TransportError as exc:
                if safe and attempt < self.retries:
                    attempt += 1
                    self.stats["retries"] += 1
                    self._sleep(self._backoff(attempt))
                    continue
                raise NetworkError(f"{method} {url}: {exc.__class__.__name__}: {exc}") from exc
            if r.status_code == 401 and not reauthed:
                reauthed = True
                self.credentials.invalidate()
                continue
            if r.status_code == 429:
                self.stats["throttled"] += 1
                retry_after = _retry_after(r)
                self.limiter.penalize(retry_after)
                if attempt < self.retries:  # refused before processing: always safe to repeat
                    attempt += 1
                    continue
                raise RateLimited(f"{method} {url}: still rate limited after {attempt} retries",
                                  status=429, retry_after=retry_after)
            if r.status_code in RETRY_STATUSES and safe and attempt < self.retries:
                attempt += 1
                self.stats["retries"] += 1
                self._sleep(max(self._backoff(attempt), _retry_after(r, default=0.0)))
                continue
            if r.status_code >= 400:
                try:
                    parsed = r.json()
                except ValueError:
                    parsed = None
                err = error_for(r.status_code, parsed, retry_after=_retry_after(r, default=0.0) or None)
                if isinstance(err, ServerError):
                    err.message = f"{method} {url}: {err.message}"
                if isinstance(err, AuthError):
                    self.credentials.invalidate()
                raise err
            return r

    # --- FHIR REST --------------------------------------------------------------------------------

    def _url(self, *parts: str) -> str:
        return "/".join([self.fhir_base, *parts])

    def metadata(self) -> dict[str, Any]:
        return self.request("GET", self._url("metadata")).json()

    def read(self, rtype: str, rid: str) -> dict[str, Any]:
        return self.request("GET", self._url(rtype, rid)).json()

    def vread(self, rtype: str, rid: str, version: str | int) -> dict[str, Any]:
        return self.request("GET", self._url(rtype, rid, "_history", str(version))).json()

    def search_page(self, rtype: str | None = None, params: dict[str, Any] | None = None, *,
                    url: str | None = None) -> dict[str, Any]:
        """One Bundle page: a search (type + params) or a ``next`` link followed verbatim."""
        if url is not None:
            return self.request("GET", url).json()
        assert rtype is not None
        return self.request("GET", self._url(rtype), params=params).json()

    def search(self, rtype: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every matching resource, following ``next`` links until there are none."""
        page = self.search_page(rtype, params)
        while True:
            for entry in page.get("entry") or []:
                if "resource" in entry and (entry.get("search") or {}).get("mode", "match") == "match":
                    yield entry["resource"]
            nxt = next_link(page)
            if nxt is None:
                return
            page = self.search_page(url=nxt)

    def history(self, rtype: str | None = None, rid: str | None = None, *, since: str | None = None,
                count: int | None = None) -> dict[str, Any]:
        parts = [p for p in (rtype, rid) if p] + ["_history"]
        params = {k: v for k, v in (("_since", since), ("_count", count)) if v is not None}
        return self.request("GET", self._url(*parts), params=params).json()

    def create(self, resource: dict[str, Any], *, gpid: str | None = None, if_none_exist: str | None = None,
               idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {"If-None-Exist": if_none_exist} if if_none_exist else None
        r = self.request("POST", self._url(resource["resourceType"]), json=resource, headers=headers, gpid=gpid,
                         idempotency_key=idempotency_key)
        return r.json() if r.content else {}

    def update(self, resource: dict[str, Any], *, gpid: str | None = None,
               version: str | int | None = None) -> dict[str, Any]:
        """PUT with ``If-Match`` on ``version`` (the one the edit was based on); None = unconditional."""
        r = self.request("PUT", self._url(resource["resourceType"], resource["id"]), json=resource, gpid=gpid,
                         if_match=version_etag(version) if version is not None else None)
        return r.json() if r.content else {}

    def delete(self, rtype: str, rid: str, *, gpid: str | None = None, version: str | int | None = None) -> None:
        self.request("DELETE", self._url(rtype, rid), gpid=gpid,
                     if_match=version_etag(version) if version is not None else None)

    def transaction(self, bundle: dict[str, Any], *, gpid: str | None = None,
                    idempotency_key: str | None = None) -> dict[str, Any]:
        return self.request("POST", self.fhir_base, json=bundle, gpid=gpid,
                            idempotency_key=idempotency_key).json()

    # --- /odonto/v1 --------------------------------------------------------------------------------

    def status(self) -> tuple[dict[str, Any], float]:
        """The live status probe and its latency in milliseconds."""
        if self.base_url is None:
            t = time.perf_counter()
            self.metadata()
            return {"status": "operational"}, (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        r = self.request("GET", f"{self.base_url}/status")
        return r.json(), (time.perf_counter() - t) * 1000

    def get_chart(self, gpid: str) -> tuple[dict[str, Any], str]:
        r = self.request("GET", self._odonto(f"/chart/{gpid}"))
        return r.json(), r.headers["etag"]

    def put_chart(self, gpid: str, marks: list[dict[str, Any]] | None, etag: str,
                  perio_exams: list[dict[str, Any]] | None = None) -> tuple[dict[str, Any], str]:
        """Save sections of the chart; a section given as None is left out (the server keeps it)."""
        body: dict[str, Any] = {}
        if marks is not None:
            body["marks"] = marks
        if perio_exams is not None:
            body["perio_exams"] = perio_exams
        r = self.request("PUT", self._odonto(f"/chart/{gpid}"), json=body, gpid=gpid, if_match=etag)
        return r.json(), r.headers["etag"]

    def post_treatment_plan(self, gpid: str, care_plan: dict[str, Any], service_requests: list[dict[str, Any]],
                            *, idempotency_key: str | None = None) -> dict[str, Any]:
        return self.request("POST", self._odonto("/treatment-plans"), gpid=gpid, idempotency_key=idempotency_key,
                            json={"care_plan": care_plan, "service_requests": service_requests}).json()

    def post_procedures(self, gpid: str, procedures: list[dict[str, Any]], charge_items: list[dict[str, Any]],
                        completes: list[str] = (), *, idempotency_key: str | None = None) -> dict[str, Any]:  # type: ignore[assignment]
        body = {"procedures": procedures, "charge_items": charge_items, "completes": list(completes)}
        return self.request("POST", self._odonto("/procedures/post"), gpid=gpid, json=body,
                            idempotency_key=idempotency_key).json()

    def post_lab_order(self, gpid: str, service_request: dict[str, Any], task: dict[str, Any] | None = None, *,
                       idempotency_key: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"service_request": service_request}
        if task is not None:
            body["task"] = task
        return self.request("POST", self._odonto("/lab/orders"), gpid=gpid, json=body,
                            idempotency_key=idempotency_key).json()

    # --- imaging --------------------------------------------------------------------------------

    def start_upload(self, gpid: str, patient_id: str, data: bytes, *, filename: str, content_type: str,
                     kind: str | None = None, teeth: tuple[str, ...] = (), title: str | None = None,
                     idempotency_key: str | None = None) -> dict[str, Any]:
        """Announce a file; keep the returned ``upload_id`` to resume after a crash."""
        return self.announce_upload(gpid, patient_id, filename=filename, content_type=content_type, size=len(data),
                                    sha256=hashlib.sha256(data).hexdigest(), kind=kind, teeth=teeth, title=title,
                                    idempotency_key=idempotency_key)

    def announce_upload(self, gpid: str, patient_id: str, *, filename: str, content_type: str, size: int,
                        sha256: str, kind: str | None = None, teeth: tuple[str, ...] = (), title: str | None = None,
                        idempotency_key: str | None = None) -> dict[str, Any]:
        """Announce a file by its size and SHA-256 (see :func:`file_digest`), without holding its bytes.

        Announcing again with the same ``idempotency_key`` gives the same ``upload_id``: a client that
        crashed before it kept the id gets it back instead of opening a second upload."""
        body: dict[str, Any] = {"patient": f"Patient/{patient_id}", "filename": filename,
                                "content_type": content_type, "size": size, "sha256": sha256}
        if kind:
            body["kind"] = kind
        if teeth:
            body["teeth"] = list(teeth)
        if title:
            body["title"] = title
        return self.request("POST", self._odonto("/imaging/upload"), json=body, gpid=gpid,
                            idempotency_key=idempotency_key).json()

    def upload_status(self, upload_id: str) -> dict[str, Any]:
        return self.request("GET", self._odonto(f"/imaging/upload/{upload_id}")).json()

    def send_upload(self, gpid: str, upload_id: str, data: bytes, *, chunk_size: int = 4 * 1024 * 1024,
                    on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Send the rest of ``data`` from where the server is; returns the completed upload.

        A chunk lost on the way is re-sent from the server's ``Upload-Offset``: the server keeps
        what arrived, so an interrupted CBCT upload resumes instead of starting again."""
        return self._send_chunks(gpid, upload_id, len(data), lambda start, end: data[start:end],
                                 chunk_size=chunk_size, on_progress=on_progress)

    def send_upload_file(self, gpid: str, upload_id: str, path: str | os.PathLike[str], *,
                         chunk_size: int = 4 * 1024 * 1024,
                         on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """:meth:`send_upload` reading ``path`` one chunk at a time: a CBCT volume is never held whole.

        Resumes from the server's offset, so a process started after a crash (or a network drop)
        sends only what is missing. The file must be the one announced (same size)."""
        size = os.path.getsize(path)
        announced = int(self.upload_status(upload_id)["size"])
        if announced != size:
            raise ApiError(f"upload {upload_id} was announced as {announced} bytes; this file has {size}")
        with open(path, "rb") as f:

            def read(start: int, end: int) -> bytes:
                f.seek(start)
                return f.read(end - start)

            return self._send_chunks(gpid, upload_id, size, read, chunk_size=chunk_size, on_progress=on_progress)

    def _send_chunks(self, gpid: str, upload_id: str, size: int, read: Callable[[int, int], bytes], *,
                     chunk_size: int, on_progress: Callable[[int, int], None] | None) -> dict[str, Any]:
        """The chunk loop of both senders; ``read(start, end)`` gives bytes ``start`` up to ``end``."""
        state = self.upload_status(upload_id)
        offset = int(state["received"])
        stalls = 0
        while state.get("status") == "open":
            end = min(size, offset + chunk_size) - 1
            try:
                r = self.request("PUT", self._odonto(f"/imaging/upload/{upload_id}"), content=read(offset, end + 1),
                                 headers={"Content-Range": f"bytes {offset}-{end}/{size}",
                                          "Content-Type": "application/octet-stream"},
                                 gpid=gpid, repeatable=True)
            except VersionConflict as exc:  # 409: the server holds a different amount; go on from there
                stalls += 1
                if stalls > self.retries:
                    raise
                state = self.upload_status(upload_id)
                offset = int(state["received"])
                if state.get("status") != "open" or exc.status != 409:
                    break
                continue
            state = r.json()
            offset = int(state["received"])
            stalls = 0
            if on_progress is not None:
                on_progress(offset, size)
        if state.get("status") == "failed":
            raise ServerRejected(f"upload {upload_id} failed: {state.get('error')}", status=422)
        return state

    def upload_image(self, gpid: str, patient_id: str, data: bytes, *, filename: str, content_type: str,
                     kind: str | None = None, teeth: tuple[str, ...] = (), title: str | None = None,
                     chunk_size: int = 4 * 1024 * 1024) -> dict[str, Any]:
        started = self.start_upload(gpid, patient_id, data, filename=filename, content_type=content_type, kind=kind,
                                    teeth=teeth, title=title)
        return self.send_upload(gpid, started["upload_id"], data, chunk_size=chunk_size)

    # --- webhooks -------------------------------------------------------------------------------

    def _webhooks(self, path: str = "") -> str:
        if self.base_url is None:
            raise ApiError("this server is a plain FHIR server: it has no webhook subscriptions")
        return f"{self.base_url}/webhooks{path}"

    def subscribe_webhook(self, url: str, events: list[str], *, secret: str | None = None,
                          idempotency_key: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"url": url, "events": events}
        if secret is not None:
            body["secret"] = secret
        return self.request("POST", self._webhooks(), json=body, idempotency_key=idempotency_key).json()

    def webhooks(self) -> list[dict[str, Any]]:
        return list(self.request("GET", self._webhooks()).json()["subscriptions"])

    def rotate_webhook_secret(self, subscription_id: str, *, grace_seconds: int = 86400,
                              idempotency_key: str | None = None) -> dict[str, Any]:
        return self.request("POST", self._webhooks(f"/{subscription_id}/rotate"),
                            json={"grace_seconds": grace_seconds}, idempotency_key=idempotency_key).json()

    def deactivate_webhook(self, subscription_id: str) -> None:
        self.request("DELETE", self._webhooks(f"/{subscription_id}"), repeatable=True)

    def webhook_deliveries(self, subscription_id: str, status: str | None = None) -> list[dict[str, Any]]:
        params = {"status": status} if status else None
        return list(self.request("GET", self._webhooks(f"/{subscription_id}/deliveries"),
                                 params=params).json()["deliveries"])


def file_digest(path: str | os.PathLike[str], *, block: int = 1024 * 1024) -> tuple[int, str]:
    """(size, hex SHA-256) of a file read one block at a time, for :meth:`ApexClient.announce_upload`."""
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


def _retry_after(r: httpx.Response, default: float = 1.0) -> float:
    value = r.headers.get("retry-after")
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        return default
