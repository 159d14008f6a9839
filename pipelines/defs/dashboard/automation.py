"""The dashboard is recomputed hourly, a few minutes past the hour."""

import dagster as dg

from pipelines.defs.dashboard.assets import slo_dashboard

dashboard_job = dg.define_asset_job("slo_dashboard_hourly", selection=[slo_dashboard])
dashboard_schedule = dg.ScheduleDefinition(job=dashboard_job, cron_schedule="5 * * * *")
