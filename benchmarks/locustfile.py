"""Locust users for `make bench-load` (driven by benchmarks/load_test.py, which writes the
data file named by SLO_LOAD_DATA: API keys, services, the services to decide on per phase).

`SloUser` is one SRE tool or dashboard polling the API at 1 request/s, each on its own random
phase, with the TRD's mix: mostly cached recommendation reads, dependency queries, active-SLO
reads, and now and then a decision. `CachedReader` and `BareProbe` have no wait: they find the
saturation throughput of the cached read and of `/health` (the same stack with no store, auth
or rate limit: the ceiling). Each user has its own API key, so per-principal rate limits apply
as in real use."""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, task

DATA: dict[str, Any] = json.loads(Path(os.environ["SLO_LOAD_DATA"]).read_text(encoding="utf-8"))
_keys = itertools.cycle(DATA["keys"])
# Each service is decided once, by one user, in one phase (a decided recommendation is a 409).
_decisions = iter(DATA["decide"].get(os.environ["SLO_LOAD_PHASE"], []))


class _Authenticated(FastHttpUser):
    abstract = True

    def on_start(self) -> None:
        self.key = {"X-API-Key": next(_keys)}
        self.rng = random.Random(id(self))


class SloUser(_Authenticated):
    def on_start(self) -> None:
        super().on_start()
        # Users spawned together would otherwise fire together every second, forever: a
        # thundering herd no real fleet of dashboards produces. A random phase spreads them,
        # and the user's own clock keeps it (locust's constant_throughput re-aligned them).
        gevent.sleep(self.rng.random())
        self.next_at = time.monotonic()

    def wait_time(self) -> float:
        self.next_at += 1.0
        return max(0.0, self.next_at - time.monotonic())

    @task(70)
    def cached_recommendation(self) -> None:
        service = self.rng.choice(DATA["services"])
        self.client.get(f"/api/v1/services/{service}/slo-recommendations", headers=self.key,
                        name="GET slo-recommendations (cached)")  # fmt: skip

    @task(15)
    def dependencies(self) -> None:
        service = self.rng.choice(DATA["services"])
        self.client.get(f"/api/v1/services/{service}/dependencies", headers=self.key,
                        name="GET dependencies")  # fmt: skip

    @task(14)
    def active_slo(self) -> None:
        service = self.rng.choice(DATA["with_slo"])
        self.client.get(f"/api/v1/services/{service}/slos", headers=self.key,
                        name="GET slos (active)")  # fmt: skip

    @task(1)
    def decision(self) -> None:
        """As a person does: read the current recommendation, then accept it. (An accepted SLO
        expires its callers' recommendations, and deciding on an expired one is a 409.)"""
        service = next(_decisions, None)
        if service is None:
            return
        url = f"/api/v1/services/{service}/slo-recommendations"
        current = self.client.get(url, headers=self.key, name="GET slo-recommendations (decide)")
        if current.json().get("stale"):
            return  # expired by a decision downstream: a person would regenerate it first
        ids = [r.get("recommendation_id") for r in current.json().get("recommendations", [])
               if r.get("sli_type") == "availability"]  # fmt: skip
        if not ids or ids[0] is None:
            return  # invalidated by a decision downstream: nothing to accept now
        body = {"recommendation_id": ids[0], "action": "accept", "selected_tier": "balanced",
                "rationale": "load test", "actor": "load@test"}  # fmt: skip
        self.client.post(f"/api/v1/services/{service}/slos", json=body, headers=self.key,
                         name="POST slos (accept)")  # fmt: skip


class CachedReader(_Authenticated):
    @task
    def cached_recommendation(self) -> None:
        service = self.rng.choice(DATA["services"])
        key = {"X-API-Key": next(_keys)}  # many principals: within every one's rate limit
        self.client.get(f"/api/v1/services/{service}/slo-recommendations", headers=key,
                        name="GET slo-recommendations (cached)")  # fmt: skip


class BareProbe(FastHttpUser):
    @task
    def health(self) -> None:
        self.client.get("/api/v1/health", name="GET health (bare)")
