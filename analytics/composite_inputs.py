"""The one builder of the composite bound's inputs, for the pipeline, `force_regenerate`,
impact analysis and the backtest alike.

Four hand-built copies used to disagree: `.get(name, default)` against `observed.get(name) or
default` (which turned an observed 0.0 into the published SLA), and one ignored observed
externals. Here, once:

- an internal service counts at its **intrinsic** availability (see
  `analytics.intrinsic_availability`); one without telemetry lowers nobody's bound (1.0);
- an external service counts at what it was observed to deliver when it has telemetry, else at
  its published SLA minus the adjustment (`external_availability`), else at the external
  archetype's availability; an observed 0.0 is an observation;
- the graph's edges become `Edge`s with the defaults the ingestion applies (sync, hard).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import polars as pl

from analytics.composite_availability import (
    CompositeResult,
    Edge,
    composite_availability,
    external_availability,
)
from analytics.slo_tiers import ARCHETYPES

#: A service whose own estimate was capped in at least this share of its requests beats the
#: product of its dependencies (retries, caches, fallbacks): the serial model is wrong for it.
ABSORBS_SHARE = 0.2


class _GraphEdge(Protocol):
    @property
    def source(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def attributes(self) -> Mapping[str, Any]: ...


def edges_of(graph_edges: Iterable[_GraphEdge]) -> list[Edge]:
    """The store's effective edges as the bound's `Edge`s."""
    return [
        Edge(
            e.source,
            e.target,
            e.attributes.get("communication_mode") or "sync",
            e.attributes.get("criticality") or "hard",
            e.attributes.get("redundancy_group"),
        )
        for e in graph_edges
    ]


def exercised(edges: list[Edge], edge_calls: pl.DataFrame | None) -> list[Edge]:
    """The edges without the hard ones that tracing shows nobody exercises: a caller that the
    service graph sees over the window, but never calling that dependency, is not bounded by
    it (dead configuration; the ingestion lists it as a divergence too). Without
    a service graph every declared edge counts."""
    if edge_calls is None or edge_calls.is_empty():
        return edges
    called = edge_calls.filter(pl.col("calls") > 0).select("client", "server").unique()
    # Traced: seen on either end of a call (the connector pairs client and server spans, so
    # a service that serves traced calls would show its own outgoing ones too).
    traced = set(called["client"].to_list()) | set(called["server"].to_list())
    pairs = set(called.iter_rows())
    return [
        e
        for e in edges
        if not (e.is_hard_sync and e.source in traced and (e.source, e.target) not in pairs)
    ]


@dataclass(frozen=True)
class CompositeInputs:
    own: dict[str, float]  # internal services: intrinsic availability
    externals: dict[str, float]  # external services: observed, or published SLA adjusted
    observed_externals: frozenset[str]
    delivered: dict[str, float]  # what each service with telemetry delivered (observed)
    absorbs: frozenset[str]  # services whose own estimate was mostly capped

    def availability(self) -> dict[str, float]:
        """R_self of every service as the bound uses it, externals included."""
        return {**self.own, **self.externals}


def assumed_availability(meta: Mapping[str, Any]) -> float:
    """What an external without telemetry is assumed to deliver: its published SLA less the
    adjustment, else the external archetype's availability (what its own cold-start
    recommendation says too)."""
    sla = meta.get("published_sla")
    if sla is None:
        return ARCHETYPES["external"][0] / 100
    return external_availability(float(sla))


def assumed_externals(nodes: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Every external's assumed availability, for the hours in which it has no data (the
    intrinsic estimate divides it out of its callers, as the bound multiplies it in)."""
    return {
        name: assumed_availability(meta)
        for name, meta in nodes.items()
        if meta.get("service_type") == "external"
    }


def composite_inputs(
    totals: pl.DataFrame, nodes: Mapping[str, Mapping[str, Any]]
) -> CompositeInputs:
    """Inputs from per-service totals over the lookback (`intrinsic_totals`) and the graph's
    node metadata (`service_type`, `published_sla`)."""
    delivered: dict[str, float] = {}
    own: dict[str, float] = {}
    absorbs: set[str] = set()
    for service, requests, errors, own_errors, explained, capped in totals.select(
        "service", "requests", "errors", "own_errors", "dependency_errors", "capped_requests"
    ).iter_rows():
        if not requests:
            continue
        # Rounded: 30 daily partitions and one 30-day frame sum in a different order, and the
        # last bits must not decide a target (force_regenerate reproduces the daily run).
        delivered[service] = round(1.0 - errors / requests, 12)
        # Hourly estimates are unbiased and unclipped; the window's is capped once, here.
        own[service] = round(min(1.0, 1.0 - own_errors / requests), 12)
        # Beats the product: in many hours, or over the window by more than noise.
        if capped / requests >= ABSORBS_SHARE or own_errors < -3 * math.sqrt(max(explained, 1)):
            absorbs.add(service)
    return inputs_from_availability(delivered, own, nodes, absorbs=frozenset(absorbs))


def inputs_from_availability(
    delivered: Mapping[str, float],
    own: Mapping[str, float],
    nodes: Mapping[str, Mapping[str, Any]],
    *,
    absorbs: frozenset[str] = frozenset(),
) -> CompositeInputs:
    """Inputs from availabilities already known (fractions): what each service delivered and
    its own share (a service without an own figure counts at what it delivered, one without
    either at 1.0) — what impact analysis reads back from the published recommendations."""
    names = set(nodes) | set(delivered) | set(own)
    external = {n for n in names if nodes.get(n, {}).get("service_type") == "external"}
    externals = {
        n: delivered[n] if n in delivered else assumed_availability(nodes[n]) for n in external
    }
    return CompositeInputs(
        own={n: own.get(n, delivered.get(n, 1.0)) for n in names - external},
        externals=externals,
        observed_externals=frozenset(n for n in external if n in delivered),
        delivered=dict(delivered),
        absorbs=absorbs,
    )


def composite_bounds(
    inputs: CompositeInputs,
    edges: list[Edge],
    *,
    promises: Mapping[str, float] | None = None,
    supernodes: Iterable[Sequence[str]] | None = None,
) -> dict[str, CompositeResult]:
    """Every service's bound from these inputs (one fleet pass); `supernodes`, the hard
    graph's condensation of these edges if the caller has it (see `composite_availability`)."""
    return composite_availability(
        inputs.own,
        edges,
        externals=inputs.externals,
        observed_externals=inputs.observed_externals,
        delivered=inputs.delivered,
        promises=promises,
        supernodes=supernodes,
    )
