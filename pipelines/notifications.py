"""Webhook notifications (TRD FR-9: notify the service owner). Retried, bounded in time, and
never raising: a receiver that is down must not fail or stall the pipeline run."""

from __future__ import annotations

import logging
from typing import Any

import dagster as dg
import httpx
import tenacity

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
        """`delivered`, `disabled` (no URL) or `failed: …` after the retries (1 s, 2 s, …;
        `tenacity`). A 4xx other than 429 is the receiver refusing the payload: not retried."""
        if not self.url:
            return "disabled"
        url = self.url
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=tenacity.wait_exponential(multiplier=self.backoff_seconds, min=0),
            retry=tenacity.retry_if_exception_type((httpx.HTTPError, _RetryableStatusError)),
            reraise=True,
        )

        def attempt() -> str:
            response = httpx.post(url, json=payload, timeout=self.timeout_seconds)
            if response.status_code < 300:
                return "delivered"
            if response.status_code >= 500 or response.status_code == 429:
                raise _RetryableStatusError(f"HTTP {response.status_code}")
            return f"failed: HTTP {response.status_code}"

        try:
            outcome = retrying(attempt)
        except (httpx.HTTPError, _RetryableStatusError) as exc:
            outcome = (
                f"failed: {exc if isinstance(exc, _RetryableStatusError) else type(exc).__name__}"
            )
        if outcome != "delivered":
            log.warning("webhook not delivered", extra={"fields": {"error": outcome[8:]}})
        return outcome


class _RetryableStatusError(Exception):
    """The receiver answered, but with a status worth another attempt (5xx, 429)."""
