"""Every dashboard route, in one router for the app to mount (static files separately)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.staticfiles import StaticFiles

from kessai.dashboard import (
    account,
    auth,
    events,
    ledger,
    objects,
    payment_actions,
    payments,
    webhooks,
)
from kessai.dashboard.render import HERE

router = APIRouter(include_in_schema=False)
for module in (auth, payments, payment_actions, objects, events, webhooks, ledger, account):
    router.include_router(module.router)


def static_files() -> StaticFiles:
    return StaticFiles(directory=HERE / "static")
