"""`make run` (scripts/dev.py run) serves as production does: DEBUG off, its own secret key kept
across restarts, static files and pictures served by the app, and the site's own error pages."""

import os
import re
import signal
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
import requests
from psycopg import sql

from scripts.dev import ROOT, ensure_database, wait_for_port
from tests.conftest import database_url_for_server, free_port

pytestmark = pytest.mark.django_db

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


class MakeRun:
    """`python scripts/dev.py run` as a child process, on a database and data folder of its own."""

    def __init__(self, tmp: Path, database_url: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data = tmp / "data"
        self.media = tmp / "media"
        self.log = tmp / "run.log"
        clean = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DEBUG", "SECRET_KEY", "SECURE", "ALLOWED_HOSTS", "SITE_URL"}
            and not k.startswith(("DJANGO_", "PYTEST_", "REDIS_", "PARLEY_"))
        }
        self.env = {
            **clean,
            "DATABASE_URL": database_url,
            "PARLEY_DATA_DIR": str(self.data),
            "STATIC_ROOT": str(tmp / "static"),
            "MEDIA_ROOT": str(self.media),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "LOG_LEVEL": "WARNING",
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "scripts/dev.py", "run"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if not wait_for_port("127.0.0.1", self.port, 120):
            self.stop()
            raise AssertionError(f"make run did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@pytest.fixture
def make_run(tmp_path):
    """A fresh database for `make run` to migrate and seed, dropped afterwards."""
    name = f"parley_make_run_{uuid.uuid4().hex[:8]}"
    url = database_url_for_server().rsplit("/", 1)[0] + f"/{name}"
    ensure_database(url)
    server = MakeRun(tmp_path, url)
    yield server
    server.stop()
    admin = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def log_in(url: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(f"{url}/accounts/login/", timeout=10).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    response = browser.post(
        f"{url}/accounts/login/",
        data={"username": "alice", "password": "parley-demo", "csrfmiddlewaretoken": token},
        headers={"Referer": f"{url}/accounts/login/"},
        timeout=10,
    )
    assert response.url == f"{url}/chat/", response.text[-2000:]
    return browser


def test_make_run_serves_as_production_does_and_keeps_its_secret_key(make_run):
    make_run.start()
    url = make_run.url
    browser = log_in(url)

    # The site's own 404, not Django's debug page; plain HTTP, no redirect to HTTPS.
    missing = browser.get(f"{url}/no-such-page/", timeout=10, allow_redirects=False)
    assert missing.status_code == 404
    assert "Page not found" in missing.text and "/static/css/parley.css" in missing.text
    assert "Traceback" not in missing.text and "DEBUG = True" not in missing.text
    assert "Strict-Transport-Security" not in missing.headers
    assert {cookie.name for cookie in browser.cookies} == {"csrftoken", "sessionid"}
    assert not any(cookie.secure for cookie in browser.cookies)

    # Static files through WhiteNoise, an uploaded picture from MEDIA_ROOT.
    css = browser.get(f"{url}/static/css/parley.css", timeout=10)
    assert css.status_code == 200 and "--surface" in css.text
    (make_run.media / "avatars").mkdir(parents=True, exist_ok=True)
    (make_run.media / "avatars" / "alice.png").write_bytes(PNG)
    avatar = browser.get(f"{url}/media/avatars/alice.png", timeout=10)
    assert avatar.status_code == 200 and avatar.content == PNG

    # The key was made once, readable by its owner only...
    key_file = make_run.data / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text()
    assert len(key) >= 50
    make_run.stop()

    # ...and a restart reuses it: the session signed with it still holds.
    make_run.start()
    assert key_file.read_text() == key
    lobby = browser.get(f"{url}/chat/", timeout=10, allow_redirects=False)
    assert lobby.status_code == 200, "the session did not survive a restart"


def test_debug_is_an_opt_in(make_run):
    make_run.env["DEBUG"] = "1"
    make_run.start()
    missing = requests.get(f"{make_run.url}/no-such-page/", timeout=10)
    assert missing.status_code == 404
    assert "DEBUG = True" in missing.text
