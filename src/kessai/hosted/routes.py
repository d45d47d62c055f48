"""All hosted-page routes, in one router for the app to mount.

Every route first checks its path ids (`pages.well_formed_ids`): one that cannot exist is
the 404 page, and no query is made. Then it sets the clock of the merchant whose object it
shows (`hosted.clock.merchant_clock`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from kessai.hosted import actions, checkout, icons, secure_tokens
from kessai.hosted.clock import merchant_clock
from kessai.hosted.pages import error_page, plain_page, static_files, well_formed_ids

router = APIRouter(include_in_schema=False)
# Each page runs on the clock of the merchant whose object it shows (`hosted.clock`).
PAGE = [Depends(well_formed_ids), Depends(merchant_clock)]
router.include_router(checkout.router, dependencies=PAGE)
router.include_router(actions.router, dependencies=PAGE)
router.include_router(secure_tokens.router, dependencies=PAGE)
router.include_router(icons.router)  # no ids, no clock: static drawings

__all__ = ["router", "error_page", "plain_page", "static_files"]
