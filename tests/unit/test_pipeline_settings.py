"""The pipelines' knobs are settings (issue: one place for each idea): the lookback and the
first partition are read from `SLO_*` through `config.settings`, under their documented names
and defaults, and the telemetry resource defaults to what the settings say."""

from __future__ import annotations

import pytest

from config.settings import Settings
from pipelines.defs.recommendations.assets import LOOKBACK_DAYS
from pipelines.partitions import DAILY, START_DATE
from pipelines.resources import TelemetryResource


def test_lookback_and_partitions_start_keep_their_env_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SLO_LOOKBACK_DAYS", raising=False)
    monkeypatch.delenv("SLO_PARTITIONS_START", raising=False)
    assert (Settings().lookback_days, Settings().partitions_start) == (30, "2026-01-01")
    monkeypatch.setenv("SLO_LOOKBACK_DAYS", "7")
    monkeypatch.setenv("SLO_PARTITIONS_START", "2025-06-01")
    assert (Settings().lookback_days, Settings().partitions_start) == (7, "2025-06-01")
    for outside in ("0", "6", "366"):  # the API's lookback_days range, 7-365, one rule
        monkeypatch.setenv("SLO_LOOKBACK_DAYS", outside)
        with pytest.raises(ValueError, match="lookback_days"):
            Settings()


def test_the_pipeline_constants_come_from_the_settings() -> None:
    settings = Settings()  # no test sets these two for the whole session
    assert settings.lookback_days == LOOKBACK_DAYS
    assert settings.partitions_start == START_DATE == DAILY.start.date().isoformat()


def test_the_telemetry_resource_defaults_to_the_settings_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("TELEMETRY", "TELEMETRY_PARQUET_PATH", "PROMETHEUS_URL", "PROMETHEUS_RETRIES",
                 "PROMETHEUS_TIMEOUT_S", "METRIC_PROFILE"):  # fmt: skip
        monkeypatch.delenv(f"SLO_{name}", raising=False)
    assert TelemetryResource() == TelemetryResource.from_settings(Settings())
