"""What the dashboard's lists read from the query: the pager's position."""

from __future__ import annotations

from starlette.requests import Request

from kessai.core import rules
from kessai.store.keyset import Cursor


def cursor(request: Request) -> Cursor:
    """`before`/`after` from the query (ids for `store.keyset.page`); a malformed one is
    ignored (the newest page)."""
    found: dict[str, str | None] = {}
    for name in ("before", "after"):
        value = request.query_params.get(name, "")
        found[name] = value if rules.is_id(value) else None
    return Cursor(**found)
