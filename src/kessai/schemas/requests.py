"""Request bodies, validated with pydantic on top of the core's rules.

`parse(Model, data)` turns the first broken rule into a KOMOJU error naming the parameter
in bracket form (`line_items[0][amount]`). Unknown parameters are ignored; fields a merchant
must not set (`id`, `status`, ...) are simply not part of any model.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator
from pydantic_core import ErrorDetails

from kessai.core import money, rules
from kessai.core.payment_types import KONBINI_STORES, PAYMENT_TYPES
from kessai.core.payments import STATUSES as PAYMENT_STATUSES
from kessai.core.sessions import LOCALES, MODES, PAYMENT_MODES
from kessai.errors import PARAMETER_ERRORS, InvalidParameter, MissingParameter, ParameterError

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def _rule(fn: Callable[[Any], T]) -> Any:
    return BeforeValidator(fn)


def _str(max_length: int) -> Any:
    return _rule(lambda v: rules.text(v, max_length=max_length))


def _choice(*choices: str) -> Any:
    return _rule(lambda v: rules.one_of(v, choices))


def _payment_type(value: Any) -> str:
    if not isinstance(value, str) or value not in PAYMENT_TYPES:
        raise rules.Invalid(
            f"must be one of the payment types: {', '.join(PAYMENT_TYPES)}",
            "invalid_payment_type",
        )
    return value


def _statuses(value: Any) -> tuple[str, ...]:
    parts = value if isinstance(value, list) else str(value).split(",")
    result = tuple(str(p).strip() for p in parts if str(p).strip())
    for status in result:
        if status not in PAYMENT_STATUSES:
            raise rules.Invalid(f"must be a comma list of: {', '.join(PAYMENT_STATUSES)}")
    return result


def _list(value: Any) -> Any:
    if isinstance(value, dict) and all(str(k).isdigit() for k in value):  # form: a[0]=..
        return [value[k] for k in sorted(value, key=int)]
    if not isinstance(value, list):
        raise rules.Invalid("must be an array")
    return value


def _object(value: Any) -> Any:
    if not isinstance(value, dict):
        raise rules.Invalid("must be an object")
    return value


Amount = Annotated[int, _rule(money.amount)]
Currency = Annotated[str, _rule(money.currency)]
Url = Annotated[str, _rule(rules.http_url)]
Email = Annotated[str, _rule(rules.email)]
Metadata = Annotated[dict[str, str], _rule(rules.metadata)]
Str255 = Annotated[str, _str(255)]


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LineItem(Model):
    amount: Amount
    description: Str255 | None = None
    quantity: Annotated[int, _rule(lambda v: rules.integer(v, minimum=1, maximum=10**6))] = 1
    image: Url | None = None
    external_product_num: Str255 | None = None


class Address(Model):
    name: Str255 | None = None
    street_address1: Str255 | None = None
    street_address2: Str255 | None = None
    city: Str255 | None = None
    state: Str255 | None = None
    zipcode: Annotated[str, _str(20)] | None = None
    country: Annotated[str, _str(2)] | None = None


class PaymentData(Model):
    capture: Annotated[str, _choice("auto", "manual")] = "auto"
    external_order_num: Str255 | None = None
    name: Str255 | None = None
    name_kana: Str255 | None = None
    billing_address: Annotated[Address, _rule(_object)] | None = None
    shipping_address: Annotated[Address, _rule(_object)] | None = None
    statement_descriptor: Annotated[str, _str(22)] | None = None
    mcc: Annotated[str, _rule(lambda v: rules.digits(v, 4))] | None = None


class CreateSession(Model):
    mode: Annotated[str, _choice(*MODES)] = "payment"
    amount: Amount | None = None
    currency: Currency
    return_url: Url | None = None
    email: Email | None = None
    expires_in_seconds: (
        Annotated[int, _rule(lambda v: rules.integer(v, minimum=1, maximum=86400))] | None
    ) = None
    external_customer_id: Str255 | None = None
    payment_types: Annotated[list[Annotated[str, _rule(_payment_type)]], _rule(_list)] | None = None
    default_locale: Annotated[str, _choice(*LOCALES)] = "ja"
    line_items: Annotated[list[Annotated[LineItem, _rule(_object)]], _rule(_list)] | None = None
    metadata: Metadata = {}
    payment_data: Annotated[PaymentData, _rule(_object)] | None = None
    customer_id: Annotated[str, _str(25)] | None = None

    @model_validator(mode="after")
    def _by_mode(self) -> CreateSession:
        if self.mode in PAYMENT_MODES and self.amount is None:
            raise _FieldError(MissingParameter("amount is required in this mode", param="amount"))
        if self.mode not in PAYMENT_MODES and self.payment_data is not None:
            raise _FieldError(
                InvalidParameter(
                    "payment_data is only allowed in payment and customer_payment modes",
                    param="payment_data",
                )
            )
        if self.mode == "payment" and self.customer_id is not None:
            raise _FieldError(
                InvalidParameter(
                    "customer_id is only allowed in customer and customer_payment modes",
                    param="customer_id",
                )
            )
        if self.line_items is not None and len(self.line_items) > 100:
            raise _FieldError(
                InvalidParameter("line_items must have at most 100 items", param="line_items")
            )
        return self


class CardDetails(Model):
    type: Annotated[str, _rule(_payment_type)]
    number: Annotated[str, _str(40)]
    month: Annotated[int, _rule(lambda v: rules.integer(v, minimum=1, maximum=12))]
    year: Annotated[int, _rule(lambda v: rules.integer(v, minimum=0, maximum=9999))]
    verification_value: Annotated[str, _str(4)] | None = None
    name: Str255 | None = None
    email: Email | None = None


class PaymentDetailsType(Model):
    type: Annotated[str, _rule(_payment_type)]


class KonbiniDetails(Model):
    type: Annotated[str, _rule(_payment_type)]
    store: Annotated[str, _choice(*KONBINI_STORES)]
    email: Email
    expiry_days: Annotated[int, _rule(lambda v: rules.integer(v, minimum=1, maximum=59))] = 3
    phone: Annotated[str, _str(20)] | None = None


class CashDetails(Model):
    """bank_transfer and pay_easy."""

    type: Annotated[str, _rule(_payment_type)]
    email: Email
    expiry_days: Annotated[int, _rule(lambda v: rules.integer(v, minimum=1, maximum=59))] = 3
    family_name: Str255 | None = None
    given_name: Str255 | None = None
    family_name_kana: Str255 | None = None
    given_name_kana: Str255 | None = None
    phone: Annotated[str, _str(20)] | None = None


class WalletDetails(Model):
    type: Annotated[str, _rule(_payment_type)]
    email: Email | None = None


PaymentDetails = Annotated[dict[str, Any], _rule(_object)] | Annotated[str, _str(100)]


class PaySession(Model):
    payment_details: PaymentDetails
    capture: Annotated[str, _choice("auto", "manual")] | None = None
    fraud_details: Any = None


Tax = Annotated[int, _rule(money.amount)]
Bool = Annotated[bool, _rule(rules.boolean)]


class CreatePayment(Model):
    amount: Amount
    currency: Currency
    capture: Bool = True
    payment_details: PaymentDetails | None = None
    customer: Annotated[str, _str(25)] | None = None
    external_order_num: Str255 | None = None
    description: Annotated[str, _str(2000)] | None = None
    metadata: Metadata = {}
    tax: Tax = 0
    return_url: Url | None = None
    locale: Annotated[str, _choice(*LOCALES)] = "ja"
    fraud_details: Any = None

    @model_validator(mode="after")
    def _one_source(self) -> CreatePayment:
        _details_or_customer(self.payment_details, self.customer)
        return self


class UpdatePayment(Model):
    description: Annotated[str, _str(2000)] | None = None
    metadata: Metadata | None = None


class CapturePayment(Model):
    amount: Amount | None = None


class RefundPayment(Model):
    amount: Amount | None = None
    description: Annotated[str, _str(2000)] | None = None


class CreateRefundRequest(Model):
    amount: Amount
    customer_name: Str255
    bank_name: Str255
    bank_code: Annotated[str, _rule(lambda v: rules.digits(v, 4))] | None = None
    branch_name: Str255 | None = None
    branch_number: Annotated[str, _rule(lambda v: rules.digits(v, 3))]
    account_type: Annotated[str, _choice("normal", "current", "savings", "checking")]
    account_number: Annotated[str, _rule(lambda v: rules.digits(v, 7))]
    include_payment_method_fee: Bool
    description: Annotated[str, _str(2000)] | None = None


class CustomerParams(Model):
    email: Email | None = None
    metadata: Metadata | None = None
    currency: Currency | None = None
    locale: Annotated[str, _choice(*LOCALES)] | None = None
    payment_details: PaymentDetails | None = None


class CreateSubscription(Model):
    customer: Annotated[str, _str(25)]
    amount: Amount
    currency: Currency
    period: Annotated[str, _choice("weekly", "monthly", "yearly")]
    metadata: Metadata = {}


class CreateToken(Model):
    payment_details: Annotated[dict[str, Any], _rule(_object)]
    currency: Currency | None = None


class CreateSecureToken(Model):
    amount: Amount
    currency: Currency
    return_url: Url
    payment_details: Annotated[dict[str, Any], _rule(_object)] | None = None
    customer: Annotated[str, _str(25)] | None = None
    platform_details: Any = None

    @model_validator(mode="after")
    def _one_card(self) -> CreateSecureToken:
        _details_or_customer(self.payment_details, self.customer)
        return self


class ListParams(Model):
    page: Annotated[int, _rule(lambda v: rules.integer(v, minimum=1, maximum=10**9))] = 1
    per_page: Annotated[int, _rule(lambda v: rules.integer(v, minimum=1, maximum=100))] = 10
    start_time: Annotated[datetime, _rule(rules.timestamp)] | None = None
    end_time: Annotated[datetime, _rule(rules.timestamp)] | None = None


class PaymentListParams(ListParams):
    status: Annotated[tuple[str, ...], _rule(_statuses)] | None = None
    currency: Currency | None = None
    external_order_num: Str255 | None = None


class MoveClock(Model):
    """`POST /kessai/v1/clock`: exactly one of the two."""

    advance_seconds: (
        Annotated[int, _rule(lambda v: rules.integer(v, minimum=1, maximum=10**10))] | None
    ) = None
    now: Annotated[datetime, _rule(rules.timestamp)] | None = None

    @model_validator(mode="after")
    def _one(self) -> MoveClock:
        if self.advance_seconds is None and self.now is None:
            raise _FieldError(
                MissingParameter(
                    "Give advance_seconds (how far to move the clock) or now (the time to "
                    "move it to).",
                    param="advance_seconds",
                )
            )
        if self.advance_seconds is not None and self.now is not None:
            raise _FieldError(
                InvalidParameter("Give advance_seconds or now, not both.", param="now")
            )
        return self


def _details_or_customer(payment_details: Any, customer: str | None) -> None:
    """Exactly one source of a card: `payment_details` or a saved `customer`."""
    if (payment_details is None) == (customer is None):
        raise _FieldError(
            MissingParameter(
                "give exactly one of payment_details or customer", param="payment_details"
            )
            if customer is None
            else InvalidParameter("give payment_details or customer, not both", param="customer")
        )


class _FieldError(ValueError):
    """Carries a ready KOMOJU error out of a model validator."""

    def __init__(self, error: ParameterError) -> None:
        super().__init__(error.message)
        self.error = error


def parse(model: type[M], data: Any, *, prefix: str = "") -> M:
    if data is None:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _to_komoju(exc.errors()[0], prefix) from None


def param_name(loc: tuple[int | str, ...], prefix: str = "") -> str:
    parts = [str(p) for p in loc]
    if prefix:
        parts.insert(0, prefix)
    if not parts:
        return ""
    return parts[0] + "".join(f"[{p}]" for p in parts[1:])


def _to_komoju(err: ErrorDetails, prefix: str) -> ParameterError:
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, _FieldError):
        error = cause.error
        if prefix and error.param:
            error.param = param_name((error.param,), prefix)
        return error
    # Errors inside a BeforeValidator report the field itself; drop pydantic's type tags.
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    name = param_name(loc, prefix)
    if err["type"] == "missing":
        return MissingParameter(f"{name} is required", param=name)
    if isinstance(cause, rules.Invalid):
        if cause.code == "invalid_payment_type":  # name the list, not its element
            name = param_name(tuple(p for p in loc if not isinstance(p, int)), prefix)
        cls = PARAMETER_ERRORS.get(cause.code, InvalidParameter)
        return cls(f"{name} {cause.message}", param=name)
    if not name:
        return InvalidParameter("the request body must be an object of parameters", param=None)
    return InvalidParameter(f"{name} has the wrong type or format", param=name)
