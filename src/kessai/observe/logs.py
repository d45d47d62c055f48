"""Logging for every kessai process: one handler on stderr, text or JSON, request ids.

`config(level, fmt)` is a `logging.config.dictConfig` dictionary; `kessai serve` hands it
to uvicorn (which applies it in every server process) and `kessai worker` applies it
itself. Every line goes through `RequestContext`, which adds the id of the request being
served (and its merchant, when authentication named one), so a request's lines can be
found together. JSON lines are written by python-json-logger: one object per line, with
`time`, `level`, `logger`, `message`, `request_id`, `merchant_id` and the line's own fields.

kessai's access log (`kessai.access`, written by the middleware) replaces uvicorn's: it
names the route template and the request id, which uvicorn's cannot.
"""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS

from kessai.observe import context

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(levelname)s %(name)s %(message)s"

access_log = logging.getLogger("kessai.access")


class RequestContext(logging.Filter):
    """Adds `request_id` and `merchant_id` to every record (`missing` outside a request:
    null in JSON, `-` in text)."""

    def __init__(self, missing: str | None = None) -> None:
        super().__init__()
        self.missing = missing

    def filter(self, record: logging.LogRecord) -> bool:
        info = context.current()
        if getattr(record, "request_id", None) is None:
            record.request_id = info.request_id if info is not None else self.missing
        if getattr(record, "merchant_id", None) is None:
            record.merchant_id = (info.merchant_id if info is not None else None) or self.missing
        return True


def config(level: str = "info", fmt: str = "text") -> dict[str, Any]:
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    formatter: dict[str, Any]
    if fmt == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",  # ISO 8601, UTC, from the record's creation
            "reserved_attrs": [*RESERVED_ATTRS, "color_message"],  # uvicorn's ANSI copy
        }
    else:
        formatter = {"format": TEXT_FORMAT}
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request": {
                "()": "kessai.observe.logs.RequestContext",
                "missing": None if fmt == "json" else "-",
            }
        },
        "formatters": {"kessai": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "kessai",
                "filters": ["request"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            # Replaced by kessai.access (see the module docstring).
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            # Alembic 1.20 announces each of its plugins at INFO on every start.
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
        "root": {"handlers": ["stderr"], "level": level},
    }


def configure(level: str = "info", fmt: str = "text") -> None:
    """Apply `config` to this process (`kessai worker`; uvicorn does it for `serve`)."""
    import logging.config

    logging.config.dictConfig(config(level, fmt))


def request_line(
    *,
    method: str,
    path: str,
    route: str,
    status: int,
    duration_ms: float,
    client: str | None,
) -> None:
    """The access line of one request (the request id and merchant come from the context)."""
    access_log.info(
        "%s %s %d %.1fms",
        method,
        repr(path)[1:-1],  # a path may hold %0A and the like: never a line break in a log
        status,
        duration_ms,
        extra={
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": round(duration_ms, 3),
            "client": client,
        },
    )
