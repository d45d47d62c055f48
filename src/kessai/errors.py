"""The one error tree. Every error a client can see is a `KessaiError`.

    KessaiError                      code (stable)            HTTP
    ├── BadRequest                   bad_request              400
    ├── Unauthorized                 unauthorized             401
    ├── Forbidden                    forbidden                403
    ├── NotFound                     not_found                404
    │   └── FormatUnavailable        format_unavailable
    ├── Conflict                     conflict                 409
    ├── ParameterError                                        422
    │   ├── MissingParameter         missing_parameter
    │   ├── InvalidParameter         invalid_parameter
    │   ├── InvalidCurrency          invalid_currency
    │   └── InvalidPaymentType       invalid_payment_type
    ├── StateError                                            422
    │   ├── NotCapturable            not_capturable
    │   ├── NotRefundable            not_refundable
    │   ├── NotCancellable           not_cancellable
    │   ├── NotFinalizable           not_finalizable
    │   ├── SessionNotPayable        session_not_payable
    │   ├── InsufficientBalance      insufficient_balance
    │   ├── NotDisputable            not_disputable
    │   ├── NotAcceptable            not_acceptable
    │   └── NotDefendable            not_defendable
    ├── RequestTimeout               request_timeout          408
    ├── RequestTooLarge              request_too_large        413
    ├── TooManyRequests              too_many_requests        429
    ├── ProcessorUnavailable         processor_unavailable    503
    └── ServiceUnavailable           service_unavailable      503

A declined card is *not* here: declines are data (`kessai.core.outcomes.Declined`) that the
service records and the transport renders as a 402 body with the decline code.

Messages say what was wrong and how to fix it. They never echo card numbers or CVVs.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict


@with_config(ConfigDict(extra="forbid"))
class ErrorDetail(TypedDict):
    code: str
    message: str
    param: str | None
    details: dict[str, Any]


@with_config(ConfigDict(extra="forbid"))
class ErrorBody(TypedDict):
    """KOMOJU's error body; its type is also the OpenAPI document's `Error` schema."""

    error: ErrorDetail


class KessaiError(Exception):
    status = 500
    code = "internal_server_error"

    def __init__(
        self, message: str, *, param: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.details = details or {}

    def body(self) -> ErrorBody:
        return error_body(self.code, self.message, self.param, self.details)


def error_body(
    code: str, message: str, param: str | None = None, details: dict[str, Any] | None = None
) -> ErrorBody:
    return {"error": {"code": code, "message": message, "param": param, "details": details or {}}}


class BadRequest(KessaiError):
    status = 400
    code = "bad_request"


class Unauthorized(KessaiError):
    status = 401
    code = "unauthorized"


class Forbidden(KessaiError):
    status = 403
    code = "forbidden"


class NotFound(KessaiError):
    status = 404
    code = "not_found"


class FormatUnavailable(NotFound):
    """A document in a format kessai does not make (a settlement as PDF or XLS: CSV only)."""

    code = "format_unavailable"


class Conflict(KessaiError):
    status = 409
    code = "conflict"


class ParameterError(KessaiError):
    status = 422
    code = "invalid_parameter"


class MissingParameter(ParameterError):
    code = "missing_parameter"


class InvalidParameter(ParameterError):
    code = "invalid_parameter"


class InvalidCurrency(ParameterError):
    code = "invalid_currency"


class InvalidPaymentType(ParameterError):
    code = "invalid_payment_type"


class StateError(KessaiError):
    status = 422


class NotCapturable(StateError):
    code = "not_capturable"


class NotRefundable(StateError):
    code = "not_refundable"


class NotCancellable(StateError):
    code = "not_cancellable"


class NotFinalizable(StateError):
    """KOMOJU's card-present (EMV terminal) step: kessai takes card-not-present payments."""

    code = "not_finalizable"


class SessionNotPayable(StateError):
    code = "session_not_payable"


class InsufficientBalance(StateError):
    """A disbursement larger than the balance it is drawn from (`details`: the figures)."""

    code = "insufficient_balance"


class NotDisputable(StateError):
    """The test tool cannot open a chargeback on this payment (not a captured card
    payment, already disputed, nothing left to dispute)."""

    code = "not_disputable"


class NotAcceptable(StateError):
    """A chargeback that is not pending, or past its due date, cannot be accepted."""

    code = "not_acceptable"


class NotDefendable(StateError):
    """A chargeback that is not pending, or past its due date, cannot be defended."""

    code = "not_defendable"


class ProcessorUnavailable(KessaiError):
    status = 503
    code = "processor_unavailable"


class ServiceUnavailable(KessaiError):
    """Not carried out at all (an injected `error_before` fault, kessai/edge/faults.py)."""

    status = 503
    code = "service_unavailable"


class RequestTimeout(KessaiError):
    """The body did not arrive in time; the connection is closed after the answer."""

    status = 408
    code = "request_timeout"
    headers = {"Connection": "close"}


class RequestTooLarge(KessaiError):
    """The body is past the size limit; refused before it is read, connection closed."""

    status = 413
    code = "request_too_large"
    headers = {"Connection": "close"}


class TooManyRequests(KessaiError):
    """A rate limit is spent; `Retry-After` says in how many seconds to try again."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


PARAMETER_ERRORS: dict[str, type[ParameterError]] = {
    cls.code: cls
    for cls in (MissingParameter, InvalidParameter, InvalidCurrency, InvalidPaymentType)
}
