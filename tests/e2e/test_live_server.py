"""The real thing: `slo-engine serve` under uvicorn, spoken to over a TCP socket."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.keys import make_key
from support.ports import free_port

from config.settings import Settings
from store.migrate import upgrade


@pytest.fixture
def live_server(store_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, an sre_admin API key) of `slo-engine serve` on a free port."""
    upgrade(store_url)
    key = make_key(Settings(database_url=store_url, api_key_bcrypt_rounds=4))
    port = free_port()
    env = {**os.environ, "SLO_DATABASE_URL": store_url}
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((tmp_path / "server.log").read_text())
            time.sleep(0.2)
        yield base, key
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_ingest_and_query_over_http(live_server: tuple[str, str]) -> None:
    base, key = live_server
    assert httpx.get(f"{base}/api/v1/services").status_code == 401  # health only is open
    with httpx.Client(base_url=base, timeout=10, headers={"X-API-Key": key}) as client:
        assert client.get("/api/v1/health/ready").json()["status"] == "ready"
        payload = {
            "source": "manual",
            "nodes": [{"service_id": "web", "metadata": {"team": "edge"}}],
            "edges": [
                {"source": "web", "target": "api"},
                {"source": "api", "target": "db", "attributes": {"protocol": "postgres"}},
            ],
        }
        accepted = client.post("/api/v1/services/dependencies", json=payload)
        assert accepted.status_code == 202
        ingestion = client.get(f"/api/v1/ingestions/{accepted.json()['ingestion_id']}").json()
        assert ingestion["counts"]["edges_created"] == 2
        sub = client.get("/api/v1/services/web/dependencies", params={"direction": "downstream"})
        assert {n["service_id"] for n in sub.json()["nodes"]} == {"web", "api", "db"}
        missing = client.get("/api/v1/services/nope/dependencies")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
