"""Files and pictures sent all at once to the real server process: its memory stays bounded
(the approach of tests/accounts/test_avatar_memory.py: the peak resident memory, VmHWM, reset
through /proc/<pid>/clear_refs and read once the uploads are answered)."""

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request

import pytest
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from PIL import Image

from chat.models import Room
from tests.accounts.images import image_bytes, png_bomb, upload, webp_bomb
from tests.accounts.test_avatar_memory import (
    MEMORY_BUDGET_KIB,
    Browser,
    largest_accepted_png,
    memory_kib,
    server,  # noqa: F401 (a server process of the test's own)
)
from tests.e2e.conftest import user_who_logs_in
from tests.factories import make_room

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024


class Uploader(Browser):
    def upload(self, room_id: int, content: bytes, name: str) -> tuple[int, dict]:
        body = encode_multipart(BOUNDARY, {"file": upload(content, name, "image/png")})
        request = Request(
            f"{self.base_url}/api/rooms/{room_id}/attachments/",
            data=body,
            headers={"Content-Type": MULTIPART_CONTENT, "X-CSRFToken": self.csrf_token()},
        )
        try:
            with self.opener.open(request, timeout=120) as response:
                return response.status, json.loads(response.read())
        except HTTPError as error:
            return error.code, json.loads(error.read())


def largest_turned_jpeg() -> bytes:
    """A 2896x2896 JPEG whose EXIF asks for a quarter turn: turning holds a second copy, so it
    may have half the pixels."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return image_bytes("JPEG", size=(2896, 2896), exif=exif)


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (png_bomb, 400),
        (webp_bomb, 400),
        (largest_accepted_png, 201),
        (lambda: image_bytes("JPEG", size=(4096, 4096)), 201),
        (largest_turned_jpeg, 201),
        (lambda: os.urandom(20 * MIB), 201),
        (lambda: os.urandom(30 * MIB), 413),
    ],
    ids=[
        "9400x9400 PNG bombs",
        "9400x9400 WebP bombs",
        "largest PNGs",
        "largest JPEGs",
        "largest JPEGs to turn",
        "20 MB files",
        "30 MB files",
    ],
)
def test_three_uploads_at_once_keep_the_server_within_200_mb(server, content, status):  # noqa: F811
    user = user_who_logs_in("ada", "Ada", "Lovelace")
    room = make_room(Room.Kind.PRIVATE, user)
    browser = Uploader(server.url)
    browser.log_in(user.username)
    # Warm up the whole path (imports, Pillow's plugins, a decode) before the start is measured.
    assert browser.upload(room.id, image_bytes("PNG", size=(600, 400)), "warm.png")[0] == 201
    data = content()
    pid = server.process.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak starts again from the present
    start = memory_kib(pid, "VmRSS")

    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda n: browser.upload(room.id, data, f"{n}.png"), range(3)))

    growth = memory_kib(pid, "VmHWM") - start
    assert growth < MEMORY_BUDGET_KIB, f"the server grew by {growth // 1024} MB"
    assert [code for code, _ in answers] == [status] * 3, answers
    print(f"\nserver memory: {start // 1024} MB at start, peak {growth // 1024} MB above it")
