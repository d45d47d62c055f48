"""What is known about the request being served, for every log line written while serving it.

The middleware starts a `RequestInfo` per request in a context variable; authentication adds
the merchant when it knows it. Code outside a request (the worker, the sweeper) sees None.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

HEADER = "x-request-id"
# What a client may choose as its request id: short, and safe in any log format.
_SANE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


@dataclass
class RequestInfo:
    request_id: str
    merchant_id: str | None = None
    livemode: bool | None = None


_current: ContextVar[RequestInfo | None] = ContextVar("kessai_request", default=None)


def request_id_from(header: bytes | None) -> str:
    """The client's X-Request-Id if it is sane (1-128 characters of a safe set), else a new
    one: a client cannot inject line breaks, quotes or megabytes into the logs."""
    if header is not None:
        try:
            value = header.decode("ascii")
        except UnicodeDecodeError:
            value = ""
        if _SANE.fullmatch(value):
            return value
    return uuid.uuid4().hex


def begin(request_id: str) -> RequestInfo:
    info = RequestInfo(request_id)
    _current.set(info)
    return info


def current() -> RequestInfo | None:
    return _current.get()


def note_merchant(merchant_id: str, livemode: bool) -> None:
    """Called by authentication: the request speaks for this merchant (and mode)."""
    info = _current.get()
    if info is not None:
        info.merchant_id = merchant_id
        info.livemode = livemode
