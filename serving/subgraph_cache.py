"""In-process cache of dependency subgraphs, invalidated by the graph version.

Subgraph answers for popular services are read far more often than the graph changes (the
Backstage plugin alone polls them); a cached answer costs one indexed `max()` instead of a
traversal. Entries are keyed by the graph version, so an ingestion invalidates everything at
once (the FR-1 decision) and no reader ever sees an answer from an older graph.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

from cachetools import LRUCache

from store.dependency_traversal import Subgraph


class SubgraphCache:
    def __init__(self, maxsize: int = 2048) -> None:
        self._entries: LRUCache[Hashable, Subgraph] = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compute(
        self, version: str, key: Hashable, compute: Callable[[], Subgraph]
    ) -> tuple[Subgraph, bool]:
        """The cached subgraph for (version, key), computing it on a miss; returns (value, hit)."""
        full_key = (version, key)
        with self._lock:
            found = self._entries.get(full_key)
            if found is not None:
                self.hits += 1
                return found, True
        value = compute()
        with self._lock:
            self.misses += 1
            # Filed under the version the traversal itself read: if an ingestion committed in
            # between, the answer belongs to the newer graph, not to `version`.
            self._entries[(value.graph_version, key)] = value
        return value, False
