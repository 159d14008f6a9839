"""Daily UTC partitions shared by every per-day asset."""

from __future__ import annotations

import os

import dagster as dg

#: First day the engine looks at; earlier history can be backfilled by moving this date.
START_DATE = os.environ.get("SLO_PARTITIONS_START", "2026-01-01")

DAILY = dg.DailyPartitionsDefinition(start_date=START_DATE, timezone="UTC")
