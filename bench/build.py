#!/usr/bin/env python3
"""Benchmark `build`: husk against podman 4.3 (buildah), in one run.

Each tool has its own private storage under a temporary directory, the same
busybox image (the tar contrib/build-busybox-image.py writes, imported into
each) and the same OCI runtime; RUN containers use the host network in both
(husk's default; `--network host` for podman, whose default would set up a
bridge).  Each iteration, in turns whose order rotates:

  cold    a 10-step Containerfile (4 RUN, 2 COPY, ENV, WORKDIR, LABEL, CMD) with
          ``--no-cache``;
  warm    the same build again with the cache;
  stages  a two-stage build (a builder stage's artifact copied into the
          final stage) with ``--no-cache``.

Medians and the husk/podman ratio are printed (`--json`: as JSON).  Why husk
is faster: COPY writes its layer directly (no container, no mount of the
image), each RUN's container is a plain husk container (no conmon, no image
pulled through containers/image), and a warm step is one JSON file read.

Usage: bench/build.py [--iterations N] [--runtime crun|runc] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HUSK = os.path.join(os.path.dirname(sys.executable), "husk")
IMAGE = "localhost/busybox:latest"

TEN_STEPS = f"""\
FROM {IMAGE}
ENV APP=/app
WORKDIR /app
COPY src/ /app/src/
RUN mkdir -p /app/out && cp -r /app/src /app/out/
RUN echo built > /app/out/stamp
COPY config.txt /etc/app.conf
RUN for i in 1 2 3 4 5; do echo $i >> /app/out/log; done
RUN rm -rf /app/src
CMD ["cat", "/app/out/stamp"]
"""
TWO_STAGES = f"""\
FROM {IMAGE} AS builder
COPY src/ /src/
RUN cat /src/* > /artifact
FROM {IMAGE}
COPY --from=builder /artifact /artifact
CMD ["cat", "/artifact"]
"""


def run(argv: list[str], cwd: str | None = None) -> None:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()[-500:]}")


def timed(argv: list[str]) -> float:
    start = time.monotonic()
    run(argv)
    return time.monotonic() - start


def make_context(directory: str, containerfile: str) -> str:
    os.makedirs(os.path.join(directory, "src"))
    for index in range(20):
        with open(os.path.join(directory, "src", f"file{index}.txt"), "w") as out:
            out.write(f"source file {index}\n" * 200)
    with open(os.path.join(directory, "config.txt"), "w") as out:
        out.write("key=value\n")
    with open(os.path.join(directory, "Containerfile"), "w") as out:
        out.write(containerfile)
    return directory


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--runtime", default="crun", choices=("crun", "runc"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="husk-bench-build-")
    try:
        rootfs = os.path.join(work, "busybox.tar")
        run([sys.executable, os.path.join(REPO, "contrib", "build-busybox-image.py"), "--tar-only", rootfs])
        husk = [HUSK, "--root", f"{work}/husk/root", "--runroot", f"{work}/husk/run", "--runtime", args.runtime]
        podman = ["podman", "--root", f"{work}/podman/root", "--runroot", f"{work}/podman/run",
                  "--storage-driver", "overlay", "--runtime", args.runtime]
        for tool in (husk, podman):
            run([*tool, "import", "--change", 'CMD=["sh"]', rootfs, IMAGE])
        ten = make_context(os.path.join(work, "ten"), TEN_STEPS)
        stages = make_context(os.path.join(work, "stages"), TWO_STAGES)
        builds = {"husk": [*husk, "build", "-q"], "podman": [*podman, "build", "-q", "--network", "host"]}
        for command in builds.values():  # the warm benchmark's cache
            run([*command, "-t", "ten", ten])
        samples: dict[str, dict[str, list[float]]] = {name: {"husk": [], "podman": []}
                                                      for name in ("cold", "warm", "stages")}
        tools = list(builds)
        for iteration in range(args.iterations):
            order = tools[iteration % 2:] + tools[:iteration % 2]
            for tool in order:
                command = builds[tool]
                samples["cold"][tool].append(timed([*command, "--no-cache", ten]))
                samples["warm"][tool].append(timed([*command, "-t", "ten", ten]))
                samples["stages"][tool].append(timed([*command, "--no-cache", stages]))
        report = {}
        for name, by_tool in samples.items():
            husk_median, podman_median = (statistics.median(by_tool[t]) for t in ("husk", "podman"))
            report[name] = {"husk_s": round(husk_median, 3), "podman_s": round(podman_median, 3),
                            "ratio": round(husk_median / podman_median, 2)}
        if args.json:
            print(json.dumps({"runtime": args.runtime, "iterations": args.iterations, "results": report}, indent=2))
        else:
            print(f"build, runtime {args.runtime}, {args.iterations} iterations, medians")
            print(f"{'benchmark':<10} {'husk':>8} {'podman':>8} {'husk/podman':>12}")
            for name, row in report.items():
                print(f"{name:<10} {row['husk_s']:>7.3f}s {row['podman_s']:>7.3f}s {row['ratio']:>12.2f}")
        return 0
    finally:
        for tool in ("husk", "podman"):
            subprocess.run([HUSK if tool == "husk" else "podman", "--root", f"{work}/{tool}/root", "--runroot",
                            f"{work}/{tool}/run", "rm", "-af"], capture_output=True)
        subprocess.run(["umount", "-R", "-l", f"{work}/podman/root/overlay"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
