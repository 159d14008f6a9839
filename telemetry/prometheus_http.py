"""The Prometheus HTTP API client, failing fast and politely: `prometheus-api-client` does the
HTTP (auth headers, TLS, range and instant queries, label values), behind our retries and
circuit breaker.

Transient failures are retried with backoff (1 s, 2 s, 4 s; `tenacity`); a circuit breaker
stops hammering a Prometheus that is down (10 consecutive failures open it for 30 s, then one
probe is let through); a bad query is reported at once with Prometheus's own error text,
never retried.
"""

from __future__ import annotations

import ast
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import requests
import requests.adapters
import tenacity
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_client import Counter, Histogram
from urllib3.util.retry import Retry

#: TRD §11.2 metrics of the engine's own Prometheus use (no per-service labels).
QUERY_DURATION = Histogram(
    "slo_engine_prometheus_query_duration_seconds",
    "Duration of one PromQL HTTP request.",
    ["query_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
QUERY_ERRORS = Counter(
    "slo_engine_prometheus_query_errors_total",
    "PromQL requests that failed, by kind of failure.",
    ["query_type", "error_type"],
)


class PrometheusError(RuntimeError):
    """Prometheus could not answer (after retries)."""


class PrometheusQueryError(PrometheusError):
    """Prometheus rejected the query itself (4xx): retrying cannot help."""


class CircuitOpenError(PrometheusError):
    """Too many consecutive failures: calls are refused until the breaker half-opens."""


@dataclass
class CircuitBreaker:
    failure_threshold: int = 10
    reset_after_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    state: str = "closed"
    consecutive_failures: int = 0
    opened_at: float = field(default=0.0)
    #: Half-open lets exactly one call through (the probe); the others fail fast until it ends.
    probe_in_flight: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def before_call(self) -> None:
        with self._lock:
            if self.state == "half_open":
                if self.probe_in_flight:
                    raise CircuitOpenError(
                        f"Prometheus circuit half-open after {self.consecutive_failures} "
                        "consecutive failures; another call is probing it"
                    )
                self.probe_in_flight = True
            elif self.state == "open":
                remaining = self.reset_after_s - (self.clock() - self.opened_at)
                if remaining > 0:
                    raise CircuitOpenError(
                        f"Prometheus circuit open after {self.consecutive_failures} consecutive "
                        f"failures; next probe in {remaining:.0f} s"
                    )
                self.state, self.probe_in_flight = "half_open", True

    def record_success(self) -> None:
        with self._lock:
            self.state, self.consecutive_failures, self.probe_in_flight = "closed", 0, False

    def record_failure(self) -> None:
        with self._lock:
            self.consecutive_failures += 1
            if self.state == "half_open" or self.consecutive_failures >= self.failure_threshold:
                self.state, self.opened_at = "open", self.clock()
            self.probe_in_flight = False

    def release_probe(self) -> None:
        """The probe ended with neither verdict (an unexpected error): let the next call probe."""
        with self._lock:
            self.probe_in_flight = False


@dataclass
class PrometheusClient:
    url: str
    bearer_token: str | None = None
    basic_auth: tuple[str, str] | None = None
    timeout_s: float = 30.0
    backoff_s: Sequence[float] = (1.0, 2.0, 4.0)
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    sleep: Callable[[float], None] = time.sleep
    #: Replaces the HTTP adapter under the library (tests answer without a network; the
    #: telemetry benchmark records what was sent).
    adapter: requests.adapters.BaseAdapter | None = None
    verify_tls: bool = True
    calls: int = 0

    _connect: PrometheusConnect | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: (breaker clock, answered?) of the last readiness ping, and when a query last succeeded:
    #: what a read can know about Prometheus without asking it again.
    _last_ping: tuple[float, bool] | None = field(default=None, repr=False)
    _last_answer_at: float | None = field(default=None, repr=False)

    def _client(self) -> PrometheusConnect:
        """One pooled connection for all queries (TLS set-up costs once). The library's own
        retries are off: one retry policy (ours) and a breaker that sees every failure."""
        with self._lock:
            if self._connect is None:
                session = requests.Session()
                session.verify = self.verify_tls
                url = self.url.rstrip("/")
                self._connect = PrometheusConnect(
                    url=url,
                    headers=(
                        {"Authorization": f"Bearer {self.bearer_token}"}
                        if self.bearer_token
                        else None
                    ),
                    retry=Retry(total=0, raise_on_status=False),
                    auth=self.basic_auth,
                    session=session,
                    timeout=self.timeout_s,
                )
                if self.adapter is not None:
                    session.mount(url, self.adapter)  # after the library mounted its own
            return self._connect

    def close(self) -> None:
        with self._lock:
            if self._connect is not None:
                self._connect.close()
                self._connect = None

    def ping(self, timeout_s: float = 1.0) -> bool:
        """Does the server answer a trivial query now? For readiness reports: one try, a short
        timeout, and no effect on the circuit breaker or the retry policy."""
        try:
            self._client().custom_query("vector(1)", timeout=timeout_s)
            answered = True
        except (requests.RequestException, PrometheusApiClientException, ValueError,
                KeyError, TypeError):  # fmt: skip
            answered = False  # no answer, or not Prometheus's (a proxy's page)
        self._last_ping = (self.breaker.clock(), answered)
        return answered

    def unavailable_reason(self, max_age_s: float = 60.0) -> str | None:
        """Why Prometheus is known to be unreachable now, or None; never a round trip (cheap
        enough for every read). Known from the breaker (open or half-open, and no readiness ping
        has answered since it opened) or from the last readiness ping (failed within
        `max_age_s`, and no query has succeeded since)."""
        breaker, ping, answer_at = self.breaker, self._last_ping, self._last_answer_at
        if breaker.state != "closed":
            if ping is not None and ping[1] and ping[0] >= breaker.opened_at:
                return None  # it answers again; the breaker learns so at its next probe
            state = "open" if breaker.state == "open" else "half-open"
            return (
                f"Prometheus circuit {state} after {breaker.consecutive_failures} "
                "consecutive failures"
            )
        if ping is None or ping[1] or breaker.clock() - ping[0] > max_age_s:
            return None
        if answer_at is not None and answer_at >= ping[0]:
            return None
        return "the last readiness probe could not reach Prometheus"

    def _get(self, query_type: str, send: Callable[[PrometheusConnect], Any]) -> Any:
        """One query, retried (tenacity) while Prometheus fails transiently; the breaker is
        asked before every attempt, so an open circuit ends the retries at once."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(len(self.backoff_s) + 1),
            # backoff_s[i] after the i-th failure: the configured schedule, verbatim.
            wait=tenacity.wait_chain(*(tenacity.wait_fixed(s) for s in self.backoff_s))
            if self.backoff_s
            else tenacity.wait_none(),
            retry=tenacity.retry_if_exception_type(_TransientError),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            return retrying(self._attempt, query_type, send)
        except _TransientError as exc:
            raise PrometheusError(
                f"Prometheus at {self.url} did not answer after {len(self.backoff_s) + 1} "
                f"attempts ({exc})"
            ) from exc

    def _attempt(self, query_type: str, send: Callable[[PrometheusConnect], Any]) -> Any:
        with self._lock:
            try:
                self.breaker.before_call()
            except PrometheusError:
                QUERY_ERRORS.labels(query_type, "circuit_open").inc()
                raise
            self.calls += 1
        started = time.perf_counter()
        try:
            result = send(self._client())
            QUERY_DURATION.labels(query_type).observe(time.perf_counter() - started)
            with self._lock:
                self.breaker.record_success()
                self._last_answer_at = self.breaker.clock()
            return result
        except PrometheusApiClientException as exc:
            status, text = _status_and_error(exc)
            QUERY_DURATION.labels(query_type).observe(time.perf_counter() - started)
            if 400 <= status < 500 and status != 429:
                with self._lock:
                    self.breaker.record_success()  # the server is fine; the query is not
                QUERY_ERRORS.labels(query_type, "bad_query").inc()
                raise PrometheusQueryError(text) from exc
            self._failed(query_type, f"HTTP {status}")
            raise _TransientError(f"HTTP {status}: {text}") from exc
        except (requests.RequestException, ValueError) as exc:  # no answer, or a garbled one
            self._failed(query_type, type(exc).__name__)
            raise _TransientError(f"{type(exc).__name__}: {exc}") from exc
        except (KeyError, TypeError) as exc:  # a 200 without `data.result`: not a query answer
            with self._lock:
                self.breaker.record_success()  # something answered; retrying will not help
            QUERY_ERRORS.labels(query_type, "bad_answer").inc()
            raise PrometheusQueryError(f"answer without data.result ({exc!r})") from exc
        except BaseException:
            # Neither verdict (an unexpected error): never leave the breaker half-open with a
            # probe that will not report back.
            self.breaker.release_probe()
            raise

    def _failed(self, query_type: str, kind: str) -> None:
        QUERY_ERRORS.labels(query_type, kind).inc()
        with self._lock:
            self.breaker.record_failure()

    def query_range(
        self, query: str, start: datetime, end: datetime, step_s: int
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(
            "range",
            lambda prometheus: prometheus.custom_query_range(query, start, end, str(step_s)),
        )
        return result

    def label_values(
        self, label: str, match: Sequence[str], start: datetime, end: datetime
    ) -> list[str]:
        """Values `label` takes on the series `match` selects between `start` and `end`: an
        index lookup (no samples are read), behind the same retries and breaker as queries.
        An answer whose data is not a list of strings is a bad answer, never a list of ids."""
        params = {
            "match[]": list(match),
            "start": f"{start.timestamp():.3f}",
            "end": f"{end.timestamp():.3f}",
        }

        def send(prometheus: PrometheusConnect) -> list[str]:
            values = prometheus.get_label_values(label, params=params)
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise TypeError(f"label values of {label!r} are not a list of strings")
            return values

        result: list[str] = self._get("labels", send)
        return result

    def query(self, query: str, at: datetime) -> list[dict[str, Any]]:
        params = {"time": f"{at.timestamp():.3f}"}
        result: list[dict[str, Any]] = self._get(
            "instant", lambda prometheus: prometheus.custom_query(query, params=params)
        )
        return result


class _TransientError(Exception):
    """A failure worth another attempt (no answer, 5xx, 429, a garbled body)."""


#: How prometheus-api-client words a non-200 answer: the status, then the body's repr.
_ANSWER = re.compile(r"HTTP Status Code (\d+) \((b?'.*'|b?\".*\")\)\Z", re.DOTALL)


def _status_and_error(exc: PrometheusApiClientException) -> tuple[int, str]:
    """The status and Prometheus's own error text of a non-200 answer (the library keeps both
    only in its message)."""
    match = _ANSWER.match(str(exc))
    if match is None:
        return 0, str(exc)
    raw = ast.literal_eval(match.group(2))
    body = raw if isinstance(raw, bytes) else str(raw).encode()
    try:
        return int(match.group(1)), str(orjson.loads(body).get("error", body.decode()))
    except (orjson.JSONDecodeError, AttributeError):
        return int(match.group(1)), body.decode("utf-8", "replace")[:500]
