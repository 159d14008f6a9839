"""Prometheus killed while the API is regenerating from it, then restarted (issue 7 §2, AC-008):
stale answers and never a 500 while it is gone, an open circuit that stops the waiting, and
fresh answers again once it is back."""

from __future__ import annotations

import os
import shutil
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from support.keys import make_key
from support.ports import free_port

from cli import prometheus_local
from config.settings import Settings
from serving.main import create_app
from store.graph_ingest import ingest_graph
from store.graph_payload import DependencyGraphIn


def test_prometheus_killed_mid_run_stale_then_circuit_then_recovery(
    prometheus_fleet: Any, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    data = tmp_path / "tsdb"  # our own copy of the backfilled blocks: this server gets killed
    skip = ("lock", "queries.active", "*.log", prometheus_local.PID_FILE, "wal", "chunks_head")
    shutil.copytree(prometheus_fleet.data_dir, data, ignore=shutil.ignore_patterns(*skip))
    port = free_port()
    server = prometheus_local.start(data, port=port)
    payload = DependencyGraphIn.model_validate(prometheus_fleet.topology.to_payload())
    ingest_graph(engine, payload.to_submission(), stale_after=timedelta(days=3650))
    service = prometheus_fleet.telemetry.services[0]
    url = f"/api/v1/services/{service}/slo-recommendations"
    live = settings.model_copy(
        update={"telemetry": "prometheus", "prometheus_url": server.url,
                "prometheus_retries": 0, "prometheus_timeout_s": 2.0,
                "prometheus_circuit_failures": 3, "prometheus_circuit_reset_s": 2.0}
    )  # fmt: skip
    regenerate = {"force_regenerate": True, "lookback_days": 7}
    try:
        with TestClient(create_app(live), raise_server_exceptions=False,
                        headers={"X-API-Key": make_key(settings)}) as client:  # fmt: skip
            breaker = client.app.state.sli_source.client.breaker  # type: ignore[attr-defined]
            fresh = client.get(url, params=regenerate)
            assert fresh.status_code == 200 and fresh.json()["stale"] is False, fresh.text

            os.kill(server.pid, signal.SIGKILL)  # no shutdown, no goodbye
            time.sleep(0.2)
            answers = [client.get(url, params=regenerate) for _ in range(3)]
            assert [a.status_code for a in answers] == [200, 200, 200]
            assert all(a.json()["stale"] is True for a in answers)
            assert [r["recommendation_id"] for r in answers[0].json()["recommendations"]] == [
                r["recommendation_id"] for r in fresh.json()["recommendations"]
            ]  # the last published recommendation, served as it was
            assert breaker.state == "open"
            started = time.monotonic()
            refused = client.get(url, params=regenerate)
            assert time.monotonic() - started < 0.5  # an open circuit does not wait
            assert "circuit open" in refused.json()["warnings"][0]
            assert client.get(url).status_code == 200  # plain cached reads never noticed
            ready = client.get("/api/v1/health/ready").json()
            assert ready["status"] == "ready"  # the store is fine: keep serving
            assert (ready["telemetry"], ready["telemetry_circuit"]) == ("down", "open")

            server = prometheus_local.start(data, port=port)  # back, on the same address
            time.sleep(2.1)  # the circuit half-opens after its reset time
            # Half-open lets one query probe (issue 15): a regeneration's sibling queries are
            # refused while it does, so the probe's success shows on the next regeneration.
            client.get(url, params=regenerate)
            recovered = client.get(url, params=regenerate)
            assert recovered.status_code == 200
            assert recovered.json()["stale"] is False
            assert breaker.state == "closed"
            assert client.get("/api/v1/health/ready").json()["telemetry"] == "up"
            assert recovered.json()["generated_at"] > fresh.json()["generated_at"]
    finally:
        prometheus_local.stop(data)
