"""The one free-port helper, for tests and benchmarks alike (benchmarks/bench_support.py imports
it from here): standard library only, so a benchmark script needs neither pytest nor httpx."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback TCP port nothing listens on right now (the OS picks it; the caller binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
