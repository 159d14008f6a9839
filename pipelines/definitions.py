"""Dagster code location of the engine. Assets arrive with the telemetry and recommendation work;
the location loads today so that `dagster dev -w workspace.yaml` and the tests can rely on it."""

from __future__ import annotations

import dagster as dg

defs = dg.Definitions(assets=[])
