"""Impact analysis over the published state: the fleet's current composites, computed once per
graph version and publication, then moved incrementally for each proposed change."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.composite_availability import Edge, composite_availability, external_availability
from analytics.impact_analysis import CondensedGraph, Impact, condense, impact_of_change
from serving.graph_cache import effective_graph, long_lived
from store.graph_version import graph_version
from store.recommendation_store import publication_key, published_availability
from store.tables import active_slos, services


@dataclass(frozen=True)
class FleetState:
    key: tuple[str, str]
    edges: list[Edge]
    graph: CondensedGraph
    availability: dict[str, float]  # R_self as the bound uses it, externals included
    current: dict[str, float]  # composite per service
    nodes: frozenset[str]


_STATES: dict[str, FleetState] = {}
_LOCK = threading.Lock()


def fleet_state(engine: Engine) -> FleetState:
    with engine.connect() as conn:
        version = graph_version(conn)
        publication = publication_key(conn)
    cache_key = engine.url.render_as_string(hide_password=True)
    with _LOCK:
        hit = _STATES.get(cache_key)
    if hit is not None and hit.key == (version, publication):
        return hit
    observed, _ = published_availability(engine)  # keyed by the earlier key: never too new
    graph = effective_graph(engine)
    edges = [
        Edge(e.source, e.target, e.attributes.get("communication_mode") or "sync",
             e.attributes.get("criticality") or "hard", e.attributes.get("redundancy_group"))
        for e in graph.edges
    ]  # fmt: skip
    externals = {
        name: observed.get(name) or external_availability(float(meta.get("published_sla", 99.9)))
        for name, meta in graph.nodes.items()
        if meta.get("service_type") == "external"
    }
    internal = {n: observed.get(n, 1.0) for n in graph.nodes if n not in externals}
    results = composite_availability(
        internal, edges, externals=externals,
        observed_externals=frozenset(n for n in externals if n in observed),
    )  # fmt: skip
    state = FleetState(
        key=(version, publication),
        edges=edges,
        graph=condense(edges),
        availability={**internal, **externals},
        current={name: r.composite_bound for name, r in results.items()},
        nodes=frozenset(graph.nodes),
    )
    with _LOCK:
        _STATES[cache_key] = state
    long_lived()
    return state


def active_targets(engine: Engine, names: set[str]) -> dict[str, float]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(services.c.service_id, active_slos.c.availability_target)
            .join(services, services.c.id == active_slos.c.service_id)
            .where(active_slos.c.availability_target.is_not(None))
        ).all()
    return {name: float(target) for name, target in rows if name in names}


def analyse(engine: Engine, service_id: str, proposed: dict[str, Any]) -> dict[str, Any] | None:
    """The TRD FR-4 response, or None for an unknown service."""
    state = fleet_state(engine)
    if service_id not in state.nodes:
        return None
    target = float(proposed["proposed_target"])
    impact = impact_of_change(service_id, target / 100, state.graph, state.availability,
                              state.current)  # fmt: skip
    targets = active_targets(engine, {s.service_id for s in impact.impacted})
    return _response(impact, proposed, targets)


def _response(
    impact: Impact, proposed: dict[str, Any], targets: dict[str, float]
) -> dict[str, Any]:
    rows = []
    for s in impact.impacted:
        current, projected = round(s.current * 100, 4), round(s.projected * 100, 4)
        target = targets.get(s.service_id)
        at_risk = None if target is None else projected < target
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
        "summary": {
            "total_impacted": len(rows),
            "slos_at_risk": at_risk_count,
            "recommendation": recommendation,
        },
        "cycle": list(impact.supernode) if impact.supernode else None,
        "notes": notes,
    }
