"""AC-008 / REL-005 as written (issue 15 item 6): while Prometheus is unreachable, a plain read
of a service's recommendation (no force_regenerate) says `stale: true` with a warning, known from
the readiness probe and the circuit breaker, never from a round trip of its own."""

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


def _telemetry_warnings(body: dict[str, Any]) -> list[str]:
    return [w for w in body["warnings"] if "telemetry" in w.lower()]


def test_plain_reads_are_stale_while_prometheus_is_down(
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
    plain = {"lookback_days": 7}
    try:
        with TestClient(create_app(live), raise_server_exceptions=False,
                        headers={"X-API-Key": make_key(settings)}) as client:  # fmt: skip
            prometheus = client.app.state.sli_source.client  # type: ignore[attr-defined]
            published = client.get(url, params=regenerate)
            assert published.status_code == 200 and published.json()["stale"] is False
            assert client.get("/api/v1/health/ready").json()["telemetry"] == "up"
            healthy = client.get(url, params=plain)
            assert healthy.status_code == 200, healthy.text
            assert healthy.json()["stale"] is False
            assert _telemetry_warnings(healthy.json()) == []

            os.kill(server.pid, signal.SIGKILL)
            time.sleep(0.2)
            # The readiness probe notices first; the breaker has seen nothing yet.
            assert client.get("/api/v1/health/ready").json()["telemetry"] == "down"
            assert prometheus.breaker.state == "closed"
            calls = prometheus.calls
            noticed = client.get(url, params=plain)
            assert noticed.status_code == 200, noticed.text
            assert noticed.json()["stale"] is True
            assert any("readiness" in w for w in _telemetry_warnings(noticed.json()))
            assert prometheus.calls == calls  # no query of its own

            for _ in range(3):  # regenerations that fail open the circuit
                assert client.get(url, params=regenerate).json()["stale"] is True
            assert prometheus.breaker.state == "open"
            started = time.monotonic()
            read = client.get(url, params=plain)
            assert time.monotonic() - started < 0.5  # cheap: no Prometheus round trip
            assert read.status_code == 200 and read.json()["stale"] is True
            assert any("circuit open" in w for w in _telemetry_warnings(read.json()))
            assert [r["recommendation_id"] for r in read.json()["recommendations"]] == [
                r["recommendation_id"] for r in published.json()["recommendations"]
            ]  # the last published recommendation, as it was

            server = prometheus_local.start(data, port=port)  # back, on the same address
            assert client.get("/api/v1/health/ready").json()["telemetry"] == "up"
            back = client.get(url, params=plain)  # the probe answered: no longer known down
            assert back.json()["stale"] is False and _telemetry_warnings(back.json()) == []
            time.sleep(2.1)  # the circuit half-opens: one query may probe it
            # A regeneration's parallel queries: one probes (and closes the circuit), the
            # others are refused at once, so the next regeneration is the fresh one.
            client.get(url, params=regenerate)
            assert prometheus.breaker.state == "closed"
            probed = client.get(url, params=regenerate).json()
            assert probed["stale"] is False, probed["warnings"]
            assert client.get(url, params=plain).json()["stale"] is False
    finally:
        prometheus_local.stop(data)
