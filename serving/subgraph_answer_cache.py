"""In-process cache of dependency-subgraph answers, invalidated by the graph version.

Subgraph answers for popular services are read far more often than the graph changes (the
Backstage plugin alone polls them); a cached answer costs one indexed `max()` instead of a
traversal. Entries are keyed by the graph version, so an ingestion invalidates everything at
once (the FR-1 decision) and no reader ever sees an answer from an older graph.

Entries are the serialized JSON answers, bounded by their total size: a hub's neighbourhood
is hundreds of nodes, so a count bound says nothing about memory (2,048 answers as Python
objects held 46 MB on a 5,000-service fleet), and a hit then skips response validation too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

from cachetools import LRUCache


class SubgraphCache:
    def __init__(self, max_bytes: int = 8 * 2**20) -> None:
        self._entries: LRUCache[Hashable, bytes] = LRUCache(
            maxsize=max(max_bytes, 1), getsizeof=len
        )
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def size_bytes(self) -> int:
        return int(self._entries.currsize)

    def get_or_compute(
        self, version: str, key: Hashable, compute: Callable[[], tuple[str, bytes, bytes]]
    ) -> tuple[bytes, bool]:
        """The cached answer for (version, key), computing it on a miss; returns (body, hit).

        `compute` returns (the graph version it read, the answer to give now, the answer to
        keep for later hits): the two differ only in their `cached` flag."""
        full_key = (version, key)
        with self._lock:
            found = self._entries.get(full_key)
            if found is not None:
                self.hits += 1
                return found, True
        read_version, body, kept = compute()
        with self._lock:
            self.misses += 1
            # Filed under the version the traversal itself read: if an ingestion committed in
            # between, the answer belongs to the newer graph, not to `version`.
            if len(kept) <= self._entries.maxsize:  # an answer larger than the whole cache
                self._entries[(read_version, key)] = kept
        return body, False
