"""The installed package's version, reported by health and OpenAPI."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def app_version() -> str:
    try:
        return version("slo-engine")
    except PackageNotFoundError:
        return "0.0.0+local"
