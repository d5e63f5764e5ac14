#!/usr/bin/env python3
"""Benchmark the API service: `husk system service` against `podman system service`.

Why side by side in one run: the two services are loaded in turns (the order
rotates every round), each on its own unix socket with its own storage, so
drift on a shared machine hits both alike.  For `GET /_ping`,
`GET /containers/json?all=1` with 200 created containers, and
`GET /containers/{id}/json` of one of them, at each concurrency, it reports
requests per second and p50/p99 latency per service, the ratio, and whether
husk meets its target (a ratio of requests per second, at an equal or better p99).

The load generator is bench/apiload.c (compiled into the workdir): one process
per concurrent client, one keep-alive connection each, a few microseconds of
CPU per request, the same binary for both services.

Usage: bench/api.py [--duration S] [--rounds N] [--concurrency 1,4] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import pathlib
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

BENCH = pathlib.Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("husk_bench_run", BENCH / "run.py")
common = sys.modules["husk_bench_run"] = importlib.util.module_from_spec(_spec)  # dataclasses look it up
_spec.loader.exec_module(common)

API = "/v1.41"
CONTAINERS = 200
#: (name, path template, target: husk/podman requests per second)
CASES = (
    ("ping", API + "/_ping", 0.5),
    ("list", API + "/containers/json?all=1", 3.0),
    ("inspect", API + "/containers/{id}/json", 1.0),
)
SERVICES = ("husk", "podman")


class UnixConnection(http.client.HTTPConnection):
    """http.client on a unix socket: for the untimed setup requests only."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=120)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def request(socket_path: str, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
    connection = UnixConnection(socket_path)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        data = response.read()
        try:
            return response.status, json.loads(data) if data else None
        except ValueError:
            return response.status, data
    finally:
        connection.close()


@dataclass
class Service:
    """One API service under test: its CLI engine, socket and process."""

    name: str
    engine: object  # bench/run.py's Engine
    socket_path: str
    process: subprocess.Popen | None = None
    inspect_id: str = ""
    log: object = None  # the service's output file

    def start(self, log_path: pathlib.Path) -> None:
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(
            self.engine.argv("system", "service", "--time", "0", "unix://" + self.socket_path),
            env=self.engine.env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise common.BenchError("%s system service exited %d: %s" % (
                    self.name, self.process.returncode, log_path.read_text().strip()[-2000:]))
            try:
                if request(self.socket_path, "GET", API + "/_ping")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise common.BenchError("%s system service did not answer within 60 s" % self.name)

    def cpu_seconds(self) -> float:
        """User + system CPU of the service process, all its threads."""
        with open("/proc/%d/stat" % self.process.pid) as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log is not None:
            self.log.close()


@dataclass
class Sample:
    """What one case on one service measured, summed over the rounds."""

    latencies_ns: list[int] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0
    reconnects: int = 0
    body_bytes: int = 0
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies_ns) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """Latency in ms at percentile P (nearest rank)."""
        if not self.latencies_ns:
            return float("nan")
        ordered = sorted(self.latencies_ns)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] / 1e6

    def per_request(self, cpu: float) -> float:
        """CPU milliseconds per request."""
        return cpu * 1000 / len(self.latencies_ns) if self.latencies_ns else float("nan")


@dataclass
class Case:
    name: str
    path: str
    concurrency: int
    target: float
    samples: dict[str, Sample] = field(default_factory=lambda: {name: Sample() for name in SERVICES})

    def ratio(self) -> float:
        podman = self.samples["podman"].rps
        return self.samples["husk"].rps / podman if podman else float("nan")

    def p99_ok(self) -> bool:
        return self.samples["husk"].percentile(99) <= self.samples["podman"].percentile(99)

    def verdict(self) -> str:
        return "PASS" if self.ratio() >= self.target and self.p99_ok() else "FAIL"

    def to_json(self) -> dict:
        return {
            "path": self.path, "concurrency": self.concurrency, "target": "husk/podman req/s >= %g, p99 <= podman" % self.target,
            "ratio": self.ratio(), "p99_ok": self.p99_ok(), "verdict": self.verdict(),
            "services": {name: {"rps": s.rps, "p50_ms": s.percentile(50), "p99_ms": s.percentile(99),
                                "requests": len(s.latencies_ns), "seconds": s.seconds, "errors": s.errors,
                                "reconnects": s.reconnects, "body_bytes": s.body_bytes,
                                "server_cpu_ms_per_request": s.per_request(s.server_cpu),
                                "client_cpu_ms_per_request": s.per_request(s.client_cpu)}
                         for name, s in self.samples.items()},
        }


class ApiBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = pathlib.Path(args.workdir)
        runner_args = argparse.Namespace(workdir=str(self.work), husk=args.husk, python=args.python,
                                         podman=args.podman)
        self.engines = common.Bench(runner_args, args.runtime)  # the two CLIs with private storage
        self.services = {
            "husk": Service("husk", self.engines.husk, str(self.work / "husk.sock")),
            "podman": Service("podman", self.engines.podman, str(self.work / "podman.sock")),
        }
        self.load = self.work / "apiload"

    def setup(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        common.execute(["cc", "-O2", "-o", str(self.load), str(BENCH / "apiload.c")], self.engines.env)
        engines = self.engines
        common.execute([sys.executable, str(common.BUILD_IMAGE), "--tar-only", str(engines.rootfs_tar)], engines.env)
        common.execute([self.args.python, str(common.BUILD_IMAGE), *engines.husk_global[:4]], engines.env)
        podman_dir = self.work / "podman"
        podman_dir.mkdir(exist_ok=True)
        (podman_dir / "containers.conf").write_text(common.podman_containers_conf())
        changes = [arg for change in common.IMAGE_CHANGES for arg in ("--change", change)]
        engines.podman.run("import", *changes, str(engines.rootfs_tar), common.IMAGE)
        for service in self.services.values():
            service.start(self.work / (service.name + "-service.log"))
            started = time.perf_counter()
            ids = [self.create(service, n) for n in range(self.args.containers)]
            service.inspect_id = ids[len(ids) // 2]
            common.log("  %s: created %d containers through the API in %.1f s" % (
                service.name, len(ids), time.perf_counter() - started))
            self.check(service)

    def create(self, service: Service, number: int) -> str:
        body = {"Image": common.IMAGE, "Cmd": ["true"], "Labels": {"bench": "api"},
                "HostConfig": {"NetworkMode": "none"}}
        status, answer = request(service.socket_path, "POST", "%s/containers/create?name=bench-api-%d"
                                 % (API, number), body)
        if status != 201:
            raise common.BenchError("%s: create: %d %s" % (service.name, status, answer))
        return answer["Id"]

    def check(self, service: Service) -> None:
        """The timed paths answer what they should before they are timed."""
        status, listed = request(service.socket_path, "GET", API + "/containers/json?all=1")
        if status != 200 or len(listed) != self.args.containers:
            raise common.BenchError("%s: list: %d, %s entries" % (service.name, status, len(listed or ())))
        status, doc = request(service.socket_path, "GET", "%s/containers/%s/json" % (API, service.inspect_id))
        if status != 200 or doc.get("Id") != service.inspect_id:
            raise common.BenchError("%s: inspect: %d" % (service.name, status))

    def teardown(self) -> None:
        for service in self.services.values():
            service.stop()
        self.engines.teardown()

    def measure(self, service: Service, case: Case) -> None:
        path = case.path.format(id=service.inspect_id)
        cpu_before = service.cpu_seconds()
        children_before = os.times()
        clients = [subprocess.Popen([str(self.load), service.socket_path, path, str(self.args.warmup),
                                     str(self.args.duration)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True) for _ in range(case.concurrency)]
        outputs = [client.communicate() for client in clients]
        children_after = os.times()
        sample = case.samples[service.name]
        # CPU of the service over warm-up + measured time, prorated to the measured part
        share = self.args.duration / (self.args.duration + self.args.warmup)
        sample.server_cpu += (service.cpu_seconds() - cpu_before) * share
        sample.client_cpu += ((children_after.children_user - children_before.children_user)
                              + (children_after.children_system - children_before.children_system)) * share
        sample.seconds += self.args.duration
        for client, (out, err) in zip(clients, outputs):
            if client.returncode != 0:
                raise common.BenchError("apiload %s %s: exit %d: %s" % (service.name, path, client.returncode,
                                                                       err.strip()))
            lines = out.split("\n")
            count, errors, reconnects, body_bytes = (int(v) for v in lines[0].split())
            sample.latencies_ns.extend(int(v) for v in lines[1:1 + count])
            sample.errors += errors
            sample.reconnects += reconnects
            sample.body_bytes = body_bytes

    def run(self) -> list[Case]:
        cases = [Case(name, path, concurrency, target) for concurrency in self.args.concurrency
                 for name, path, target in CASES if not self.args.only or name in self.args.only]
        turn = 0
        for round_ in range(self.args.rounds):
            for case in cases:
                order = SERVICES if turn % 2 == 0 else SERVICES[::-1]
                turn += 1
                for name in order:
                    common.log("  round %d: %s c=%d %s" % (round_ + 1, case.name, case.concurrency, name))
                    self.measure(self.services[name], case)
        return cases


def report(args: argparse.Namespace, cases: list[Case], command_line: str, load: tuple[float, float]) -> list[str]:
    lines = [
        "husk API benchmark  %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command: %s" % command_line,
        "husk: %s; podman: %s; runtime %s; %d CPUs; load average %.2f before, %.2f after" % (
            common.version_of([args.husk, "--version"]), common.version_of([args.podman, "--version"]),
            args.runtime, os.cpu_count() or 0, load[0], load[1]),
        "%d containers created (not started) in each; %d round(s) of %g s per case and service after %g s warm-up;"
        " services alternate" % (args.containers, args.rounds, args.duration, args.warmup),
        "",
    ]
    columns = ("case", "c", "husk req/s", "podman req/s", "ratio", "target", "husk p50/p99 ms",
               "podman p50/p99 ms", "cpu ms/req husk/podman", "")
    rows = []
    for case in cases:
        husk, podman = case.samples["husk"], case.samples["podman"]
        rows.append((case.name, str(case.concurrency), "%.0f" % husk.rps, "%.0f" % podman.rps,
                     "%.2fx" % case.ratio(), ">= %gx" % case.target,
                     "%.2f / %.2f" % (husk.percentile(50), husk.percentile(99)),
                     "%.2f / %.2f" % (podman.percentile(50), podman.percentile(99)),
                     "%.2f / %.2f" % (husk.per_request(husk.server_cpu), podman.per_request(podman.server_cpu)),
                     case.verdict() + ("" if case.p99_ok() else " (p99)")))
    widths = [max(len(row[i]) for row in (columns, *rows)) for i in range(len(columns))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in (columns, *rows)]
    lines.insert(6, "  ".join("-" * width for width in widths))
    errors = ["%s c=%d %s: %d non-200 answers, %d reconnects" % (case.name, case.concurrency, name, s.errors,
                                                                   s.reconnects)
              for case in cases for name, s in case.samples.items() if s.errors or s.reconnects]
    client = ["%s c=%d %s %.3f" % (case.name, case.concurrency, name, s.per_request(s.client_cpu))
              for case in cases for name, s in case.samples.items()]
    lines += ["", "load generator CPU ms per request: " + ", ".join(client)] + errors
    return lines


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per case, service and round")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every case (default 3)")
    parser.add_argument("--concurrency", default="1,4", help="comma-separated client counts (default 1,4)")
    parser.add_argument("--only", action="append", choices=[name for name, _, _ in CASES], default=[],
                        help="run only this case (repeatable)")
    parser.add_argument("--containers", type=int, default=CONTAINERS, help="containers created in each service")
    parser.add_argument("--runtime", choices=("crun", "runc"), default="crun")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--workdir", default="/tmp/bench-husk-api", help="private storage; removed at the end")
    parser.add_argument("--husk", default=str(common.REPO / ".venv" / "bin" / "husk"))
    parser.add_argument("--python", default=str(common.REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--podman", default="podman")
    args = parser.parse_args(argv)
    try:
        args.concurrency = [int(n) for n in args.concurrency.split(",")]
    except ValueError:
        parser.error("--concurrency: comma-separated integers")
    if args.duration <= 0 or args.warmup < 0 or args.rounds < 1 or args.containers < 1 or min(args.concurrency) < 1:
        parser.error("--duration, --rounds, --containers and --concurrency must be positive")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, common.stop_on_sigterm)
    command_line = shlex.join([sys.executable, *sys.argv])
    if shutil.which(args.podman) is None:
        common.log("podman is missing: run bench/install-podman.sh first")
        return 2
    workdir = pathlib.Path(args.workdir)
    podman_cache_existed = common.PODMAN_SHARED_DIR.exists()
    common.remove_workdir(workdir)
    bench = ApiBench(args)
    load_before = os.getloadavg()[0]
    try:
        common.log("setting up %s" % workdir)
        bench.setup()
        cases = bench.run()
    except common.BenchError as exc:
        common.log("bench: %s" % exc)
        return 1
    except KeyboardInterrupt:
        common.log("bench: interrupted; cleaned up")
        return 130
    finally:
        bench.teardown()
        common.remove_workdir(workdir)
        if not podman_cache_existed:
            shutil.rmtree(common.PODMAN_SHARED_DIR, ignore_errors=True)
    load = (load_before, os.getloadavg()[0])
    if args.json:
        print(json.dumps({"command": command_line, "load_average": load,
                          "cases": [dict(case.to_json(), name=case.name) for case in cases]}, indent=2))
    else:
        print("\n".join(report(args, cases, command_line, load)))
    return 0 if all(case.verdict() == "PASS" for case in cases) else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
