"""A real, local Prometheus for demos and tests, filled by backfilling OpenMetrics.

Nothing is installed here: the binaries come from Debian's `prometheus` package
(`scripts/install-prometheus.sh`). The server listens on 127.0.0.1 only, keeps its data in the
directory it is given, and keeps a long retention so that backfilled history is not dropped.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

PID_FILE = "prometheus.pid"
CONFIG = """global:
  scrape_interval: 1m
scrape_configs: []
"""


class PrometheusNotInstalledError(RuntimeError):
    pass


class PrometheusStartError(RuntimeError):
    pass


def find_binary(name: str) -> Path:
    found = shutil.which(name)
    for candidate in (found, f"/usr/bin/{name}", f"/usr/local/bin/{name}"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise PrometheusNotInstalledError(
        f"`{name}` not found: run scripts/install-prometheus.sh (or apt-get install prometheus)"
    )


def backfill(openmetrics: Path, data_dir: Path, *, max_block_duration: str = "720h") -> None:
    """Write TSDB blocks from OpenMetrics text into `data_dir`.

    The large block duration matters: promtool otherwise re-reads the input once per 2-hour
    block (minutes instead of seconds for weeks of history).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        str(find_binary("promtool")),
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        f"--max-block-duration={max_block_duration}",
        str(openmetrics),
        str(data_dir),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PrometheusStartError(f"promtool backfill failed: {done.stderr.strip()[-2000:]}")


@dataclass
class LocalPrometheus:
    url: str
    pid: int
    data_dir: Path

    def stop(self) -> bool:
        return stop(self.data_dir)


def start(
    data_dir: Path,
    *,
    port: int = 9090,
    host: str = "127.0.0.1",
    lookback_delta: str = "30m",
    retention: str = "3650d",
    ready_timeout_s: float = 60.0,
) -> LocalPrometheus:
    """Start Prometheus on `data_dir` and wait until `/-/ready` answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "prometheus.yml"
    config.write_text(CONFIG, encoding="utf-8")
    log = (data_dir / "prometheus.log").open("ab")
    process = subprocess.Popen(
        [
            str(find_binary("prometheus")),
            f"--config.file={config}",
            f"--storage.tsdb.path={data_dir}",
            f"--storage.tsdb.retention.time={retention}",
            f"--web.listen-address={host}:{port}",
            f"--query.lookback-delta={lookback_delta}",
            "--web.enable-lifecycle",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    (data_dir / PID_FILE).write_text(str(process.pid), encoding="utf-8")
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200:
                return LocalPrometheus(url=url, pid=process.pid, data_dir=data_dir)
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop(data_dir)
    tail = (data_dir / "prometheus.log").read_text(errors="replace")[-2000:]
    raise PrometheusStartError(f"Prometheus did not become ready on {url}:\n{tail}")


def stop(data_dir: Path, timeout_s: float = 15.0) -> bool:
    """Stop the instance whose pid file is in `data_dir`; True if one was running."""
    pid_file = data_dir / PID_FILE
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text(encoding="utf-8").strip())
    pid_file.unlink()
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
            if finished:
                return True
        except ChildProcessError:  # not our child: poll its existence instead
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True
