"""The rules that cut fleet-wide PromQL into bounded shards: series and matcher bytes per shard,
the one escaping helper, the bounded pool that fails a fetch on its first failed shard."""

from __future__ import annotations

import re
import threading
import time
from urllib.parse import quote

import pytest
from pydantic import ValidationError

from config.settings import PROMETHEUS_MIN_SERIES_PER_QUERY, Settings, get_settings
from pipelines.resources import TelemetryResource
from telemetry.prometheus_http import PrometheusError
from telemetry.promql import (
    MetricNames,
    duration_seconds,
    edge_fan_out_query,
    label_matcher,
    regex_alternative,
    service_graph_query,
)
from telemetry.query_shards import (
    MAX_MATCHER_BYTES,
    QUERY_CONCURRENCY,
    matcher_bytes,
    pack_shards,
    run_all,
)
from telemetry.service_graph_sources import PrometheusServiceGraphSource
from telemetry.sli_sources import PrometheusSliSource


def test_shards_hold_at_most_the_series_bound_in_order() -> None:
    ids = [f"svc-{i:03d}" for i in range(25)]
    shards = pack_shards(ids, 12, 50)  # a histogram of 12 bounds: 4 services a shard
    assert [len(s) for s in shards] == [4, 4, 4, 4, 4, 4, 1]
    assert [v for s in shards for v in s] == ids
    assert pack_shards(ids, 1, 50) == [ids]


def test_per_id_weights_and_an_id_over_the_bound_alone() -> None:
    fan_out = {"a": 3, "b": 9, "c": 2, "d": 2}
    assert pack_shards(["a", "b", "c", "d", "e"], fan_out, 5) == [["a"], ["b"], ["c", "d", "e"]]


def test_duplicates_are_asked_for_once() -> None:
    assert pack_shards(["a", "b", "a"], 1, 10) == [["a", "b"]]


def test_a_shard_matcher_stays_within_the_url_budget() -> None:
    ids = [f"{'x' * 40}-{i}" for i in range(20_000)]
    shards = pack_shards(ids, 1, 1_000_000)
    assert len(shards) > 1
    for shard in shards:
        sent = quote(label_matcher("service", shard), safe="")
        assert len(sent) <= MAX_MATCHER_BYTES + len(quote('service=~""', safe=""))
    assert sum(map(matcher_bytes, shards[0])) <= MAX_MATCHER_BYTES


def test_metacharacters_count_as_sent_and_stay_literals() -> None:
    value = 'a.b|c"\\d'
    alternative = regex_alternative(value)
    assert alternative == 'a\\\\.b\\\\|c\\"\\\\\\\\d'  # RE2-escaped, then string-escaped
    assert matcher_bytes(value) == len(quote(alternative, safe="")) + 3
    # What the regex engine sees once the string literal is unquoted matches only the value.
    regex = alternative.replace('\\"', '"').replace("\\\\", "\\")
    assert re.fullmatch(regex, value) and not re.fullmatch(regex, "aXb|c")


def test_service_graph_queries_restricted_to_clients() -> None:
    names = MetricNames()
    assert service_graph_query(names) == (
        "sum by (client, server) (increase(traces_service_graph_request_total[1d]))"
    )
    assert 'client=~"a|b\\\\.c"' in service_graph_query(names, "1d", ["a", "b.c"])
    probe = edge_fan_out_query(names, 90000, ["a"])
    assert probe == (
        "count by (client) (count by (client, server) (count_over_time("
        'traces_service_graph_request_total{client=~"a"}[90000s]) or count_over_time('
        'traces_service_graph_request_failed_total{client=~"a"}[90000s])))'
    )
    assert "failed" not in edge_fan_out_query(names, 60, ["a"], failed=False)


@pytest.mark.parametrize(("text", "seconds"), [("1h", 3600), ("90m", 5400), ("1h30m", 5400),
                                               ("1d", 86400), ("500ms", 0.5)])  # fmt: skip
def test_promql_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "1h junk", "1.5h", "-1h"])
def test_what_is_not_a_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        duration_seconds(text)


def test_run_all_keeps_order_and_bounds_concurrency() -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def task(i: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        return i

    assert run_all([lambda i=i: task(i) for i in range(12)]) == list(range(12))  # type: ignore[misc]
    assert most <= QUERY_CONCURRENCY
    assert run_all([]) == []


def test_a_failed_task_fails_the_whole_and_the_rest_never_start() -> None:
    started: list[int] = []

    def task(i: int) -> int:
        started.append(i)
        if i == 0:
            raise PrometheusError("shard down")
        time.sleep(0.05)
        return i

    with pytest.raises(PrometheusError, match="shard down") as raised:
        run_all([lambda i=i: task(i) for i in range(40)], what="SLI query")  # type: ignore[misc]
    assert "failed SLI query 1 of 40" in raised.value.__notes__[0]
    assert len(started) < 40


def test_the_series_bound_has_a_floor() -> None:
    assert Settings().prometheus_max_series_per_query == 50_000
    with pytest.raises(ValidationError):
        Settings(prometheus_max_series_per_query=PROMETHEUS_MIN_SERIES_PER_QUERY - 1)


def test_the_pipelines_sources_carry_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dagster's resource builds its sources from the settings: the daily run is sharded."""
    monkeypatch.setenv("SLO_PROMETHEUS_MAX_SERIES_PER_QUERY", "2000")
    get_settings.cache_clear()
    try:
        telemetry = TelemetryResource(source="prometheus")
        sli, graph = telemetry.sli_source(), telemetry.service_graph_source()
        assert isinstance(sli, PrometheusSliSource) and sli.max_series_per_query == 2000
        assert isinstance(graph, PrometheusServiceGraphSource)
        assert graph.max_series_per_query == 2000
    finally:
        get_settings.cache_clear()
