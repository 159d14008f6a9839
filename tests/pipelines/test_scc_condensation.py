"""The bound takes its supernodes from the `scc_condensation` asset's rows, not from a second
computation: the rows must read back as exactly the condensation the bound would compute."""

from __future__ import annotations

import polars as pl

from analytics.composite_availability import Edge, hard_supernodes
from analytics.graph_cycles import find_cycles
from pipelines.defs.recommendations.assets import supernodes_of


def test_condensation_rows_read_back_as_the_bounds_supernodes() -> None:
    edges = [
        Edge("a", "b"), Edge("b", "c"), Edge("c", "a"),  # one supernode of three
        Edge("x", "y"), Edge("y", "x"),  # another of two
        Edge("p", "q"), Edge("q", "p", criticality="soft"),  # not one: a soft back edge
        Edge("web", "a"),
    ]  # fmt: skip
    rows = [
        (member, cycle.key)
        for cycle in find_cycles((e.source, e.target) for e in edges if e.is_hard_sync)
        for member in reversed(cycle.members)  # row order must not matter
    ]
    frame = pl.DataFrame(rows, schema={"service": pl.String, "supernode": pl.String}, orient="row")
    assert supernodes_of(frame) == hard_supernodes(edges) == [("a", "b", "c"), ("x", "y")]
    assert supernodes_of(frame.clear()) == []
