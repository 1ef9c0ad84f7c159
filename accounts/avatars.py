"""Profile pictures are untrusted input: check them, then redraw them as a bare square JPEG.

A 10 KB file can describe a picture of billions of bytes, so `open_within_limits` refuses one
by the size its header states, before a pixel is decoded, and `decoded_within_limits` lets only
a few pictures be decoded at once in the process. Any other uploaded picture goes through them.
"""

import io
import math
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from PIL import Image, ImageOps

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
THUMBNAIL_SIZE = 256
JPEG_QUALITY = 88
# Rows of the source converted at a time while reducing, times the reduction factor.
STRIP_ROWS = 32
UNREADABLE = "That file is not a picture we can read; upload a JPEG, PNG, WebP or GIF."

# Uploads run in threads under ASGI; each decode may hold IMAGE_MAX_PIXELS * 4 bytes.
_decode_slots = threading.BoundedSemaphore(settings.IMAGE_DECODE_CONCURRENCY)


class ImageRejected(ValueError):
    """The upload is not an acceptable picture; the message is written for the user."""


class AvatarRejected(ImageRejected):
    """The upload cannot be a profile picture; the message is written for the user."""


def open_within_limits(
    upload, *, formats: tuple[str, ...], max_bytes: int, max_pixels: int
) -> Image.Image:
    """`upload` opened lazily, or ImageRejected if its file or its stated size is too large."""
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
    limit = max_pixels // _full_size_buffers(image)
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


@contextmanager
def decoded_within_limits(
    upload, *, formats: tuple[str, ...], max_bytes: int, max_pixels: int, draft_size: int
) -> Iterator[Image.Image]:
    """The first frame of `upload`, decoded in one of the few decode slots; or ImageRejected."""
    with (
        open_within_limits(
            upload, formats=formats, max_bytes=max_bytes, max_pixels=max_pixels
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


def avatar_thumbnail(upload) -> bytes:
    """A 256 px square JPEG of `upload` with no metadata, or AvatarRejected."""
    try:
        with decoded_within_limits(
            upload,
            formats=ACCEPTED_FORMATS,
            max_bytes=MAX_UPLOAD_BYTES,
            max_pixels=settings.IMAGE_MAX_PIXELS,
            draft_size=THUMBNAIL_SIZE * 2,
        ) as image:
            square = _centre_square(image, at_least=THUMBNAIL_SIZE * 2)
        thumbnail = _thumbnail(ImageOps.exif_transpose(square))
    except ImageRejected as error:
        raise AvatarRejected(str(error)) from None
    except Exception:
        raise AvatarRejected(UNREADABLE) from None
    return _encode(thumbnail)


def _centre_square(image: Image.Image, *, at_least: int) -> Image.Image:
    """The centred square of `image` in RGBA, box-reduced by the whole factor that keeps its side
    at least `at_least`; strip by strip, so no second full-size copy is ever made."""
    width, height = image.size
    factor = max(1, min(width, height) // at_least)
    side = min(width, height) // factor
    edge = side * factor
    left, top = (width - edge) // 2, (height - edge) // 2
    square = Image.new("RGBA", (side, side))
    rows = STRIP_ROWS * factor
    for y in range(0, edge, rows):
        strip = image.crop((left, top + y, left + edge, top + min(y + rows, edge)))
        square.paste(strip.convert("RGBA").reduce(factor), (0, y // factor))
    # The orientation travels in the metadata, where exif_transpose reads it; centring and
    # reducing commute with every turn and flip. The fresh canvas of `_thumbnail` drops it all.
    square.info = image.info
    return square


def _thumbnail(square: Image.Image) -> Image.Image:
    """Scale to the thumbnail size, flattening transparency onto white."""
    fitted = square.resize((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.LANCZOS)
    # A fresh canvas carries none of the source's metadata (EXIF, GPS, ICC, comments).
    canvas = Image.new("RGB", fitted.size, "white")
    canvas.paste(fitted, mask=fitted.getchannel("A"))
    return canvas


def _encode(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()
