"""/api/v1/external_customers: forget the cards kept for one-click (KOMOJU's "External
Customer: Destroy").

`{id}` is the merchant's own `external_customer_id` (any text up to 255 characters), not a
kessai id: the path parameter is named `id`, as KOMOJU's, so the edge check of `*_id`
parameters (`api.common.check_edge`) leaves it alone.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from kessai.api.common import ok, write
from kessai.api.openapi import operation
from kessai.schemas import resources, shapes
from kessai.services import one_click

router = APIRouter()


@router.delete("/external_customers/{id:path}")
@operation(
    "Delete an external customer's saved cards",
    ok=shapes.ExternalCustomerDeleted,
    description="Erases every card kept on the hosted page (one-click) for this "
    "`external_customer_id` in the caller's merchant and mode. An id with no kept card "
    "is 404 `not_found`.",
)
async def delete_external_customer(request: Request) -> Response:
    external_id: str = request.path_params["id"]
    return await write(
        request,
        lambda conn, rt, caller, body: one_click.forget(conn, caller, external_id),
        lambda rt, result: ok(resources.external_customer_deleted(result)),
        store_only=True,
    )
