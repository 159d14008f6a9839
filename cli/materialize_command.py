"""`slo-engine materialize`: run the asset graph in process for some day partitions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

if TYPE_CHECKING:
    pass


from cli.console import console


def materialize(
    day: Annotated[
        str | None, typer.Option("--date", help="Last partition, YYYY-MM-DD (default: yesterday).")
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="Number of daily partitions ending there.")] = 1,
    assets: Annotated[
        str,
        typer.Option(
            help="telemetry (SLIs, observed graph) | all (+ recommendations, then the dashboard)"
        ),
    ] = "all",
    show: Annotated[bool, typer.Option(hidden=True)] = True,
) -> None:
    """Run the daily assets and their checks in-process, one partition after the other."""
    import os

    import dagster as dg

    from pipelines.definitions import DAILY_ASSETS, DAILY_CHECKS, TELEMETRY_ASSETS, build_resources

    if assets not in ("telemetry", "all"):
        raise typer.BadParameter("--assets must be telemetry or all")
    chosen = TELEMETRY_ASSETS if assets == "telemetry" else DAILY_ASSETS

    last = date.fromisoformat(day) if day else datetime.now(UTC).date() - timedelta(days=1)
    instance = (
        dg.DagsterInstance.get()
        if os.environ.get("DAGSTER_HOME")
        else dg.DagsterInstance.ephemeral()
    )
    failed = False
    for offset in range(days - 1, -1, -1):
        key = (last - timedelta(days=offset)).isoformat()
        result = dg.materialize(
            [*DAILY_ASSETS, *DAILY_CHECKS],
            selection=[a.key for a in chosen],
            resources=build_resources(),
            partition_key=key,
            instance=instance,
            raise_on_error=False,
            # Step-level debug events go to the Dagster instance, not the terminal.
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        table = Table(title=f"partition {key}: {'success' if result.success else 'FAILED'}")
        table.add_column("asset / check")
        table.add_column("result")
        for asset in chosen:
            for materialization in result.asset_materializations_for_node(asset.node_def.name):
                shown: dict[str, object] = {
                    k: v.value
                    for k, v in materialization.metadata.items()
                    if isinstance(v.value, int | float) and not isinstance(v.value, bool)
                }
                table.add_row(asset.key.to_user_string(), _compact(shown))
        for check in result.get_asset_check_evaluations():
            table.add_row(check.check_name, "passed" if check.passed else "[red]failed[/red]")
        if show or not result.success:
            console.print(table)
        failed = failed or not result.success
    if assets == "all" and not failed:
        failed = not _materialize_dashboard(instance, show)
    if failed:
        raise typer.Exit(code=1)


def _materialize_dashboard(instance: object, show: bool) -> bool:
    """The organisational dashboard (hourly in production) once the partitions are in, so the
    /api/v1/dashboard endpoints answer right after a run, not at the next full hour."""
    import dagster as dg

    from pipelines.definitions import build_resources
    from pipelines.defs.dashboard.assets import slo_dashboard

    result = dg.materialize(
        [slo_dashboard],
        resources=build_resources(),
        instance=instance,  # type: ignore[arg-type]
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    if show or not result.success:
        shown: dict[str, object] = {
            k: v.value
            for materialization in result.asset_materializations_for_node("slo_dashboard")
            for k, v in materialization.metadata.items()
            if isinstance(v.value, int | float) and not isinstance(v.value, bool)
        }
        status = "success" if result.success else "[red]FAILED[/red]"
        console.print(f"slo_dashboard: {status} {_compact(shown)}")
    return result.success


def _compact(values: dict[str, object]) -> str:
    return ", ".join(
        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )
