"""Pictures shared in chat: decoded within the shared image limits, turned upright, redrawn
without metadata, and given a small thumbnail."""

import tempfile
from dataclasses import dataclass

from django.conf import settings
from django.core.files import File
from PIL import Image, ImageOps

from imaging.limits import (
    ACCEPTED_FORMATS,
    UNREADABLE,
    ImageRejected,
    decoded_within_limits,
    reduced_rgba,
)

THUMBNAIL_SIZE = 480
JPEG_QUALITY = 88
# Modes Pillow writes as PNG as they are; any other is converted first.
PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I;16"}
# The first bytes of every format ACCEPTED_FORMATS names: such a file must be a picture we can
# read, or it is refused (a "picture" that fails to decode is never kept as a file).
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")
# Encoded output kept in memory up to this size, then on disk.
SPOOL_BYTES = 1024 * 1024


@dataclass
class Picture:
    """A re-encoded picture and its thumbnail, each an open temporary file."""

    content: File
    content_type: str
    extension: str
    width: int
    height: int
    thumbnail: File


def looks_like_picture(head: bytes) -> bool:
    """Whether the file's first bytes say it is a JPEG, PNG, GIF or WebP."""
    return head.startswith(SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def picture_redrawn(upload) -> Picture:
    """`upload` upright and re-encoded (JPEG stays JPEG, the rest become PNG) with a thumbnail of
    at most THUMBNAIL_SIZE px a side; ImageRejected if it is not a picture within the limits."""
    try:
        with decoded_within_limits(
            upload,
            formats=ACCEPTED_FORMATS,
            max_bytes=settings.ATTACHMENT_MAX_BYTES,
            max_pixels=settings.IMAGE_MAX_PIXELS,
            draft_size=2**16,  # no reduction: the picture is kept at full size
            upright=True,
        ) as image:
            ImageOps.exif_transpose(image, in_place=True)
            transparency = image.info.get("transparency")
            # Nothing of the source's metadata (EXIF, GPS, ICC, comments) is written again.
            image.info = {} if transparency is None else {"transparency": transparency}
            jpeg = image.format == "JPEG"
            content = _encoded(image, "JPEG" if jpeg else "PNG")
            thumbnail = _encoded(_thumbnail(image), "JPEG")
            width, height = image.size
    except ImageRejected:
        raise
    except Exception:
        raise ImageRejected(UNREADABLE) from None
    return Picture(
        content=content,
        content_type="image/jpeg" if jpeg else "image/png",
        extension="jpg" if jpeg else "png",
        width=width,
        height=height,
        thumbnail=thumbnail,
    )


def _thumbnail(image: Image.Image) -> Image.Image:
    """At most THUMBNAIL_SIZE a side, on white; reduced strip by strip first."""
    width, height = image.size
    factor = max(1, max(width, height) // (THUMBNAIL_SIZE * 2))
    reduced = reduced_rgba(image, box=(0, 0, width, height), factor=factor)
    reduced.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.LANCZOS)
    canvas = Image.new("RGB", reduced.size, "white")
    canvas.paste(reduced, mask=reduced.getchannel("A"))
    return canvas


def _encoded(image: Image.Image, fmt: str) -> File:
    """`image` written as `fmt` to a temporary file (in memory while it is small)."""
    if fmt == "PNG" and image.mode not in PNG_MODES:
        image = image.convert("RGBA")
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (returned open)
    # No `optimize`: for JPEG it buffers a byte per pixel of the whole picture.
    image.save(spool, fmt, **({"quality": JPEG_QUALITY} if fmt == "JPEG" else {}))
    spool.seek(0)
    return File(spool)
