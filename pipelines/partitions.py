"""The daily UTC partitions shared by every per-day asset, job and schedule.

One definition outside any `defs/<area>/`: telemetry, graph, recommendations, drift and the
daily job all partition by it, and no area owns the others' calendar. It is a module constant
(Dagster compares partition definitions when it loads the code location), so
`SLO_PARTITIONS_START` is read from the settings once, at import.
"""

from __future__ import annotations

import dagster as dg

from config.settings import get_settings

#: First day the engine looks at; earlier history can be backfilled by moving this date.
START_DATE = get_settings().partitions_start

DAILY = dg.DailyPartitionsDefinition(start_date=START_DATE, timezone="UTC")
