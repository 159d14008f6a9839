"""Private server processes that a fault test may kill and restart without touching the shared
PostgreSQL and Redis every other test uses: a PostgreSQL cluster from `initdb`, a
`redis-server`, and the API under uvicorn."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from support.ports import free_port
from support.required import skip_or_fail


def missing(what: str) -> None:
    """Fail in CI, skip on a developer machine without the binary."""
    skip_or_fail(f"{what} is not installed")


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


@dataclass
class PrivatePostgres:
    """A throwaway cluster on its own port and socket dir; root runs it as `postgres`."""

    root: Path
    port: int
    bin_dir: Path
    owner: str | None  # run the server as this user (PostgreSQL refuses to run as root)

    @classmethod
    def create(cls) -> PrivatePostgres:
        bin_dir = _postgres_bin()
        if bin_dir is None:
            missing("PostgreSQL (initdb)")
            raise AssertionError  # unreachable
        owner = "postgres" if os.geteuid() == 0 else None
        root = Path(tempfile.mkdtemp(prefix="slo-fault-pg-"))
        if owner:
            entry = pwd.getpwnam(owner)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        server = cls(root, free_port(), bin_dir, owner)
        server._run("initdb", "-D", str(root / "data"), "--auth=trust", "-U", "postgres", "-E",
                    "UTF8", "--no-sync")  # fmt: skip
        server.start()
        return server

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self.owner:
            command = ["runuser", "-u", self.owner, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stdout}\n{done.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.root / "data"), "-l", str(self.root / "server.log"),
                  "-o", options, "-w", "-t", "30", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`immediate` is a crash: no shutdown checkpoint, clients cut off mid-transaction."""
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class PrivateRedis:
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("redis-server")
        self.process = subprocess.Popen(
            [
                str(binary),
                *("--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
                "--port",
                str(self.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@dataclass
class LiveApi:
    """`slo-engine serve` in its own process, as production runs it."""

    base: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, env: dict[str, str], log: Path, extra: Sequence[str] = ()) -> LiveApi:
        port = free_port()
        sink = log.open("wb")
        command = [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1"]
        process = subprocess.Popen(
            [*command, "--port", str(port), *extra],
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        sink.close()
        api = cls(f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{api.base}/api/v1/health", timeout=1).status_code == 200:
                    return api
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                api.stop()
                raise AssertionError(log.read_text())
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
