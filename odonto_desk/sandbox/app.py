"""The reference Apex Odonto server as an ASGI app.

``create_app(config)`` builds everything around one SQLite file. Routes are thin: they read the
request, hand it to the logic objects (:class:`FhirApi`, the operational API, the webhook hub)
off the event loop, and turn :class:`ApiError` into an OperationOutcome.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from odonto_desk.sandbox.admin_api import register_admin_routes
from odonto_desk.sandbox.audit import AuditTrail
from odonto_desk.sandbox.auth import TOKEN_TTL, Auth, basic_credentials
from odonto_desk.sandbox.chart_api import ChartApi
from odonto_desk.sandbox.fhir_api import FhirApi, capability_statement
from odonto_desk.sandbox.fhirstore import FhirStore, format_instant
from odonto_desk.sandbox.gate import Gate, header_gpids, idempotency_key
from odonto_desk.sandbox.imaging_api import MAX_CHUNK, ImagingApi
from odonto_desk.sandbox.ops_api import OpsApi
from odonto_desk.sandbox.outcome import ApiError, error_response, fhir_response
from odonto_desk.sandbox.ratelimit import RateLimiter
from odonto_desk.sandbox.webhooks import WebhookHub

MAX_BODY = 8 * 1024 * 1024  # FHIR bodies; imaging chunks have their own limit


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class ServerConfig:
    db_path: str | Path
    per_minute: int = 2000
    burst: int = 80
    per_second: float = 80.0
    clock: Callable[[], dt.datetime] = _utcnow
    demo_clients: bool = True
    webhook_retry_base: float = 2.0  # seconds before the first retry; doubles each time, with jitter
    webhook_max_attempts: int = 8
    token_ttl: dt.timedelta = TOKEN_TTL  # how long an OAuth2 access token is accepted
    # False: behave like a plain FHIR server without type-level _history (not advertised, refused).
    history_type: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Server:
    """The parts of a running server, for tests and the command line."""

    app: FastAPI
    store: FhirStore
    auth: Auth
    gate: Gate
    fhir: FhirApi
    webhooks: WebhookHub
    audit: AuditTrail
    # Background work (webhook delivery) starts and stops with the server.
    on_startup: list[Callable[[], None]] = field(default_factory=list)
    on_shutdown: list[Callable[[], None]] = field(default_factory=list)


def _base(request: Request, prefix: str = "/fhir") -> str:
    return str(request.base_url).rstrip("/") + prefix


def create_server(config: ServerConfig) -> Server:
    store = FhirStore(config.db_path, clock=config.clock)
    auth = Auth(store.connection, clock=config.clock, token_ttl=config.token_ttl)  # creates its tables (outside a transaction)
    if config.demo_clients:
        with store.transaction():
            auth.ensure_demo_clients()
    limiter = RateLimiter(per_minute=config.per_minute, burst=config.burst, per_second=config.per_second)
    gate = Gate(store, auth, limiter)
    fhir = FhirApi(store, gate)
    audit = AuditTrail(store)
    webhooks = WebhookHub(store, gate, retry_base=config.webhook_retry_base,
                          max_attempts=config.webhook_max_attempts)
    fhir.listeners += [audit.on_change, webhooks.on_change]
    app = FastAPI(title="Apex Odonto reference server", version="1.0.0", docs_url="/docs", redoc_url=None,
                  openapi_url="/openapi.json")
    server = Server(app, store, auth, gate, fhir, webhooks, audit)
    server.on_startup.append(webhooks.start)
    server.on_shutdown.append(webhooks.stop)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        response = error_response(exc)
        for k, v in (getattr(request.state, "rate_headers", None) or {}).items():
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
        message = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(app, request))
            message = f"{request.method} is not allowed here; use {headers['Allow']}"
        return error_response(ApiError(exc.status_code, code, message, headers=headers))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return error_response(ApiError(400, "invalid", str(first.get("msg", "invalid request")),
                                       expression=where or None))

    @app.middleware("http")
    async def _limits(request: Request, call_next: Callable[..., Any]) -> Response:

        length = request.headers.get("content-length")
        limit = MAX_BODY if not request.url.path.startswith("/odonto/v1/imaging") else MAX_CHUNK
        if length and length.isdigit() and int(length) > limit:
            return error_response(ApiError(413, "too-costly", f"request body over {limit} bytes"))
        response: Response = await call_next(request)
        for k, v in (getattr(request.state, "rate_headers", None) or {}).items():
            response.headers.setdefault(k, v)
        return response

    async def body(request: Request) -> bytes:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise ApiError(413, "too-costly", f"request body over {MAX_BODY} bytes")
        return raw

    # --- token -----------------------------------------------------------------------------------

    async def form(request: Request) -> dict[str, str]:
        # OAuth's token and revocation endpoints take application/x-www-form-urlencoded only.
        raw = await request.body()
        try:
            pairs = urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True, max_num_fields=20)
        except (UnicodeDecodeError, ValueError):
            return {}
        return dict(pairs)

    @app.post("/oauth/token", tags=["auth"])
    async def token(request: Request) -> Response:
        fields = await form(request)
        basic = basic_credentials(request.headers.get("authorization"))
        cid, secret = basic if basic else (fields.get("client_id", ""), fields.get("client_secret", ""))
        if fields.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type",
                                 "error_description": "only client_credentials is supported"}, 400)
        scope = fields.get("scope", "").split() or None

        def issue() -> dict[str, object]:
            with store.transaction():
                return auth.issue_token(cid, secret, scope)

        try:
            result = await run_in_threadpool(issue)
        except ApiError as err:
            error = "invalid_client" if err.status == 401 else "invalid_scope"
            return JSONResponse({"error": error, "error_description": err.message}, err.status, headers=err.headers)
        return JSONResponse(result, headers={"Cache-Control": "no-store"})

    @app.post("/oauth/revoke", tags=["auth"])
    async def revoke(request: Request) -> Response:
        tok = (await form(request)).get("token", "")
        await run_in_threadpool(lambda: _in_tx(store, lambda: auth.revoke(tok)))
        return Response(status_code=200)

    # --- status ------------------------------------------------------------------------------------

    def only(path: str, *allowed: str) -> None:
        """405 (with Allow) for the other methods on a fixed path that a templated route would catch."""

        async def refuse(request: Request) -> Response:
            raise ApiError(405, "not-supported", f"{request.method} is not allowed on {path}; use "
                           f"{', '.join(allowed)}", headers={"Allow": ", ".join(allowed)})

        others = [m for m in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE") if m not in allowed]
        app.add_api_route(path, refuse, methods=others, include_in_schema=False)

    @app.get("/odonto/v1/openapi.yaml", tags=["status"], include_in_schema=False)
    async def openapi_contract() -> Response:
        from importlib import resources

        text = resources.files("odonto_desk.resources").joinpath("apex-odonto-v1.openapi.yaml").read_bytes()
        return Response(text, media_type="application/yaml")

    @app.get("/status", tags=["status"])
    async def status() -> Response:
        # A probe clients call every few seconds: constant time, no table scans (a COUNT over 200k
        # rows here made the probe slower than the chart it is meant to predict).
        # The wall clock, not store.now(): that takes the store's lock, which a write holds, and this
        # handler runs on the event loop.
        return JSONResponse({"status": "operational", "time": format_instant(config.clock()), "fhirVersion": "4.0.1"})

    # --- FHIR ---------------------------------------------------------------------------------------

    only("/fhir/metadata", "GET")

    @app.get("/fhir/metadata", tags=["fhir"])
    async def metadata(request: Request) -> Response:
        return fhir_response(capability_statement(_base(request), format_instant(config.clock()),
                                                  history_type=config.history_type))

    async def enter(request: Request):  # type: ignore[no-untyped-def]
        # Headers of the contract are checked wherever they appear, reads included.
        header_gpids(request)  # 400 on a malformed GPID header
        idempotency_key(request, required=False)
        return await run_in_threadpool(gate.enter, request)

    only("/fhir/_history", "GET")
    only("/fhir/{rtype}/_history", "GET")
    only("/fhir/{rtype}/{rid}/_history", "GET")

    @app.post("/fhir/", tags=["fhir"], include_in_schema=False)
    @app.post("/fhir", tags=["fhir"])
    async def fhir_bundle(request: Request) -> Response:
        p = await enter(request)
        raw = await body(request)
        return await run_in_threadpool(fhir.bundle, request, p, raw, _base(request))

    @app.get("/fhir/_history", tags=["fhir"])
    async def fhir_system_history(request: Request) -> Response:
        p = await enter(request)
        return await run_in_threadpool(fhir.history, p, None, None, request.url.query, _base(request))

    @app.get("/fhir/{rtype}", tags=["fhir"])
    async def fhir_search(rtype: str, request: Request) -> Response:
        p = await enter(request)
        return await run_in_threadpool(fhir.search, p, rtype, request.url.query, _base(request))

    @app.post("/fhir/{rtype}", tags=["fhir"])
    async def fhir_create(rtype: str, request: Request) -> Response:
        p = await enter(request)
        raw = await body(request)
        return await run_in_threadpool(fhir.create, request, p, rtype, raw, _base(request))

    @app.get("/fhir/{rtype}/_history", tags=["fhir"])
    async def fhir_type_history(rtype: str, request: Request) -> Response:
        p = await enter(request)
        if not config.history_type:
            raise ApiError(405, "not-supported", "this server has no type-level _history")
        return await run_in_threadpool(fhir.history, p, rtype, None, request.url.query, _base(request))

    @app.get("/fhir/{rtype}/{rid}", tags=["fhir"])
    async def fhir_read(rtype: str, rid: str, request: Request) -> Response:
        p = await enter(request)
        return await run_in_threadpool(fhir.read, p, rtype, rid, _base(request))

    @app.put("/fhir/{rtype}/{rid}", tags=["fhir"])
    async def fhir_update(rtype: str, rid: str, request: Request) -> Response:
        p = await enter(request)
        raw = await body(request)
        return await run_in_threadpool(fhir.update, request, p, rtype, rid, raw, _base(request))

    @app.delete("/fhir/{rtype}/{rid}", tags=["fhir"])
    async def fhir_delete(rtype: str, rid: str, request: Request) -> Response:
        p = await enter(request)
        return await run_in_threadpool(fhir.delete, request, p, rtype, rid)

    @app.get("/fhir/{rtype}/{rid}/_history", tags=["fhir"])
    async def fhir_instance_history(rtype: str, rid: str, request: Request) -> Response:
        p = await enter(request)
        return await run_in_threadpool(fhir.history, p, rtype, rid, request.url.query, _base(request))

    # --- /odonto/v1 ---------------------------------------------------------------------------------

    chart_api = ChartApi(store, gate, fhir)
    server.on_startup.insert(0, chart_api.warm_up)

    @app.get("/odonto/v1/chart/{gpid}", tags=["odonto"])
    async def chart_get(gpid: str, request: Request) -> Response:
        p = await enter(request)
        return await run_in_threadpool(chart_api.get, p, gpid)

    @app.put("/odonto/v1/chart/{gpid}", tags=["odonto"])
    async def chart_put(gpid: str, request: Request) -> Response:
        p = await enter(request)
        raw = await body(request)
        return await run_in_threadpool(chart_api.put, request, p, gpid, raw)

    ops_api = OpsApi(store, gate, fhir)

    @app.post("/odonto/v1/treatment-plans", tags=["odonto"])
    async def treatment_plans(request: Request) -> Response:
        p = await enter(request)
        raw = await body(request)
        return await run_in_threadpool(ops_api.treatment_plans, request, p, raw)

    @app.post("/odonto/v1/procedures/post", tags=["odonto"])
    async def procedures_post(request: Request) -> Response:
        p = await enter(request)
        raw = await body(request)
        return await run_in_threadpool(ops_api.procedures, request, p, raw)

    @app.post("/odonto/v1/lab/orders", tags=["odonto"])
    async def lab_orders(request: Request) -> Response:
        p = await enter(request)
        raw = await body(request)
        return await run_in_threadpool(ops_api.lab_orders, request, p, raw)

    imaging = ImagingApi(store, gate, fhir)
    only("/odonto/v1/imaging/upload", "POST")

    @app.post("/odonto/v1/imaging/upload", tags=["odonto"])
    async def imaging_start(request: Request) -> Response:
        p = await enter(request)
        raw = await body(request)
        return await run_in_threadpool(imaging.start, request, p, raw, _base(request, ""))

    @app.get("/odonto/v1/imaging/upload/{uid}", tags=["odonto"])
    async def imaging_status(uid: str, request: Request) -> Response:
        p = await enter(request)
        return await run_in_threadpool(imaging.status, p, uid)

    @app.put("/odonto/v1/imaging/upload/{uid}", tags=["odonto"])
    async def imaging_chunk(uid: str, request: Request) -> Response:
        p = await enter(request)
        raw = await request.body()
        if len(raw) > MAX_CHUNK:
            raise ApiError(413, "too-costly", f"a chunk is at most {MAX_CHUNK} bytes")
        return await run_in_threadpool(imaging.put_chunk, request, p, uid, raw, _base(request, ""))

    @app.get("/odonto/v1/imaging/files/{uid}", tags=["odonto"])
    async def imaging_file(uid: str, request: Request) -> Response:
        p = await enter(request)
        return await run_in_threadpool(imaging.file, p, uid)

    # --- webhooks ------------------------------------------------------------------------------------

    only("/webhooks", "GET", "POST")

    @app.post("/webhooks", tags=["webhooks"])
    async def webhook_subscribe(request: Request) -> Response:
        p = await enter(request)
        raw = await body(request)
        return await run_in_threadpool(webhooks.subscribe, request, p, raw)

    @app.get("/webhooks", tags=["webhooks"])
    async def webhook_list(request: Request) -> Response:
        p = await enter(request)
        return await run_in_threadpool(webhooks.list, p)

    @app.get("/webhooks/{sid}", tags=["webhooks"])
    async def webhook_get(sid: str, request: Request) -> Response:
        p = await enter(request)
        return await run_in_threadpool(webhooks.get, p, sid)

    @app.delete("/webhooks/{sid}", tags=["webhooks"])
    async def webhook_delete(sid: str, request: Request) -> Response:
        p = await enter(request)
        return await run_in_threadpool(webhooks.deactivate, p, sid)

    @app.post("/webhooks/{sid}/rotate", tags=["webhooks"])
    async def webhook_rotate(sid: str, request: Request) -> Response:
        p = await enter(request)
        raw = await body(request)
        return await run_in_threadpool(webhooks.rotate, request, p, sid, raw)

    @app.get("/webhooks/{sid}/deliveries", tags=["webhooks"])
    async def webhook_deliveries(sid: str, request: Request) -> Response:
        p = await enter(request)
        return await run_in_threadpool(webhooks.deliveries, p, sid, request.url.query)

    @app.get("/fhir/{rtype}/{rid}/_history/{vid}", tags=["fhir"])
    async def fhir_vread(rtype: str, rid: str, vid: str, request: Request) -> Response:
        p = await enter(request)
        return await run_in_threadpool(fhir.vread, p, rtype, rid, vid, _base(request))

    register_admin_routes(app, gate, audit)
    return server


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """The methods of the first route template that matches this path (what Starlette chose)."""
    from starlette.routing import Match

    path = None
    for route in app.router.routes:
        for m in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            if route.matches({**request.scope, "method": m})[0] is Match.FULL:
                path = getattr(route, "path", None)
                break
        if path is not None:
            break
    methods: set[str] = set()
    for route in app.router.routes:
        if getattr(route, "path", None) == path and getattr(route, "include_in_schema", True):
            methods |= set(getattr(route, "methods", None) or ())
    methods.discard("HEAD")
    return sorted(methods)


def _in_tx(store: FhirStore, fn: Callable[[], Any]) -> Any:
    with store.transaction():
        return fn()


def create_app(config: ServerConfig) -> FastAPI:
    return create_server(config).app
