#!/usr/bin/env python3
"""Benchmark husk's networking against podman's on this host (issue 13).

  run      ``run --rm IMAGE true`` on the default bridge network (and, for
           reference, with ``--network none``): the network setup and teardown
           dominate.
  publish  ``run -d -p 127.0.0.1:PORT:80 IMAGE httpd`` until the first byte of a
           GET through the published port, then ``rm -f`` (untimed).

The tools take turns in every iteration and medians are reported.  Each has
private storage under a temporary directory and the same busybox rootfs.
husk's default network gets a subnet and bridge of its own (10.231.30.0/24,
huskbench0) so that it never shares podman0 and 10.88.0.0/16 with podman's
separate IPAM; podman uses its default network.  Only loopback is contacted.

Usage: bench/network.py [--iterations N] [--runtime crun|runc] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
HUSK = REPO / ".venv" / "bin" / "husk"
IMAGE = "localhost/busybox:latest"
HTTPD = "echo x > /tmp/i; exec httpd -f -p 80 -h /tmp"


class Tool:
    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name, self.argv, self.env = name, argv, env

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([*self.argv, *args], capture_output=True, text=True, env=self.env, timeout=120)
        if check and done.returncode != 0:
            raise SystemExit(f"{self.name} {' '.join(args)}: {done.stderr.strip()}")
        return done


def make_tools(work: pathlib.Path, runtime: str) -> list[Tool]:
    config = work / "husk-config" / "husk"
    config.mkdir(parents=True)
    (config / "husk.conf").write_text('[network]\ndefault_subnet = "10.231.30.0/24"\n'
                                      'default_interface = "huskbench0"\n')
    # bytecode as an installed husk has it: a shell with PYTHONDONTWRITEBYTECODE=1 (these
    # machines') would recompile every module edited since its .pyc, in every process
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    husk = Tool("husk", [str(HUSK), "--root", str(work / "husk"), "--runroot", str(work / "husk-run"),
                         "--runtime", runtime], {**env, "XDG_CONFIG_HOME": str(work / "husk-config"),
                                                 "PYTHONPYCACHEPREFIX": str(work / "pycache")})
    # podman asks for rlimits above this host's hard limits unless told otherwise
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)
    conf = work / "containers.conf"
    conf.write_text(f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n')
    podman = Tool("podman", ["podman", "--root", str(work / "podman"), "--runroot", str(work / "podman-run"),
                             "--runtime", runtime], {**os.environ, "CONTAINERS_CONF": str(conf)})
    tar = work / "busybox.tar"
    subprocess.run([sys.executable, str(REPO / "contrib" / "build-busybox-image.py"), "--tar-only", str(tar)],
                   check=True, capture_output=True)
    husk("import", "--change", 'CMD=["sh"]', str(tar), IMAGE)
    podman("import", "--change", 'CMD=["sh"]', str(tar), IMAGE)
    return [husk, podman]


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def first_byte(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                conn.sendall(b"GET /i HTTP/1.0\r\n\r\n")
                if conn.recv(1):
                    return
        except OSError:
            time.sleep(0.005)
    raise SystemExit(f"nothing served on 127.0.0.1:{port}")


def publish_once(tool: Tool) -> float:
    port = free_port()
    start = time.perf_counter()
    tool("run", "-d", "--name", "bench-web", "-p", f"127.0.0.1:{port}:80", IMAGE, "sh", "-c", HTTPD)
    first_byte(port)
    elapsed = time.perf_counter() - start
    tool("rm", "-f", "-t", "0", "bench-web")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=7)
    parser.add_argument("--runtime", default="crun", choices=("crun", "runc"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="husk-netbench-"))
    samples: dict[str, dict[str, list[float]]] = {}
    tools: list[Tool] = []
    try:
        tools = make_tools(work, args.runtime)
        benchmarks = {
            "run --rm busybox true (default network)": lambda t: timed(lambda: t("run", "--rm", IMAGE, "true")),
            "run --rm --network none busybox true": lambda t: timed(
                lambda: t("run", "--rm", "--network", "none", IMAGE, "true")),
            "run -d -p + first byte through the port": publish_once,
        }
        for _ in range(2):  # warm up: the default network is made, caches filled
            for tool in tools:
                tool("run", "--rm", IMAGE, "true")
        for iteration in range(args.iterations):
            for name, bench in benchmarks.items():
                order = tools if iteration % 2 == 0 else list(reversed(tools))
                for tool in order:
                    samples.setdefault(name, {}).setdefault(tool.name, []).append(bench(tool))
    finally:
        for tool in tools:
            tool("rm", "-af", "-t", "0", check=False)
        with open("/proc/self/mountinfo") as handle:  # podman keeps its storage dir bind-mounted
            mounts = [line.split()[4] for line in handle if line.split()[4].startswith(f"{work}/")]
        for mount in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    medians = {name: {tool: statistics.median(values) for tool, values in by_tool.items()}
               for name, by_tool in samples.items()}
    if args.json:
        print(json.dumps(medians, indent=2))
        return
    print(f"| benchmark ({args.runtime}) | husk | podman | husk/podman |")
    print("|---|---|---|---|")
    for name, by_tool in medians.items():
        print(f"| `{name}` | {by_tool['husk'] * 1000:.0f} ms | {by_tool['podman'] * 1000:.0f} ms | "
              f"{by_tool['husk'] / by_tool['podman']:.2f}x |")


if __name__ == "__main__":
    main()
