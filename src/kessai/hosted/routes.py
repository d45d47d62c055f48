"""All hosted-page routes, in one router for the app to mount.

Every route first checks its path ids (`pages.well_formed_ids`): one that cannot exist is
the 404 page, and no query is made.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from kessai.hosted import actions, checkout
from kessai.hosted.pages import error_page, plain_page, static_files, well_formed_ids

router = APIRouter(include_in_schema=False)
router.include_router(checkout.router, dependencies=[Depends(well_formed_ids)])
router.include_router(actions.router, dependencies=[Depends(well_formed_ids)])

__all__ = ["router", "error_page", "plain_page", "static_files"]
