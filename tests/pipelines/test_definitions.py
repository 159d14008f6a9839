"""The Dagster code location named in workspace.yaml loads and validates."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_workspace_points_at_a_loadable_code_location() -> None:
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    assert entry == {"python_module": "pipelines.definitions"}
    from pipelines.definitions import defs

    assert isinstance(defs, dg.Definitions)
    dg.Definitions.validate_loadable(defs)


def test_instance_config_defaults_to_sqlite_storage() -> None:
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    assert "storage" not in config  # SQLite under $DAGSTER_HOME unless PostgreSQL is configured
    assert config["telemetry"]["enabled"] is False
