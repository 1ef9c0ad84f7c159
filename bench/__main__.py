"""python -m bench [--quick] [--only WORKLOAD] [--servers NAME,...] [--scale F] [--out DIR]

Starts every server under test on loopback, drives it from this process (the socket ramp from
several), and writes the table, JSON and plot to bench/results/ (see docs/benchmarks.md)."""

import argparse
import asyncio
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench import client, report
from bench.servers import ROOT, ServerConfig, ServerGroup, raise_nofile, services_cpu_seconds
from bench.workspace import Workspace

WORKLOADS = ("fanout", "peak", "workspace", "connections", "pages")
# Another name for a bench beside someone else's on the same PostgreSQL and Redis.
BENCH_DB = os.environ.get("BENCH_DB", "parley_bench")
REDIS_DB_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2")


def server_configs(redis: bool) -> list[ServerConfig]:
    parley = {"DJANGO_SETTINGS_MODULE": "config.settings"}
    tutorial = {"DJANGO_SETTINGS_MODULE": "bench.baselines.tutorial.settings"}
    configs = [
        ServerConfig("bare websockets", "bare", "websockets"),
        ServerConfig("tutorial uvicorn", "tutorial", "uvicorn", "memory", env=tutorial),
        ServerConfig("tutorial daphne", "tutorial", "daphne", "memory", env=tutorial),
        ServerConfig(
            "tutorial pooled uvicorn",
            "tutorial",
            "uvicorn",
            "memory",
            env={**tutorial, "TUTORIAL_DB_POOL": "1"},
        ),
        ServerConfig("parley memory uvicorn", "parley", "uvicorn", "memory", env=parley),
        ServerConfig("parley memory daphne", "parley", "daphne", "memory", env=parley),
    ]
    if redis:
        for layer in ("core", "pubsub"):
            for server in ("uvicorn", "daphne"):
                env = {**parley, "REDIS_URL": REDIS_DB_URL, "CHANNEL_LAYER": layer}
                configs.append(
                    ServerConfig(f"parley {layer} {server} x2", "parley", server, layer, 2, env)
                )
    return configs


PLAN = {
    "full": {
        "sizes": [2, 10, 100, 500],
        "rates": {2: 40, 10: 20, 100: 5, 500: 2},
        "seconds": 3.0,
        "peak_room": 10,
        "peak_start": 25.0,
        "peak_factor": 1.6,
        "peak_max": 5000.0,
        "peak_seconds": 2.0,
        "ramp": 50_000,
        "ramp_seconds": 240.0,
        "ramp_users": 500,
        "ramp_processes": 4,
        "ramp_clients": 4,
        "ramp_servers": {"bare websockets", "parley pubsub uvicorn x2"},
        "workspace": {
            "users": 2000,
            "rooms": 200,
            "rate": 50.0,
            "typing_factor": 5,
            "seconds": 60.0,
        },
        "workspace_servers": {"parley pubsub uvicorn x2"},
        "page_servers": {"parley memory uvicorn", "parley memory daphne"},
        "page_requests": 200,
        "servers": None,
    },
    "quick": {
        "sizes": [10],
        "rates": {10: 20},
        "seconds": 2.0,
        "peak_room": None,
        "ramp": 300,
        "ramp_seconds": 20.0,
        "ramp_users": 20,
        "ramp_processes": 1,
        "ramp_clients": 1,
        "ramp_servers": {"bare websockets", "parley memory uvicorn"},
        "workspace": None,
        "workspace_servers": set(),
        "page_servers": {"parley memory uvicorn"},
        "page_requests": 20,
        "servers": {"bare websockets", "parley memory uvicorn"},
    },
}


def scaled(plan: dict, scale: float) -> dict:
    """The plan with the workspace (users, rooms, rate; at least 5 s) and the socket ramp
    (sockets, users) multiplied by `scale`: for trying the harness out, not for results."""
    if scale == 1:
        return plan
    plan = {
        **plan,
        "ramp": max(20, round(plan["ramp"] * scale)),
        "ramp_users": max(1, round(plan["ramp_users"] * scale)),
    }
    if shape := plan["workspace"]:
        plan["workspace"] = {
            **shape,
            "users": max(10, round(shape["users"] * scale)),
            "rooms": max(2, round(shape["rooms"] * scale)),
            "rate": shape["rate"] * scale,
            "seconds": max(5.0, shape["seconds"] * scale),
        }
    return plan


def log(text: str) -> None:
    print(f"[bench] {text}", flush=True)


def bench_database_url() -> str:
    """A fresh, migrated `parley_bench` database on the PostgreSQL that scripts/dev.py finds."""
    import psycopg
    from psycopg import sql

    from scripts.dev import embedded_postgres_url, local_postgres_url

    base = os.environ.get("BENCH_DATABASE_URL") or local_postgres_url() or embedded_postgres_url()
    url = urlunsplit(urlsplit(base)._replace(path=f"/{BENCH_DB}"))
    admin = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        name = sql.Identifier(BENCH_DB)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    return url


def redis_available() -> bool:
    from scripts.dev import local_redis_url

    return local_redis_url() is not None


def redis_flush() -> None:
    import redis

    redis.Redis.from_url(REDIS_DB_URL).flushdb()


def redis_clients() -> int:
    """Connections Redis holds now, from everyone (its maxclients bounds the sockets a layer
    that needs one per socket can hold)."""
    import redis

    return redis.Redis.from_url(REDIS_DB_URL).info("clients")["connected_clients"]


def machine(database_url: str) -> dict:
    import psutil
    import psycopg

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    with psycopg.connect(database_url) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    cores = os.cpu_count()
    memory = psutil.virtual_memory().total / 2**30
    return {
        "cpu": model,
        "cores": cores,
        "memory_gb": round(memory, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg,
        "summary": f"{cores} x {model}, {memory:.0f} GB, Python {platform.python_version()}, "
        f"PostgreSQL {pg.split()[0]}",
    }


def run(command: list[str], env: dict) -> None:
    subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, check=True)


def prepare(plan: dict, only: set[str], env: dict, tmp: Path) -> dict:
    import json

    parley = {**env, "DJANGO_SETTINGS_MODULE": "config.settings", "REDIS_URL": ""}
    log("migrating the bench database")
    run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], parley)
    run(
        [sys.executable, "-m", "django", "migrate", "--run-syncdb", "--noinput", "-v", "0"],
        {**env, "DJANGO_SETTINGS_MODULE": "bench.baselines.tutorial.settings"},
    )
    log("creating users, tokens, rooms and history")
    out = tmp / "fixtures.json"
    run(
        [
            sys.executable,
            "-m",
            "bench.setup",
            str(out),
            "--sizes",
            ",".join(map(str, plan["sizes"])),
            "--ramp-users",
            str(plan["ramp_users"]),
            *(
                [
                    "--workspace-users",
                    str(plan["workspace"]["users"]),
                    "--workspace-rooms",
                    str(plan["workspace"]["rooms"]),
                ]
                if plan["workspace"] and "workspace" in only
                else []
            ),
        ],
        parley,
    )
    return json.loads(out.read_text())


class Meter:
    """CPU seconds of the server tree and of PostgreSQL + Redis across one measured run."""

    def __init__(self, group: ServerGroup):
        self.group = group

    def __enter__(self):
        self.cpu = self.group.cpu_seconds()
        self.services = services_cpu_seconds()
        return self

    def __exit__(self, *exc):
        self.cpu = self.group.cpu_seconds() - self.cpu
        self.services = services_cpu_seconds() - self.services

    def annotate(self, row: dict) -> dict:
        delivered, sent = row["delivered"], row["sent"]
        row["server_cpu_s"] = round(self.cpu, 3)
        row["cpu_us_per_delivery"] = round(self.cpu / delivered * 1e6, 1) if delivered else None
        row["services_cpu_us_per_delivery"] = (
            round(self.services / delivered * 1e6, 1) if delivered else None
        )
        row["cpu_us_per_message"] = round(self.cpu / sent * 1e6, 1) if sent else None
        return row


def clean(row: dict) -> bool:
    return not (row["lost"] or row["duplicates"] or row["errors"]) and (row["p99_ms"] or 0) <= 250


async def messages(config, group, fixtures, plan, only, result) -> None:
    pool = client.Pool()
    parley = config.kind == "parley"
    try:
        await pool.open(
            fixtures["rooms"],
            lambda room, index: config.ws_url(group.ports[index % len(group.ports)], room),
            expect_hello=parley,
            label=config.name,
        )
        result["connect_errors"] = pool.connect_errors
        before = group.cpu_seconds()
        await asyncio.sleep(1.0)
        result["idle_cpu_pct"] = round((group.cpu_seconds() - before) * 100, 2)
        rooms = {room["size"]: room["id"] for room in fixtures["rooms"]}
        # Unmeasured warm-up: the database pool fills and lazy imports happen before timing.
        for size in plan["sizes"]:
            await pool.run(rooms[size], 10, 1.0, senders=10, label=f"{config.name}: warm-up")
        if "fanout" in only:
            for size in plan["sizes"]:
                with Meter(group) as meter:
                    row = await pool.run(
                        rooms[size],
                        plan["rates"][size],
                        plan["seconds"],
                        senders=10,
                        label=f"{config.name}: fan-out {size}",
                    )
                result["fanout"].append(meter.annotate(row))
                _say(config.name, f"fan-out {size}", row)
        if "peak" in only and plan["peak_room"]:
            result["peak"] = await peak(config, group, pool, rooms[plan["peak_room"]], plan)
    finally:
        await pool.close()


async def peak(config, group, pool, room_id, plan) -> dict:
    """Raise the offered rate until p99 > 250 ms, a message is lost or doubled, or an error."""
    steps, best, client_bound = [], None, False
    rate = plan["peak_start"]
    while rate <= plan["peak_max"]:
        with Meter(group) as meter:
            row = await pool.run(
                room_id, rate, plan["peak_seconds"], 10, f"{config.name}: peak {rate:.0f}/s"
            )
        steps.append(meter.annotate(row))
        _say(config.name, f"peak step {rate:.0f}/s", row)
        if not clean(row) or not group.alive():
            break
        best = row
        if row["send_rate"] < 0.9 * rate:
            client_bound = True
            break
        rate = round(rate * plan["peak_factor"], 1)
    else:
        client_bound = True
    half = None
    if best:
        await asyncio.sleep(2.0)  # let an overloaded server catch up
        with Meter(group) as meter:
            half = await pool.run(
                room_id, best["offered_rate"] / 2, plan["seconds"], 10, f"{config.name}: half peak"
            )
        meter.annotate(half)
        _say(config.name, "half of peak", half)
    return {"steps": steps, "best": best, "half": half, "client_bound": client_bound}


async def workspace(config, group, fixture: dict, shape: dict) -> dict:
    """The workspace workload: every socket open, 2 s unmeasured, then `shape["seconds"]`."""
    office = Workspace(fixture)
    try:
        await office.open(
            lambda n: config.ws_url(group.ports[n % len(group.ports)], 0), config.name
        )
        rate, typing = shape["rate"], shape["typing_factor"]
        await office.run(rate, typing, 2.0, f"{config.name}: workspace warm-up")
        await asyncio.sleep(1.0)  # the warm-up's last typing frames (not drained) come in here
        client_cpu = time.process_time()
        with Meter(group) as meter:
            row = await office.run(rate, typing, shape["seconds"], f"{config.name}: workspace")
        meter.annotate(row)
        # The client's own share of the two cores, for the fairness note.
        row["client_cpu_s"] = round(time.process_time() - client_cpu, 3)
        frames = row["delivered"] + row["typing_received"]
        row["cpu_us_per_frame"] = round(meter.cpu / frames * 1e6, 1) if frames else None
        row["connect_errors"] = office.connect_errors
        _say(config.name, "workspace", row)
        log(
            f"{config.name}: workspace: {row['typing_received']:,} of "
            f"{row['typing_expected']:,} typing frames, {row['connect_errors']} sockets refused"
        )
        return row
    finally:
        await office.close()


async def connections(config, group, fixtures, plan) -> dict:
    """Ramp idle authenticated sockets from several client processes: handshakes per second
    during the ramp, sockets still answering a ping 2 s later, server RSS growth per socket."""
    parley = config.kind == "parley"
    ramp = fixtures["ramp"]
    tokens = ramp["tokens"] if parley else [None]
    urls = [config.ws_url(port, ramp["room"]) for port in group.ports]
    warm = await client.ramp(urls, tokens, 20, parley, plan["ramp_seconds"], label=config.name)
    client.abort_all(warm.pop("sockets"))
    await asyncio.sleep(1.0)
    rss_before = group.rss_bytes()
    async with client.Clients(
        urls, tokens, plan["ramp"], parley, plan["ramp_seconds"], plan["ramp_clients"]
    ) as clients:
        result = await clients.ramp()
        log(
            f"{config.name}: ramp: {result['held']:,}/{plan['ramp']:,} in {result['seconds']} s "
            f"({result['connect_rate']:.0f} handshakes/s) from "
            f"{result['client_processes']} client processes"
        )
        await asyncio.sleep(2.0)
        result["still_held"] = await clients.still_open()
        rss_after = group.rss_bytes()
        if config.layer in {"core", "pubsub"}:
            result["redis_clients"] = redis_clients()
    result["server"] = config.name
    result["server_processes"] = config.processes
    result["rss_before_mb"] = round(rss_before / 2**20, 1)
    result["rss_delta_mb"] = round((rss_after - rss_before) / 2**20, 1)
    result["kb_per_socket"] = round(
        (rss_after - rss_before) / 1024 / max(result["still_held"], 1), 1
    )
    redis_note = f", {result['redis_clients']:,} Redis clients" if "redis_clients" in result else ""
    log(
        f"{config.name}: {result['still_held']:,}/{plan['ramp']:,} sockets held, "
        f"{result['connect_rate']:.0f} handshakes/s, {result['kb_per_socket']:.1f} KB each"
        + redis_note
    )
    return result


def _say(name: str, what: str, row: dict) -> None:
    log(
        f"{name}: {what}: {row['send_rate']:.0f} msgs/s in, {row['deliveries_per_s']:.0f} "
        f"deliveries/s, p50 {row['p50_ms']} p99 {row['p99_ms']} ms, lost {row['lost']}, "
        f"dup {row['duplicates']}, errors {row['errors']}, "
        f"{row.get('cpu_us_per_delivery', '-')} µs CPU/delivery"
    )


async def bench_server(config, env, fixtures, plan, only, log_dir) -> dict:
    result = {
        "name": config.name,
        "kind": config.kind,
        "server": config.server,
        "layer": config.layer,
        "processes": config.processes,
        "fanout": [],
    }
    try:
        if only & {"fanout", "peak", "pages"}:
            if config.layer in {"core", "pubsub"}:
                redis_flush()
            with ServerGroup(config, env, log_dir).start() as group:
                if only & {"fanout", "peak"}:
                    await messages(config, group, fixtures, plan, only, result)
                if "pages" in only and config.name in plan["page_servers"]:
                    pages = fixtures["pages"]
                    result["pages"] = await asyncio.to_thread(
                        client.pages,
                        group.ports[0],
                        pages["cookie"],
                        {"chat": pages["chat"], "lobby": pages["lobby"]},
                        plan["page_requests"],
                    )
                    log(f"{config.name}: pages {result['pages']}")
                if not group.alive():
                    raise RuntimeError("a server process exited during the run")
        if "workspace" in only and config.name in plan["workspace_servers"]:
            if config.layer in {"core", "pubsub"}:
                redis_flush()
            with ServerGroup(config, env, log_dir).start() as group:
                result["workspace"] = await workspace(
                    config, group, fixtures["workspace"], plan["workspace"]
                )
                if not group.alive():
                    raise RuntimeError("a server process exited during the workspace run")
        if "connections" in only and config.name in plan["ramp_servers"]:
            if config.layer in {"core", "pubsub"}:
                redis_flush()
            ramp_config = config.with_processes(plan["ramp_processes"])
            with ServerGroup(ramp_config, env, log_dir).start() as group:
                result["connections"] = await connections(ramp_config, group, fixtures, plan)
    except Exception as error:
        traceback.print_exc()
        result["failed"] = f"{type(error).__name__}: {error}"
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the CI smoke run (< 1 minute)")
    parser.add_argument("--only", choices=WORKLOADS, action="append", help="run only this")
    parser.add_argument("--servers", help="comma-separated server names to run (default: all)")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply the workspace and the socket ramp (to try them out; results use 1)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    plan = scaled(PLAN[mode], args.scale)
    only = set(args.only or WORKLOADS)
    began = time.monotonic()
    log(f"open-files limit raised to {raise_nofile()}")
    database_url = bench_database_url()
    redis = mode == "full" and redis_available()
    if redis:
        redis_flush()
    configs = server_configs(redis)
    wanted = set(args.servers.split(",")) if args.servers else plan["servers"]
    if wanted:
        configs = [config for config in configs if config.name in wanted]
    env = {
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE": "0",
        "CHAT_RATE_PER_SECOND": "0",
        "CHAT_MAX_SOCKETS_PER_USER": "1000000",
        "LOG_LEVEL": "WARNING",
        "REDIS_PREFIX": "parley-bench",
        "REDIS_URL": "",
    }
    results = {
        "mode": mode,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(database_url),
        "redis": redis,
        "peak_room": plan["peak_room"],
        "scale": args.scale,
        "plan": {k: sorted(v) if isinstance(v, set) else v for k, v in plan.items()},
        "servers": [],
    }
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
        fixtures = prepare(plan, only, env, Path(tmp))
        results["page_queries"] = fixtures["pages"]["queries"]
        log_dir = args.out / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        for config in configs:
            log(f"--- {config.name}")
            results["servers"].append(
                asyncio.run(bench_server(config, env, fixtures, plan, only, log_dir))
            )
    results["seconds"] = round(time.monotonic() - began, 1)
    paths = report.write(results, args.out, mode)
    print()
    print(paths[2].read_text())
    log(f"wrote {', '.join(str(p) for p in paths)} in {results['seconds']:.0f} s")
    failed = [s["name"] for s in results["servers"] if s.get("failed")]
    if failed:
        log(f"FAILED: {', '.join(failed)}")
        return 1
    if mode == "quick":
        bad = [
            s["name"]
            for s in results["servers"]
            for row in s["fanout"]
            if row["lost"] or row["duplicates"] or row["errors"]
        ]
        if bad or not any(s["fanout"] for s in results["servers"]):
            log(f"LOST, DOUBLED OR REFUSED MESSAGES (or none sent): {', '.join(bad)}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
