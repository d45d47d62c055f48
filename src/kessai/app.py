"""The ASGI application: `create_app(settings)` mounts the API and the hosted page.

The lifespan owns the database engine and builds the `Runtime` the services use. One set
of handlers turns every error into KOMOJU's JSON body (API paths) or a plain page (the
hosted page); nothing ever answers with a stack trace.
"""

from __future__ import annotations

import gc
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from kessai.api import balances as api_balances
from kessai.api import barcodes as api_barcodes
from kessai.api import chargebacks as api_chargebacks
from kessai.api import clock as api_clock
from kessai.api import customers as api_customers
from kessai.api import disbursements as api_disbursements
from kessai.api import docs as api_docs
from kessai.api import events as api_events
from kessai.api import external_customers as api_external_customers
from kessai.api import finalize as api_finalize
from kessai.api import ledger as api_ledger
from kessai.api import payments as api_payments
from kessai.api import processor_hooks as api_processor_hooks
from kessai.api import secure_tokens as api_secure_tokens
from kessai.api import sessions as api_sessions
from kessai.api import settlements as api_settlements
from kessai.api import subscriptions as api_subscriptions
from kessai.api import tokens as api_tokens
from kessai.api.cors import PublishableCORS
from kessai.dashboard import render as dashboard_render
from kessai.dashboard import routes as dashboard_routes
from kessai.dashboard.auth import LOGIN, SignInNeeded
from kessai.edge.faults import Faults
from kessai.edge.middleware import EdgeLimits
from kessai.edge.ratelimit import RateLimiter
from kessai.errors import KessaiError, error_body
from kessai.hosted import routes as hosted_routes
from kessai.hosted.pages import INTERNAL_ERROR
from kessai.observe import metrics, ready
from kessai.observe.middleware import Observe, request_id_header
from kessai.services import execute
from kessai.services.processor_config import StoreDirectory, close_directory
from kessai.services.runtime import KeyCache, Runtime
from kessai.settings import Settings
from kessai.store import merchants
from kessai.store.db import Database
from kessai.worker.runner import background

log = logging.getLogger("kessai")


async def build_runtime(settings: Settings, db: Database) -> Runtime:
    metrics.track_pools({"main": db.engine, "sqlite_writer": db.writer})
    async with db.transaction() as conn:
        secret = await merchants.server_secret(conn, "server")
    return Runtime(
        settings=settings,
        db=db,
        secret=bytes.fromhex(secret),
        # Each merchant's choice (`kessai processor set`), re-read every 2 s.
        processors=StoreDirectory.of_url(settings.database_url),
        keys=KeyCache(settings.auth_cache_seconds),
    )


def create_app(settings: Settings) -> FastAPI:
    limiter = RateLimiter(settings.edge, installation=settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database.from_url(settings.database_url, pool_size=settings.db_pool_size)
        rt = app.state.runtime = await build_runtime(settings, db)
        rt.limiter = limiter
        # Everything loaded so far lives as long as the process: take it out of the
        # collector's sight, or every full collection walks it all again (measured: the
        # p99 of session show fell from ~65 ms to ~7 ms; see docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        try:
            async with metrics.process_metrics(settings.metrics_dir):
                if settings.embedded_worker:
                    async with background(rt):
                        yield
                else:
                    yield
        finally:
            await close_directory(rt.processors)
            await db.dispose()

    app = FastAPI(
        title="kessai",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    # The API's routers, as mounted: also what /openapi.json is generated from.
    app.state.api_routers = [
        *[
            ("/api/v1", module.router)
            for module in (api_sessions, api_payments, api_customers, api_tokens, api_events)
        ],
        ("/api/v1", api_external_customers.router),
        ("/api/v1", api_secure_tokens.router),
        ("/api/v1", api_barcodes.router),
        ("/api/v1", api_subscriptions.router),
        ("/api/v1", api_finalize.router),
        ("/api/v1", api_balances.router),
        ("/api/v1", api_settlements.router),
        ("/api/v1", api_chargebacks.router),
        ("/api/v1", api_disbursements.router),
        ("/kessai/v1", api_events.admin),
        ("/kessai/v1", api_processor_hooks.router),
        ("/kessai/v1", api_clock.router),
        ("/kessai/v1", api_chargebacks.admin),
        ("/kessai/v1", api_ledger.router),
    ]
    for prefix, api_router in app.state.api_routers:
        app.include_router(api_router, prefix=prefix)
    if settings.bench_floor:
        from kessai.api import floor

        app.include_router(floor.router)
    app.include_router(hosted_routes.router)
    app.include_router(dashboard_routes.router)
    app.mount("/dashboard/static", dashboard_routes.static_files(), name="dashboard_static")
    app.mount("/static", hosted_routes.static_files(), name="static")
    # Last: routes are matched in order, and the documentation is the least asked for.
    app.include_router(api_docs.router)
    app.mount("/docs/assets", api_docs.swagger_assets(), name="docs_assets")
    app.mount("/docs/init", api_docs.init_script(), name="docs_init")

    @app.get("/health")
    async def health() -> Response:
        """Liveness: the process answers. It touches nothing (see /ready)."""
        return JSONResponse({"status": "ok"})

    @app.get("/ready")
    async def readiness(request: Request) -> Response:
        """Readiness: the store answers and its schema is current (503 says why not)."""
        ok, body = await ready.check(request.app.state.runtime.db)
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def metrics_text(request: Request) -> Response:
        token = settings.metrics_token
        if token is not None and not hmac.compare_digest(
            request.headers.get("authorization", "").encode(), f"Bearer {token}".encode()
        ):
            return JSONResponse(
                error_body("unauthorized", "/metrics needs Authorization: Bearer <token>."),
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="kessai-metrics"'},
            )
        return Response(metrics.exposition(settings.metrics_dir), media_type=metrics.CONTENT_TYPE)

    @app.exception_handler(KessaiError)
    async def kessai_error(request: Request, exc: KessaiError) -> Response:
        headers = {"WWW-Authenticate": 'Basic realm="kessai"'} if exc.status == 401 else None
        headers = getattr(exc, "headers", None) or headers  # Retry-After, Connection: close
        if _is_api(request):
            return Response(
                execute.dumps(exc.body()),
                status_code=exc.status,
                media_type="application/json",
                headers=headers,
            )
        if _is_dashboard(request):
            page = dashboard_render.error_page(request, exc.status, exc.message)
        else:
            page = hosted_routes.error_page(request, exc.status, exc.message)
        page.headers.update(headers or {})
        return page

    @app.exception_handler(SignInNeeded)
    async def sign_in(request: Request, exc: SignInNeeded) -> Response:
        return RedirectResponse(LOGIN, status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if _is_api(request):
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
            message = {
                404: "No such endpoint. Check the path against the API reference.",
                405: "This endpoint does not accept that HTTP method.",
            }.get(exc.status_code, str(exc.detail))
            return JSONResponse(error_body(code, message), status_code=exc.status_code)
        if _is_dashboard(request):
            return dashboard_render.error_page(request, exc.status_code, "No such page.")
        return hosted_routes.error_page(request, exc.status_code)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        # Written outside every middleware: return the request id here.
        response: Response
        if _is_api(request):
            response = JSONResponse(
                error_body("internal_server_error", INTERNAL_ERROR), status_code=500
            )
        else:
            # with the hosted security headers
            response = hosted_routes.plain_page(500, INTERNAL_ERROR)
        response.headers.update(request_id_header(request))
        return response

    # Faults (`serve --faults`, `Kessai-Fault`) on /api/v1 only: inside the limits (a
    # refused request gets no fault), inside Observe (an injected fault is counted, logged).
    app.add_middleware(Faults, spec=settings.faults)
    # Inside CORS, so a browser script can read a 429 or 413 from the limits.
    app.add_middleware(EdgeLimits, settings=settings.edge, limiter=limiter)
    app.add_middleware(PublishableCORS)
    # Outermost (added last): every answer, a refusal by another middleware too, is
    # counted, logged and carries the request id.
    app.add_middleware(Observe)
    return app


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/kessai/"))


def _is_dashboard(request: Request) -> bool:
    return request.url.path.startswith("/dashboard")


def app_from_env() -> FastAPI:
    """The factory `kessai serve` hands to uvicorn (one per server process)."""
    return create_app(Settings.for_server_process())
