"""Impact analysis over the published state: the fleet's current composites, computed once per
graph version and publication, then moved incrementally for each proposed change."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.engine import Engine

from analytics.composite_availability import Edge
from analytics.composite_inputs import composite_bounds, edges_of, inputs_from_availability
from analytics.impact_analysis import CondensedGraph, Impact, condense, impact_of_change
from analytics.slo_tiers import unachievable_target_warning
from serving.graph_index import effective_graph
from serving.versioned_cache import VersionedCache
from store.active_targets import active_availability_targets
from store.errors import ServiceNotFoundError
from store.graph_version import graph_version
from store.published_recommendations import publication_key, published_availability


@dataclass(frozen=True)
class FleetState:
    key: tuple[str, str]
    edges: list[Edge]
    graph: CondensedGraph
    availability: dict[str, float]  # R_own as the bound uses it, externals included
    delivered: dict[str, float]  # what each service delivered (its SLO is judged on this)
    current: dict[str, float]  # composite per service
    nodes: frozenset[str]


_STATES: VersionedCache[tuple[str, str], FleetState] = VersionedCache()


def _key(engine: Engine) -> tuple[str, str]:
    with engine.connect() as conn:
        return graph_version(conn), publication_key(conn)


def fleet_state(engine: Engine) -> FleetState:
    def build(key: tuple[str, str]) -> FleetState:
        delivered, intrinsic, _ = published_availability(engine)  # read after the key
        graph = effective_graph(engine)
        edges = edges_of(graph.edges)
        # A cold start publishes an intrinsic availability without a delivered one.
        delivered = {**intrinsic, **delivered}
        inputs = inputs_from_availability(delivered, intrinsic, graph.nodes)
        results = composite_bounds(inputs, edges)
        return FleetState(
            key=key,
            edges=edges,
            graph=condense(edges),
            availability=inputs.availability(),
            delivered=inputs.delivered,
            current={name: r.composite_bound for name, r in results.items()},
            nodes=frozenset(graph.nodes),
        )

    database = engine.url.render_as_string(hide_password=True)
    return _STATES.get(database, lambda: _key(engine), build)[1]


def analyse(engine: Engine, service_id: str, proposed: dict[str, Any]) -> dict[str, Any]:
    """The TRD FR-4 response (`ServiceNotFoundError` for an unknown service)."""
    state = fleet_state(engine)
    if service_id not in state.nodes:
        raise ServiceNotFoundError(service_id)
    target = float(proposed["proposed_target"]) / 100
    # An SLO is a promise about what the service delivers, its dependencies included: held to
    # it, the service's own factor in every caller's bound moves by target / delivered (the
    # same rule the recommendations apply to a dependency's accepted SLO).
    own = state.availability.get(service_id, 1.0)
    delivered = state.delivered.get(service_id, own)
    new_own = min(1.0, own * target / delivered) if delivered > 0 else target
    impact = impact_of_change(service_id, new_own, state.graph, state.availability,
                              state.current)  # fmt: skip
    impact = replace(impact, old_availability=delivered, new_availability=target)
    names = {s.service_id for s in impact.impacted}
    targets = {
        name: value * 100
        for name, value in active_availability_targets(engine).items()
        if name in names
    }
    return _response(impact, proposed, targets)


def _response(
    impact: Impact, proposed: dict[str, Any], targets: dict[str, float]
) -> dict[str, Any]:
    rows = []
    above_bound = []  # TRD FR-3: callers whose active target the change makes unachievable
    for s in impact.impacted:
        current, projected = round(s.current * 100, 4), round(s.projected * 100, 4)
        target = targets.get(s.service_id)
        at_risk = None if target is None else projected < target
        warning = None if target is None else unachievable_target_warning(target, s.projected)
        if warning is not None:
            above_bound.append(
                {
                    "service_id": s.service_id,
                    "active_target": target,
                    "projected_composite_bound": projected,
                    "warning": warning,
                }
            )
        row: dict[str, Any] = {
            "service_id": s.service_id,
            "relationship": s.relationship,
            "hops": s.hops,
            "current_composite_availability": current,
            "projected_composite_availability": projected,
            "delta": round((s.projected - s.current) * 100, 4),
            "current_slo_target": target,
            "slo_at_risk": at_risk,
        }
        if at_risk:
            row["risk_detail"] = f"Composite drops below SLO target ({target:g}% > {projected:g}%)"
        elif target is None:
            row["risk_detail"] = "No active SLO to compare against."
        rows.append(row)
    at_risk_count = sum(1 for r in rows if r["slo_at_risk"])
    service = impact.service_id
    verb = "Reducing" if impact.new_availability < impact.old_availability else "Changing"
    recommendation = (
        f"{verb} {service} to {proposed['proposed_target']:g}% puts {at_risk_count} upstream "
        f"service{'s' if at_risk_count != 1 else ''} at risk of SLO breach."
        if at_risk_count
        else f"{verb} {service} to {proposed['proposed_target']:g}% puts no active upstream SLO "
        "at risk."
    )
    notes = []
    if impact.supernode:
        notes.append(
            f"{service} is in a dependency cycle ({', '.join(impact.supernode)}): the cycle is "
            "one supernode whose availability is its weakest member's."
        )
    return {
        "analysis_id": str(uuid.uuid4()),
        "service_id": service,
        "proposed_change": proposed,
        "assumed_current_availability": round(impact.old_availability * 100, 4),
        "impacted_services": rows,
        "callers_exceeding_bound": above_bound,
        "summary": {
            "total_impacted": len(rows),
            "slos_at_risk": at_risk_count,
            "targets_above_bound": len(above_bound),
            "recommendation": recommendation,
        },
        "cycle": list(impact.supernode) if impact.supernode else None,
        "notes": notes,
    }
