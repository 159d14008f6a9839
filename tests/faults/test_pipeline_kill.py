"""A pipeline run killed in the middle of a partition (issue 7 §2): the recommendations the
previous run published are still the ones served, untouched, and the partition re-runs cleanly.

Everything runs as it does in production: `slo-engine` subprocesses on a Dagster instance
(DAGSTER_HOME), the embedded store and Parquet warehouse; the run is SIGKILLed, no clean-up."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from support.keys import make_key

from config.settings import Settings
from serving.main import create_app
from store.engine import make_engine

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp: Path) -> dict[str, str]:
    home = tmp / "dagster"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SLO_DATABASE_URL": f"sqlite:///{tmp / 'store.db'}",
        "SLO_TELEMETRY": "parquet",
        "SLO_TELEMETRY_PARQUET_PATH": str(tmp / "fleet" / "sli_hourly"),
        "SLO_WAREHOUSE_PATH": str(tmp / "warehouse"),
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _published(url: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT * FROM slo_recommendations ORDER BY id"))
            return [tuple(row) for row in rows]
    finally:
        engine.dispose()


def test_killed_run_leaves_the_published_recommendations_and_reruns_cleanly(
    tmp_path: Path,
) -> None:
    env = _env(tmp_path)
    today = datetime.now(UTC).date()
    first, second = (today - timedelta(days=2)).isoformat(), (today - timedelta(days=1)).isoformat()
    _cli(env, "db", "upgrade")
    _cli(env, "fleet", "generate", "--out", str(tmp_path / "fleet"), "--services", "400",
         "--days", "4")  # fmt: skip
    _cli(env, "graph", "ingest", str(tmp_path / "fleet" / "graph.json"))
    _cli(env, "materialize", "--date", first, "--days", "2", "--assets", "telemetry")
    _cli(env, "materialize", "--date", first)
    url = env["SLO_DATABASE_URL"]
    before = _published(url)
    assert before

    # The next partition, killed once its composite bounds are written: mid-way through.
    marker = tmp_path / "warehouse" / "composite_availability_bounds" / f"{second}.parquet"
    run = subprocess.Popen([sys.executable, "-m", "cli.main", "materialize", "--date", second],
                           env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert run.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    assert not (tmp_path / "warehouse" / "slo_recommendations" / f"{second}.parquet").exists()
    assert _published(url) == before  # not one row changed

    settings = Settings(database_url=url, api_key_bcrypt_rounds=4, rate_limit_enabled=False)
    graph = json.loads((tmp_path / "fleet" / "graph.json").read_text())
    service = graph["nodes"][0]["service_id"]
    with TestClient(create_app(settings), headers={"X-API-Key": make_key(settings)}) as client:
        served = client.get(f"/api/v1/services/{service}/slo-recommendations")
    assert served.status_code == 200, served.text
    assert served.json()["lookback_window"]["end"].startswith(second)  # ends with `first`

    # The same partition again, from the start: it completes and supersedes the old ones.
    _cli(env, "materialize", "--date", second)
    after = _published(url)
    assert len(after) == 2 * len(before)
    with TestClient(create_app(settings), headers={"X-API-Key": make_key(settings)}) as client:
        served = client.get(f"/api/v1/services/{service}/slo-recommendations")
    assert served.json()["lookback_window"]["end"].startswith(today.isoformat())
