"""Retention of `sli_hourly`: hourly partitions past the horizon go once their day is rolled up.

TRD §7.2: hourly SLIs dominate storage; keep daily aggregates after 90 days. A partition file
is removed only when *its own* day's `sli_daily` file exists and covers every service the hourly
file holds (a rollup of an older materialization, or none at all, keeps the hours), so no day
is ever left with neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl

#: The Dagster concurrency pool of every step that reads or removes `sli_hourly`'s files:
#: retention, the rollup, and each op that loads a lookback of `sli_hourly`. A reader resolves a
#: day's file when its input loads and reads it later (lazily); a retention of a newer partition
#: (a backfill) removing that file in between would fail the read. Dagster's pools are counting
#: semaphores, not reader/writer locks, so the instance enforces this pool per *run*
#: (`concurrency.pools.granularity: run`, limit 1 in `dagster.yaml`): a run holding it runs its
#: shards in parallel, and no two runs touching these files overlap (a backfill runs them one
#: at a time). Within one run, retention never removes a day that run's lookbacks read
#: (`SLO_HOURLY_RETENTION_DAYS` ≥ `SLO_LOOKBACK_DAYS`).
HOURLY_FILES_POOL = "sli_hourly_files"


@dataclass(frozen=True)
class RetentionSweep:
    """What one sweep did: the last day due for removal and what became of each due file."""

    horizon: date
    removed: list[date] = field(default_factory=list)
    kept_without_rollup: list[date] = field(default_factory=list)
    bytes_removed: int = 0


def retention_horizon(partition: date, retention_days: int) -> date:
    """The newest day whose hours are due: the `retention_days` days ending at `partition`
    stay hourly (so a lookback of at most that length, ending there, never loses an hour)."""
    return partition - timedelta(days=retention_days)


def _day_of(path: Path) -> date | None:
    try:
        return date.fromisoformat(path.stem)
    except ValueError:
        return None  # not a day partition (a stray or temporary file): never ours to remove


def _services(path: Path) -> set[str]:
    return set(pl.scan_parquet(path).select("service").unique().collect()["service"].to_list())


def _requests(path: Path) -> int:
    return int(pl.scan_parquet(path).select(pl.col("requests").sum()).collect().item() or 0)


def rollup_covers(hourly: Path, daily: Path) -> bool:
    """The day's rollup was written from the hourly file as it is now: it is newer than the
    hourly file's last write, holds every one of its services and the same request total (an
    hourly day re-fetched after its rollup keeps its hours until the rollup is redone)."""
    if not daily.exists():
        return False
    try:
        if daily.stat().st_mtime < hourly.stat().st_mtime:
            return False
        return _services(hourly) <= _services(daily) and _requests(hourly) == _requests(daily)
    except (pl.exceptions.PolarsError, OSError):
        return False  # unreadable rollup: keep the hours


def sweep_hourly(hourly_dir: Path, daily_dir: Path, horizon: date) -> RetentionSweep:
    """Remove `hourly_dir/<day>.parquet` for every day ≤ `horizon` whose
    `daily_dir/<day>.parquet` rollup covers it; keep (and list) the others."""
    sweep = RetentionSweep(horizon=horizon)
    removed_bytes = 0
    for path in sorted(hourly_dir.glob("*.parquet")) if hourly_dir.is_dir() else []:
        day = _day_of(path)
        if day is None or day > horizon:
            continue
        if rollup_covers(path, daily_dir / path.name):
            removed_bytes += path.stat().st_size
            path.unlink()
            sweep.removed.append(day)
        else:
            sweep.kept_without_rollup.append(day)
    return RetentionSweep(horizon, sweep.removed, sweep.kept_without_rollup, removed_bytes)
