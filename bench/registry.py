#!/usr/bin/env python3
"""Benchmark pull and push against a local registry: husk against podman, in one run.

The image: LAYERS layers (default 20) of about SIZE MB each in total (default
200 MB), gzip-compressed, written as an OCI layout and copied into a local
docker-registry (husk.testing.start_registry: TLS, no auth) by skopeo.  Each
iteration, in turns whose order rotates:

  pull   ``pull`` into empty storage (a fresh root each time);
  push   ``push`` of the pulled image back under a new name (a fresh repository
         each time, so every blob is sent).

Medians and the husk/podman ratio are printed, with the load average at the
start and the end (the machine may be shared: compare ratios, not times).  Why husk is faster: layers are
downloaded a few at once and each is unpacked while it streams (one pass:
network -> sha256 -> gunzip -> tar, in 128 KiB pieces so that the layer
threads seldom trade the GIL, no temporary blob file), where podman
4.3 downloads every blob to a temporary file first and applies layers one by
one after; a push sends the stored compressed blobs without recompressing.

Usage: bench/registry.py [--iterations N] [--layers N] [--size MB] [--json]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HUSK = os.path.join(os.path.dirname(sys.executable), "husk")


def make_layout(path: str, layers: int, total_mb: int) -> None:
    """An OCI layout of `layers` layers: files of pseudo-random bytes, each block twice (the
    repeat lies beyond gzip's 32 KiB window, so the blobs are about as large as the tars)."""
    import io
    import random
    import tarfile

    blobs = os.path.join(path, "blobs", "sha256")
    os.makedirs(blobs)
    rng = random.Random(14)
    descriptors, diff_ids = [], []
    per_layer = total_mb * (1 << 20) // layers

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest), "wb") as out:
            out.write(data)
        return "sha256:" + digest

    for index in range(layers):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for file in range(8):
                data = rng.randbytes(per_layer // 16) * 2
                info = tarfile.TarInfo(f"layer{index}/file{file}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        plain = buffer.getvalue()
        diff_ids.append("sha256:" + hashlib.sha256(plain).hexdigest())
        blob = gzip.compress(plain, compresslevel=1)
        descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(blob),
                            "size": len(blob)})
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": put(config), "size": len(config)},
                           "layers": descriptors}).encode()
    digest = put(manifest)
    with open(os.path.join(path, "oci-layout"), "w") as out:
        out.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(path, "index.json"), "w") as out:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                                       "digest": digest, "size": len(manifest),
                                                       "annotations": {"org.opencontainers.image.ref.name": "bench"}}]},
                  out)


def _env() -> dict[str, str]:
    """Children use (and write) cached bytecode, as an installed husk does (see bench/run.py)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _timed(argv: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env=_env())
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {result.stderr.strip()[-500:]}")
    return elapsed


def _loadavg() -> str:
    """The 1-minute load average (/proc/loadavg), printed with the figures."""
    with open("/proc/loadavg") as stream:
        return stream.read().split()[0]


class Tool:
    def __init__(self, name: str, workdir: str, cert_dir: str) -> None:
        self.name, self.workdir, self.cert_dir, self.count = name, workdir, cert_dir, 0

    def fresh(self) -> list[str]:
        """Global flags for an empty store (podman's run root must stay under 50 characters)."""
        self.reset()
        self.count += 1
        self.base = tempfile.mkdtemp(prefix=f"b{self.name[0]}", dir="/tmp")
        if self.name == "husk":
            return [HUSK, "--root", f"{self.base}/root", "--runroot", f"{self.base}/run"]
        return ["podman", "--root", f"{self.base}/root", "--runroot", f"{self.base}/run", "--events-backend", "none"]

    def reset(self) -> None:
        if getattr(self, "base", None):
            if self.name == "podman":
                subprocess.run(["podman", "--root", f"{self.base}/root", "--runroot", f"{self.base}/run",
                                "system", "reset", "--force"], capture_output=True)
            subprocess.run(["umount", "-R", "-l", self.base], capture_output=True)
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--layers", type=int, default=20)
    parser.add_argument("--size", type=int, default=200, help="total MB of the layers, uncompressed")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import compileall

    import husk
    from husk.testing import start_registry

    compileall.compile_dir(os.path.dirname(husk.__file__), quiet=1)

    load_before = _loadavg()
    workdir = tempfile.mkdtemp(prefix="husk-bench-registry-")
    registry = start_registry(os.path.join(workdir, "registry"))
    tools = [Tool("husk", workdir, registry.cert_dir), Tool("podman", workdir, registry.cert_dir)]
    times: dict[str, dict[str, list[float]]] = {t.name: {"pull": [], "push": []} for t in tools}
    try:
        make_layout(os.path.join(workdir, "layout"), args.layers, args.size)
        image = f"{registry.host}/bench:latest"
        subprocess.run(["skopeo", "copy", "-q", "--dest-cert-dir", registry.cert_dir,
                        f"oci:{workdir}/layout:bench", f"docker://{image}"], check=True)
        for iteration in range(args.iterations):
            order = tools if iteration % 2 == 0 else tools[::-1]
            for tool in order:
                flags = tool.fresh()
                times[tool.name]["pull"].append(_timed([*flags, "pull", "-q", "--cert-dir", tool.cert_dir, image]))
                target = f"{registry.host}/pushed-{tool.name}-{iteration}:latest"
                times[tool.name]["push"].append(_timed([*flags, "push", "-q", "--cert-dir", tool.cert_dir, image,
                                                        f"docker://{target}"]))
    finally:
        for tool in tools:
            tool.reset()
        registry.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    load = {"start": load_before, "end": _loadavg()}
    report = {name: {op: statistics.median(values) for op, values in ops.items()} for name, ops in times.items()}
    if args.json:
        print(json.dumps({"times": times, "medians": report, "loadavg": load}, indent=2))
        return 0
    print(f"{args.layers} layers, {args.size} MB uncompressed, {args.iterations} iterations (medians, seconds); "
          f"load average {load['start']} at the start, {load['end']} at the end")
    print(f"{'':6} {'husk':>8} {'podman':>8} {'ratio':>7}")
    for op in ("pull", "push"):
        husk, podman = report["husk"][op], report["podman"][op]
        print(f"{op:6} {husk:8.2f} {podman:8.2f} {husk / podman:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
