"""docs/deploy.md's layout, run: Debian's nginx ends TLS (a self-signed certificate) in front of
two production server processes that share one Redis and one database, and serves /static/ and
/media/ itself. nginx runs deploy/nginx.conf.template, the file the deployment guide points to."""

import asyncio
import http.client
import ipaddress
import json
import os
import re
import secrets
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from websockets.asyncio.client import connect

from accounts.services import api_token_create
from attachments.models import Attachment
from chat.models import Room
from scripts.dev import ROOT, wait_for_port
from tests.accounts.images import upload
from tests.conftest import LiveServer, free_port, in_a_thread
from tests.deploy.conftest import NGINX, SKIP_MESSAGE
from tests.factories import PASSWORD, make_room

pytestmark = [
    pytest.mark.skipif(not NGINX.exists(), reason=SKIP_MESSAGE),
    pytest.mark.django_db(transaction=True),
]

TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
THROTTLED = "Too many failed attempts; try again in"
# The test's clients connect from here, so the peer nginx reports is not the proxy's own address
# (127.0.0.1, the only one the servers take X-Forwarded-For from).
CLIENT_ADDRESS = "127.0.0.2"


def main_config(directory: Path) -> str:
    """What Debian's /etc/nginx/nginx.conf provides, with every path under `directory` (so nginx
    needs no privilege) and an access log that names the upstream that answered each request.
    As root the workers stay root: as `nobody` they could not read the private tmp directory."""
    return f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    log_format upstream '$remote_addr "$request" $status $upstream_addr';
    access_log {directory}/access.log upstream;
    include {directory}/parley.conf;
}}
"""


def render_template(values: dict[str, str]) -> str:
    """deploy/nginx.conf.template with its ${PARLEY_...} names filled in, as envsubst would."""
    return re.sub(r"\$\{(PARLEY_[A-Z_]+)\}", lambda name: values[name[1]], TEMPLATE.read_text())


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key; its path and the key's."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = directory / "parley.crt", directory / "parley.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate_path, key_path


@dataclass
class Deployment:
    port: int
    servers: list[LiveServer]
    static_root: Path
    media_root: Path
    attachment_root: Path
    access_log: Path
    trust: ssl.SSLContext

    @property
    def origin(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def connection(self, source: str = CLIENT_ADDRESS) -> http.client.HTTPSConnection:
        """An HTTPS connection to nginx from the local address `source`."""
        return http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self.trust, timeout=10, source_address=(source, 0)
        )

    def get(self, path: str, headers=None) -> tuple[int, http.client.HTTPMessage, bytes]:
        return self.request("GET", path, headers=headers)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers=None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        connection = self.connection()
        try:
            connection.request(method, path, body, headers or {})
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def upstreams_of(self, path: str, count: int = 1) -> list[str]:
        """The upstream nginx logged for the last `count` requests of `path` ("-": nginx itself)."""
        pattern = re.compile(rf'^\S+ "\S+ {re.escape(path)} [^"]*" \d+ (\S+)$')
        deadline = time.monotonic() + 5
        while True:  # nginx logs a request once it is finished, a socket once it is closed
            lines = self.access_log.read_text().splitlines()
            found = [match[1] for line in lines if (match := pattern.match(line))]
            if len(found) >= count or time.monotonic() > deadline:
                return found[-count:]
            time.sleep(0.05)


def start_nginx(directory: Path) -> subprocess.Popen:
    error_log = directory / "error.log"
    with error_log.open("ab") as log:
        return subprocess.Popen(
            [
                str(NGINX),
                *("-p", str(directory), "-c", str(directory / "nginx.conf")),
                *("-e", str(error_log), "-g", "daemon off;"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def deployment(server_env, tmp_path_factory) -> Iterator[Deployment]:
    """collectstatic, two server processes (DEBUG off, SECURE on) and nginx in front of them."""
    directory = tmp_path_factory.mktemp("nginx")
    static_root, media_root = directory / "static", directory / "media"
    attachment_root = directory / "attachments"
    media_root.mkdir()
    env = {
        **server_env,
        "DEBUG": "0",
        "SECURE": "1",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "REDIS_PREFIX": f"parley-nginx-{uuid.uuid4().hex}",
        "STATIC_ROOT": str(static_root),
        "MEDIA_ROOT": str(media_root),
        "SERVE_MEDIA": "0",
        "ATTACHMENT_ROOT": str(attachment_root),
        "ATTACHMENT_ACCEL_REDIRECT_PREFIX": "/_attachments/",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    certificate, key = self_signed_certificate(directory)
    port = free_port()
    with ExitStack() as cleanup:
        servers = []
        env["FORWARDED_ALLOW_IPS"] = "127.0.0.1"  # nginx's address, and no other
        for _ in range(2):
            server = LiveServer(env)
            cleanup.callback(server.stop)
            server.start()
            servers.append(server)
        (directory / "parley.conf").write_text(
            render_template(
                {
                    "PARLEY_UPSTREAMS": " ".join(f"server 127.0.0.1:{s.port};" for s in servers),
                    "PARLEY_LISTEN": f"127.0.0.1:{port}",
                    "PARLEY_SERVER_NAME": "127.0.0.1",
                    "PARLEY_TLS_CERTIFICATE": str(certificate),
                    "PARLEY_TLS_CERTIFICATE_KEY": str(key),
                    "PARLEY_STATIC_ROOT": str(static_root),
                    "PARLEY_MEDIA_ROOT": str(media_root),
                    "PARLEY_ATTACHMENT_ROOT": str(attachment_root),
                }
            )
        )
        (directory / "nginx.conf").write_text(main_config(directory))
        nginx = start_nginx(directory)
        cleanup.callback(stop, nginx)
        if not wait_for_port("127.0.0.1", port, 10):
            pytest.fail(f"nginx did not start:\n{(directory / 'error.log').read_text()}")
        yield Deployment(
            port=port,
            servers=servers,
            static_root=static_root,
            media_root=media_root,
            attachment_root=attachment_root,
            access_log=directory / "access.log",
            trust=ssl.create_default_context(cafile=str(certificate)),
        )


def log_in(
    deployment: Deployment,
    username: str,
    password: str,
    *,
    source: str = CLIENT_ADDRESS,
    forwarded_for: str | None = None,
) -> tuple[int, str, SimpleCookie]:
    """Log in through nginx as a browser would; the status, the page and the cookies set."""
    forged = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    connection = deployment.connection(source)
    try:
        connection.request("GET", "/accounts/login/", headers=forged)
        page = connection.getresponse()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())[1]
        csrf_cookie = SimpleCookie(page.getheader("Set-Cookie"))["csrftoken"].value
        form = {"username": username, "password": password, "csrfmiddlewaretoken": token}
        headers = {
            **forged,
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf_cookie}",
            "Origin": deployment.origin,
        }
        connection.request("POST", "/accounts/login/", urlencode(form), headers)
        response = connection.getresponse()
        cookies = SimpleCookie()
        for header in response.headers.get_all("Set-Cookie") or []:
            cookies.load(header)
        return response.status, response.read().decode(), cookies
    finally:
        connection.close()


@pytest.fixture
def make_person(make_user):
    """A user whose password the servers can check (the tests' own hasher is MD5)."""

    def make(**fields):
        user = make_user(**fields)
        hasher = PBKDF2PasswordHasher()
        user.password = hasher.encode(PASSWORD, hasher.salt(), iterations=1000)
        user.save(update_fields=["password"])
        return user

    return make


async def message_client_ids(socket, expected: int) -> list[str]:
    """The client_id of every message the socket receives: until `expected` came (at most 10 s),
    then for 0.5 s more, so a message delivered twice shows as a repeat."""
    received: list[str] = []

    async def receive_until(done) -> None:
        while not done():
            frame = json.loads(await socket.recv())
            if frame["type"] == "message":
                received.append(frame["message"]["client_id"])

    for seconds, done in ((10, lambda: len(received) >= expected), (0.5, lambda: False)):
        try:
            async with asyncio.timeout(seconds):
                await receive_until(done)
        except TimeoutError:
            pass
    return received


async def chat_through_the_proxy(
    deployment: Deployment, cookies: list[str], room_id: int
) -> tuple[list[str], list[list[str]]]:
    """Open a wss:// socket per cookie, send one message on each; what was sent and what each
    socket received."""
    url = deployment.origin.replace("https://", "wss://") + "/ws/chat/"
    async with AsyncExitStack() as sockets_open:
        sockets = []
        for cookie in cookies:
            socket = await sockets_open.enter_async_context(
                connect(
                    url,
                    ssl=deployment.trust,
                    origin=deployment.origin,
                    additional_headers={"Cookie": cookie},
                )
            )
            assert json.loads(await socket.recv())["type"] == "hello"
            sockets.append(socket)
        sent = []
        for index, socket in enumerate(sockets):
            client_id = str(uuid.uuid4())
            body = f"over wss, socket {index}"
            frame = {"type": "send", "room": room_id, "body": body, "client_id": client_id}
            await socket.send(json.dumps(frame))
            sent.append(client_id)
        received = await asyncio.gather(*(message_client_ids(s, len(sent)) for s in sockets))
    return sent, list(received)


def test_wss_through_nginx_reaches_every_socket_on_both_processes_exactly_once(
    deployment, make_person
):
    alice, bob = make_person(), make_person()
    room = make_room(Room.Kind.PRIVATE, alice, bob)
    cookies = []
    for user in (alice, bob):
        status, _, set_cookies = log_in(deployment, user.username, PASSWORD)
        assert status == 302
        cookies.append(f"sessionid={set_cookies['sessionid'].value}")

    sent, received = in_a_thread(
        asyncio.run, chat_through_the_proxy(deployment, cookies * 3, room.id)
    )

    assert [sorted(ids) for ids in received] == [sorted(sent)] * len(sent)
    served_by = set(deployment.upstreams_of("/ws/chat/", count=len(sent)))
    assert served_by == {f"127.0.0.1:{server.port}" for server in deployment.servers}


def test_the_client_address_is_the_peer_nginx_saw_never_a_forged_header(deployment, make_person):
    owner = make_person()
    for index in range(5):
        status, _, _ = log_in(deployment, owner.username, "wrong", forwarded_for=f"6.6.6.{index}")
        assert status == 200

    attacker = log_in(deployment, owner.username, PASSWORD, forwarded_for="6.6.6.99")
    owner_elsewhere = log_in(deployment, owner.username, PASSWORD, source="127.0.0.3")

    # Every failure counted against 127.0.0.2, whatever it claimed; another peer is not blamed.
    assert THROTTLED in attacker[1]
    assert owner_elsewhere[0] == 302


def test_static_and_media_files_are_served_by_nginx(deployment):
    avatar = deployment.media_root / "avatars" / "probe.png"
    avatar.parent.mkdir(exist_ok=True)
    avatar.write_bytes(b"\x89PNG\r\n\x1a\n not really a picture")

    static = deployment.get("/static/css/parley.css")
    media = deployment.get("/media/avatars/probe.png")
    page = deployment.get("/accounts/login/")

    assert static[0] == 200
    assert static[2] == (deployment.static_root / "css" / "parley.css").read_bytes()
    assert static[1]["Content-Type"] == "text/css"
    assert (media[0], media[2]) == (200, avatar.read_bytes())
    assert media[1]["X-Content-Type-Options"] == "nosniff"
    assert page[0] == 200
    assert deployment.upstreams_of("/static/css/parley.css") == ["-"]
    assert deployment.upstreams_of("/media/avatars/probe.png") == ["-"]
    assert deployment.upstreams_of("/accounts/login/")[0].startswith("127.0.0.1:")


def test_https_settings_hold_behind_nginx_and_plain_http_is_redirected(deployment):
    status, headers, _ = deployment.get("/accounts/login/")
    direct = http.client.HTTPConnection("127.0.0.1", deployment.servers[0].port, timeout=10)
    try:
        direct.request("GET", "/accounts/login/")
        redirect = direct.getresponse()
    finally:
        direct.close()

    # X-Forwarded-Proto reached Django: behind nginx the page is served, not redirected.
    assert status == 200
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Secure" in headers["Set-Cookie"]
    assert redirect.status == 301
    assert redirect.getheader("Location").startswith("https://")


def test_shared_files_are_sent_by_nginx_to_members_only(deployment, make_person):
    alice, outsider = make_person(), make_person()
    room = make_room(Room.Kind.PRIVATE, alice)
    alice_auth = {"Authorization": f"Bearer {api_token_create(user=alice, name='bot')[1]}"}
    outsider_auth = {"Authorization": f"Bearer {api_token_create(user=outsider, name='x')[1]}"}
    content = os.urandom(8 * 1024 * 1024)  # above nginx's default body limit of 1 MiB
    body = encode_multipart(BOUNDARY, {"file": upload(content, "report.bin", "text/html")})
    upload_path = f"/api/rooms/{room.id}/attachments/"
    status, _, answer = deployment.request(
        "POST",
        upload_path,
        body,
        {**alice_auth, "Content-Type": MULTIPART_CONTENT},
    )
    assert status == 201, answer
    sent = json.loads(answer)
    message = {"body": "the report", "client_id": str(uuid.uuid4()), "attachments": [sent["id"]]}
    status, _, _ = deployment.request(
        "POST",
        f"/api/rooms/{room.id}/messages/",
        json.dumps(message).encode(),
        {**alice_auth, "Content-Type": "application/json"},
    )
    assert status == 201
    stored = deployment.attachment_root / Attachment.objects.get(id=sent["id"]).file.name

    member = deployment.get(sent["url"], alice_auth)
    outsider_answer = deployment.get(sent["url"], outsider_auth)
    anonymous = deployment.get(sent["url"])
    internal = deployment.get(f"/_attachments/{stored.relative_to(deployment.attachment_root)}")
    direct = http.client.HTTPConnection("127.0.0.1", deployment.servers[0].port, timeout=10)
    try:
        direct.request("GET", sent["url"], headers={**alice_auth, "X-Forwarded-Proto": "https"})
        from_the_app = direct.getresponse()
        app_body = from_the_app.read()
    finally:
        direct.close()

    # The app answered with an empty body and X-Accel-Redirect; nginx sent the file's bytes.
    assert (member[0], member[2]) == (200, content) == (200, stored.read_bytes())
    assert "X-Accel-Redirect" not in member[1]
    assert member[1]["Content-Type"] == "application/octet-stream"
    assert member[1]["Content-Disposition"] == "attachment; filename*=UTF-8''report.bin"
    assert member[1]["X-Content-Type-Options"] == "nosniff"
    assert member[1]["Content-Security-Policy"].endswith("sandbox")
    assert from_the_app.getheader("X-Accel-Redirect").startswith("/_attachments/")
    assert app_body == b""
    assert deployment.upstreams_of(sent["url"], count=3)[0].startswith("127.0.0.1:")
    # The app's content type stands, not one nginx would guess.
    pdf = encode_multipart(BOUNDARY, {"file": upload(b"%PDF-1.7 a report", "r.html", "text/html")})
    headers = {**alice_auth, "Content-Type": MULTIPART_CONTENT}
    pdf_url = json.loads(deployment.request("POST", upload_path, pdf, headers)[2])["url"]
    assert deployment.get(pdf_url, alice_auth)[1]["Content-Type"] == "application/pdf"
    # Outsiders, anonymous visitors and requests for the internal location get nothing.
    assert [outsider_answer[0], anonymous[0], internal[0]] == [404, 404, 404]
    assert content[:64] not in outsider_answer[2] + anonymous[2] + internal[2]


def test_a_body_over_the_limit_is_refused_by_nginx_before_the_app(deployment, make_person):
    alice = make_person()
    room = make_room(Room.Kind.PRIVATE, alice)
    auth = {"Authorization": f"Bearer {api_token_create(user=alice, name='bot')[1]}"}
    body = encode_multipart(BOUNDARY, {"file": upload(b"x" * (22 * 1024 * 1024), "big.bin")})
    path = f"/api/rooms/{room.id}/attachments/"
    status, _, _ = deployment.request(
        "POST", path, body, {**auth, "Content-Type": MULTIPART_CONTENT}
    )
    assert status == 413
    assert deployment.upstreams_of(path) == ["-"]
    assert not Attachment.objects.exists()
