"""A real Prometheus, backfilled with a small generated fleet, shared by this folder's tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.history import END
from support.ports import free_port
from support.required import skip_or_fail

from cli import prometheus_local
from synthetic_fleet.telemetry import FleetTelemetry, generate_telemetry, openmetrics_lines
from synthetic_fleet.topology import FleetTopology, generate_topology

DAYS = 3


@dataclass
class BackfilledPrometheus:
    url: str
    data_dir: Path
    topology: FleetTopology
    telemetry: FleetTelemetry


def require_binaries() -> None:
    try:
        prometheus_local.find_binary("prometheus")
        prometheus_local.find_binary("promtool")
    except prometheus_local.PrometheusNotInstalledError as exc:
        skip_or_fail(str(exc))


@pytest.fixture(scope="session")
def prometheus_binaries() -> None:
    require_binaries()


@pytest.fixture(scope="session")
def prometheus_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackfilledPrometheus]:
    require_binaries()
    root = tmp_path_factory.mktemp("prometheus")
    topology = generate_topology(30, seed=21)
    telemetry = generate_telemetry(topology, days=DAYS, seed=21, end=END)
    source = root / "fleet.om"
    with source.open("w", encoding="utf-8") as sink:
        sink.writelines(openmetrics_lines(telemetry))
    data = root / "tsdb"
    prometheus_local.backfill(source, data)
    server = prometheus_local.start(data, port=free_port())
    yield BackfilledPrometheus(server.url, data, topology, telemetry)
    server.stop()
