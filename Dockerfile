# syntax=docker/dockerfile:1
# One image for every role: the API (default CMD), `slo-engine db upgrade`, the Dagster code
# location (`dagster api grpc`), and dagster-webserver / dagster-daemon in docker compose.
#
#   docker build -t slo-engine:local .

# pyproject.toml: requires-python >= 3.11, and mypy checks against 3.11.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
# Dagster's integration libraries are versioned 0.(minor + 16) for dagster 1.minor. Pinning them
# here makes pip pick a matching dagster 1.13.x instead of backtracking to an ancient,
# unimportable dagster-postgres. dagster-k8s: run pods load the K8sRunLauncher instance config.
ARG DAGSTER_LIBRARIES_VERSION=0.29.*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY analytics/ analytics/
COPY cli/ cli/
COPY config/ config/
COPY pipelines/ pipelines/
COPY serving/ serving/
COPY store/ store/
COPY synthetic_fleet/ synthetic_fleet/
COPY telemetry/ telemetry/
RUN pip install --no-cache-dir . \
        "dagster-postgres==${DAGSTER_LIBRARIES_VERSION}" \
        "dagster-k8s==${DAGSTER_LIBRARIES_VERSION}"

# Same base image as the build stage: the venv's interpreter is a symlink into it.
FROM python:${PYTHON_VERSION}-slim AS runtime
ARG PYTHON_VERSION
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DAGSTER_HOME=/opt/dagster/home \
    SLO_WAREHOUSE_PATH=/var/lib/slo-engine/warehouse \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    MALLOC_ARENA_MAX=2
# MALLOC_ARENA_MAX: glibc gives each of the request thread pool's threads an arena of its own;
# two keep a replica's resident memory flat under load (benchmarks/load_test.py runs the same).
# A numeric uid, so Kubernetes can enforce runAsNonRoot; the two writable folders are owned by it
# so that named volumes mounted there inherit the ownership.
RUN groupadd --system --gid 10001 slo \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin slo \
    && mkdir -p /opt/dagster/home /var/lib/slo-engine/warehouse \
    && chown -R 10001:10001 /opt/dagster/home /var/lib/slo-engine
COPY --from=build /opt/venv /opt/venv
# store/migrate.py and store/sql_files.py look for migrations/ and sql/ beside the `store`
# package, which in an installed (non-editable) project is site-packages.
COPY migrations/ /opt/venv/lib/python${PYTHON_VERSION}/site-packages/migrations/
COPY sql/ /opt/venv/lib/python${PYTHON_VERSION}/site-packages/sql/
WORKDIR /app
COPY workspace.yaml ./
# SQLite instance storage unless a PostgreSQL dagster.yaml is mounted over it (deploy/dagster/).
COPY dagster.yaml /opt/dagster/home/dagster.yaml
# The uvicorn CLI (unlike `slo-engine serve`) does not install the engine's JSON log handler;
# without this the INFO access lines of slo_engine.access would be dropped.
COPY <<EOF /app/logging.json
{
  "version": 1,
  "disable_existing_loggers": false,
  "formatters": {"json": {"()": "serving.observability.JsonFormatter"}},
  "handlers": {
    "stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
  },
  "root": {"level": "INFO", "handlers": ["stdout"]},
  "loggers": {
    "uvicorn": {"handlers": [], "propagate": true},
    "uvicorn.error": {"handlers": [], "propagate": true},
    "uvicorn.access": {"handlers": [], "propagate": false}
  }
}
EOF

USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health', timeout=4)"]
# 20 s to finish in-flight requests after SIGTERM: Kubernetes' preStop sleep (5 s) plus this
# stay inside its 30 s terminationGracePeriodSeconds.
CMD ["uvicorn", "serving.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", \
     "--timeout-graceful-shutdown", "20", "--log-config", "/app/logging.json", "--no-access-log"]
