"""Every benchmark at a smoke size: a benchmark no test runs rots (the pipeline benchmark broke
when drift landed and the README kept its old figure). These check that each still runs end to
end and prints its table; the figures themselves come from `make bench` at full size."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("script", "args", "expected"),
    [
        ("composite_availability.py", ["--services", "200", "--walk-sample", "20"],
         "one pass over the condensed DAG"),
        ("impact_analysis.py", ["--services", "200", "--samples", "5"],
         "analysis (cached fleet state)"),
        ("recommendations_scale.py", ["--sizes", "60", "--days", "8", "--shard-size", "20"],
         "speed-up"),
        ("recommendations_pipeline.py", ["--services", "60", "--days", "8"],
         "step time of intrinsic_availability"),
        ("graph_store.py", ["--services", "200", "--edges-per-service", "3", "--samples", "10",
                            "--http-services", "50"],
         "POST /services/dependencies (HTTP)"),
        ("telemetry_fetch.py", ["--services", "30", "--repeat", "1", "--per-service-sample", "5"],
         "floor: bare HTTP of the same"),
        ("prometheus_shards.py", ["--services", "30", "--repeat", "1", "--max-series", "60"],
         "ratio sharded / fleet-wide"),
        ("api_scale.py", ["--services", "200", "--clients", "4", "--impact-clients", "2",
                          "--seconds", "3", "--warmup-seconds", "1", "--sequential", "3",
                          "--burst", "3", "--seed-workers", "1"],
         "impact analysis under load p50 / p95"),
        ("recommendation_api.py", ["--services", "60", "--days", "8", "--clients", "5",
                                   "--seconds", "2", "--regenerations", "3"],
         "force_regenerate p95"),
        # locust is a dev dependency: the load benchmark runs here too, never skipped.
        ("load_test.py", ["--services", "60", "--days", "8", "--users", "8", "--seconds", "6",
                          "--saturation-users", "4", "--saturation-seconds", "5",
                          "--warmup-seconds", "0", "--with-slo", "10", "--decide", "5",
                          "--keys", "20"],
         "PostgreSQL connections, most at once"),
        ("bogus_keys.py", ["--services", "40", "--days", "8", "--clients", "4", "--seconds", "2",
                           "--flood-rate", "20"],
         "flood raises the good clients' p95"),
    ],
)  # fmt: skip
def test_benchmark_runs_at_smoke_size(script: str, args: list[str], expected: str) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert expected in run.stdout, run.stdout[-3000:]
