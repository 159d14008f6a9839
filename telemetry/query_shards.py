"""Fleet-wide PromQL in bounded shards: one query per group of services, never one that returns
more series than the server may fetch (Mimir's `max_fetched_series_per_query`, a Prometheus'
memory), and never a URL a server refuses.

A shard is a `label=~"a|b|c"` matcher over some of the ids (`promql.label_matcher`, the one
escaping helper). Its size follows from what each id costs in the answer (`pack_shards`: its
series — the bucket count for a histogram, 1 for a counter summed by service, the fan-out for
the service graph) and from the matcher's length in the request. Shards of a fetch run in one
bounded pool (`run_all`); the first failure fails the fetch, so a day is never silently partial.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar
from urllib.parse import quote

from telemetry.promql import regex_alternative

T = TypeVar("T")

#: Queries of one fetch in flight at once: the four a day cost before sharding, so a small fleet
#: sends exactly what it did; Prometheus evaluates up to `--query.max-concurrency` (20) at once.
QUERY_CONCURRENCY = 4

#: Longest shard matcher, as sent (percent-encoded in the GET URL): Prometheus, Mimir and Thanos
#: refuse a request line over Go's 1 MiB header limit, and a regex of tens of thousands of
#: alternatives costs each query its compilation. 48 KiB (about 2,200 ids of 20 characters)
#: keeps counters of a 50,000-service fleet to ~23 shards, inside Envoy's 60 KiB default too.
MAX_MATCHER_BYTES = 48 * 1024


def matcher_bytes(value: str) -> int:
    """What one id adds to a shard's matcher in the URL: its alternative, escaped for the regex
    and the string literal (as `label_matcher` writes it), percent-encoded, and the `|`."""
    return len(quote(regex_alternative(value), safe="")) + len(quote("|"))


def pack_shards(
    ids: Sequence[str],
    series_per_id: int | Mapping[str, int],
    max_series: int,
    *,
    max_bytes: int = MAX_MATCHER_BYTES,
) -> list[list[str]]:
    """`ids` (in their order, once each) cut into consecutive shards whose answers hold at most
    `max_series` series and whose matchers stay within `max_bytes`. `series_per_id` is what
    one id contributes to the answer (a constant or per id; an id missing from the mapping
    contributes nothing, so it rides along for free). An id that alone exceeds the bound gets
    a shard of its own: the label cannot split it further."""
    shards: list[list[str]] = []
    current: list[str] = []
    series = size = 0
    for value in dict.fromkeys(ids):
        cost = series_per_id if isinstance(series_per_id, int) else series_per_id.get(value, 0)
        width = matcher_bytes(value)
        if current and (series + cost > max_series or size + width > max_bytes):
            shards.append(current)
            current, series, size = [], 0, 0
        current.append(value)
        series, size = series + cost, size + width
    if current:
        shards.append(current)
    return shards


def run_all(tasks: Sequence[Callable[[], T]], what: str = "shard") -> list[T]:
    """Every task's result, in order, run `QUERY_CONCURRENCY` at a time. The first failure (in
    task order) is raised as it is — `PrometheusError`, `CircuitOpenError`, … from the client's
    retries and breaker — with a note naming the task, after the tasks not yet started are
    cancelled: a fetch with a failed shard has no answer."""
    if not tasks:
        return []
    with ThreadPoolExecutor(max_workers=min(QUERY_CONCURRENCY, len(tasks))) as pool:
        futures: list[Future[T]] = [pool.submit(task) for task in tasks]
        results: list[T] = []
        for i, future in enumerate(futures):
            try:
                results.append(future.result())
            except BaseException as exc:
                for pending in futures[i + 1 :]:
                    pending.cancel()
                exc.add_note(f"(failed {what} {i + 1} of {len(tasks)}; the fetch has no answer)")
                raise
        return results
