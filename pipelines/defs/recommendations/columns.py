"""What each column of the recommendation chain's tables means, as the Dagster UI shows it on
the asset's page (`pipelines.asset_tables.column_schema`: every column described, or the
definitions fail to load)."""

from __future__ import annotations

GRAPH_SNAPSHOT = {
    "source": "The calling service.",
    "target": "The service (or datastore, queue, external) it calls.",
    "communication_mode": "sync (the caller waits: its availability depends on the call) or "
    "async (a queue decouples them).",
    "criticality": "hard (a failure fails the caller), soft or degraded (the caller copes).",
    "redundancy_group": "Edges of one caller in the same group are replicas: any one suffices.",
    "confidence": "How sure discovery is of the edge, 0–1 (declared sources count as 1).",
    "discovery_sources": "Where the edge was seen, comma-separated (manual, backstage, "
    "otel_service_graph, kubernetes, service_mesh).",
    "graph_hash": "Content hash of the effective graph: what every recommendation is seeded by.",
}

SCC_CONDENSATION = {
    "service": "A service on a cycle of hard sync dependencies.",
    "supernode": "The cycle's key: its members share one composite bound.",
    "size": "Services in the cycle.",
    "cycle_path": "One walk around the cycle, for the person who must break it.",
}

INTRINSIC_AVAILABILITY = {
    "service": "The service.",
    "hour": "Start of the hour (UTC).",
    "requests": "Requests it served in the hour.",
    "errors": "Errors it answered in the hour, whoever caused them.",
    "dependency_errors": "Of those, the failures its hard sync dependencies caused.",
    "own_errors": "Its own failures: errors less dependency_errors (unbiased, so an hour may "
    "be negative).",
    "own_availability": "1 − own_errors / requests, clipped to [0, 1]: what the bound multiplies.",
    "method": "How dependency_errors was estimated: failed_calls (the service graph), "
    "deconvolution (availabilities), mixed, or none (no hard dependency).",
    "capped": "The service beat the product of its dependencies this hour (so own "
    "availability was capped at 1).",
}

BOUNDS = {
    "service": "The service.",
    "requests": "Requests over the lookback: the precision the delivered figure rests on.",
    "delivered": "Availability it delivered over the lookback (1 − errors / requests).",
    "own_availability": "Its intrinsic availability: without failures its dependencies caused.",
    "composite_bound": "The best availability its hard dependencies allow: own × Π own of "
    "every distinct unit reachable through hard sync edges.",
    "promised_bound": "The bound if each dependency with an accepted SLO delivered only that.",
    "absorbs": "It delivers more than the product of its dependencies (retries, caches, "
    "fallbacks absorb their failures): the bound is its delivered availability instead.",
    "bottleneck": "The dependency that costs the bound most (the first to fix).",
    "distinct_dependencies": "Distinct units reachable through hard sync edges.",
    "service_type": "The service's archetype (gateway, backend, datastore, …).",
    "published_sla": "An external dependency's published SLA, if declared.",
    "graph_hash": "Content hash of the graph the bound was computed on.",
    "composite": "The bound's full explanation (JSON): factors, paths, groups, supernodes.",
}

RECOMMENDATIONS = {
    "service": "The service.",
    "availability_conservative": "Conservative availability target, percent: what it met "
    "on nearly every day of the lookback.",
    "availability_balanced": "Balanced availability target, percent, capped by the composite "
    "bound.",
    "availability_aggressive": "Aggressive availability target, percent: a stretch.",
    "latency_conservative_ms": "Conservative latency target (p99.9), milliseconds.",
    "latency_balanced_ms": "Balanced latency target (p99), milliseconds.",
    "latency_aggressive_ms": "Aggressive latency target (p95), milliseconds.",
    "composite_bound": "The composite bound the balanced target was held to (fraction).",
    "cold_start": "Too little telemetry: the archetype's baseline was used.",
    "capped_by_bound": "The balanced target was lowered to the composite bound.",
    "confidence": "high, medium or low: how much data the tiers rest on.",
    "document": "The recommendation as the API serves it (JSON), with its explanation.",
}

#: Materialization tables.
BOTTLENECKS = {
    "bottleneck": "The dependency that costs these services' bounds most.",
    "services": "Services whose bound it is the bottleneck of.",
    "own_availability": "Its own (intrinsic) availability, percent (empty: a group or cycle).",
    "examples": "Up to five of the services it constrains.",
}

TIER_DISTRIBUTION = {
    "tier": "conservative, balanced or aggressive.",
    "services": "Services with a recommendation.",
    "availability_p10": "10th percentile of the tier's availability targets, percent.",
    "availability_median": "Median availability target, percent.",
    "availability_p90": "90th percentile of the availability targets, percent.",
    "latency_median_ms": "Median latency target, milliseconds.",
    "latency_p90_ms": "90th percentile of the latency targets, milliseconds.",
}
