"""Benchmark: the recommendation chain at fleet scale, on 1 and 2 processes (issue 18).

Runs `benchmarks/recommendations_pipeline.py` once per size and process count (each run in a
process of its own; the two runs of a size start from the same generated fleet, made once), on
Dagster's multiprocess executor with `max_concurrent` 1 and 2, and prints one table: chain
time, the speed-up of 2 processes over 1 (goal ≥ 1.7× at 20,000 services), the peak RSS of the
largest pipeline process and of the fleet generator (goal ≤ 2 GB at 50,000).

Usage: python benchmarks/recommendations_scale.py [--sizes 5000 20000 50000] [--days 30]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

PIPELINE = Path(__file__).with_name("recommendations_pipeline.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 50000])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--edges-per-service", type=float, default=5.0)
    parser.add_argument("--shard-size", type=int, help="services per shard (default: setting)")
    args = parser.parse_args()
    table = Table(title=f"Recommendation chain at scale, {args.days}-day lookback, "
                        f"{args.edges_per_service:g} edges per service")  # fmt: skip
    for column in ("services", "1 process (s)", "2 processes (s)", "speed-up", "largest "
                   "pipeline process (GB)", "largest step", "generator (GB)"):  # fmt: skip
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory(prefix="slo-bench-scale-") as tmp:
        for size in args.sizes:
            runs = {}
            for processes in (1, 2):
                out = Path(tmp) / f"{size}-{processes}.json"
                command = [sys.executable, str(PIPELINE), "--services", str(size),
                           "--days", str(args.days), "--processes", str(processes),
                           "--edges-per-service", str(args.edges_per_service),
                           "--json", str(out),
                           # One fleet per size, made once: both runs measure the same one.
                           "--fleet-cache", str(Path(tmp) / f"fleet-{size}")]  # fmt: skip
                if args.shard_size:
                    command += ["--shard-size", str(args.shard_size)]
                subprocess.run(command, check=True, capture_output=True)
                runs[processes] = json.loads(out.read_text(encoding="utf-8"))
            one, two = runs[1], runs[2]
            table.add_row(
                f"{size:,}",
                f"{one['chain_s']:.1f}",
                f"{two['chain_s']:.1f}",
                f"{one['chain_s'] / two['chain_s']:.2f}×",
                f"{max(r[k] for r in runs.values() for k in ('rss_gb', 'step_rss_gb')):.2f}",
                max(runs.values(), key=lambda r: r["step_rss_gb"])["largest_step"],
                f"{max(r['generator_rss_gb'] for r in runs.values()):.2f}",
            )
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
