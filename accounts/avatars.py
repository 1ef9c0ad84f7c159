"""Profile pictures are untrusted input: check them, then redraw them as a bare square JPEG."""

import io
import warnings

from PIL import Image, ImageOps

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
THUMBNAIL_SIZE = 256
JPEG_QUALITY = 88


class AvatarRejected(ValueError):
    """The upload is not an acceptable picture; the message is written for the user."""


def avatar_thumbnail(upload) -> bytes:
    """A 256 px square JPEG of `upload` with no metadata, or AvatarRejected."""
    if upload.size > MAX_UPLOAD_BYTES:
        raise AvatarRejected("The picture is larger than 5 MB; choose a smaller one.")
    upload.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload, formats=ACCEPTED_FORMATS) as image:
                image.draft("RGB", (THUMBNAIL_SIZE * 2, THUMBNAIL_SIZE * 2))
                image.load()
                square = _square(ImageOps.exif_transpose(image))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise AvatarRejected("The picture's dimensions are too large.") from None
    # A malformed file can make a decoder raise almost anything; all of it means "not a picture".
    except Exception:
        raise AvatarRejected(
            "That file is not a picture we can read; upload a JPEG, PNG, WebP or GIF."
        ) from None
    return _encode(square)


def _square(image: Image.Image) -> Image.Image:
    """Centre-crop and scale to the thumbnail size, flattening transparency onto white."""
    fitted = ImageOps.fit(image.convert("RGBA"), (THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.LANCZOS)
    # A fresh canvas carries none of the source's metadata (EXIF, GPS, ICC, comments).
    canvas = Image.new("RGB", fitted.size, "white")
    canvas.paste(fitted, mask=fitted.getchannel("A"))
    return canvas


def _encode(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()
