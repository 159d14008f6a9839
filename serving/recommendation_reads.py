"""Reading a service's published recommendations (TRD FR-2): the one function behind
`GET /services/{id}/slo-recommendations`, so the route is one call plus its response model.

A plain read serves what the daily run published — marked stale while telemetry is known to
be down (AC-008) — or the archetype baseline for a service without one; `force_regenerate`
recomputes and publishes first (the same right as deciding for the service)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.engine import Engine

from analytics.slo_tiers import archetype_tiers
from config.settings import Settings
from serving.problems import ServiceUnavailableProblem
from serving.regeneration import regenerate_recommendation
from serving.security import Principal, require_service_owner
from store.errors import InvalidError
from store.published_recommendations import active_recommendations
from store.service_lookup import get_service
from telemetry.prometheus_http import PrometheusError
from telemetry.service_graph_sources import ServiceGraphSource
from telemetry.sli_sources import SliSource

#: Which SLI types a read returns.
SliTypeFilter = Literal["availability", "latency", "all"]


def read_recommendations(
    engine: Engine,
    settings: Settings,
    principal: Principal,
    service_id: str,
    *,
    sli_source: SliSource,
    graph_source: ServiceGraphSource | None,
    sli_type: SliTypeFilter = "all",
    lookback_days: int | None = None,
    force_regenerate: bool = False,
) -> dict[str, Any]:
    """The answer of `GET …/slo-recommendations` (see the route for the parameters)."""
    warnings: list[str] = []
    telemetry_down = False
    if force_regenerate:
        # Regenerating publishes: the same right as deciding for this service.
        require_service_owner(engine, principal, service_id)
        try:
            regenerate_recommendation(
                engine,
                settings,
                sli_source,
                service_id,
                lookback_days or settings.lookback_days,
                graph_source=graph_source,
            )
        except PrometheusError as exc:
            # AC-008: the telemetry store is down; the last recommendation is still an answer.
            telemetry_down = True
            warnings.append(
                f"Telemetry unavailable, served the last published recommendation: {exc}"
            )
    rows = active_recommendations(engine, service_id)
    if not rows:
        if telemetry_down:
            raise ServiceUnavailableProblem(
                "Telemetry is unreachable and no recommendation has been published for "
                f"'{service_id}' yet. Retry later.",
                headers={"Retry-After": "30"},
            )
        return _cold_start_or_404(engine, service_id, sli_type)
    if not force_regenerate:
        # AC-008 / REL-005: a plain read is stale too while telemetry is known to be down,
        # from the breaker and the last readiness ping (never a Prometheus round trip here).
        # Sources without a Prometheus client (Parquet) are never stale for this reason.
        client = getattr(sli_source, "client", None)
        unavailable = getattr(client, "unavailable_reason", None)
        reason = unavailable() if callable(unavailable) else None
        if reason:
            telemetry_down = True
            warnings.append(
                f"Telemetry unavailable ({reason}): served the last published recommendation, "
                "which may be out of date."
            )
    selected = [r for r in rows if sli_type in ("all", r["sli_type"])]
    first = rows[0]
    now = datetime.now(UTC)
    stored_days = (first["lookback_window_end"] - first["lookback_window_start"]).days
    wanted = lookback_days or (settings.lookback_days if force_regenerate else None)
    if wanted is not None and stored_days != wanted:
        if not force_regenerate:
            message = (
                f"the published recommendation uses a {stored_days}-day lookback, not "
                f"{lookback_days}: use force_regenerate=true to recompute with that window"
            )
            raise InvalidError(
                "lookback_days",
                message,
                location="query",
                detail=f"The request is invalid: lookback_days: {message}.",
            )
        # Regeneration failed (telemetry down): the last published one is served, and says so.
        warnings.append(
            f"The published recommendation uses a {stored_days}-day lookback, not {wanted}."
        )
    return {
        "service_id": service_id,
        "generated_at": first["generated_at"].isoformat(),
        "expires_at": first["expires_at"].isoformat(),
        "stale": telemetry_down or first["expires_at"] < now,
        "status": "active",
        "lookback_window": {
            "start": first["lookback_window_start"].isoformat(),
            "end": first["lookback_window_end"].isoformat(),
        },
        "data_quality": first["data_quality"],
        "recommendations": [
            {
                "recommendation_id": str(r["id"]),
                "sli_type": r["sli_type"],
                "metric": r["explanation"].get("metric"),
                "tiers": r["tiers"],
                "explanation": {k: v for k, v in r["explanation"].items() if k != "metric"},
            }
            for r in selected
        ],
        "provenance": first["provenance"],
        "warnings": warnings,
    }


def _cold_start_or_404(engine: Engine, service_id: str, sli_type: SliTypeFilter) -> dict[str, Any]:
    with engine.connect() as conn:
        service_type = get_service(conn, service_id).service_type
    availability, latency = archetype_tiers(service_type)
    recommendations = [
        {
            "sli_type": "availability",
            "metric": "error_rate",
            "tiers": {
                k: {
                    "target": t.target,
                    "error_budget_monthly_minutes": t.error_budget_monthly_minutes,
                }
                for k, t in availability.items()
            },
            "explanation": {"summary": "No published recommendation yet: archetype baseline."},
        },
        {
            "sli_type": "latency",
            "metric": "p99_response_time_ms",
            "tiers": {
                k: {"target_ms": t.target_ms, "percentile": t.percentile}
                for k, t in latency.items()
            },
            "explanation": {"summary": "No published recommendation yet: archetype baseline."},
        },
    ]
    return {
        "service_id": service_id,
        "generated_at": datetime.now(UTC).isoformat(),
        "status": "cold_start",
        "stale": False,
        "data_quality": {
            "data_completeness": 0.0,
            "confidence": "low",
            "confidence_note": (
                f"No telemetry-based recommendation for this service yet; these are the "
                f"{service_type or 'backend'} archetype baselines."
            ),
        },
        "recommendations": [r for r in recommendations if sli_type in ("all", r["sli_type"])],
        "warnings": [],
    }
