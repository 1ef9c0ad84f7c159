"""Test pictures, drawn in memory with Pillow."""

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image


def image_bytes(
    fmt: str = "JPEG", size: tuple[int, int] = (64, 48), color="#3366cc", **save
) -> bytes:
    """An encoded single-colour picture."""
    buffer = io.BytesIO()
    mode = "RGBA" if fmt in {"PNG", "WEBP"} else "RGB"
    Image.new(mode, size, color).save(buffer, fmt, **save)
    return buffer.getvalue()


def upload(content: bytes, name: str = "picture.jpg", content_type: str = "image/jpeg"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def png_bomb(side: int = 9400) -> bytes:
    """A black 1-bit PNG of `side`x`side` pixels: about 10 KB that once cost 850 MB to decode."""
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, "PNG")
    return buffer.getvalue()


def gif_bomb(side: int = 9400) -> bytes:
    """A GIF whose 1x1 frame sits on a `side`x`side` screen, which a decoder paints in full."""
    gif = bytearray(image_bytes("GIF", size=(1, 1)))
    gif[6:10] = side.to_bytes(2, "little") * 2  # the logical screen's width and height
    return bytes(gif)


def webp_bomb(side: int = 9400) -> bytes:
    """A lossless WebP of `side`x`side` black pixels in a few dozen bytes.

    Every prefix code has a single symbol, so the pixels take no bits at all (WebP lossless
    bitstream specification, sections 3 and 5)."""
    bits = [(0x2F, 8), (side - 1, 14), (side - 1, 14), (0, 1), (0, 3)]  # signature, size, version
    bits += [(0, 1), (0, 1), (0, 1)]  # no transform, no colour cache, no meta prefix codes
    # Five simple prefix codes (green, red, blue, alpha, distance) of one symbol each:
    # is-simple, one symbol, 1-bit or 8-bit symbol, the symbol.
    bits += [(1, 1), (0, 1), (0, 1), (0, 1)] * 3 + [(1, 1), (0, 1), (1, 1), (255, 8)]
    bits += [(1, 1), (0, 1), (0, 1), (0, 1)]
    value = position = 0
    for field, width in bits:
        value |= field << position
        position += width
    chunk = value.to_bytes((position + 7) // 8, "little")
    chunk += b"\0" * (len(chunk) % 2)
    body = b"WEBP" + b"VP8L" + len(chunk).to_bytes(4, "little") + chunk
    return b"RIFF" + len(body).to_bytes(4, "little") + body
