"""Profile pictures are untrusted input: check them within the shared image limits, then redraw
them as a bare square JPEG."""

import io

from django.conf import settings
from PIL import Image, ImageOps

from imaging.limits import (
    ACCEPTED_FORMATS,
    UNREADABLE,
    ImageRejected,
    decoded_within_limits,
    reduced_rgba,
)

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
THUMBNAIL_SIZE = 256
JPEG_QUALITY = 88


class AvatarRejected(ImageRejected):
    """The upload cannot be a profile picture; the message is written for the user."""


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
    """The centred square of `image` in RGBA, reduced by the whole factor that keeps its side at
    least `at_least`."""
    width, height = image.size
    factor = max(1, min(width, height) // at_least)
    edge = min(width, height) // factor * factor
    left, top = (width - edge) // 2, (height - edge) // 2
    # The fresh canvas of `_thumbnail` later drops the metadata reduced_rgba keeps.
    return reduced_rgba(image, box=(left, top, left + edge, top + edge), factor=factor)


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
