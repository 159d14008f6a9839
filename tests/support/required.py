"""The one skip-or-fail guard: on a developer machine a test whose service or binary is
missing skips; with SLO_REQUIRE_SERVICES=1 (CI) it fails, so a missing PostgreSQL, Redis,
Prometheus or promtool can never hide behind a green run."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_SERVICES = os.environ.get("SLO_REQUIRE_SERVICES") == "1"


def skip_or_fail(message: str) -> NoReturn:
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}; SLO_REQUIRE_SERVICES=1 requires it", pytrace=False)
    pytest.skip(message)
