"""The fleet generator streams a day at a time: what that must not change.

A day is drawn from the plan alone, so these check what a day-by-day generator could get wrong:
a day drawn on its own is that day of the whole horizon, an incident crossing midnight fails and
slows requests on both sides of it, the per-day files add up to the truth, and a seed gives the
same files (and the same OpenMetrics text through the on-disk spool as from memory).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from cli.main import app
from synthetic_fleet.telemetry import (
    FleetPlan,
    FleetTotals,
    generate_telemetry,
    openmetrics_lines,
    plan_fleet,
)
from synthetic_fleet.topology import generate_topology

END = datetime(2026, 11, 23, tzinfo=UTC)


def test_a_day_drawn_alone_is_that_day_of_the_whole_horizon() -> None:
    topology = generate_topology(40, seed=5)
    plan = plan_fleet(topology, days=4, seed=5, end=END)
    whole = generate_telemetry(topology, days=4, seed=5, end=END)
    per_day = plan.steps_per_day
    for d in (2, 0, 3):  # out of order: a day depends on no other
        day = plan.day(d)
        steps = slice(d * per_day, (d + 1) * per_day)
        assert day.start == END - timedelta(days=4 - d)
        assert np.array_equal(day.requests, whole.requests[:, steps])
        assert np.array_equal(day.errors, whole.errors[:, steps])
        assert np.array_equal(day.own_errors, whole.own_errors[:, steps])
        assert np.array_equal(day.latency_median, whole.latency_median[:, steps])
        assert whole.cpu_throttled is not None and day.cpu_throttled is not None
        assert np.array_equal(day.cpu_throttled, whole.cpu_throttled[:, steps])
        assert day.edge_calls.keys() == whole.edge_calls.keys() == day.edge_failed.keys()
        for pair, calls in day.edge_calls.items():
            assert np.array_equal(calls, whole.edge_calls[pair][steps])
            assert np.array_equal(day.edge_failed[pair], whole.edge_failed[pair][steps])
    with pytest.raises(IndexError):
        plan.day(4)


def test_the_truth_needs_every_day() -> None:
    plan = plan_fleet(generate_topology(12, seed=2), days=2, seed=2, end=END)
    totals = FleetTotals.zeros(len(plan.services))
    totals.add(plan.day(0))
    with pytest.raises(ValueError, match="whole horizon"):
        plan.truth(totals)


def _step(plan: FleetPlan, moment: str) -> int:
    return int((datetime.fromisoformat(moment) - plan.start).total_seconds()) // plan.step_seconds


def _crossing(plan: FleetPlan, start: str, end: str) -> int | None:
    """The day an event [start, end) begins on, if it ends on the next one."""
    lo, hi = _step(plan, start), _step(plan, end)
    d = lo // plan.steps_per_day
    return d if hi > (d + 1) * plan.steps_per_day else None


def test_an_incident_crossing_midnight_fails_and_slows_both_days() -> None:
    topology = generate_topology(200, seed=7)
    plan = plan_fleet(topology, days=10, seed=7, end=END)
    index = {s: i for i, s in enumerate(plan.services)}
    crossing = [
        (incident, d)
        for incident in plan.incidents
        if incident["propagated_to"]
        and (d := _crossing(plan, incident["start"], incident["end"])) is not None
    ]
    assert crossing, "the fleet should hold an incident crossing midnight with a hard caller"
    incident, d = crossing[0]
    i, caller = index[incident["service"]], index[incident["propagated_to"][0]]
    lo, hi = _step(plan, incident["start"]), _step(plan, incident["end"])
    added, slow = incident["error_rate_added"], incident["latency_factor"]
    for day_index in (d, d + 1):
        day = plan.day(day_index)
        first = day_index * plan.steps_per_day
        window = slice(max(lo, first) - first, min(hi, first + plan.steps_per_day) - first)
        assert window.stop > window.start
        # Its own failures carry the incident's added rate on both sides of midnight ...
        requests = day.requests[i, window].sum()
        own = day.own_errors[i, window].sum()
        assert own >= requests * added - 5 * math.sqrt(requests * added), day_index
        # ... and so does every request of a hard caller (beyond its own failures) ...
        good = (day.requests[caller, window] - day.own_errors[caller, window]).sum()
        inherited = (day.errors[caller, window] - day.own_errors[caller, window]).sum()
        assert inherited >= good * added - 5 * math.sqrt(good * added), day_index
        # ... and the slowdown is in force throughout.
        factor = day.latency_median[i, window] / plan.median[i]
        assert (factor >= round(slow, 3) - 1e-3).all(), day_index


def test_a_bad_deploy_crossing_midnight_slows_both_days() -> None:
    plan = plan_fleet(generate_topology(80, seed=3), days=10, seed=3, end=END)
    index = {s: i for i, s in enumerate(plan.services)}
    crossing = [
        (r, d)
        for r in plan.regressions
        if (d := _crossing(plan, r["deployed_at"], r["rolled_back_at"])) is not None
    ]
    assert crossing
    regression, d = crossing[0]
    i = index[regression["service"]]
    lo, hi = _step(plan, regression["deployed_at"]), _step(plan, regression["rolled_back_at"])
    for day_index in (d, d + 1):
        first = day_index * plan.steps_per_day
        window = slice(max(lo, first) - first, min(hi, first + plan.steps_per_day) - first)
        factor = plan.day(day_index).latency_median[i, window] / plan.median[i]
        assert (factor >= regression["latency_factor"] - 1e-3).all(), day_index


def _generate(out: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["fleet", "generate", "--services", "25", "--days", "3", "--seed", "4",
         "--openmetrics", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def _read(folder: Path) -> dict[str, pl.DataFrame]:
    return {p.name: pl.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}


def test_streamed_files_add_up_to_the_truth_and_repeat_by_seed(tmp_path: Path) -> None:
    _generate(tmp_path / "a")
    _generate(tmp_path / "b")
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in ("sli_hourly", "service_graph", "service_graph_hourly"):
        first, second = _read(a / folder), _read(b / folder)
        assert len(first) == 3 and first.keys() == second.keys(), folder
        for name, frame in first.items():
            assert frame.equals(second[name]), (folder, name)
    assert (a / "truth.json").read_text() == (b / "truth.json").read_text()
    assert (a / "fleet.om").read_text() == (b / "fleet.om").read_text()
    assert not [p for p in a.iterdir() if p.name.startswith(".")]  # the spool is gone

    truth: dict[str, Any] = json.loads((a / "truth.json").read_text())
    sli = pl.concat(_read(a / "sli_hourly").values())
    totals = sli.group_by("service").agg(pl.col("requests").sum(), pl.col("errors").sum())
    assert totals.height == len(truth["services"]) == 25
    for service, requests, errors in totals.iter_rows():
        realized = truth["services"][service]["realized_availability"]
        assert realized == pytest.approx(1 - errors / requests, abs=1e-12), service

    # The whole horizon held in memory draws the same: files, truth and OpenMetrics text (the
    # one written per series from the on-disk spool of days).
    end = datetime.fromisoformat(truth["end"])
    topology = generate_topology(25, seed=4, edges_per_service=3.0, cycles=3)
    whole = generate_telemetry(topology, days=3, seed=4, end=end)
    assert json.loads(json.dumps(whole.truth)) == truth
    assert "".join(openmetrics_lines(whole)) == (a / "fleet.om").read_text()
    for k, service in enumerate(whole.services):
        own = 1 - whole.own_errors[k].sum() / whole.requests[k].sum()
        assert truth["services"][service]["own_availability"] == pytest.approx(own, abs=1e-12)
    edges = pl.concat(_read(a / "service_graph_hourly").values())
    edge_totals = edges.group_by("client", "server").agg(pl.col("calls").sum())
    for client, server, calls in edge_totals.iter_rows():
        assert calls == whole.edge_calls[(client, server)].sum()
