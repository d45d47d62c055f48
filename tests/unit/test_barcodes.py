"""Konbini barcodes: the drawing (a real Code 128 a scanner reads back), its validity
windows, and which payment gets which answer."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from kessai.core import barcodes
from kessai.errors import InvalidParameter
from kessai.services.barcodes import barcode_of

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def decoded(png: bytes) -> tuple[tuple[int, int], list[tuple[str, str]]]:
    image = Image.open(io.BytesIO(png))
    found = [(r.text, r.format.name) for r in zxingcpp.read_barcodes(image)]
    return image.size, found


@pytest.mark.parametrize("text", ["12345678901", "00000000000", "1", "KB-2030/ab 9"])
def test_png_is_750_by_150_and_scans_back(text: str) -> None:
    png = barcodes.png(text)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert decoded(png) == ((750, 150), [(text, "Code128")])


@pytest.mark.parametrize("receipt", ["99", "9999", "99123456789", "1299", "999"])
def test_a_leading_pair_99_is_kept(receipt: str) -> None:
    """python-barcode 0.16 drops a leading "99" after START C (kessai's `_Code128` fixes it)."""
    assert decoded(barcodes.png(receipt)) == ((750, 150), [(receipt, "Code128")])


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_any_receipt_number_scans_back(receipt: str) -> None:
    assert decoded(barcodes.png(receipt)) == ((750, 150), [(receipt, "Code128")])


def test_same_text_same_bytes() -> None:
    assert barcodes.png("98765432109") == barcodes.png("98765432109")
    assert barcodes.png("98765432109") != barcodes.png("98765432108")


@pytest.mark.parametrize("text", ["", "日本", "a\x00b", "x" * 200])
def test_refuses_what_it_cannot_draw(text: str) -> None:
    with pytest.raises(ValueError):
        barcodes.png(text)


@pytest.mark.parametrize(
    "elapsed,window_end",
    [
        (timedelta(0), timedelta(minutes=10)),
        (timedelta(minutes=9, seconds=59), timedelta(minutes=10)),
        (timedelta(minutes=10), timedelta(minutes=20)),
        (timedelta(hours=5, minutes=3), timedelta(hours=5, minutes=10)),
        (-timedelta(seconds=5), timedelta(minutes=10)),  # a clock read a little early
    ],
)
def test_expiry_is_the_end_of_the_ten_minute_window(
    elapsed: timedelta, window_end: timedelta
) -> None:
    assert barcodes.expires_at(T0, T0 + elapsed, None) == T0 + window_end


def test_expiry_never_after_the_payment_deadline() -> None:
    deadline = T0 + timedelta(minutes=25)
    assert barcodes.expires_at(T0, T0 + timedelta(minutes=21), deadline) == deadline
    assert barcodes.expires_at(T0, T0 + timedelta(minutes=11), deadline) == T0 + timedelta(
        minutes=20
    )


def payment(**overrides: Any) -> dict[str, Any]:
    return {
        "status": "authorized",
        "created_at": T0,
        "payment_deadline": T0 + timedelta(days=3),
        "payment_details": {"store": "lawson", "receipt": "12345678901"},
        **overrides,
    }


def test_an_authorized_payment_has_its_receipt_barcode() -> None:
    code = barcode_of(payment(), T0 + timedelta(minutes=3))  # type: ignore[arg-type]
    assert code.png == barcodes.png("12345678901")
    assert code.expires_at == T0 + timedelta(minutes=10)


def test_a_payment_without_an_answer_yet_is_pending() -> None:
    code = barcode_of(payment(status="pending", payment_details={}), T0)  # type: ignore[arg-type]
    assert code.png is None and code.expires_at is None


@pytest.mark.parametrize("status", ["captured", "refunded", "cancelled", "expired", "failed"])
def test_no_barcode_once_it_cannot_be_paid(status: str) -> None:
    with pytest.raises(InvalidParameter) as err:
        barcode_of(payment(status=status), T0)  # type: ignore[arg-type]
    assert err.value.param == "payment_id" and status in err.value.message


def test_no_barcode_past_the_deadline_before_the_sweep() -> None:
    with pytest.raises(InvalidParameter, match="expired"):
        barcode_of(payment(), T0 + timedelta(days=3))  # type: ignore[arg-type]
