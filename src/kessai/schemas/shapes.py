"""The shapes of the JSON objects kessai sends, as TypedDicts.

`kessai.schemas.resources` builds plain dicts typed with these (mypy checks each builder
against its shape), and `kessai.api.openapi` turns the same types into the OpenAPI
document's response schemas: one source, and no cost at run time. Objects are closed
(`extra="forbid"`: a key the type does not name contradicts the document), except
payment details, whose keys depend on the payment type.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, NotRequired, TypeVar

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

T = TypeVar("T")
CLOSED = ConfigDict(extra="forbid")


@with_config(CLOSED)
class Refund(TypedDict):
    id: str
    resource: Literal["refund"]
    amount: int
    currency: str
    payment: str
    description: str
    created_at: str
    chargeback: bool


@with_config(CLOSED)
class RefundRequest(TypedDict):
    id: str
    resource: Literal["refund_request"]
    payment: str
    customer_name: str
    bank_name: str
    bank_code: str
    branch_name: str
    branch_number: str
    account_type: str
    account_number: str
    amount: int
    include_payment_method_fee: bool
    description: str
    status: str
    created_at: str


@with_config(ConfigDict(extra="allow"))
class PaymentDetails(TypedDict):
    """`type` and the details that payment type records (card brand and last four,
    konbini store and receipt, bank instructions, ...)."""

    type: str


@with_config(CLOSED)
class Payment(TypedDict):
    id: str
    resource: Literal["payment"]
    status: str
    amount: int
    tax: int
    payment_method_fee: int
    total: int
    currency: str
    description: str | None
    captured_at: str | None
    external_order_num: str | None
    metadata: dict[str, str]
    created_at: str
    amount_refunded: int
    processing_fee: int
    locale: str
    session: str | None
    customer: str | None
    customer_family_name: str | None
    customer_given_name: str | None
    mcc: str | None
    statement_descriptor: str | None
    payment_deadline: str | None
    payment_details: PaymentDetails
    refunds: list[Refund]
    refund_requests: list[RefundRequest]


@with_config(CLOSED)
class Customer(TypedDict):
    id: str
    resource: Literal["customer"]
    email: str | None
    source: PaymentDetails | None
    metadata: dict[str, str]
    created_at: str
    currency: NotRequired[str]
    locale: NotRequired[str]


@with_config(CLOSED)
class Token(TypedDict):
    id: str
    resource: Literal["token"]
    created_at: str
    payment_details: PaymentDetails


@with_config(CLOSED)
class ThreeDsAuthResult(TypedDict):
    """The simulated 3-D Secure authentication's result (EMV 3DS field names)."""

    messageVersion: str
    transStatus: str
    eci: str
    threeDSServerTransID: str
    dsTransID: str
    acsTransID: str
    threeDSRequestorTransID: str
    dsReferenceNumber: str
    acsReferenceNumber: str
    authenticationType: NotRequired[str]
    authenticationValue: NotRequired[str]


@with_config(CLOSED)
class SecureToken(TypedDict):
    """A card's 3-D Secure before a direct payment; `authentication_url` while
    `NEEDS_VERIFY`, `three_ds_auth_result` once authenticated (or failed)."""

    id: str
    resource: Literal["secure_token"]
    created_at: str
    verification_status: Literal["OK", "NEEDS_VERIFY", "ERRORED", "SKIPPED", "EXPIRED"]
    amount: int
    currency: str
    payment_details: PaymentDetails
    authentication_url: NotRequired[str]
    three_ds_auth_result: NotRequired[ThreeDsAuthResult]


@with_config(CLOSED)
class ExternalCustomerDeleted(TypedDict):
    """`DELETE /external_customers/{id}`: the external customer id whose cards are gone."""

    id: str


@with_config(CLOSED)
class AvailableMethod(TypedDict):
    type_slug: str
    name_en: str
    name_ja: str
    name_ko: str
    currency: str
    subtypes: list[str]


@with_config(CLOSED)
class ListPage(TypedDict, Generic[T]):
    """A page of a list; `start_time`/`end_time` are the range asked for, or when open,
    the oldest record on the page and the time of the answer."""

    resource: Literal["list"]
    total: int
    page: int
    per_page: int
    last_page: int
    start_time: str
    end_time: str
    data: list[T]


@with_config(CLOSED)
class BrandIcon(TypedDict):
    icon: str


@with_config(CLOSED)
class SubscriptionCustomer(TypedDict):
    """The customer a subscription charges, in the SDK's shape: kessai has no numeric ids,
    so `id` and `merchant_id` are numbers derived from the ids (`uuid` is the real id)."""

    id: int
    uuid: str
    merchant_id: int
    created_at: str
    updated_at: str
    email: str | None
    currency: str
    locale: str
    name: str | None
    phone: str | None
    archived_at: str | None


@with_config(CLOSED)
class SubscriptionPaymentDetails(TypedDict):
    type: str
    brand: str
    last_four_digits: str
    month: str
    year: str
    email: str


@with_config(CLOSED)
class Subscription(TypedDict):
    id: str
    resource: Literal["subscription"]
    status: str
    amount: int
    currency: str
    customer: SubscriptionCustomer
    period: str
    day: int
    payment_details: SubscriptionPaymentDetails
    retry_count: int
    retry_at: str | None
    next_capture_at: str
    created_at: str
    ended_at: str | None
    metadata: dict[str, str]
    payments: list[str]


@with_config(CLOSED)
class SubscriptionList(TypedDict):
    resource: Literal["subscription_list"]
    total: int
    page: int
    per_page: int
    last_page: int
    start_time: str
    end_time: str
    data: list[Subscription]


@with_config(CLOSED)
class PaymentMethod(TypedDict):
    type: str
    amount: int
    currency: str
    exchange_rate: int
    offsite: bool
    customer_fee: int
    # card: brand names; konbini: store slug -> {icon}, as komoju-fields reads them
    brands: NotRequired[list[str] | dict[str, BrandIcon]]


@with_config(CLOSED)
class Merchant(TypedDict):
    name: str


@with_config(CLOSED)
class Session(TypedDict):
    id: str
    resource: Literal["session"]
    mode: str
    amount: int | None
    currency: str
    session_url: str
    return_url: str | None
    default_locale: str
    payment_methods: list[PaymentMethod]
    created_at: str
    cancelled_at: str | None
    completed_at: str | None
    expires_at: str
    status: str
    expired: bool
    merchant: Merchant
    metadata: dict[str, str]
    payment: Payment | None
    secure_token: None
    external_customer_id: str | None
    payment_data: NotRequired[dict[str, Any]]
    customer_id: NotRequired[str | None]
    line_items: NotRequired[list[dict[str, Any]]]
    email: NotRequired[str]


@with_config(CLOSED)
class PayResult(TypedDict):
    status: str
    redirect_url: str | None
    payment: NotRequired[Payment]


@with_config(CLOSED)
class Event(TypedDict):
    """An event as stored (`kessai.store.events.render`) and sent to webhooks; `data` is
    the object it is about (a payment, a customer, ...)."""

    id: str
    resource: Literal["event"]
    type: str
    created_at: str
    reason: str | None
    data: dict[str, Any]


@with_config(CLOSED)
class WebhookEndpoint(TypedDict):
    id: str
    resource: Literal["webhook_endpoint"]
    url: str
    event_types: list[str] | None
    livemode: bool
    created_at: str
    secret: NotRequired[str]


@with_config(CLOSED)
class WebhookEndpointList(TypedDict):
    resource: Literal["list"]
    data: list[WebhookEndpoint]


@with_config(CLOSED)
class WebhookEndpointDeleted(TypedDict):
    id: str
    resource: Literal["webhook_endpoint"]
    deleted: bool


@with_config(CLOSED)
class Clock(TypedDict):
    resource: Literal["clock"]
    now: str
    offset_seconds: float
    livemode: bool


@with_config(CLOSED)
class Redelivery(TypedDict):
    event: str
    queued: int


@with_config(CLOSED)
class DeliveryAttempt(TypedDict):
    attempt: int
    at: str
    latency_ms: int
    status_code: int | None
    error: str | None
    response: str | None
    worker: str


@with_config(CLOSED)
class Delivery(TypedDict):
    endpoint: str
    url: str
    status: str
    attempts: list[DeliveryAttempt]
    next_attempt_at: str | None
    delivered_at: str | None


@with_config(CLOSED)
class EventDeliveries(TypedDict):
    event: str
    deliveries: list[Delivery]


class WebhookEndpointParams(TypedDict):
    """The body of `POST /kessai/v1/webhook_endpoints` (read by
    `kessai.services.webhooks.add_endpoint`, which checks each field and names it)."""

    url: str
    event_types: NotRequired[list[str] | str]


class NoticeReceipt(TypedDict):
    """The answer to an acquirer's webhook: received, and what it changed."""

    received: bool
    result: str


@with_config(CLOSED)
class BarcodeReady(TypedDict):
    """A konbini payment's barcode: `image` is a data URL of a 750×150 PNG (usable as an
    `<img>` `src`), the same image until `expires_at`."""

    status: Literal["ready"]
    expires_at: str
    image: str


@with_config(CLOSED)
class BarcodePending(TypedDict):
    """The receipt is not known yet: ask again after `retry_after` seconds."""

    status: Literal["pending"]
    retry_after: int


ShowBarcode = BarcodeReady | BarcodePending
