"""`/_ping` while the service is under load (issue 22): measured, printed, every ping answered.

The issue asks that the service answer `/_ping` within 2x the p99 measured
before the load.  This test measures both in the same run (the machine is
shared: idle and loaded must be compared side by side): 200 pings idle, then
pings every 20 ms on new TCP connections while client threads (in a process
of their own) keep the service busy with engine work (lists of many
containers, inspects, creates and removes, detached exec sessions, image
lists, `info`).  A bare asyncio server answering `OK` is pinged in turns with
the service, idle and under the same load: what the machine alone does to a
ping.  It prints p50 and p99 of each, the ratios, the share of a CPU the
service used and /proc/loadavg.  Only "every ping and every request of the
load answered" is asserted: on a shared 2-CPU machine no timing bound holds
(the reference server's own ratio swings from 0.6 to 20 at load 17-20),
which is the project's rule for CI.  CI runs 5 seconds of load; the
measurement docs/reliability.md quotes is

    HUSK_PING_LOAD=30 .venv/bin/pytest -p no:cacheprovider -q -s tests/integration/test_api_ping.py
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import socket
import tempfile
import threading
import time

from husk.testing import ApiService, wait_until
from test_api_fuzz import _connects, _ping  # same directory (rootdir imports)

SECONDS = float(os.environ.get("HUSK_PING_LOAD", "5"))
CLIENTS = 6
CONTAINERS = 40 if "HUSK_PING_LOAD" in os.environ else 10  # created ones, for the lists


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _figures(samples: list[float]) -> str:
    return f"p50 {_quantile(samples, 0.5) * 1000:.1f} ms, p99 {_quantile(samples, 0.99) * 1000:.1f} ms"


def _load(port: int, ids: list[str], worker: int, stop: threading.Event, errors: list[str]) -> None:
    """Requests one after another on a keep-alive connection until `stop`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    turn = 0

    def call(method: str, path: str, body: dict | None = None) -> dict | list | None:
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                     headers={"Content-Type": "application/json"} if body is not None else {})
        response = conn.getresponse()
        data = response.read()
        if response.status >= 500:
            errors.append(f"{method} {path}: {response.status} {data[:200]!r}")
        return json.loads(data) if data and response.getheader("Content-Type", "").startswith("application/json") \
            else None

    try:
        while not stop.is_set():
            turn += 1
            kind = (worker + turn) % 6
            if kind == 0:
                call("GET", "/v1.41/containers/json?all=1")
            elif kind == 1:
                call("GET", f"/v1.41/containers/{ids[turn % len(ids)]}/json")
            elif kind == 2:
                made = call("POST", f"/v1.41/containers/create?name=pl{worker}-{turn}",
                            {"Image": "busybox", "Cmd": ["true"]})
                if isinstance(made, dict) and "Id" in made:
                    call("DELETE", f"/v1.41/containers/{made['Id']}?force=1")
            elif kind == 3:
                made = call("POST", "/v1.41/containers/runner/exec", {"Cmd": ["true"]})
                if isinstance(made, dict) and "Id" in made:
                    call("POST", f"/v1.41/exec/{made['Id']}/start", {"Detach": True})
            elif kind == 4:
                call("GET", "/v1.41/images/json")
            else:
                call("GET", "/v1.41/info")
    finally:
        conn.close()


def _load_process(port: int, ids: list[str], stop) -> None:
    """CLIENTS threads of `_load` in a process of their own (forked): the
    pinging process's interpreter lock is not theirs to hold."""
    errors: list[str] = []
    local = threading.Event()
    workers = [threading.Thread(target=_load, args=(port, ids, n, local, errors), daemon=True)
               for n in range(CLIENTS)]
    for worker in workers:
        worker.start()
    stop.wait()
    local.set()
    for worker in workers:
        worker.join(120)
    if errors or any(worker.is_alive() for worker in workers):
        print("load errors:", errors[:5], flush=True)
        os._exit(1)


def _reference_server(port: int) -> None:
    """A bare asyncio server answering `OK` to anything: what the machine
    itself costs a ping under the same load (run in a forked process)."""
    import asyncio

    class Answer(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            if b"\r\n\r\n" in data:
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK")
                self.transport.close()

    async def main():
        server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", port)
        await server.serve_forever()

    asyncio.run(main())


def _cpu_seconds(pid: int) -> float:
    """The CPU time process `pid` has used (user and system, all threads)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pings(port: int, count: int = 0, seconds: float = 0.0) -> list[float]:
    """`count` pings back to back, or pings every 20 ms for `seconds`."""
    if count:
        return [_ping(port) for _ in range(count)]
    times, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        times.append(_ping(port))
        time.sleep(0.02)
    return times


def test_ping_answers_under_load(husk):
    fork = multiprocessing.get_context("fork")
    husk("run", "-d", "--name", "runner", "busybox", "sleep", "1000000", check=True)
    ids = [husk("create", "busybox", "true", check=True).stdout.strip() for _ in range(CONTAINERS)]
    port, reference_port = _free_port(), _free_port()
    service = ApiService(husk, os.path.join(tempfile.mkdtemp(prefix="hpg-"), "unused"),
                         uri=f"tcp://127.0.0.1:{port}", wait=False)
    reference = fork.Process(target=_reference_server, args=(reference_port,), daemon=True)
    reference.start()
    load, stop = None, fork.Event()
    try:
        assert wait_until(lambda: _connects(port) and _connects(reference_port), timeout=30), "no listener"
        _pings(port, 20), _pings(reference_port, 20)  # warm-up: imports, the store's first reads
        idle, reference_idle = _pings(port, 200), _pings(reference_port, 200)
        load = fork.Process(target=_load_process, args=(port, ids, stop))
        load.start()
        time.sleep(1)  # the load under way
        cpu_before, wall_before = _cpu_seconds(service.process.pid), time.monotonic()
        loaded, reference_loaded = [], []
        for _ in range(4):  # the two in turns, so that both see the same moments of the load
            loaded += _pings(port, seconds=SECONDS / 8)
            reference_loaded += _pings(reference_port, seconds=SECONDS / 8)
        with open("/proc/loadavg") as handle:
            machine = handle.read().split()[0]
        busy = (_cpu_seconds(service.process.pid) - cpu_before) / (time.monotonic() - wall_before)
        stop.set()
        load.join(180)
        print(f"\n/_ping, {CLIENTS} clients of load for {SECONDS:.0f} s, loadavg {machine}, the service busy"
              f" {busy:.0%} of a CPU:"
              f"\n  husk      idle {_figures(idle)}; loaded ({len(loaded)}) {_figures(loaded)};"
              f" p99 ratio {_quantile(loaded, 0.99) / _quantile(idle, 0.99):.2f}"
              f"\n  reference idle {_figures(reference_idle)}; loaded ({len(reference_loaded)})"
              f" {_figures(reference_loaded)}; p99 ratio"
              f" {_quantile(reference_loaded, 0.99) / _quantile(reference_idle, 0.99):.2f}")
        assert load.exitcode == 0, "the load's requests failed (printed above)"
    finally:
        stop.set()
        if load is not None and load.is_alive():
            load.kill()
        reference.kill()
        err = service.stop()
    assert "Traceback" not in err, err

