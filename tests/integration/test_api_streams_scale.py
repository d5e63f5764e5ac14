"""A thousand open event streams cost the service nothing while nothing happens.

Each `GET /events` waits on the event loop (husk.api.watch), not in a worker
thread: with 1,000 of them open, `GET /containers/json` answers within twice
its median with none open, both measured here, and an event still reaches
every stream.  The medians are of 200 lists each, the one without streams
taken before they open and after they close, so the load of a shared machine
weighs on both sides alike.
"""

from __future__ import annotations

import resource
import socket
import statistics
import time

from husk.testing import UnixHTTP

STREAMS = 1000


def _list_seconds(path: str, rounds: int = 200) -> list[float]:
    timings = []
    conn = UnixHTTP(path)
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            conn.request("GET", "/v1.41/containers/json?all=1")
            response = conn.getresponse()
            response.read()
            timings.append(time.perf_counter() - started)
            assert response.status == 200
    finally:
        conn.close()
    return timings


def test_a_thousand_event_streams_leave_the_list_fast(api_crun):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, STREAMS + 1000), hard))
    for n in range(5):
        assert api_crun.request("POST", f"/containers/create?name=c{n}", {"Image": "busybox"})[0] == 201
    _list_seconds(api_crun.socket_path, 20)  # warm up
    alone = _list_seconds(api_crun.socket_path)
    streams = []
    try:
        for _ in range(STREAMS):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(20)
            sock.connect(api_crun.socket_path)
            streams.append(sock)
            sock.sendall(b"GET /v1.41/events HTTP/1.1\r\nHost: husk\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")  # the stream has begun
        crowded = statistics.median(_list_seconds(api_crun.socket_path))
        assert api_crun.request("POST", "/containers/create?name=late", {"Image": "busybox"})[0] == 201
        for sock in streams:  # the event reached every stream
            received = b""
            while b'"late"' not in received:
                chunk = sock.recv(65536)
                assert chunk, "a stream ended"
                received += chunk
    finally:
        for sock in streams:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    # alone again, once the streams are gone: the machine's drift weighs on both sides
    alone = statistics.median(alone + _list_seconds(api_crun.socket_path))
    assert crowded <= 2 * alone, f"list: {crowded * 1000:.2f} ms with {STREAMS} streams, {alone * 1000:.2f} alone"
