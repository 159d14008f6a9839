"""The checks that block publication: one step, three verdicts, each failing on its own fault."""

from __future__ import annotations

import polars as pl

from pipelines.defs.recommendations.checks import recommendations_publishable


def _recs(rows: list[tuple[str, float, float, float, float, float, float]]) -> pl.LazyFrame:
    columns = ["service", "availability_conservative", "availability_balanced",
               "availability_aggressive", "latency_conservative_ms", "latency_balanced_ms",
               "latency_aggressive_ms"]  # fmt: skip
    frame = pl.DataFrame(rows, schema=columns, orient="row")
    return frame.with_columns(document=pl.lit("{}")).lazy()


def _verdicts(recs: pl.LazyFrame, bounded: list[str]) -> dict[str, tuple[bool, dict[str, object]]]:
    bounds = pl.DataFrame({"service": bounded}).lazy()
    results = recommendations_publishable(
        slo_recommendations=recs, composite_availability_bounds=bounds
    )  # type: ignore[call-arg]
    return {r.check_name: (r.passed, {k: v.value for k, v in r.metadata.items()}) for r in results}


def test_sound_recommendations_pass_all_three() -> None:
    recs = _recs([("api", 99.0, 99.5, 99.9, 400.0, 300.0, 200.0)])
    verdicts = _verdicts(recs, ["api"])
    assert {name: passed for name, (passed, _) in verdicts.items()} == {
        "tiers_are_ordered": True, "targets_in_range": True, "every_service_recommended": True,
    }  # fmt: skip


def test_each_fault_fails_its_own_check_and_names_the_services() -> None:
    recs = _recs([
        ("api", 99.0, 99.5, 99.9, 400.0, 300.0, 200.0),
        ("web", 99.5, 99.0, 99.9, 400.0, 300.0, 200.0),  # conservative above balanced
        ("db", 99.0, 99.5, 100.5, 400.0, 300.0, 200.0),  # aggressive above 100 %
    ])  # fmt: skip
    verdicts = _verdicts(recs, ["api", "web", "db", "cache", "queue"])
    assert verdicts["tiers_are_ordered"] == (False, {"misordered_services": 1, "first": "web"})
    assert verdicts["targets_in_range"] == (False, {"out_of_range": 1})
    assert verdicts["every_service_recommended"] == (
        False, {"missing": 2, "first": "cache, queue"},
    )  # fmt: skip


def test_every_check_blocks_publication() -> None:
    specs = list(recommendations_publishable.check_specs)
    assert len(specs) == 3 and all(spec.blocking for spec in specs)
