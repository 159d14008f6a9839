"""Synthetic but realistic microservice topologies, deterministic by seed.

Real fleets are layered (edge gateways, BFFs, a deep pool of backends, datastores, third-party
APIs, queues and their consumers), mostly acyclic in their synchronous calls, with a few
accidental cycles and a few redundant pairs. Tests, demos and benchmarks need exactly that shape
at any size, reproducibly, and with the deliberate cycles known in advance so that detection can
be checked against them.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate, pairwise
from typing import Any

DOMAINS = (
    "checkout", "payment", "catalog", "search", "user", "inventory", "shipping", "pricing",
    "cart", "auth", "notification", "recommendation", "review", "order", "fraud", "ledger",
    "billing", "profile", "media", "loyalty", "promotion", "tax", "warehouse", "delivery",
    "returns", "support", "analytics", "identity", "session", "content",
)  # fmt: skip
CRITICAL_DOMAINS = frozenset({"checkout", "payment", "auth", "order", "cart", "identity"})
EXTERNAL_VENDORS = (
    ("stripe-api", 99.99), ("twilio-api", 99.95), ("sendgrid-api", 99.9), ("paypal-api", 99.99),
    ("adyen-api", 99.99), ("maps-api", 99.9), ("shippo-api", 99.9), ("avalara-api", 99.95),
    ("segment-api", 99.9), ("auth0-api", 99.99),
)  # fmt: skip
#: How services of each in-house role are named after their domain.
NAME_SUFFIXES = {
    "bff": ("web-bff", "mobile-bff", "partner-bff"),
    "backend": ("service", "api", "engine", "manager", "processor", "resolver"),
    "consumer": ("worker", "consumer"),
    "queue": ("events-queue",),
}
STORE_KINDS = (("db", "postgres"), ("cache", "redis"), ("search", "elasticsearch"))
RUNTIMES = ("python3.12", "go1.22", "java21", "node20", "rust1.80")

#: Approximate share of the fleet per role; backends take whatever is left.
ROLE_SHARES = (
    ("api_gateway", 0.02),
    ("bff", 0.05),
    ("consumer", 0.10),
    ("queue", 0.03),
    ("datastore", 0.20),
    ("external", 0.03),
)
MIN_SERVICES = 10


@dataclass(frozen=True)
class FleetTopology:
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    cycles: list[list[str]] = field(default_factory=list)

    def to_payload(
        self, source: str = "manual", timestamp: datetime | None = None
    ) -> dict[str, Any]:
        """The POST /api/v1/services/dependencies body for this topology."""
        payload: dict[str, Any] = {"source": source}
        if timestamp is not None:
            payload["timestamp"] = timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        payload["nodes"] = self.nodes
        payload["edges"] = self.edges
        return payload


class _Builder:
    """Accumulates unique edges; keeps the generator's bookkeeping out of the public function."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.edges: list[dict[str, Any]] = []
        self.pairs: set[tuple[str, str]] = set()

    def add(self, source: str, target: str, attributes: dict[str, Any]) -> bool:
        if source == target or (source, target) in self.pairs:
            return False
        self.pairs.add((source, target))
        self.edges.append({"source": source, "target": target, "attributes": attributes})
        return True

    def sync(self, protocol: str, timeout_ms: int, *, criticality: str = "hard",
             retries: int = 2) -> dict[str, Any]:  # fmt: skip
        return {
            "communication_mode": "sync",
            "criticality": criticality,
            "protocol": protocol,
            "timeout_ms": timeout_ms,
            "retry_config": {
                "max_retries": retries,
                "backoff_strategy": self.rng.choice(("exponential", "exponential", "linear")),
            },
        }

    def call(self, *, hard: float = 0.8, soft: float = 0.12) -> dict[str, Any]:
        roll = self.rng.random()
        criticality = "hard" if roll < hard else "soft" if roll < hard + soft else "degraded"
        protocol = "grpc" if self.rng.random() < 0.65 else "http"
        return self.sync(protocol, self.rng.choice((200, 300, 500, 800, 1000, 1500)),
                         criticality=criticality)  # fmt: skip

    @staticmethod
    def async_edge() -> dict[str, Any]:
        return {"communication_mode": "async", "criticality": "soft", "protocol": "kafka"}


def _role_counts(services: int) -> dict[str, int]:
    counts = {role: max(1, round(services * share)) for role, share in ROLE_SHARES}
    counts["backend"] = services - sum(counts.values())
    return counts


def _unique(name: str, taken: Counter[str]) -> str:
    taken[name] += 1
    return name if taken[name] == 1 else f"{name}-{taken[name]}"


def generate_topology(
    services: int,
    *,
    seed: int = 42,
    edges_per_service: float = 3.0,
    cycles: int = 3,
    redundancy_share: float = 0.05,
) -> FleetTopology:
    """A layered fleet of exactly `services` services and ≈ services × edges_per_service edges.

    The synchronous call graph is acyclic except for `cycles` deliberate cycles, each a
    contiguous block of backends in call-rank order closed by one back edge, so that the
    strongly connected components are exactly those blocks.
    """
    if services < MIN_SERVICES:
        raise ValueError(f"a fleet needs at least {MIN_SERVICES} services, got {services}")
    rng = random.Random(seed)
    counts = _role_counts(services)
    teams_wanted = max(2, services // 8)
    taken: Counter[str] = Counter()
    nodes: list[dict[str, Any]] = []
    by_role: dict[str, list[str]] = {role: [] for role in counts}
    domain_of: dict[str, str] = {}

    def team_for(domain: str) -> str:
        # A domain splits into several teams once the fleet needs more teams than domains.
        splits = max(1, -(-teams_wanted // len(DOMAINS)))
        return domain if splits == 1 else f"{domain}-{rng.randrange(splits) + 1}"

    def add_node(role: str, name: str, domain: str, **extra: Any) -> None:
        service_id = _unique(name, taken)
        critical = domain in CRITICAL_DOMAINS
        if role == "api_gateway":
            criticality = "critical"
        elif critical:
            criticality = rng.choice(("critical", "high", "high"))
        else:
            criticality = rng.choice(("high", "medium", "medium", "low"))
        metadata = {
            "team": extra.pop("team", None) or team_for(domain),
            "criticality": criticality,
            "tier": {"critical": 1, "high": 1, "medium": 2, "low": 3}[criticality],
            "namespace": "production",
            "runtime": rng.choice(RUNTIMES),
            "service_type": role,
            **extra,
        }
        nodes.append({"service_id": service_id, "metadata": metadata})
        by_role[role].append(service_id)
        domain_of[service_id] = domain

    for i in range(counts["api_gateway"]):
        add_node("api_gateway", ("edge", "mobile", "partner", "public")[i % 4] + "-gateway",
                 "platform", team="edge-platform")  # fmt: skip
    for role, suffixes in NAME_SUFFIXES.items():
        for _ in range(counts[role]):
            domain = rng.choice(DOMAINS)
            add_node(role, f"{domain}-{rng.choice(suffixes)}", domain)
    store_protocol: dict[str, str] = {}
    for _ in range(counts["datastore"]):
        domain = rng.choice(DOMAINS)
        kind, protocol = rng.choice(STORE_KINDS)
        add_node("datastore", f"{domain}-{kind}", domain)
        store_protocol[by_role["datastore"][-1]] = protocol
    for i in range(counts["external"]):
        vendor, sla = EXTERNAL_VENDORS[i % len(EXTERNAL_VENDORS)]
        add_node("external", vendor, "vendor", team="platform-integrations", published_sla=sla)

    b = _Builder(rng)
    gateways, bffs, backends = by_role["api_gateway"], by_role["bff"], by_role["backend"]
    consumers, queues = by_role["consumer"], by_role["queue"]
    stores, externals = by_role["datastore"], by_role["external"]

    def store_edge(source: str, store: str) -> bool:
        return b.add(
            source, store, b.sync(store_protocol[store], rng.choice((50, 100, 250)), retries=1)
        )

    def external_edge(source: str, external: str) -> bool:
        hard = rng.random() < 0.6
        return b.add(source, external, b.sync("http", rng.choice((2000, 3000, 5000)),
                                               criticality="hard" if hard else "degraded",
                                               retries=3))  # fmt: skip

    # Call graphs of real fleets are heavy-tailed: most services call a few others, a few
    # aggregators call dozens, and a handful of shared platform services (auth, config,
    # feature flags) are called by almost everyone. Hubs sit at the end of the call rank so
    # that anyone may call them without creating a cycle.
    fanout = [min(50.0, rng.paretovariate(1.5)) for _ in backends]
    cumulative = list(accumulate(fanout))
    hubs_from = max(1, len(backends) - max(3, len(backends) // 50))

    def pick_caller() -> int:
        return rng.choices(range(len(backends)), cum_weights=cumulative)[0]

    def forward_backend_edge() -> bool:
        i = pick_caller()
        if i >= len(backends) - 1:
            return False
        if i < hubs_from and rng.random() < 0.3:
            j = rng.randrange(hubs_from, len(backends))
        else:
            # Otherwise mostly short hops in rank: neighbours in a domain call each other.
            hop = int(rng.expovariate(1 / max(2.0, len(backends) / 20)))
            j = min(len(backends) - 1, i + 1 + hop)
        return b.add(backends[i], backends[j], b.call(hard=0.5, soft=0.3))

    # The skeleton: every service takes part, every layer is wired.
    # A gateway routes each request to one BFF: a BFF down degrades the gateway (its routes
    # fail), it does not take every request down with it.
    for k, bff in enumerate(bffs):
        b.add(gateways[k % len(gateways)], bff, b.sync("http", 3000, criticality="degraded"))
    for gateway in gateways:
        for bff in rng.sample(bffs, min(len(bffs), 2)):
            b.add(gateway, bff, b.sync("http", 3000, criticality="degraded"))
    for k, backend in enumerate(backends):
        b.add(bffs[k % len(bffs)], backend, b.call(hard=0.3, soft=0.5))
        store_edge(backend, stores[k % len(stores)])
    for k, store in enumerate(stores[len(backends) :]):
        store_edge(backends[k % len(backends)], store)
    for k, external in enumerate(externals):
        external_edge(backends[(k * 7) % len(backends)], external)
    for k, queue in enumerate(queues):
        b.add(backends[(k * 3) % len(backends)], queue, b.async_edge())
    for k, consumer in enumerate(consumers):
        b.add(consumer, queues[k % len(queues)], b.async_edge())
        target = rng.choice(backends) if rng.random() < 0.6 else rng.choice(stores)
        if target in store_protocol:
            store_edge(consumer, target)
        else:
            b.add(consumer, target, b.call(hard=0.9, soft=0.1))

    # Redundancy: a few backends call a pair of interchangeable providers.
    redundant = rng.sample(backends, min(len(backends), round(len(backends) * redundancy_share)))
    for source in redundant:
        pool = externals if len(externals) >= 2 and rng.random() < 0.4 else stores
        if len(pool) < 2:
            continue
        candidates = [t for t in rng.sample(pool, min(len(pool), 4)) if (source, t) not in b.pairs]
        if len(candidates) < 2:
            continue
        group = f"{source}-{'provider' if pool is externals else 'replica'}-pool"
        for target in candidates[:2]:
            attributes = b.sync("http" if pool is externals else store_protocol[target], 1000)
            attributes["redundancy_group"] = group
            b.add(source, target, attributes)

    cycle_members = _add_cycles(b, backends, cycles)

    # Fill up to the requested density with the mix a real fleet shows.
    target_edges = round(services * edges_per_service)
    attempts = 0
    while len(b.edges) < target_edges and attempts < target_edges * 20:
        attempts += 1
        roll = rng.random()
        if roll < 0.55:
            forward_backend_edge()
        elif roll < 0.70:
            b.add(rng.choice(bffs), rng.choice(backends), b.call(hard=0.3, soft=0.5))
        elif roll < 0.85:
            store_edge(backends[pick_caller()], rng.choice(stores))
        elif roll < 0.90:
            b.add(backends[pick_caller()], rng.choice(queues), b.async_edge())
        elif roll < 0.93:
            external_edge(backends[pick_caller()], rng.choice(externals))
        elif roll < 0.97:
            store_edge(rng.choice(consumers), rng.choice(stores))
        else:
            b.add(
                rng.choice(gateways), rng.choice(bffs), b.sync("http", 3000, criticality="degraded")
            )
    return FleetTopology(nodes=nodes, edges=b.edges, cycles=cycle_members)


def _add_cycles(b: _Builder, backends: Sequence[str], cycles: int) -> list[list[str]]:
    """Close `cycles` disjoint, contiguous rank blocks of 2–4 backends into cycles.

    Every other backend edge goes forward in rank, so a path that leaves a block can never
    come back to it: each block is exactly one strongly connected component.
    """
    sizes = [b.rng.choice((2, 3, 3, 4)) for _ in range(cycles)]
    while sizes and sum(sizes) + len(sizes) > len(backends):
        sizes.pop()
    if not sizes:
        return []
    stride = len(backends) // len(sizes)
    members: list[list[str]] = []
    for k, size in enumerate(sizes):
        block = list(backends[k * stride : k * stride + size])
        for source, target in pairwise(block):
            b.add(source, target, b.sync("grpc", 500))
        b.add(block[-1], block[0], b.sync("grpc", 500))
        members.append(block)
    return members
