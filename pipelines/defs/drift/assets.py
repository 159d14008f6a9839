"""Drift of each service's latency under its SLO (TRD FR-9), checked on every day partition.

`drift_signals` compares the day's hourly p99 with the BASELINE_DAYS before it (see
`analytics.drift`), keeps every verdict in the warehouse, and for confirmed drifts expires the
service's recommendations, audits `drift_triggered` and calls the webhook. The sensor in
`pipelines.defs.drift.automation` turns a materialization with confirmed drifts into a run of
the recommendation chain for that day.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np
import polars as pl

from analytics.drift import latency_drift
from pipelines import asset_tables
from pipelines.defs.telemetry.hourly_retention import HOURLY_FILES_POOL
from pipelines.notifications import WebhookResource
from pipelines.partitions import DAILY
from pipelines.resources import OperationalStoreResource
from store.drift_outcomes import ConfirmedDrift, record_drift
from telemetry.sli_sources import day_bounds

BASELINE_DAYS = 14

HISTORY = dg.AssetIn(
    "sli_hourly",
    partition_mapping=dg.TimeWindowPartitionMapping(
        start_offset=-BASELINE_DAYS, allow_nonexistent_upstream_partitions=True
    ),
)
SCHEMA = {
    "service": pl.String, "confirmed": pl.Boolean, "votes": pl.Int64,
    "page_hinkley": pl.Boolean, "adwin": pl.Boolean, "ks": pl.Boolean, "ks_pvalue": pl.Float64,
    "p99_shift": pl.Float64, "hours_baseline": pl.Int64, "hours_recent": pl.Int64,
}  # fmt: skip
COLUMNS = {
    "service": "The service.",
    "confirmed": "A majority of the three detectors agree: the recommendation was expired.",
    "votes": "Detectors that fired (0–3).",
    "page_hinkley": "Page-Hinkley saw a sustained shift of the mean hourly p99.",
    "adwin": "ADWIN's adaptive window cut between the baseline and the day.",
    "ks": "Kolmogorov–Smirnov: the day's hourly p99s differ from the baseline's.",
    "ks_pvalue": "The KS test's p-value.",
    "p99_shift": "The day's median hourly p99 against the baseline's, as a fraction (+0.2: 20% "
    "slower).",
    "hours_baseline": "Hours with data in the 14-day baseline.",
    "hours_recent": "Hours with data on the day.",
}


def _hourly_p99(frame: pl.DataFrame, start: datetime, hours: int) -> dict[str, np.ndarray]:
    """Per service, the p99 of each hour from `start` (NaN where the hour had no data)."""
    index = {start + timedelta(hours=h): h for h in range(hours)}
    series: dict[str, np.ndarray] = {}
    for (service,), rows in frame.group_by("service"):
        values = np.full(hours, np.nan)
        for hour, p99, present in rows.select("hour", "latency_p99", "has_data").iter_rows():
            slot = index.get(hour)
            if slot is not None and present and p99 is not None:
                values[slot] = p99
        series[str(service)] = values
    return series


@dg.asset(
    partitions_def=DAILY,
    io_manager_key="warehouse_io",
    ins={"sli_hourly": HISTORY},
    group_name="drift",
    pool=HOURLY_FILES_POOL,  # reads 15 days of sli_hourly's files, which retention removes
    description=(
        "Latency drift per service: the day's hourly p99 against the 14 days before it, "
        "Page-Hinkley + ADWIN + KS with a majority vote; confirmed drift expires the "
        "service's recommendations, audits drift_triggered and calls SLO_WEBHOOK_URL."
    ),
    metadata=asset_tables.column_schema(SCHEMA, COLUMNS),
)
def drift_signals(
    context: dg.AssetExecutionContext,
    sli_hourly: pl.LazyFrame,
    store: OperationalStoreResource,
    webhook: WebhookResource,
) -> dg.Output[pl.DataFrame]:
    day_start, day_end = day_bounds(context.partition_time_window.start.date())
    start = day_start - timedelta(days=BASELINE_DAYS)
    hours = (BASELINE_DAYS + 1) * 24
    frame = (
        sli_hourly.select("service", "hour", "latency_p99", "has_data")
        .filter(pl.col("hour") >= start, pl.col("hour") < day_end)
        .collect()
    )
    rows, confirmed = [], []
    for service, p99 in sorted(_hourly_p99(frame, start, hours).items()):
        verdict = latency_drift(p99[: BASELINE_DAYS * 24], p99[BASELINE_DAYS * 24 :])
        if verdict is None:
            continue
        rows.append({
            "service": service, "confirmed": verdict.confirmed, "votes": verdict.votes,
            "page_hinkley": verdict.page_hinkley, "adwin": verdict.adwin, "ks": verdict.ks,
            "ks_pvalue": verdict.ks_pvalue, "p99_shift": verdict.shift,
            "hours_baseline": verdict.hours_baseline, "hours_recent": verdict.hours_recent,
        })  # fmt: skip
        if verdict.confirmed:
            votes = {"Page-Hinkley": verdict.page_hinkley, "ADWIN": verdict.adwin,
                     "KS": verdict.ks}  # fmt: skip
            agreeing = [name for name, fired in votes.items() if fired]
            confirmed.append(ConfirmedDrift(service, (
                f"Latency drift on {day_start.date()}: p99 {verdict.shift:+.1%} against the "
                f"{BASELINE_DAYS} days before ({', '.join(agreeing)} agree; KS p="
                f"{verdict.ks_pvalue:.2g}). Recommendation expired until recomputed."
            )))  # fmt: skip
    affected = []
    if confirmed:
        with store.connect() as engine:
            affected = record_drift(engine, confirmed, now=datetime.now(UTC))
    delivery = "nothing to send"
    if affected:
        payload = {"event": "slo_drift_confirmed", "partition": context.partition_key,
                   "services": affected}  # fmt: skip
        delivery = webhook.post(payload)
    frame = pl.DataFrame(rows, schema=SCHEMA)
    confirmations = frame.filter(pl.col("confirmed")).sort("p99_shift", descending=True)
    return dg.Output(
        frame,
        metadata={
            "services_checked": len(rows),
            "confirmed": len(confirmed),
            "confirmed_services": dg.MetadataValue.json([d.service_id for d in confirmed][:100]),
            "confirmations": asset_tables.table(
                confirmations.select(CONFIRMATION_COLUMNS).head(50),
                {name: COLUMNS[name] for name in CONFIRMATION_COLUMNS},
            ),
            "webhook": delivery,
        },
    )


#: What the confirmations table shows of each confirmed drift (the 50 largest shifts).
CONFIRMATION_COLUMNS = ["service", "p99_shift", "votes", "page_hinkley", "adwin", "ks",
                        "ks_pvalue"]  # fmt: skip
