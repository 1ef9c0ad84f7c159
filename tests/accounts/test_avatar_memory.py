"""Pictures sent all at once to the real server process: its memory stays bounded.

The server's peak resident memory (VmHWM, reset through /proc/<pid>/clear_refs) is read once
the uploads are answered, so no short peak between two samples can go unseen."""

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, OpenerDirector, Request, build_opener

import pytest
from django.conf import settings
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from tests.accounts.images import image_bytes, png_bomb, upload, webp_bomb
from tests.conftest import LiveServer
from tests.e2e.conftest import user_who_logs_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

MEMORY_BUDGET_KIB = 200 * 1024
SAVED = "Your profile is saved."
REFUSED = "dimensions are too large"


@pytest.fixture
def server(server_env) -> Iterator[LiveServer]:
    """A server process of its own, so that its memory is this test's alone."""
    process = LiveServer(server_env)
    process.start()
    yield process
    process.stop()


def memory_kib(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB$", status, re.MULTILINE).group(1))


class Browser:
    """A signed-in visitor speaking plain HTTP, with its own cookies."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.cookies = CookieJar()
        self.opener: OpenerDirector = build_opener(HTTPCookieProcessor(self.cookies))

    def csrf_token(self) -> str:
        return next(c.value for c in self.cookies if c.name == settings.CSRF_COOKIE_NAME)

    def get(self, path: str) -> str:
        with self.opener.open(self.base_url + path, timeout=30) as response:
            return response.read().decode()

    def post(self, path: str, body: bytes, content_type: str) -> str:
        request = Request(self.base_url + path, data=body, headers={"Content-Type": content_type})
        with self.opener.open(request, timeout=60) as response:
            return response.read().decode()

    def log_in(self, username: str) -> None:
        self.get("/accounts/login/")
        form = urlencode(
            {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": self.csrf_token()}
        )
        page = self.post("/accounts/login/", form.encode(), "application/x-www-form-urlencoded")
        assert 'action="/accounts/logout/"' in page, "the log-in failed"

    def post_picture(self, user, content: bytes) -> str:
        form = {
            "csrfmiddlewaretoken": self.csrf_token(),
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "avatar": upload(content, "picture.png", "image/png"),
        }
        return self.post("/accounts/profile/", encode_multipart(BOUNDARY, form), MULTIPART_CONTENT)


def largest_accepted_png() -> bytes:
    """A translucent 4096x4096 PNG: the most pixels, and bytes per pixel, a picture may have."""
    return image_bytes("PNG", size=(4096, 4096), color=(200, 40, 40, 128))


def largest_accepted_webp() -> bytes:
    """A 2048x2048 WebP of 30 bytes: a WebP's limit is a quarter of the pixels."""
    return webp_bomb(2048)


def largest_accepted_progressive_jpeg() -> bytes:
    """A progressive 2896x2896 JPEG without chroma subsampling: half the pixels, 6 bytes each."""
    return image_bytes("JPEG", size=(2896, 2896), progressive=True, subsampling=0)


@pytest.mark.parametrize(
    ("picture", "answer"),
    [
        (png_bomb, REFUSED),
        (webp_bomb, REFUSED),
        (largest_accepted_png, SAVED),
        (largest_accepted_webp, SAVED),
        (largest_accepted_progressive_jpeg, SAVED),
    ],
    ids=[
        "9400x9400 1-bit PNGs",
        "9400x9400 WebPs",
        "largest PNGs",
        "largest WebPs",
        "largest progressive JPEGs",
    ],
)
def test_three_pictures_at_once_keep_the_server_within_200_mb(server, picture, answer):
    user = user_who_logs_in("ada", "Ada", "Lovelace")
    browser = Browser(server.url)
    browser.log_in(user.username)
    # Warm up the whole path (imports, Pillow's plugins, a decode) before the start is measured.
    assert SAVED in browser.post_picture(user, image_bytes("PNG", size=(600, 400)))
    content = picture()
    pid = server.process.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak starts again from the present
    start = memory_kib(pid, "VmRSS")

    with ThreadPoolExecutor(3) as pool:
        pages = list(pool.map(lambda _: browser.post_picture(user, content), range(3)))

    growth = memory_kib(pid, "VmHWM") - start
    assert growth < MEMORY_BUDGET_KIB, f"the server grew by {growth // 1024} MB"
    assert all(answer in page for page in pages)
    print(f"\nserver memory: {start // 1024} MB at start, peak {growth // 1024} MB above it")
