"""Uploaded pictures are untrusted input: open them within limits, decode them a few at a time.

A 10 KB file can describe a picture of billions of bytes, so `open_within_limits` refuses one
by the size its header states, before a pixel is decoded, and `decoded_within_limits` lets only
a few pictures be decoded at once in the process. Every uploaded picture goes through them.
"""

import math
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from PIL import Image

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
# Rows of the source converted at a time while reducing, times the reduction factor.
STRIP_ROWS = 32
ORIENTATION = 0x0112  # the EXIF tag that exif_transpose follows
UNREADABLE = "That file is not a picture we can read; upload a JPEG, PNG, WebP or GIF."

# Uploads run in threads under ASGI; each decode may hold IMAGE_MAX_PIXELS * 4 bytes.
_decode_slots = threading.BoundedSemaphore(settings.IMAGE_DECODE_CONCURRENCY)


class ImageRejected(ValueError):
    """The upload is not an acceptable picture; the message is written for the user."""


def open_within_limits(
    upload, *, formats: tuple[str, ...], max_bytes: int, max_pixels: int, upright: bool = False
) -> Image.Image:
    """`upload` opened lazily, or ImageRejected if its file or its stated size is too large.
    `upright`: the caller turns the whole picture as its EXIF says, which takes a second buffer."""
    if upload.size > max_bytes:
        raise ImageRejected(
            f"The picture is larger than {max_bytes // (1024 * 1024)} MB; choose a smaller one."
        )
    upload.seek(0)
    try:
        # Pillow's own limit warns between one and twice MAX_IMAGE_PIXELS: that is a refusal too.
        with warnings.catch_warnings(action="error", category=Image.DecompressionBombWarning):
            image = Image.open(upload, formats=formats)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("The picture's dimensions are too large.") from None
    # A malformed file can make a decoder raise almost anything; all of it means "not a picture".
    except Exception:
        raise ImageRejected(UNREADABLE) from None
    width, height = image.size
    buffers = _full_size_buffers(image) + (1 if upright and _turned(image) else 0)
    limit = max_pixels // buffers
    if width * height > limit:
        side = math.isqrt(limit)
        image.close()
        raise ImageRejected(
            f"The picture's dimensions are too large ({width} x {height} pixels); "
            f"a {image.format} picture may have at most {limit:,} pixels, such as {side} x {side}."
        )
    return image


def _full_size_buffers(image: Image.Image) -> int:
    """How many buffers of 4 bytes a pixel decoding `image` holds at its peak (measured)."""
    if image.format == "WEBP":
        # libwebp's canvas and previous frame, the copy it hands Pillow, and Pillow's image.
        return 4
    if image.format == "JPEG" and "progressive" in image.info:
        # libjpeg keeps every coefficient, up to 6 bytes a pixel, until the last scan.
        return 2
    return 1


def _turned(image: Image.Image) -> bool:
    """Whether the EXIF read with the header asks for a turn or a flip (reading it decodes
    nothing; EXIF stored after a PNG's pixels is found only once they are decoded)."""
    exif = Image.Exif()
    try:
        exif.load(image.info["exif"])
    except Exception:  # no EXIF, or EXIF too broken to ask for anything
        return False
    return exif.get(ORIENTATION) in range(2, 9)


@contextmanager
def decoded_within_limits(
    upload,
    *,
    formats: tuple[str, ...],
    max_bytes: int,
    max_pixels: int,
    draft_size: int,
    upright: bool = False,
) -> Iterator[Image.Image]:
    """The first frame of `upload`, decoded in one of the few decode slots; or ImageRejected."""
    with (
        open_within_limits(
            upload, formats=formats, max_bytes=max_bytes, max_pixels=max_pixels, upright=upright
        ) as image,
        _decode_slots,
    ):
        # JPEG decodes scaled down by up to 8 while both sides stay at least draft_size.
        image.draft("RGB", (draft_size, draft_size))
        try:
            image.load()
        except Exception:
            raise ImageRejected(UNREADABLE) from None
        yield image


def reduced_rgba(image: Image.Image, *, box: tuple[int, int, int, int], factor: int) -> Image.Image:
    """The `box` of `image` in RGBA, box-reduced by `factor`; strip by strip, so no second
    full-size copy is ever made (converting a whole palette picture would make one)."""
    left, top, right, bottom = box
    width, height = (right - left) // factor, (bottom - top) // factor
    reduced = Image.new("RGBA", (width, height))
    rows = STRIP_ROWS * factor
    for y in range(0, height * factor, rows):
        strip = image.crop(
            (left, top + y, left + width * factor, top + min(y + rows, height * factor))
        )
        reduced.paste(strip.convert("RGBA").reduce(factor), (0, y // factor))
    # The orientation travels in the metadata, where exif_transpose reads it; cropping and
    # reducing commute with every turn and flip.
    reduced.info = image.info
    return reduced
