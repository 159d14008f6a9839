"""Fleet-wide queries in bounded shards, against the real backfilled Prometheus: the same frames
as one fleet-wide query, no answer over the series bound, and no answer at all when a shard
fails."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import polars as pl
import pytest
import requests
import requests.adapters
from polars.testing import assert_frame_equal
from support.history import END

from config.settings import Settings
from telemetry.prometheus_http import PrometheusClient, PrometheusError, PrometheusQueryError
from telemetry.promql import MetricNames
from telemetry.service_graph_sources import PrometheusServiceGraphSource
from telemetry.sli_sources import PrometheusSliSource
from telemetry.sources_from_settings import (
    service_graph_source_from_settings,
    sli_source_from_settings,
)

DAY = (END - timedelta(days=2)).date()
START = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)


@dataclass
class Answer:
    path: str
    query: str
    series: int


@dataclass
class Counting(requests.adapters.HTTPAdapter):
    """The client's ordinary HTTP adapter, noting how many series each query's answer held;
    `fail` answers a request it selects with that HTTP status instead of sending it."""

    fail: Callable[[dict[str, str]], bool] | None = None
    status: int = 503
    answers: list[Answer] = field(default_factory=list)
    #: (label, match[] selectors) of each label-index look-up.
    lookups: list[tuple[str, list[str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(max_retries=0)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        params = dict(parse_qsl(url.query))
        if self.fail is not None and self.fail(params):
            refused = requests.Response()
            refused.status_code, refused.request, refused.url = self.status, request, url.geturl()
            refused._content = orjson.dumps({"status": "error", "error": "injected"})
            return refused
        response = super().send(request, **kwargs)
        if url.path.endswith("/values"):
            matches = [v for k, v in parse_qsl(url.query) if k == "match[]"]
            self.lookups.append((url.path.split("/")[-2], matches))
        if url.path.endswith(("/query", "/query_range")):
            result = orjson.loads(response.content)["data"]["result"]
            self.answers.append(Answer(url.path, params["query"], len(result)))
        return response

    def most_series(self) -> int:
        return max(a.series for a in self.answers)

    def requests_for(self, metric: str) -> int:
        return sum(metric in a.query for a in self.answers if a.path.endswith("/query_range"))


def counted(url: str, **kwargs: Any) -> tuple[PrometheusClient, Counting]:
    adapter = Counting(**kwargs)
    return PrometheusClient(url, adapter=adapter, backoff_s=()), adapter


def sorted_frame(frame: pl.DataFrame, *keys: str) -> pl.DataFrame:
    return frame.sort(*keys)


def test_sharded_day_equals_the_fleet_wide_query(prometheus_fleet: Any) -> None:
    names = MetricNames()
    fleet_wide = PrometheusSliSource(PrometheusClient(prometheus_fleet.url), names).fetch_day(DAY)
    services = fleet_wide["service"].n_unique()
    # 24 series an answer: counters of 24 services a request, histograms (12 bounds) of 2.
    client, adapter = counted(prometheus_fleet.url)
    sharded = PrometheusSliSource(client, names, max_series_per_query=24).fetch_day(DAY)
    assert_frame_equal(
        sorted_frame(sharded, "service", "hour"), sorted_frame(fleet_wide, "service", "hour")
    )
    assert adapter.most_series() <= 24
    assert adapter.requests_for("http_requests_total") == 2 * 2  # requests, errors
    assert adapter.requests_for("http_request_duration_seconds_bucket") == -(-services // 2)
    assert adapter.requests_for("container_cpu_cfs_periods_total") == 2


def test_a_generous_bound_sends_the_four_queries_once(prometheus_fleet: Any) -> None:
    client, adapter = counted(prometheus_fleet.url)
    PrometheusSliSource(client, MetricNames(), max_series_per_query=50_000).fetch_day(DAY)
    assert len(adapter.answers) == 4  # plus two label-index look-ups (ids, `le` bounds)
    assert client.calls == 6


def test_sharded_window_of_given_services_equals_one_restricted_query(
    prometheus_fleet: Any,
) -> None:
    names = MetricNames()
    # Ids with regex metacharacters stay literals: none matches a real service by accident.
    asked = [*prometheus_fleet.telemetry.services[:9], "svc.*", "a|b", "(x)", "back\\slash"]
    start = START - timedelta(days=1)
    one = PrometheusSliSource(PrometheusClient(prometheus_fleet.url), names)
    expected = one.fetch_window(start, 2, asked)
    client, adapter = counted(prometheus_fleet.url)
    sharded = PrometheusSliSource(client, names, max_series_per_query=30).fetch_window(
        start, 2, asked
    )
    assert set(expected["service"]) == set(asked[:9])
    assert_frame_equal(
        sorted_frame(sharded, "service", "hour"), sorted_frame(expected, "service", "hour")
    )
    assert adapter.most_series() <= 30
    assert adapter.requests_for("http_request_duration_seconds_bucket") > 1
    # The ids are the caller's; the bucket bounds are those of its services' series only.
    ((label, matches),) = adapter.lookups
    assert label == "le" and matches[0].startswith("http_request_duration_seconds_bucket{service=~")


def test_no_services_asked_for_is_an_empty_frame_without_a_request(
    prometheus_fleet: Any,
) -> None:
    for bound in (None, 24):
        client = PrometheusClient(prometheus_fleet.url)
        frame = PrometheusSliSource(client, MetricNames(), max_series_per_query=bound).fetch_day(
            DAY, []
        )
        assert frame.is_empty() and client.calls == 0


def test_sharded_service_graph_equals_the_fleet_wide_queries(prometheus_fleet: Any) -> None:
    names = MetricNames()
    whole = PrometheusServiceGraphSource(PrometheusClient(prometheus_fleet.url), names)
    hourly, daily = whole.fetch_hourly(START, 1), whole.fetch_day(DAY)
    fan_out = hourly.group_by("client").agg(pl.col("server").n_unique())["server"].max()
    assert isinstance(fan_out, int) and hourly.height > 0 and daily.height > 0
    bound = max(fan_out, 4)  # a client's callees cannot be split across shards
    client, adapter = counted(prometheus_fleet.url)
    sharded = PrometheusServiceGraphSource(client, names, max_series_per_query=bound)
    assert_frame_equal(sharded.fetch_hourly(START, 1), hourly)
    assert_frame_equal(
        sorted_frame(sharded.fetch_day(DAY), "client", "server"),
        sorted_frame(daily, "client", "server"),
    )
    assert adapter.most_series() <= bound
    assert adapter.requests_for("traces_service_graph_request_failed_total") > 1
    # The regeneration's few callers: the same rows as one restricted query.
    callers = sorted(hourly["client"].unique())[:5]
    assert_frame_equal(
        sharded.fetch_hourly(START - timedelta(days=1), 2, callers),
        whole.fetch_hourly(START - timedelta(days=1), 2, callers),
    )


@pytest.mark.parametrize(("status", "error"), [(503, PrometheusError), (400, PrometheusQueryError)])
def test_a_failed_shard_fails_the_day(
    prometheus_fleet: Any, status: int, error: type[Exception]
) -> None:
    last = sorted(prometheus_fleet.telemetry.services)[-1]

    def last_bucket_shard(params: dict[str, str]) -> bool:
        query = params.get("query", "")
        return "_bucket" in query and last in query

    client, _ = counted(prometheus_fleet.url, fail=last_bucket_shard, status=status)
    source = PrometheusSliSource(client, MetricNames(), max_series_per_query=24)
    with pytest.raises(error) as raised:
        source.fetch_day(DAY)
    assert any("the fetch has no answer" in note for note in raised.value.__notes__)
    graph_client, _ = counted(
        prometheus_fleet.url, fail=lambda p: "failed_total" in p.get("query", ""), status=status
    )
    graph = PrometheusServiceGraphSource(graph_client, MetricNames(), max_series_per_query=1000)
    with pytest.raises(error):
        graph.fetch_hourly(START, 1)


def test_sources_from_settings_are_bounded(prometheus_fleet: Any) -> None:
    settings = Settings(
        telemetry="prometheus",
        prometheus_url=prometheus_fleet.url,
        prometheus_max_series_per_query=1000,
    )
    sli = sli_source_from_settings(settings)
    graph = service_graph_source_from_settings(settings, sli)
    assert isinstance(sli, PrometheusSliSource) and sli.max_series_per_query == 1000
    assert isinstance(graph, PrometheusServiceGraphSource)
    assert graph.max_series_per_query == 1000 and graph.client is sli.client
    fleet_wide = PrometheusSliSource(PrometheusClient(prometheus_fleet.url), MetricNames())
    assert_frame_equal(
        sorted_frame(sli.fetch_day(DAY), "service", "hour"),
        sorted_frame(fleet_wide.fetch_day(DAY), "service", "hour"),
    )
