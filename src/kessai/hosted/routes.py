"""All hosted-page routes, in one router for the app to mount."""

from __future__ import annotations

from fastapi import APIRouter

from kessai.hosted import actions, checkout
from kessai.hosted.pages import error_page, static_files

router = APIRouter(include_in_schema=False)
router.include_router(checkout.router)
router.include_router(actions.router)

__all__ = ["router", "error_page", "static_files"]
