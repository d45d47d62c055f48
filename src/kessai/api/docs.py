"""`GET /openapi.json` and `GET /docs` (Swagger UI).

The document is built once per process, on first request, from the routers the app
mounts. The docs page and every asset it loads come from this server (Swagger UI's files
ship in the `fastapi-offline` package), and its Content-Security-Policy allows no other
host.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from kessai.api import openapi

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>kessai API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init/docs.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


def swagger_assets() -> StaticFiles:
    return StaticFiles(directory=str(files("fastapi_offline") / "static"))


def init_script() -> StaticFiles:
    return StaticFiles(directory=str(Path(__file__).parent / "docs_static"))


def document(routers: openapi.Mounted) -> bytes:
    return json.dumps(openapi.build(routers), separators=(",", ":")).encode()


@router.get("/openapi.json")
async def openapi_json(request: Request) -> Response:
    state = request.app.state
    if getattr(state, "openapi_json", None) is None:
        state.openapi_json = document(state.api_routers)
    return Response(state.openapi_json, media_type="application/json")


@router.get("/docs")
async def docs_page() -> Response:
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": CSP})
