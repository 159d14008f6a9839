"""Runtime settings, read only from `SLO_*` environment variables (never from secret files)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOME = Path(".slo-engine")
#: Days of telemetry a recommendation may rest on: under a week misses the weekly cycle, over a
#: year outlives the hourly data's retention. The setting and the API's parameter share it.
LOOKBACK_MIN_DAYS, LOOKBACK_MAX_DAYS = 7, 365
#: Hourly SLIs are kept at least this long: drift detection compares a day's hours with the 14
#: days before it (`pipelines/defs/drift`), and that baseline must stay hourly.
HOURLY_RETENTION_MIN_DAYS = 15
#: Fewer series per PromQL answer than this would cut a 50,000-service fleet's day into
#: thousands of requests (a histogram of ~15 buckets: under 70 services a shard).
PROMETHEUS_MIN_SERIES_PER_QUERY = 1_000


class Settings(BaseSettings):
    """One place for every knob, so the CLI, the API and the pipelines agree on them."""

    model_config = SettingsConfigDict(env_prefix="SLO_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_HOME / 'slo-engine.db'}",
        description="Operational store: a SQLite file by default, postgresql://… in production.",
    )
    warehouse_path: Path = Field(
        default=DEFAULT_HOME / "warehouse",
        description="Root folder of the Parquet warehouse (one file per asset partition).",
    )
    stale_edge_hours: float = Field(
        default=168.0,
        gt=0,
        description="Edges not observed within this window are marked stale (never deleted).",
    )
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024,
        gt=0,
        description="Largest accepted request body; larger ones get a 413 problem.",
    )
    subgraph_cache_mb: float = Field(
        default=8, ge=0, description="Serialized dependency-subgraph answers kept per API process."
    )
    traversal_max_depth: int = Field(default=10, ge=1, le=50)
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    lookback_days: int = Field(
        default=30,
        ge=LOOKBACK_MIN_DAYS,
        le=LOOKBACK_MAX_DAYS,
        description="Days of sli_hourly behind each pipeline recommendation. Read when the "
        "pipelines are imported: it shapes the assets' partition mappings.",
    )
    recommendation_shard_size: int = Field(
        default=5000,
        ge=1,
        description="Services per shard of the daily recommendations: each shard is one Dagster "
        "step (a process under the multiprocess executor, a pod under the Kubernetes one), so "
        "a fleet of N services runs in ceil(N / size) steps that the executor spreads.",
    )
    hourly_retention_days: int = Field(
        default=90,
        ge=HOURLY_RETENTION_MIN_DAYS,
        description="Days of sli_hourly partitions kept in the warehouse (TRD §7.2: hourly SLIs "
        "dominate storage); older hours are removed once their day's sli_daily rollup exists. "
        "At least the lookback, so the daily run's lookback is always hourly.",
    )
    partitions_start: str = Field(
        default="2026-01-01",
        description="First daily partition (YYYY-MM-DD); earlier history is backfilled by "
        "moving it. Read when the pipelines are imported, like the lookback.",
    )
    dagster_executor: Literal["multiprocess", "k8s"] = Field(
        default="multiprocess",
        description="Where the pipelines' steps run: processes beside the run (Dagster's "
        "default, in_process for `materialize`), or a Kubernetes Job per step (dagster-k8s; the "
        "run launcher's env, secrets and volumes are inherited). Read when the pipelines are "
        "imported.",
    )
    telemetry: Literal["parquet", "prometheus"] = Field(
        default="parquet",
        description="Where hourly SLIs come from: Parquet files (embedded demo) or PromQL.",
    )
    telemetry_parquet_path: Path = Field(
        default=DEFAULT_HOME / "fleet" / "sli_hourly",
        description="Folder of <YYYY-MM-DD>.parquet files for SLO_TELEMETRY=parquet.",
    )
    prometheus_url: str = "http://127.0.0.1:9090"
    prometheus_timeout_s: float = Field(default=30.0, gt=0)
    prometheus_retries: int = Field(
        default=3, ge=0, le=6, description="Retries after 1 s, 2 s, 4 s, … on transient failures."
    )
    prometheus_circuit_failures: int = Field(
        default=10, ge=1, description="Consecutive failures that open the circuit to Prometheus."
    )
    prometheus_circuit_reset_s: float = Field(
        default=30.0, gt=0, description="How long an open circuit refuses calls before a probe."
    )
    prometheus_max_series_per_query: int = Field(
        default=50_000,
        ge=PROMETHEUS_MIN_SERIES_PER_QUERY,
        description="Most series one PromQL answer may hold: fleet-wide queries are cut into "
        "shards of services sized to it (a service adds its latency buckets to the histogram "
        "query, 1 to a counter, its callees to the service graph). Keep it at or under the "
        "server's own limit (Mimir: max_fetched_series_per_query, which counts the series "
        "before `sum by`).",
    )
    prometheus_bearer_token: str | None = Field(default=None, repr=False)
    prometheus_username: str | None = None
    prometheus_password: str | None = Field(default=None, repr=False)
    metric_profile: Literal["prometheus", "otel_spanmetrics"] = "prometheus"
    metric_requests: str | None = Field(default=None, description="Override the requests counter.")
    metric_duration_bucket: str | None = None
    metric_service_label: str | None = None
    metric_cpu_periods: str | None = Field(
        default=None, description="Override cAdvisor's container_cpu_cfs_periods_total."
    )
    metric_cpu_throttled_periods: str | None = Field(
        default=None, description="Override container_cpu_cfs_throttled_periods_total."
    )
    metric_error_selector: str | None = Field(
        default=None, description='Label matcher of failed requests, e.g. status=~"5..".'
    )
    redis_url: str | None = Field(
        default=None, description="Redis for rate limiting across replicas (else in-process)."
    )
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    metrics_public: bool = Field(
        default=True,
        description="/metrics without credentials, like /health (it holds no per-service data).",
    )

    # Authentication (TRD FR-8). "disabled" exists for the local demo only.
    auth: Literal["enabled", "disabled"] = "enabled"
    api_key_bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    api_key_cache_seconds: float = Field(
        default=60.0, ge=0, description="How long a verified key is trusted before re-checking."
    )
    auth_attempts_per_minute: int = Field(
        default=20,
        ge=0,
        description="Credential checks (bcrypt, JWKS) one client address may cost per minute; "
        "beyond it a 429 answers before any check (0: no limit).",
    )
    auth_reject_cache_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a rejected credential is answered 401 without checking it again.",
    )
    oidc_jwks_url: str | None = Field(default=None, description="JWKS of the identity provider.")
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_algorithms: list[str] = ["RS256", "ES256"]
    oidc_role_claim: str = "slo_role"
    oidc_team_claim: str = "team"
    oidc_actor_claim: str = "email"

    webhook_url: str | None = Field(
        default=None, description="Where confirmed drift is announced (POST, JSON; TRD FR-9)."
    )

    # Backstage's software catalog as a discovery source (`slo-engine graph import-backstage`).
    backstage_url: str | None = Field(
        default=None, description="Backstage base URL; the catalog API is {url}/api/catalog."
    )
    backstage_token: SecretStr | None = Field(
        default=None, description="Bearer token for Backstage's catalog API (a static token)."
    )

    # Burn-rate alerts generated for accepted SLOs (TRD FR-10).
    alert_period_days: Literal[28, 30] = Field(
        default=30, description="SLO period the burn-rate factors are scaled to."
    )
    alert_min_errors: int = Field(
        default=5,
        ge=1,
        description="Low-traffic guard: failed requests an alert's long window must hold before "
        "it may fire (a stray error never pages; an outage at any traffic does).",
    )

    # Rate limits, requests per minute per principal (TRD FR-8); JSON to override some.
    rate_limit_enabled: bool = True
    rate_limits: dict[str, int] = Field(default_factory=dict)

    database_app_role: str | None = Field(
        default=None,
        description="PostgreSQL role the API and the pipelines connect as (owning nothing); "
        "`slo-engine db upgrade`, run as the owner, grants it what they need after migrating.",
    )

    def oidc_configuration_error(self) -> str | None:
        """Why the OIDC settings cannot be used safely, or None. OIDC fails closed: a token is
        only trusted from a named issuer and for a named audience, never from any."""
        if self.auth != "enabled" or not self.oidc_jwks_url:
            return None
        missing = [
            name
            for name, value in (
                ("SLO_OIDC_ISSUER", self.oidc_issuer),
                ("SLO_OIDC_AUDIENCE", self.oidc_audience),
            )
            if not (value and value.strip())
        ]
        if not missing:
            return None
        return (
            f"OIDC is enabled (SLO_OIDC_JWKS_URL is set) but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not: bearer tokens would be accepted from "
            "any issuer or for any audience. Set them, or unset SLO_OIDC_JWKS_URL."
        )

    @model_validator(mode="after")
    def _hourly_retention_covers_the_lookback(self) -> Self:
        if self.hourly_retention_days < self.lookback_days:
            raise ValueError(
                f"SLO_HOURLY_RETENTION_DAYS ({self.hourly_retention_days}) is shorter than "
                f"SLO_LOOKBACK_DAYS ({self.lookback_days}): the daily run would lose the hours "
                "its own lookback reads. Keep hourly SLIs at least as long as the lookback."
            )
        return self

    @model_validator(mode="after")
    def _oidc_fails_closed(self) -> Self:
        problem = self.oidc_configuration_error()
        if problem:
            raise ValueError(problem)
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Cached so that every request does not re-read the environment."""
    return Settings()
