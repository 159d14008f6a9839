"""The FastAPI application: `create_app()` wires settings, the store engine and the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from config.settings import Settings, get_settings
from serving.body_limit import BodySizeLimitMiddleware
from serving.observability import RequestContextMiddleware, metrics_payload
from serving.openapi_document import install_openapi
from serving.problems import install_problem_handlers
from serving.rate_limit import CredentialGate, CredentialGateMiddleware, RateLimiter, rate_limit
from serving.routes import (
    auto_approval,
    backstage,
    circular_dependencies,
    dashboard,
    dependencies,
    grafana_dashboards,
    health,
    impact,
    ingestions,
    openslo,
    recommendations,
    services,
    slo_alerts,
    slos,
)
from serving.security import API_PREFIX, Authenticator, authenticate, warn_if_disabled
from serving.subgraph_answer_cache import SubgraphCache
from serving.version import app_version
from store.engine import make_engine
from telemetry.sources_from_settings import (
    service_graph_source_from_settings,
    sli_source_from_settings,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = make_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        app.state.authenticator = Authenticator(app.state.engine, settings)
        warn_if_disabled(settings)
        try:
            yield
        finally:
            app.state.engine.dispose()

    app = FastAPI(
        title="SLO Recommendation Engine",
        version=app_version(),
        description=(
            "Dependency-aware SLO recommendations for microservice fleets. Errors are RFC 7807 "
            "`application/problem+json`."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.subgraph_cache = SubgraphCache(max_bytes=int(settings.subgraph_cache_mb * 2**20))
    app.state.rate_limiter = RateLimiter(settings)
    app.state.credential_gate = CredentialGate(
        app.state.rate_limiter, settings.auth_attempts_per_minute
    )
    # One telemetry client per process: its circuit breaker must see every request's failures,
    # so that while Prometheus is down regenerations fail fast instead of each one retrying.
    app.state.sli_source = sli_source_from_settings(settings)
    app.state.service_graph_source = service_graph_source_from_settings(
        settings, app.state.sli_source
    )
    install_problem_handlers(app)
    install_openapi(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.include_router(health.router, prefix=API_PREFIX)  # open: probes carry no credentials
    protected = [Depends(authenticate), Depends(rate_limit)]
    for module in (
        dependencies,
        ingestions,
        services,
        circular_dependencies,
        recommendations,
        slos,
        slo_alerts,
        grafana_dashboards,
        openslo,
        impact,
        auto_approval,
        dashboard,
        backstage,
    ):
        app.include_router(module.router, prefix=API_PREFIX, dependencies=protected)

    @app.get("/metrics", include_in_schema=False, dependencies=[] if settings.metrics_public
             else [Depends(authenticate)])  # fmt: skip
    def metrics(request: Request) -> Response:
        """Prometheus exposition of the engine itself (TRD §11.2); no per-service labels."""
        return Response(metrics_payload(request.app.state.engine), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestContextMiddleware)  # ids and timings cover everything below
    # Outermost: an address the credential gate refuses is answered before any other work.
    app.add_middleware(CredentialGateMiddleware)
    return app
