"""The ASGI application: `create_app(settings)` mounts the API and the hosted page.

The lifespan owns the database engine and builds the `Runtime` the services use. One set
of handlers turns every error into KOMOJU's JSON body (API paths) or a plain page (the
hosted page); nothing ever answers with a stack trace.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from kessai.api import customers as api_customers
from kessai.api import events as api_events
from kessai.api import payments as api_payments
from kessai.api import sessions as api_sessions
from kessai.api import tokens as api_tokens
from kessai.api.cors import PublishableCORS
from kessai.errors import KessaiError, error_body
from kessai.hosted import routes as hosted_routes
from kessai.processors.simulated import SimulatedProcessor
from kessai.services import execute
from kessai.services.runtime import KeyCache, Runtime
from kessai.settings import Settings
from kessai.store import merchants
from kessai.store.db import Database
from kessai.worker.runner import background

log = logging.getLogger("kessai")


async def build_runtime(settings: Settings, db: Database) -> Runtime:
    async with db.transaction() as conn:
        secret = await merchants.server_secret(conn, "server")
    return Runtime(
        settings=settings,
        db=db,
        secret=bytes.fromhex(secret),
        test_processor=SimulatedProcessor(),
        keys=KeyCache(settings.auth_cache_seconds),
    )


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database.from_url(settings.database_url, pool_size=settings.db_pool_size)
        rt = app.state.runtime = await build_runtime(settings, db)
        # Everything loaded so far lives as long as the process: take it out of the
        # collector's sight, or every full collection walks it all again (measured: the
        # p99 of session show fell from ~65 ms to ~7 ms; see docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        try:
            if settings.embedded_worker:
                async with background(rt):
                    yield
            else:
                yield
        finally:
            await db.dispose()

    app = FastAPI(
        title="kessai",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    for module in (api_sessions, api_payments, api_customers, api_tokens, api_events):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(api_events.admin, prefix="/kessai/v1")
    if settings.bench_floor:
        from kessai.api import floor

        app.include_router(floor.router)
    app.include_router(hosted_routes.router)
    app.mount("/static", hosted_routes.static_files(), name="static")

    @app.get("/health")
    async def health(request: Request) -> Response:
        try:
            await request.app.state.runtime.db.ping()
        except Exception:  # noqa: BLE001 - any failure means the store is unreachable
            log.exception("health check failed")
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.exception_handler(KessaiError)
    async def kessai_error(request: Request, exc: KessaiError) -> Response:
        headers = {"WWW-Authenticate": 'Basic realm="kessai"'} if exc.status == 401 else None
        if _is_api(request):
            return Response(
                execute.dumps(exc.body()),
                status_code=exc.status,
                media_type="application/json",
                headers=headers,
            )
        return hosted_routes.error_page(request, exc.status, exc.message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if _is_api(request):
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
            message = {
                404: "No such endpoint. Check the path against the API reference.",
                405: "This endpoint does not accept that HTTP method.",
            }.get(exc.status_code, str(exc.detail))
            return JSONResponse(error_body(code, message), status_code=exc.status_code)
        return hosted_routes.error_page(request, exc.status_code)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        message = "Something went wrong on our side; the request was not applied. Retry it."
        if _is_api(request):
            return JSONResponse(error_body("internal_server_error", message), status_code=500)
        return HTMLResponse(message, status_code=500)

    app.add_middleware(PublishableCORS)
    return app


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/kessai/"))


def app_from_env() -> FastAPI:
    """The factory `kessai serve` hands to uvicorn (one per server process)."""
    import os

    return create_app(
        Settings.from_env(
            host=os.environ.get("KESSAI_HOST", "127.0.0.1"),
            port=int(os.environ.get("KESSAI_PORT", "8000")),
        )
    )
