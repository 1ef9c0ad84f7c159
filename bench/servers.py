"""Start and stop the servers under test on free loopback ports; read their CPU and memory."""

import contextlib
import dataclasses
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from scripts.dev import WS_MAX_SIZE, server_command

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
NOFILE = 65536


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def raise_nofile(limit: int = NOFILE) -> int:
    """Raise this process's open-files limit as far as allowed; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for wanted in (limit, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, max(wanted, hard)))
            return wanted
        except (ValueError, OSError):
            continue
    return soft


def _preexec() -> None:
    raise_nofile()


def daphne_command(app: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "daphne",
        "-b",
        HOST,
        "-p",
        str(port),
        "--websocket-max-message-size",
        str(WS_MAX_SIZE),
        "--ping-interval",
        "3600",
        "-v",
        "0",
        app,
    ]


def uvicorn_command(app: str, port: int, env: dict) -> list[str]:
    return server_command(HOST, port, app=app, env=env)


@dataclass
class ServerConfig:
    """One server under test: a name for the table and how to start its processes."""

    name: str
    kind: str  # bare | tutorial | parley
    server: str  # websockets | uvicorn | daphne
    layer: str = "-"  # memory | core | pubsub
    processes: int = 1
    env: dict = field(default_factory=dict)

    def with_processes(self, processes: int) -> "ServerConfig":
        """The same server run as `processes` processes, named for it ("... x4")."""
        if processes == self.processes:
            return self
        base = self.name.removesuffix(f" x{self.processes}")
        return dataclasses.replace(self, name=f"{base} x{processes}", processes=processes)

    def command(self, port: int, env: dict) -> list[str]:
        """How to start one process on `port`, in the environment `env`."""
        if self.kind == "bare":
            return [sys.executable, "-m", "bench.baselines.bare_server", str(port)]
        app = (
            "bench.baselines.tutorial.asgi:application"
            if self.kind == "tutorial"
            else "config.asgi:application"
        )
        if self.server == "daphne":
            return daphne_command(app, port)
        return uvicorn_command(app, port, env)

    def ws_url(self, port: int, room: int) -> str:
        if self.kind == "bare":
            return f"ws://{HOST}:{port}/room/{room}"
        if self.kind == "tutorial":
            return f"ws://{HOST}:{port}/ws/chat/{room}/"
        return f"ws://{HOST}:{port}/ws/chat/"


class ServerGroup:
    """The running processes of one ServerConfig (one per port); stop() is always safe."""

    def __init__(self, config: ServerConfig, env: dict, log_dir: Path):
        self.config = config
        self.env = env
        self.log_dir = log_dir
        self.ports: list[int] = []
        self.procs: list[subprocess.Popen] = []

    def start(self, timeout: float = 30) -> "ServerGroup":
        env = {**os.environ, **self.env, **self.config.env}
        env["PYTHONPATH"] = str(ROOT)
        for index in range(self.config.processes):
            port = free_port()
            log = open(self.log_dir / f"{self.config.name}-{index}.log", "wb")  # noqa: SIM115
            proc = subprocess.Popen(
                self.config.command(port, env),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_preexec,
                start_new_session=True,
            )
            log.close()
            self.ports.append(port)
            self.procs.append(proc)
        deadline = time.monotonic() + timeout
        for port, proc in zip(self.ports, self.procs, strict=True):
            while not _port_open(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{self.config.name} did not start: see {self.log_dir}")
                time.sleep(0.1)
        return self

    def tree(self) -> list[psutil.Process]:
        found = []
        for proc in self.procs:
            try:
                root = psutil.Process(proc.pid)
                found += [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        return found

    def cpu_seconds(self) -> float:
        """CPU time of the tree's processes, read from each process's CPU-time clock (exact to
        the nanosecond, ended threads included), since the 10 ms ticks of /proc/<pid>/stat
        are ±10-20 % of a short fan-out row."""
        total = 0.0
        for proc in self.tree():
            try:
                total += time.clock_gettime(_process_cpu_clock(proc.pid))
            except OSError:  # it ended meanwhile
                continue
        return total

    def rss_bytes(self) -> int:
        total = 0
        for proc in self.tree():
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total

    def alive(self) -> bool:
        return all(proc.poll() is None for proc in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _process_cpu_clock(pid: int) -> int:
    """The clock id of another process's CPU time, as glibc's clock_getcpuclockid makes it
    (Linux: the pid inverted, shifted, with CPUCLOCK_SCHED), which Python's time module lacks."""
    return (~pid << 3) | 2


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0


def services_cpu_seconds() -> float:
    """CPU of the local PostgreSQL and Redis processes (their share of each delivery)."""
    total = 0.0
    for proc in psutil.process_iter(["name"]):
        name = proc.info["name"] or ""
        if name.startswith(("postgres", "redis-server")):
            try:
                times = proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += times.user + times.system + times.children_user + times.children_system
    return total
