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

With ``--netavark-times`` each tool's netavark is a small timing stand-in
(bench/netavark-timer.c, compiled with ``cc``) that runs the real one, so the
table also shows, per tool, the time inside netavark (setup + teardown) of the
median run and the rest: the part of the run that is the engine's own, and the
floor netavark alone sets for any ratio against podman; beside them, the time
of ``python -c 'import click'`` in husk's interpreter (the least any click CLI
pays), as a share of podman's run.

Usage: bench/network.py [--iterations N] [--runtime crun|runc] [--json] [--netavark-times]
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
        #: the timing stand-in's log (--netavark-times), one "VERB NANOSECONDS" line per call
        self.netavark_log: pathlib.Path | None = None

    def netavark_calls(self) -> list[int]:
        if self.netavark_log is None or not self.netavark_log.exists():
            return []
        return [int(line.split()[1]) for line in self.netavark_log.read_text().splitlines()]

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([*self.argv, *args], capture_output=True, text=True, env=self.env, timeout=120)
        if check and done.returncode != 0:
            raise SystemExit(f"{self.name} {' '.join(args)}: {done.stderr.strip()}")
        return done


def timing_helpers(work: pathlib.Path, name: str) -> tuple[pathlib.Path, pathlib.Path]:
    """A helper directory for one tool: podman's helpers linked, netavark replaced by
    the timing stand-in writing to the tool's own log; (directory, log)."""
    real_dir = pathlib.Path("/usr/lib/podman")
    helpers = work / f"helpers-{name}"
    helpers.mkdir()
    for entry in real_dir.iterdir():
        (helpers / entry.name).symlink_to(entry)
    (helpers / "netavark").unlink()
    log = work / f"netavark-{name}.log"
    subprocess.run(["cc", "-O2", "-o", str(helpers / "netavark"), f'-DREAL="{real_dir / "netavark"}"',
                    f'-DLOG="{log}"', str(REPO / "bench" / "netavark-timer.c")], check=True)
    return helpers, log


def make_tools(work: pathlib.Path, runtime: str, netavark_times: bool = False) -> list[Tool]:
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
    logs = {}
    if netavark_times:
        for name in ("husk", "podman"):
            helpers, logs[name] = timing_helpers(work, name)
            target = conf if name == "podman" else work / "husk-containers.conf"
            with open(target, "a") as handle:
                handle.write(f'[engine]\nhelper_binaries_dir = ["{helpers}"]\n')
        husk.env["CONTAINERS_CONF"] = str(work / "husk-containers.conf")
    podman = Tool("podman", ["podman", "--root", str(work / "podman"), "--runroot", str(work / "podman-run"),
                             "--runtime", runtime], {**os.environ, "CONTAINERS_CONF": str(conf)})
    tar = work / "busybox.tar"
    subprocess.run([sys.executable, str(REPO / "contrib" / "build-busybox-image.py"), "--tar-only", str(tar)],
                   check=True, capture_output=True)
    husk("import", "--change", 'CMD=["sh"]', str(tar), IMAGE)
    podman("import", "--change", 'CMD=["sh"]', str(tar), IMAGE)
    husk.netavark_log, podman.netavark_log = logs.get("husk"), logs.get("podman")
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
    parser.add_argument("--netavark-times", action="store_true",
                        help="time netavark inside each run (a timing stand-in; needs cc)")
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="husk-netbench-"))
    samples: dict[str, dict[str, list[float]]] = {}
    tools: list[Tool] = []
    try:
        tools = make_tools(work, args.runtime, args.netavark_times)
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
                    calls = len(tool.netavark_calls())
                    samples.setdefault(name, {}).setdefault(tool.name, []).append(bench(tool))
                    if tool.name == "husk" and name.endswith("(default network)"):
                        samples.setdefault("  python -c 'import click' (any click CLI's floor)", {}).setdefault(
                            "husk", []).append(timed(lambda: subprocess.run([sys.executable, "-c", "import click"],
                                                                            check=True, env=tool.env)))
                    if tool.netavark_log is not None and name.endswith("(default network)"):
                        inside = sum(tool.netavark_calls()[calls:]) / 1e9
                        samples.setdefault("  of which netavark", {}).setdefault(tool.name, []).append(inside)
                        samples.setdefault("  the rest (run minus netavark)", {}).setdefault(
                            tool.name, []).append(samples[name][tool.name][-1] - inside)
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
    with open("/proc/loadavg") as handle:
        load = " ".join(handle.read().split()[:3])
    if args.json:
        print(json.dumps(medians, indent=2))
        return
    print(f"load {load}")
    print(f"| benchmark ({args.runtime}) | husk | podman | husk/podman |")
    print("|---|---|---|---|")
    run = medians["run --rm busybox true (default network)"]["podman"]
    for name, by_tool in medians.items():
        podman = by_tool.get("podman")
        print(f"| `{name}` | {by_tool['husk'] * 1000:.0f} ms | "
              + (f"{podman * 1000:.0f} ms | {by_tool['husk'] / podman:.2f}x |" if podman else
                 f"- | {by_tool['husk'] / run:.2f}x of podman's default-network run |"))


if __name__ == "__main__":
    main()
