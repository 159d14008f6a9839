"""Webhook notifications (TRD FR-9: notify the service owner). Retried, bounded in time, and
never raising: a receiver that is down must not fail or stall the pipeline run."""

from __future__ import annotations

import logging
import time
from typing import Any

import dagster as dg
import httpx

from config.settings import Settings, get_settings

log = logging.getLogger("slo_engine.notifications")


class WebhookResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    url: str | None = None
    timeout_seconds: float = 5.0
    attempts: int = 3
    backoff_seconds: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> WebhookResource:
        settings = settings or get_settings()
        return cls(url=settings.webhook_url)

    def post(self, payload: dict[str, Any]) -> str:
        """`delivered`, `disabled` (no URL) or `failed: …` after the retries (1 s, 2 s, …)."""
        if not self.url:
            return "disabled"
        error = ""
        for attempt in range(self.attempts):
            try:
                response = httpx.post(self.url, json=payload, timeout=self.timeout_seconds)
                if response.status_code < 300:
                    return "delivered"
                error = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    break  # the receiver refused the payload: retrying will not change that
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            if attempt + 1 < self.attempts:
                time.sleep(self.backoff_seconds * 2**attempt)
        log.warning("webhook not delivered", extra={"fields": {"error": error}})
        return f"failed: {error}"
