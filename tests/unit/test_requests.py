"""kessai.schemas.requests.parse: KOMOJU error classes, codes and bracket-form `param` names."""

from __future__ import annotations

from typing import Any

import pytest

from kessai.api.body import parse_body
from kessai.errors import (
    InvalidCurrency,
    InvalidParameter,
    InvalidPaymentType,
    MissingParameter,
    ParameterError,
)
from kessai.schemas.requests import CardDetails, CreateSession, PaySession, param_name, parse

BASE: dict[str, Any] = {"amount": 1000, "currency": "JPY"}


def fails(model: type, data: Any, cls: type[ParameterError], param: str | None, **kw: Any) -> str:
    with pytest.raises(ParameterError) as exc:
        parse(model, data, **kw)
    err = exc.value
    assert type(err) is cls, (type(err).__name__, err.param, err.message)
    assert err.code == cls.code
    assert err.status == 422
    assert err.param == param, err.message
    assert err.message
    return err.message


# --- CreateSession: successes -----------------------------------------------------------


def test_minimal_payment_session_gets_defaults() -> None:
    s = parse(CreateSession, BASE)
    assert (s.mode, s.amount, s.currency, s.default_locale) == ("payment", 1000, "JPY", "ja")
    assert s.metadata == {}
    assert s.payment_types is None and s.payment_data is None and s.line_items is None


def test_form_strings_are_coerced_like_json_values() -> None:
    s = parse(
        CreateSession,
        parse_body(
            "application/x-www-form-urlencoded",
            b"amount=1000&currency=jpy&expires_in_seconds=60&line_items[0][amount]=500"
            b"&line_items[0][quantity]=2&metadata[order]=1&payment_types[]=konbini",
        ),
    )
    assert s.amount == 1000
    assert s.currency == "JPY"
    assert s.expires_in_seconds == 60
    assert s.line_items is not None
    assert (s.line_items[0].amount, s.line_items[0].quantity) == (500, 2)
    assert s.metadata == {"order": "1"}
    assert s.payment_types == ["konbini"]


def test_line_item_quantity_defaults_to_one() -> None:
    s = parse(CreateSession, {**BASE, "line_items": [{"amount": 0, "description": "free"}]})
    assert s.line_items is not None and s.line_items[0].quantity == 1


def test_unknown_and_read_only_parameters_are_ignored() -> None:
    s = parse(
        CreateSession, {**BASE, "status": "completed", "id": "x", "bogus": 1, "fraud_details": {}}
    )
    assert not hasattr(s, "status") and not hasattr(s, "bogus")
    assert s.amount == 1000


def test_customer_mode_without_amount_is_fine() -> None:
    s = parse(CreateSession, {"mode": "customer", "currency": "JPY"})
    assert s.mode == "customer"
    assert s.amount in (None, 0)


@pytest.mark.parametrize("mode", ["customer", "customer_payment"])
def test_customer_id_is_allowed_in_customer_modes(mode: str) -> None:
    assert parse(CreateSession, {**BASE, "mode": mode, "customer_id": "c" * 25}).customer_id


def test_payment_data_is_allowed_in_customer_payment_mode() -> None:
    s = parse(CreateSession, {**BASE, "mode": "customer_payment", "payment_data": {}})
    assert s.payment_data is not None and s.payment_data.capture == "auto"


def test_payment_data_fields() -> None:
    s = parse(
        CreateSession,
        {
            **BASE,
            "payment_data": {
                "capture": "manual",
                "external_order_num": "order-1",
                "mcc": "5411",
                "shipping_address": {"city": "Tokyo", "zipcode": "100-0001", "country": "JP"},
            },
        },
    )
    assert s.payment_data is not None
    assert s.payment_data.capture == "manual"
    assert s.payment_data.shipping_address is not None
    assert s.payment_data.shipping_address.city == "Tokyo"


# --- CreateSession: errors --------------------------------------------------------------


def test_missing_currency() -> None:
    fails(CreateSession, {"amount": 1000}, MissingParameter, "currency")


def test_unknown_currency() -> None:
    fails(CreateSession, {**BASE, "currency": "XXX"}, InvalidCurrency, "currency")


@pytest.mark.parametrize("mode", ["payment", "customer_payment"])
def test_amount_is_required_in_payment_modes(mode: str) -> None:
    fails(CreateSession, {"mode": mode, "currency": "JPY"}, MissingParameter, "amount")


@pytest.mark.parametrize("amount", [True, 10.5, "10.5", -1, "abc", None, [1]])
def test_bad_amount(amount: Any) -> None:
    cls = MissingParameter if amount is None else InvalidParameter
    fails(CreateSession, {**BASE, "amount": amount}, cls, "amount")


def test_payment_data_refused_in_customer_mode() -> None:
    data = {"mode": "customer", "currency": "JPY", "payment_data": {"capture": "auto"}}
    fails(CreateSession, data, InvalidParameter, "payment_data")


def test_customer_id_refused_in_payment_mode() -> None:
    fails(CreateSession, {**BASE, "customer_id": "abc"}, InvalidParameter, "customer_id")


def test_unknown_payment_type_names_the_list() -> None:
    data = {**BASE, "payment_types": ["credit_card", "bogus"]}
    msg = fails(CreateSession, data, InvalidPaymentType, "payment_types")
    assert msg.startswith("payment_types ")


def test_unknown_payment_type_from_a_form_names_the_list() -> None:
    body = parse_body(
        "application/x-www-form-urlencoded",
        b"amount=1&currency=JPY&payment_types[]=credit_card&payment_types[]=cash",
    )
    fails(CreateSession, body, InvalidPaymentType, "payment_types")


def test_payment_types_must_be_an_array() -> None:
    fails(
        CreateSession, {**BASE, "payment_types": "credit_card"}, InvalidParameter, "payment_types"
    )


@pytest.mark.parametrize(
    ("patch", "cls", "param"),
    [
        ({"line_items": [{"amount": "1.5"}]}, InvalidParameter, "line_items[0][amount]"),
        ({"line_items": [{"amount": -1}]}, InvalidParameter, "line_items[0][amount]"),
        ({"line_items": [{"description": "x"}]}, MissingParameter, "line_items[0][amount]"),
        (
            {"line_items": [{"amount": 1}, {"amount": 1, "quantity": 0}]},
            InvalidParameter,
            "line_items[1][quantity]",
        ),
        (
            {"line_items": [{"amount": 1, "image": "javascript:alert(1)"}]},
            InvalidParameter,
            "line_items[0][image]",
        ),
        (
            {"line_items": [{"amount": 1}, {"amount": 1, "description": "d" * 256}]},
            InvalidParameter,
            "line_items[1][description]",
        ),
        ({"line_items": ["x"]}, InvalidParameter, "line_items[0]"),
        ({"line_items": "x"}, InvalidParameter, "line_items"),
        ({"line_items": [{"amount": 1}] * 101}, InvalidParameter, "line_items"),
        ({"payment_data": {"capture": "later"}}, InvalidParameter, "payment_data[capture]"),
        ({"payment_data": "auto"}, InvalidParameter, "payment_data"),
        (
            {"payment_data": {"external_order_num": "o" * 256}},
            InvalidParameter,
            "payment_data[external_order_num]",
        ),
        ({"payment_data": {"mcc": "54"}}, InvalidParameter, "payment_data[mcc]"),
        (
            {"payment_data": {"billing_address": {"zipcode": "1" * 21}}},
            InvalidParameter,
            "payment_data[billing_address][zipcode]",
        ),
        (
            {"payment_data": {"shipping_address": "Tokyo"}},
            InvalidParameter,
            "payment_data[shipping_address]",
        ),
        ({"mode": "subscription"}, InvalidParameter, "mode"),
        ({"default_locale": "fr"}, InvalidParameter, "default_locale"),
        ({"return_url": "javascript:alert(1)"}, InvalidParameter, "return_url"),
        ({"return_url": "//evil.example/"}, InvalidParameter, "return_url"),
        ({"return_url": "http://[::1"}, InvalidParameter, "return_url"),
        ({"email": "not-an-email"}, InvalidParameter, "email"),
        ({"expires_in_seconds": 0}, InvalidParameter, "expires_in_seconds"),
        ({"expires_in_seconds": 86401}, InvalidParameter, "expires_in_seconds"),
        ({"expires_in_seconds": "1.5"}, InvalidParameter, "expires_in_seconds"),
        ({"external_customer_id": "x" * 256}, InvalidParameter, "external_customer_id"),
        ({"metadata": {"a": {"b": 1}}}, InvalidParameter, "metadata"),
        ({"metadata": {"k" * 31: "v"}}, InvalidParameter, "metadata"),
        ({"metadata": ["a"]}, InvalidParameter, "metadata"),
    ],
)
def test_create_session_errors_name_the_parameter(
    patch: dict[str, Any], cls: type[ParameterError], param: str
) -> None:
    msg = fails(CreateSession, {**BASE, **patch}, cls, param)
    assert param in msg


@pytest.mark.parametrize("seconds", [1, 86400, "3600"])
def test_expires_in_seconds_bounds(seconds: Any) -> None:
    assert parse(CreateSession, {**BASE, "expires_in_seconds": seconds}).expires_in_seconds == int(
        seconds
    )


def test_body_that_is_not_an_object() -> None:
    fails(CreateSession, ["amount", 1], InvalidParameter, None)


def test_none_body_is_treated_as_empty() -> None:
    fails(CreateSession, None, MissingParameter, "currency")


def test_error_messages_never_echo_a_card_number() -> None:
    data = {"type": "credit_card", "number": "4111111111111111" * 3, "month": 1, "year": 2030}
    msg = fails(
        CardDetails, data, InvalidParameter, "payment_details[number]", prefix="payment_details"
    )
    assert "4111" not in msg


# --- PaySession -------------------------------------------------------------------------


def test_pay_session_with_details_object() -> None:
    p = parse(PaySession, {"payment_details": {"type": "credit_card"}, "capture": "manual"})
    assert p.payment_details == {"type": "credit_card"}
    assert p.capture == "manual"


def test_pay_session_with_token_id() -> None:
    assert parse(PaySession, {"payment_details": "tok_abc"}).payment_details == "tok_abc"


def test_pay_session_capture_is_optional() -> None:
    assert parse(PaySession, {"payment_details": {"type": "konbini"}}).capture is None


def test_pay_session_missing_details() -> None:
    fails(PaySession, {}, MissingParameter, "payment_details")
    fails(PaySession, {"capture": "auto"}, MissingParameter, "payment_details")


@pytest.mark.parametrize("details", [[], ["credit_card"], True, None])
def test_pay_session_details_of_the_wrong_shape(details: Any) -> None:
    with pytest.raises(ParameterError) as exc:
        parse(PaySession, {"payment_details": details})
    assert exc.value.param == "payment_details"
    assert exc.value.status == 422


def test_pay_session_bad_capture() -> None:
    fails(
        PaySession,
        {"payment_details": {"type": "credit_card"}, "capture": "later"},
        InvalidParameter,
        "capture",
    )


# --- nested parsing with a prefix (how /pay parses payment_details) ----------------------


@pytest.mark.parametrize(
    ("patch", "cls", "param"),
    [
        ({"month": 13}, InvalidParameter, "payment_details[month]"),
        ({"year": "20x5"}, InvalidParameter, "payment_details[year]"),
        ({"type": "bogus"}, InvalidPaymentType, "payment_details[type]"),
        ({"email": "nope"}, InvalidParameter, "payment_details[email]"),
        ({"verification_value": "12345"}, InvalidParameter, "payment_details[verification_value]"),
    ],
)
def test_card_details_errors_carry_the_prefix(
    patch: dict[str, Any], cls: type[ParameterError], param: str
) -> None:
    data = {"type": "credit_card", "number": "4111111111111111", "month": 12, "year": 2030}
    fails(CardDetails, {**data, **patch}, cls, param, prefix="payment_details")


def test_card_details_missing_number_carries_the_prefix() -> None:
    data = {"type": "credit_card", "month": 12, "year": 2030}
    fails(CardDetails, data, MissingParameter, "payment_details[number]", prefix="payment_details")


@pytest.mark.parametrize(
    ("loc", "prefix", "expected"),
    [
        (("amount",), "", "amount"),
        (("line_items", 0, "amount"), "", "line_items[0][amount]"),
        (("capture",), "payment_data", "payment_data[capture]"),
        (("billing_address", "city"), "payment_data", "payment_data[billing_address][city]"),
        ((), "", ""),
    ],
)
def test_param_name(loc: tuple[int | str, ...], prefix: str, expected: str) -> None:
    assert param_name(loc, prefix) == expected
