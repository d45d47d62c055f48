"""kessai.api.body.parse_body: JSON and bracket form encoding, identical in meaning."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from kessai.api.body import MAX_BODY, parse_body
from kessai.errors import BadRequest, InvalidParameter
from kessai.schemas.requests import CreateSession, parse

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def form(raw: str) -> dict:
    return parse_body(FORM, raw.encode())


# --- JSON -------------------------------------------------------------------------------


def test_json_object() -> None:
    body = {"amount": 1000, "currency": "JPY", "metadata": {"order": "1"}, "flag": True}
    assert parse_body(JSON, json.dumps(body).encode()) == body


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json", None, ""],
)
def test_json_content_type_variants(content_type: str | None) -> None:
    assert parse_body(content_type, b'{"amount": 1}') == {"amount": 1}


def test_json_utf8_text() -> None:
    assert parse_body(JSON, '{"name": "山田 太郎"}'.encode()) == {"name": "山田 太郎"}


@pytest.mark.parametrize(
    "raw", [b"{", b'{"a": }', b"{'a': 1}", b"amount=1", b"\xff\xfe\xfa", b'{"a": 1}}', b"nul"]
)
def test_invalid_json_is_bad_request(raw: bytes) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_body(JSON, raw)
    assert exc.value.code == "bad_request"
    assert exc.value.status == 400


@pytest.mark.parametrize("raw", [b"[]", b'[{"amount": 1}]', b"1", b'"text"', b"null", b"true"])
def test_json_that_is_not_an_object_is_bad_request(raw: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_body(JSON, raw)


def test_json_array_without_content_type_is_bad_request() -> None:
    with pytest.raises(BadRequest):
        parse_body(None, b"[1, 2]")


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        (JSON, b"[" * 100_000),  # invalid (unclosed), and deeper than the recursion limit
        (JSON, b'{"a":' * 5_000 + b"1" + b"}" * 5_000),  # valid JSON, absurdly deep
        (FORM, b"a" + b"[b]" * 5_000 + b"=1"),  # form key nested 5000 levels deep
    ],
)
def test_deeply_nested_body_is_a_bad_request_not_a_crash(content_type: str, raw: bytes) -> None:
    """Contract: never a 500 for bad input. Today these raise RecursionError."""
    assert len(raw) <= MAX_BODY
    try:
        result = parse_body(content_type, raw)
    except BadRequest:
        return
    assert isinstance(result, dict)


# --- form encoding ----------------------------------------------------------------------


def test_form_flat() -> None:
    assert form("amount=1000&currency=JPY") == {"amount": "1000", "currency": "JPY"}


def test_form_values_stay_strings_and_are_percent_decoded() -> None:
    assert form("email=a%2Bb%40example.com&name=%E5%B1%B1%E7%94%B0+%E5%A4%AA%E9%83%8E") == {
        "email": "a+b@example.com",
        "name": "山田 太郎",
    }


def test_form_blank_values_are_kept() -> None:
    assert form("a=&b") == {"a": "", "b": ""}


def test_form_object_brackets() -> None:
    assert form("metadata[order]=1&metadata[note]=x") == {"metadata": {"order": "1", "note": "x"}}


def test_form_percent_encoded_brackets_mean_the_same() -> None:
    assert form("metadata%5Border%5D=1") == {"metadata": {"order": "1"}}


def test_form_indexed_list_of_objects() -> None:
    raw = (
        "currency=JPY&amount=700&line_items[0][amount]=500&line_items[0][description]=tea"
        "&line_items[1][description]=x&line_items[1][amount]=200"
    )
    # The body keeps the indices as keys; the schema reads them as an ordered array.
    assert form(raw)["line_items"] == {
        "0": {"amount": "500", "description": "tea"},
        "1": {"description": "x", "amount": "200"},
    }
    items = parse(CreateSession, form(raw)).line_items
    assert items is not None
    assert [(i.amount, i.description) for i in items] == [(500, "tea"), (200, "x")]


def test_form_indexed_list_is_ordered_by_number_not_by_arrival() -> None:
    raw = "currency=JPY&amount=6&line_items[10][amount]=3&line_items[2][amount]=2"
    raw += "&line_items[0][amount]=1"
    items = parse(CreateSession, form(raw)).line_items
    assert items is not None
    assert [i.amount for i in items] == [1, 2, 3]


def test_form_append_brackets() -> None:
    assert form("payment_types[]=konbini&payment_types[]=credit_card") == {
        "payment_types": ["konbini", "credit_card"]
    }


def test_form_append_brackets_with_objects() -> None:
    assert form("items[][amount]=1") == {"items": [{"amount": "1"}]}


def test_form_deep_nesting() -> None:
    assert form("payment_data[billing_address][city]=Tokyo&payment_data[capture]=manual") == {
        "payment_data": {"billing_address": {"city": "Tokyo"}, "capture": "manual"}
    }


def test_form_full_create_session_means_the_same_as_json() -> None:
    raw = (
        "amount=1000&currency=JPY&metadata[order]=1&line_items[0][amount]=500"
        "&line_items[1][description]=x&line_items[1][amount]=500"
        "&payment_types[]=credit_card&payment_types[]=konbini&payment_data[capture]=manual"
    )
    as_json = {
        "amount": 1000,
        "currency": "JPY",
        "metadata": {"order": "1"},
        "line_items": [{"amount": 500}, {"description": "x", "amount": 500}],
        "payment_types": ["credit_card", "konbini"],
        "payment_data": {"capture": "manual"},
    }
    assert parse(CreateSession, form(raw)) == parse(CreateSession, as_json)


@pytest.mark.parametrize("raw", ["a[]=1&a[x]=2", "a[x]=1&a[]=2", "[x]=1", "=1"])
def test_form_malformed_keys_are_bad_requests(raw: str) -> None:
    with pytest.raises(BadRequest):
        form(raw)


def test_form_invalid_utf8_is_bad_request() -> None:
    with pytest.raises(BadRequest):
        parse_body(FORM, b"name=\xff\xfe")


def test_form_without_content_type_is_sniffed() -> None:
    assert parse_body(None, b"amount=1&metadata[a]=b") == {"amount": "1", "metadata": {"a": "b"}}


def test_form_top_level_numeric_keys_still_give_an_object() -> None:
    """The body is an object of parameters; JSON {"0": "a"} is one, so must this be."""
    assert form("0=a&1=b") == {"0": "a", "1": "b"}


def test_form_metadata_with_numeric_keys_means_the_same_as_json() -> None:
    """Contract: form and JSON have identical meaning. Metadata keys may be digits."""
    as_form = parse(CreateSession, form("amount=1&currency=JPY&metadata[123]=x&metadata[7]=y"))
    as_json = parse(
        CreateSession, {"amount": 1, "currency": "JPY", "metadata": {"123": "x", "7": "y"}}
    )
    assert as_json.metadata == {"123": "x", "7": "y"}
    assert as_form.metadata == as_json.metadata


# --- empty, unsupported, oversize -------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", [None, "", JSON, FORM, "text/plain", "multipart/form-data; boundary=x", "x/y"]
)
@pytest.mark.parametrize("raw", [b"", b"   ", b"\r\n", b"\t \n"])
def test_empty_body_is_an_empty_object_whatever_the_content_type(
    content_type: str | None, raw: bytes
) -> None:
    assert parse_body(content_type, raw) == {}


@pytest.mark.parametrize(
    "content_type", ["text/plain", "multipart/form-data; boundary=x", "application/xml", "x/y"]
)
def test_unsupported_content_type_is_bad_request(content_type: str) -> None:
    with pytest.raises(BadRequest, match="Content-Type"):
        parse_body(content_type, b'{"amount": 1}')


def test_oversize_body_is_bad_request() -> None:
    big = json.dumps({"a": "x" * MAX_BODY}).encode()
    with pytest.raises(BadRequest, match="larger"):
        parse_body(JSON, big)


def test_oversize_check_comes_first_even_for_blank_bodies() -> None:
    with pytest.raises(BadRequest):
        parse_body(None, b" " * (MAX_BODY + 1))


def test_body_of_exactly_the_limit_is_accepted() -> None:
    head = b'{"a": "'
    tail = b'"}'
    raw = head + b"x" * (MAX_BODY - len(head) - len(tail)) + tail
    assert len(raw) == MAX_BODY
    assert parse_body(JSON, raw)["a"] == "x" * (MAX_BODY - len(head) - len(tail))


def test_max_body_is_one_mebibyte() -> None:
    assert MAX_BODY == 1024 * 1024


def test_urlencode_round_trip_of_nested_structure() -> None:
    pairs = [("metadata[a b]", "c&d=e"), ("payment_types[]", "konbini")]
    assert parse_body(FORM, urlencode(pairs).encode()) == {
        "metadata": {"a b": "c&d=e"},
        "payment_types": ["konbini"],
    }


# --- strings nothing can store or render ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "content_type", "param"),
    [
        (b'{"a": "x\\u0000"}', JSON, "a"),
        (b'{"a": {"b": ["ok", "\\u0000"]}}', JSON, "a[b][1]"),
        (b'{"a\\u0000": 1}', JSON, "a\\u0000"),
        (b'{"a": "\\ud800"}', JSON, "a"),
        (b'{"a": {"\\udfff": "x"}}', JSON, "a[\\udfff]"),
        (b'{"a": ["\\ud83d"]}', JSON, "a[0]"),  # half of a pair
        (b"a=%00", FORM, "a"),
        (b"metadata[k%00]=v", FORM, "metadata[k\\u0000]"),
        (b"items[]=ok&items[]=x%00", FORM, "items[1]"),
    ],
)
def test_nul_and_lone_surrogates_are_refused_naming_the_field(
    raw: bytes, content_type: str, param: str
) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_body(content_type, raw)
    assert caught.value.param == param
    json.dumps(caught.value.body()).encode()  # the error itself always renders


def test_surrogate_pairs_and_other_text_are_kept() -> None:
    raw = b'{"a": "\\ud83d\\ude00 \\u3042 tab\\tline\\n"}'
    assert parse_body(JSON, raw) == {"a": "\U0001f600 \u3042 tab\tline\n"}
