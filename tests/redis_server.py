"""A throwaway real ``redis-server`` for differential tests (used by ``tests/conftest.py``).

The server runs as a child process on a free loopback port with persistence off
(``--save '' --appendonly no``) in a temporary directory, and is stopped when the test session
ends. Tests talk to it with redis-py; nothing here needs redis-py, so a missing client library
only skips the tests that use it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

REQUIRE_ENV = "BROKERSIM_REQUIRE_REDIS"
"""When this environment variable is ``1``, a missing or broken server fails the tests."""


def redis_required() -> bool:
    """Whether the run insists on a real server (CI sets ``BROKERSIM_REQUIRE_REDIS=1``)."""
    return os.environ.get(REQUIRE_ENV, "") == "1"


def find_redis_server() -> str | None:
    """The path of the ``redis-server`` binary, or ``None`` if it is not installed."""
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers_ping(host: str, port: int) -> bool:
    """Whether a RESP server at ``host:port`` answers an inline ``PING`` with ``+PONG``."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """A running ``redis-server`` child process: ``host``, ``port`` and how to stop it."""

    host: str
    port: int
    process: subprocess.Popen[bytes] = field(repr=False)
    workdir: Path = field(repr=False)

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log (for error messages)."""
        try:
            text = (self.workdir / "redis.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 5 s) and remove its directory."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_redis_server(binary: str, attempts: int = 3, timeout: float = 10.0,
                       extra_args: tuple[str, ...] = ()) -> RedisServer:
    """Start ``binary`` on a free 127.0.0.1 port and wait until it answers PING.

    ``extra_args`` are more command-line settings (e.g. ``("--replicaof", host, port)``).
    Retries on a new port if the chosen one was taken in between; raises ``RuntimeError`` with
    the server's log if it never comes up.
    """
    problems: list[str] = []
    for _ in range(attempts):
        port = _free_port()
        workdir = Path(tempfile.mkdtemp(prefix="brokersim-redis-"))
        command = [
            binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--dir", str(workdir),
            "--logfile", str(workdir / "redis.log"), *extra_args,
        ]
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        server = RedisServer("127.0.0.1", port, process, workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if _answers_ping(server.host, port):
                return server
            time.sleep(0.02)
        stderr = b""
        if process.poll() is not None and process.stderr is not None:
            stderr = process.stderr.read()
        problems.append(
            f"port {port}: exit code {process.poll()}, stderr {stderr.decode(errors='replace')!r}, "
            f"log:\n{server.log_tail()}"
        )
        server.stop()
    raise RuntimeError(f"{binary} did not answer PING:\n" + "\n".join(problems))


def reset_pubsub_state(server: RedisServer) -> None:
    """Close every other client of ``server`` (dropping all subscriptions) and empty the keys.

    Sends ``CLIENT KILL TYPE pubsub``, ``CLIENT KILL TYPE normal SKIPME yes`` and ``FLUSHALL``
    over a raw socket, then checks that no pub/sub client and no pattern is left.
    """
    with socket.create_connection(server.address, timeout=2) as conn:
        reader = conn.makefile("rb")
        for command in (
            b"CLIENT KILL TYPE pubsub", b"CLIENT KILL TYPE normal SKIPME yes", b"FLUSHALL"
        ):
            conn.sendall(command + b"\r\n")
            _read_reply(reader)
        for _ in range(200):
            conn.sendall(b"CLIENT LIST TYPE pubsub\r\n")
            pubsub_clients = _read_reply(reader)
            conn.sendall(b"PUBSUB NUMPAT\r\n")
            if not pubsub_clients and _read_reply(reader) == b"0":
                return
            time.sleep(0.01)
    raise RuntimeError("redis-server still reports pub/sub clients after CLIENT KILL")


def _read_reply(reader: BinaryIO) -> bytes:
    """Read one RESP2 reply that is a status, error, integer or bulk string; return its text."""
    line = reader.readline().rstrip(b"\r\n")
    if line.startswith(b"-"):
        raise RuntimeError(f"redis-server replied {line.decode(errors='replace')}")
    if line.startswith(b"$"):
        size = int(line[1:])
        return b"" if size < 0 else reader.read(size + 2)[:size]
    return line[1:]
