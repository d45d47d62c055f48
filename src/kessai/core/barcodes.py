"""Konbini barcodes: a receipt number as a Code 128 PNG of exactly 750×150 pixels.

python-barcode encodes the text (start code, data, checksum and stop code as a string of
modules); Pillow draws each module as a whole number of pixels, centred with quiet zones,
with the text printed under the bars. Nothing varies but the text: the same text always
gives the same bytes, so a barcode "stays the same while it is valid" for free.
"""

from __future__ import annotations

import io
import os
from datetime import datetime, timedelta
from functools import lru_cache

import barcode
from barcode import Code128
from barcode.charsets import code128
from PIL import Image, ImageDraw, ImageFont

VALID_FOR = timedelta(minutes=10)  # KOMOJU's default validity of a barcode
WIDTH, HEIGHT = 750, 150  # what KOMOJU's clients lay out (ShowBarcodeResponse)
QUIET_MODULES = 10  # Code 128 wants at least 10 blank modules each side
BARS_TOP, BARS_BOTTOM = 8, 116
TEXT_Y = 120
FONT_SIZE = 24
FONT_PATH = os.path.join(os.path.dirname(barcode.__file__), "fonts", "DejaVuSansMono.ttf")


def expires_at(start: datetime, now: datetime, deadline: datetime | None) -> datetime:
    """When the barcode shown at `now` stops being valid: the end of the 10-minute window
    `now` falls in, windows counted from `start` (the payment's creation), and never after
    the payment's deadline. Every request in one window gets the same answer."""
    windows = max(now - start, timedelta(0)) // VALID_FOR + 1
    end = start + VALID_FOR * windows
    return end if deadline is None else min(end, deadline)


class _Code128(Code128):
    """python-barcode's Code 128 (pinned: 0.16), less one bug. Its `_try_to_optimize` folds
    a start code and the code-set switch after it into one start code; after START C it
    also folds a first digit pair "99" (value 99, which in sets A and B means CODE C), so
    "9912..." was drawn as "12...". tests/unit/test_barcodes.py fails if this changes."""

    def _try_to_optimize(self, encoded: list[int]) -> list[int]:
        if encoded[0] == code128.START_CODES["C"] and encoded[1:2] == [99]:
            return encoded  # the pair "99", not a switch
        folded: list[int] = super()._try_to_optimize(encoded)
        return folded


def modules(text: str) -> str:
    """The Code 128 module pattern of `text` ("1" a bar module, "0" a space)."""
    if not text or not text.isascii() or not text.isprintable():
        raise ValueError("a barcode takes printable ASCII text")
    pattern: str = _Code128(text).build()[0]
    return pattern


@lru_cache(maxsize=1)
def _font() -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_PATH, FONT_SIZE)


def png(text: str) -> bytes:
    """A 750×150 PNG of `text` as a Code 128 barcode, the text printed under the bars."""
    pattern = modules(text)
    scale = WIDTH // (len(pattern) + 2 * QUIET_MODULES)
    if scale < 1:
        raise ValueError("text too long for a 750-pixel barcode")
    left = (WIDTH - len(pattern) * scale) // 2
    image = Image.new("1", (WIDTH, HEIGHT), 1)
    draw = ImageDraw.Draw(image)
    for index, module in enumerate(pattern):
        if module == "1":
            x = left + index * scale
            draw.rectangle((x, BARS_TOP, x + scale - 1, BARS_BOTTOM - 1), fill=0)
    draw.text((WIDTH // 2, TEXT_Y), text, fill=0, font=_font(), anchor="mt")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
