"""Token buckets per principal and endpoint (TRD FR-8 limits), in Redis or in-process.

With `SLO_REDIS_URL` every replica draws from the same bucket: one Lua script refills and takes
a token atomically on the Redis server. Without it (or while Redis is down: logged, never an
error for the caller) each process keeps its own buckets. A bucket holds a minute's allowance
and refills continuously, so a client may burst up to its limit and then sustain it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import redis
import redis.asyncio
from cachetools import TTLCache
from fastapi import Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from config.settings import Settings
from serving.observability import RATE_LIMITED
from serving.problems import PROBLEM_MEDIA_TYPE, Problem, problem_body
from serving.security import (
    Authenticator,
    authenticate,
    credential_of,
    first_headers,
    route_template,
)

log = logging.getLogger("slo_engine.rate_limit")

#: Requests per minute per principal, by (method, route template) — the TRD's table.
DEFAULT_LIMITS: dict[str, int] = {
    "POST /api/v1/services/dependencies": 10,
    "GET /api/v1/services/{service_id}/dependencies": 60,
    "GET /api/v1/services/{service_id}/slo-recommendations": 60,
    "POST /api/v1/services/{service_id}/slos": 30,
    "GET /api/v1/services/{service_id}/slos": 120,
    "GET /api/v1/services/{service_id}/slo-history": 30,
    "POST /api/v1/slos/impact-analysis": 10,
    "GET /api/v1/services": 30,
}
DEFAULT_LIMIT = 60  # endpoints the TRD does not list
REDIS_RETRY_S = 5.0  # while Redis is down, how often to try it again

TOKEN_BUCKET_LUA = Path(__file__).with_name("token_bucket.lua").read_text(encoding="utf-8")


class RateLimitedProblem(Problem):
    status, slug, title = 429, "rate-limited", "Too Many Requests"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_s: float  # until the bucket is full again
    retry_after_s: float  # until the next token


class LocalBuckets:
    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, per_minute: int, now: float, cost: int = 1) -> Verdict:
        refill = per_minute / 60.0
        with self._lock:
            tokens, at = self._buckets.get(key, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - at) * refill)
            if cost < 0:
                tokens, allowed = min(float(per_minute), tokens - cost), True
            else:
                allowed = tokens >= 1.0
                if allowed:
                    tokens -= cost
            self._buckets[key] = (tokens, now)
        return _verdict(allowed, per_minute, tokens, refill)


class RedisBuckets:
    """Async Redis: a bucket check is one round trip on the event loop, no thread hop."""

    def __init__(self, url: str) -> None:
        self.client = redis.asyncio.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        self.script = self.client.register_script(TOKEN_BUCKET_LUA)

    async def take(self, key: str, per_minute: int, cost: int = 1) -> Verdict:
        refill_per_ms = per_minute / 60_000.0
        result: Any = await self.script(
            keys=[f"slo-engine:{key}"], args=[per_minute, refill_per_ms, cost]
        )
        allowed, tokens_milli, _ = (int(v) for v in result)
        return _verdict(bool(allowed), per_minute, tokens_milli / 1000, per_minute / 60.0)


def _verdict(allowed: bool, limit: int, tokens: float, refill_per_s: float) -> Verdict:
    return Verdict(
        allowed=allowed,
        limit=limit,
        remaining=max(0, math.floor(tokens)),
        reset_s=(limit - tokens) / refill_per_s,
        retry_after_s=0.0 if tokens >= 1 else (1 - tokens) / refill_per_s,
    )


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self.limits = {**DEFAULT_LIMITS, **settings.rate_limits}
        self.local = LocalBuckets()
        self.redis = RedisBuckets(settings.redis_url) if settings.redis_url else None
        self._redis_down_since: float | None = None
        self._redis_retry_at = 0.0

    @property
    def backend(self) -> str:
        return "redis" if self.redis is not None and self._redis_down_since is None else "local"

    def limit_for(self, endpoint: str) -> int:
        return self.limits.get(endpoint, DEFAULT_LIMIT)

    async def take(self, principal_id: str, endpoint: str) -> Verdict:
        return await self.draw(f"ratelimit:{principal_id}|{endpoint}", self.limit_for(endpoint))

    async def draw(self, key: str, limit: int, cost: int = 1) -> Verdict:
        """`cost` tokens from the bucket `key` of `limit` per minute (-1 gives one back),
        shared in Redis when it is there, in-process otherwise."""
        now = time.time()
        if self.redis is not None and now >= self._redis_retry_at:
            try:
                verdict = await self.redis.take(key, limit, cost)
            except (redis.RedisError, OSError) as exc:
                self._redis_retry_at = now + REDIS_RETRY_S  # no timeout on every request
                if self._redis_down_since is None:
                    self._redis_down_since = now
                    log.warning("Redis unreachable (%s): rate limiting in-process", exc)
            else:
                if self._redis_down_since is not None:
                    log.warning("Redis is back: rate limiting shared again")
                    self._redis_down_since = None
                return verdict
        return self.local.take(key, limit, now, cost)


class CredentialGate:
    """Credential checks per client address, paid for only while the address has some left.

    A wrong API key costs a bcrypt verification (~0.25 s of CPU at 12 rounds) and a bad token
    may cost a JWKS fetch, and both happen before any per-principal limit can apply (there is
    no principal yet): without this, a flood of bogus keys burns the server's CPU. Each check
    an address asks for takes a token of `auth_attempts_per_minute` (shared in Redis like the
    rate limits) *before* it runs, so concurrent guesses cannot overshoot; a check that
    succeeds gives its token back, so only failures add up. Once they are spent, the address's
    unknown credentials are answered 429 unchecked. A known key never reaches the gate, so its
    owner is not slowed by a neighbour behind the same address."""

    def __init__(self, limiter: RateLimiter, per_minute: int) -> None:
        self.limiter = limiter
        self.per_minute = per_minute
        #: Addresses refused, until when (monotonic): while an address has no check left, its
        #: guesses are refused here without a Redis round trip each. Bounded, so a flood from
        #: many addresses cannot grow it; an evicted address only costs a draw again.
        self._refused: TTLCache[str, float] = TTLCache(maxsize=10_000, ttl=60)

    def refused_for(self, address: str) -> float | None:
        """Seconds `address` stays refused, from memory (no I/O); None when it is not."""
        until = self._refused.get(address)
        left = None if until is None else until - time.monotonic()
        return left if left is not None and left > 0 else None

    async def admit(self, address: str) -> None:
        """Reserve a check for `address`, or raise 429 when it has failed too often."""
        if self.per_minute <= 0:
            return
        left = self.refused_for(address)
        if left is not None:
            raise self._refusal(left)
        verdict = await self.limiter.draw(self._key(address), self.per_minute)
        if not verdict.allowed:
            self._refused[address] = time.monotonic() + verdict.retry_after_s
            log.warning(
                "credential checks refused for an address",
                extra={"fields": {"address": address, "seconds": round(verdict.retry_after_s, 1),
                                  "per_minute": self.per_minute}},
            )  # fmt: skip
            raise self._refusal(verdict.retry_after_s)

    def _refusal(self, retry_after_s: float) -> RateLimitedProblem:
        retry = max(1, math.ceil(retry_after_s))
        return RateLimitedProblem(self.refusal_detail(retry), headers={"Retry-After": str(retry)})

    def refusal_detail(self, retry_s: int) -> str:
        return (
            f"More than {self.per_minute} failed authentications per minute from this "
            f"address. Retry in {retry_s} s."
        )

    async def succeeded(self, address: str) -> None:
        """Give the reserved check back: only failures count (and a refusal remembered for
        the address is forgotten, so its next check asks the bucket again)."""
        if self.per_minute > 0:
            self._refused.pop(address, None)
            await self.limiter.draw(self._key(address), self.per_minute, cost=-1)

    @staticmethod
    def _key(address: str) -> str:
        return f"auth-failures:{address}"


async def rate_limit(request: Request, response: Response) -> None:
    """FastAPI dependency after authentication: one token per request, headers on every answer."""
    limiter: RateLimiter = request.app.state.rate_limiter
    if not limiter.enabled:
        return
    principal = await authenticate(request)
    endpoint = f"{request.method} {route_template(request)}"
    verdict = await limiter.take(principal.id, endpoint)
    headers = {
        "X-RateLimit-Limit": str(verdict.limit),
        "X-RateLimit-Remaining": str(verdict.remaining),
        "X-RateLimit-Reset": str(math.ceil(verdict.reset_s)),
    }
    request.state.rate_limit_headers = headers
    if not verdict.allowed:
        retry = max(1, math.ceil(verdict.retry_after_s))
        log.warning("rate limit exceeded", extra={"fields": {"principal": principal.id,
                                                             "endpoint": endpoint}})  # fmt: skip
        raise RateLimitedProblem(
            f"More than {verdict.limit} requests per minute to {endpoint} from this principal. "
            f"Retry in {retry} s.",
            headers={**headers, "Retry-After": str(retry)},
        )
    response.headers.update(headers)


class CredentialGateMiddleware:
    """The gate's refusal, answered before anything else runs (outermost ASGI layer).

    While an address is refused (`CredentialGate.refused_for`, memory only), a request from it
    whose credential is not a known key gets its 429 here: no routing, no dependencies, no
    access-log line, no JSON encoder — a few dictionary lookups and two ASGI messages. Measured
    with `benchmarks/bogus_keys.py` (README): answered inside FastAPI, each refusal still cost
    the path through the middleware stack, the router and the exception handlers, and a flood
    of 200/s raised good clients' p95 by about 1.5×. Refusals are counted in
    `slo_engine_rate_limited_total{endpoint="credential-gate"}`; the gate logs once per refused
    period, not once per request. A known key passes: a neighbour behind the same address is
    never slowed by the attacker."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            retry = self._refused(scope)
            if retry is not None:
                await self._answer(scope, send, retry)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _refused(scope: Scope) -> int | None:
        state = scope["app"].state
        gate: CredentialGate = state.credential_gate
        if gate.per_minute <= 0 or not gate._refused:
            return None
        client = scope.get("client")
        left = gate.refused_for(client[0] if client else "unknown")
        if left is None:
            return None
        credential = credential_of(first_headers(scope.get("headers") or []))
        authenticator: Authenticator | None = getattr(state, "authenticator", None)
        if credential is None or authenticator is None or authenticator.knows(credential):
            return None  # no credential: the 401 that asks for one; a known key: served
        return max(1, math.ceil(left))

    @staticmethod
    async def _answer(scope: Scope, send: Send, retry: int) -> None:
        gate: CredentialGate = scope["app"].state.credential_gate
        body = orjson.dumps(problem_body(
            status=429, slug=RateLimitedProblem.slug, title=RateLimitedProblem.title,
            detail=gate.refusal_detail(retry), instance=scope.get("path", ""),
        ))  # fmt: skip
        RATE_LIMITED.labels("credential-gate").inc()
        await send({
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(retry).encode()),
            ],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": body})
