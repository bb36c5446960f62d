"""Administrative reads of the reference server: the audit trail.

``GET /odonto/v1/audit?since=<instant>`` (scope ``odonto/admin``) returns the trail's rows written at
or after ``since`` and whether the whole hash chain still verifies. An integrator's certification run
needs this to show that the writes it made were recorded; without a read endpoint the chain could only
be checked by someone holding the SQLite file. Rows carry who, what and when, never resource content.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from odonto_desk.sandbox.audit import AuditTrail, verify
from odonto_desk.sandbox.auth import Principal
from odonto_desk.sandbox.fhirstore import StoreError, format_instant, parse_instant
from odonto_desk.sandbox.gate import Gate
from odonto_desk.sandbox.outcome import ApiError

ADMIN_SCOPE = "odonto/admin"


def _since(query: str) -> str | None:
    """The ``since`` parameter normalised to the trail's own instant format (so strings compare in time order)."""
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(params) - {"since"})
    if unknown:
        raise ApiError(400, "not-supported", f"unknown parameter {unknown[0]!r}; the audit trail takes since only",
                       expression=unknown[0])
    if "since" not in params:
        return None
    try:
        return format_instant(parse_instant(params["since"][0]))
    except StoreError:
        raise ApiError(400, "invalid", f"since {params['since'][0]!r} is not a FHIR instant",
                       expression="since") from None


def audit_page(trail: AuditTrail, p: Principal, query: str) -> Response:
    """The rows since the given instant and the verdict over the whole chain, read in one transaction."""
    p.require(ADMIN_SCOPE)
    since = _since(query)
    with trail.store.transaction() as conn:
        rows = trail.entries()
        broken = verify(conn)
    picked: list[dict[str, Any]] = [dataclasses.asdict(e) for e in rows if since is None or e.at >= since]
    return JSONResponse({"since": since, "entries": picked,
                         "chain": {"intact": broken is None, "first_broken": broken}},
                        headers={"Cache-Control": "no-store"})


def register_admin_routes(app: FastAPI, gate: Gate, trail: AuditTrail) -> None:
    @app.get("/odonto/v1/audit", tags=["odonto"])
    async def audit_read(request: Request) -> Response:
        p = await run_in_threadpool(gate.enter, request)
        return await run_in_threadpool(audit_page, trail, p, request.url.query)
