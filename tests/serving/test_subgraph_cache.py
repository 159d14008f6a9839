"""The subgraph answer cache is bounded by the bytes it holds, not by a count of answers."""

from __future__ import annotations

from serving.subgraph_answer_cache import SubgraphCache


def answer(version: str, size: int) -> tuple[str, bytes, bytes]:
    return version, b"n" * size, b"c" * size


def test_bounded_by_bytes_least_recently_used_first() -> None:
    cache = SubgraphCache(max_bytes=100)
    for key in ("a", "b"):
        assert cache.get_or_compute("v1", key, lambda: answer("v1", 40)) == (b"n" * 40, False)
    assert cache.get_or_compute("v1", "a", lambda: answer("v1", 40)) == (b"c" * 40, True)
    cache.get_or_compute("v1", "c", lambda: answer("v1", 40))  # 120 bytes > 100: "b" goes
    assert cache.size_bytes == 80
    assert cache.get_or_compute("v1", "a", lambda: answer("v1", 40))[1] is True
    assert cache.get_or_compute("v1", "b", lambda: answer("v1", 40))[1] is False


def test_an_answer_larger_than_the_cache_is_served_not_kept() -> None:
    cache = SubgraphCache(max_bytes=100)
    body, hit = cache.get_or_compute("v1", "hub", lambda: answer("v1", 500))
    assert (len(body), hit, cache.size_bytes) == (500, False, 0)


def test_filed_under_the_version_the_traversal_read() -> None:
    cache = SubgraphCache(max_bytes=1000)
    # An ingestion committed between the version check and the traversal: the answer is v2's.
    cache.get_or_compute("v1", "a", lambda: answer("v2", 10))
    assert cache.get_or_compute("v2", "a", lambda: answer("v2", 10))[1] is True
    assert cache.get_or_compute("v1", "a", lambda: answer("v1", 10))[1] is False
    assert (cache.hits, cache.misses) == (1, 2)
