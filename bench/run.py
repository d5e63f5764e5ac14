#!/usr/bin/env python3
"""Benchmark husk against podman and the bare OCI runtime on this host.

Why one script that runs all three side by side: timings on a shared machine
drift, so husk, podman and the raw runtime (runc/crun on a prepared bundle) are
timed in the same run, taking turns within every iteration (the order rotates
each iteration), and only medians and their ratios are reported.  Each tool has
its own private storage under --workdir, the same busybox rootfs (the tar that
contrib/build-busybox-image.py writes) and the same OCI runtime.

Benchmarks (``--only NAME``, repeatable):
  run         ``run --rm --network none IMAGE true``; raw: ``RUNTIME run`` of a bundle
  create      N creates in a row, containers per second (raw: not comparable,
              ``RUNTIME create`` spawns a process, husk/podman create do not)
  ps          ``ps -a`` with 200 containers present (created first in each tool)
  rmall       ``rm -a -f`` of 200 created containers and 1 running (re-created
              untimed before every sample); raw and floor: the running one's 10 s
              stop timeout at the bare runtime (kill TERM, wait, kill KILL, delete)
  inspect     ``inspect`` of one running container; raw: ``RUNTIME state``
  exec        ``exec CTR true`` in a running ``sleep 1000``; raw: ``RUNTIME exec``
  restart     ``stop -t 0`` + ``start`` of a running ``sleep 1000``; raw: kill,
              wait for stopped, delete, ``run --detach``
  pause       ``pause`` + ``unpause`` of a running ``sleep 1000``; raw: pause + resume
  restartcmd  ``restart -t 0`` of a running ``sleep 1000``
  wait        latency of ``wait`` after the exit: ``run -d sleep 0.5``, ``wait``
              started at once; from the process's exit (a pidfd here) to ``wait``
              returning
  export      ``export -o FILE`` of a container with 200 MB more in its rootfs,
              MB/s; raw: GNU tar of husk's mounted rootfs
  pss         the monitor's PSS per running container (husk's monitor vs conmon),
              with 10 containers running
  importtime  ``python -X importtime`` of the husk CLI for ``inspect`` and ``ps``
  checkpoint  ``container checkpoint`` + ``container restore`` of a process holding
              100 MB (``--runtime runc`` only); raw and floor: ``runc checkpoint`` +
              ``runc restore --detach`` of the same process in a bare bundle

create, ps, inspect, run, exec, restart and pause also time, once in every
iteration, the floor of any click CLI in husk's interpreter (``python -c 'import
click'``: Python's start-up and click's import, what no change inside husk can
remove) and show it beside podman's figure, so the tables say how far a target
is from reachable; for run, exec, restart and pause the floor adds that
iteration's raw sample (the bare runtime's own work for the verb).

run, exec and restart also time the floor of husk's architecture (issue 20
keeps it: no daemon, click, pluggy, LMDB, one monitor process per container),
once in every iteration: ``python -c 'import click, pluggy, lmdb, msgspec'``
per husk command, one bare ``python -I -S -c pass`` (the interpreter the
monitor runs in) per monitor started, and the bare runtime's calls as an engine
makes them, on a bundle with husk's own seccomp profile (what husk and podman
load too): run, ``create`` + ``start`` + ``delete --force`` once the process
has gone; restart, ``kill KILL`` + ``delete --force`` + ``create`` + ``start``;
exec, the raw sample (``RUNTIME exec``).

Everything it created is removed at the end (``rm -af`` in each tool, then the
workdir).  Child processes run without PYTHONDONTWRITEBYTECODE and after
``compileall`` of husk's sources, so husk starts from cached bytecode as an
installed husk would.

Usage: bench/run.py [--iterations N] [--only NAME] [--runtime crun|runc|both] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import platform
import shlex
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field

REPO = pathlib.Path(__file__).resolve().parent.parent
BUILD_IMAGE = REPO / "contrib" / "build-busybox-image.py"
IMAGE = "localhost/busybox:latest"
IMAGE_CHANGES = ('CMD=["sh"]', "ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
BENCHMARKS = ("run", "create", "ps", "rmall", "inspect", "exec", "restart", "pause", "restartcmd", "wait", "export", "pss",
              "importtime", "checkpoint")
TOOLS = ("husk", "podman", "raw")
PS_CONTAINERS = 200
PSS_CONTAINERS = 10
#: the stop timeout rm -a -f honours for the running container (both engines' default)
RMALL_STOP_TIMEOUT = 10
EXPORT_MB = 200
# podman raises its own RLIMIT_NPROC hard limit to at most 32768 before it starts
# conmon, so a container asking for more fails with EPERM (seen with 4.3.1 here).
PODMAN_NPROC_CEILING = 32768
# podman keeps its blob-info cache here whatever --root says (``podman import``
# writes it); removed at the end when the benchmark was the one to create it.
PODMAN_SHARED_DIR = pathlib.Path("/var/lib/containers")
#: a click CLI's least start-up in husk's interpreter (see the module's docstring)
FLOOR_ARGS = ("-c", "import click")
#: the least start-up of a CLI built as husk's architecture prescribes (click, pluggy, LMDB, msgspec)
ARCH_FLOOR_ARGS = ("-c", "import click, pluggy, lmdb, msgspec")
#: the least start-up of the monitor's interpreter (as it is started: isolated, no site)
MONITOR_FLOOR_ARGS = ("-I", "-S", "-c", "pass")


class BenchError(Exception):
    """A command the benchmark depends on failed; the message says which."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def child_env() -> dict[str, str]:
    """The environment for every timed command: without PYTHONDONTWRITEBYTECODE,
    so husk uses (and writes) cached bytecode like an installed husk does."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def execute(argv: list[str], env: dict[str, str], *, check: bool = True,
            capture: bool = False, detaches: bool = False) -> subprocess.CompletedProcess:
    """Run ARGV; DETACHES means it leaves a process holding its stdio (``RUNTIME
    run --detach``), so no pipe may be given to it: its error text is lost."""
    result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL if detaches else subprocess.PIPE, text=True)
    if check and result.returncode != 0:
        raise BenchError("%s: exit %d: %s" % (shlex.join(argv), result.returncode, (result.stderr or "").strip()))
    return result


def timed(argv: list[str], env: dict[str, str], *, detaches: bool = False) -> float:
    """Wall-clock seconds of one command, which must succeed."""
    started = time.perf_counter()
    execute(argv, env, detaches=detaches)
    return time.perf_counter() - started


@dataclass
class Engine:
    """husk or podman: a CLI taking podman's verbs, with its own storage."""

    name: str
    prefix: list[str]
    env: dict[str, str]

    def argv(self, *args: str) -> list[str]:
        return [*self.prefix, *args]

    def run(self, *args: str, capture: bool = False) -> subprocess.CompletedProcess:
        return execute(self.argv(*args), self.env, capture=capture)

    def time(self, *args: str) -> float:
        return timed(self.argv(*args), self.env)

    def monitor_pid(self, name: str) -> int:
        out = self.run("inspect", "--format", "{{.State.ConmonPid}}", name, capture=True).stdout
        return int(out.strip())

    def remove_all(self) -> None:
        execute(self.argv("rm", "-af", "-t", "0"), self.env, check=False)


@dataclass
class RawRuntime:
    """runc or crun driven directly on one prepared bundle: the floor."""

    binary: str
    state_root: pathlib.Path
    bundle: pathlib.Path
    env: dict[str, str]
    created: set[str] = field(default_factory=set)
    #: the same bundle with husk's seccomp profile (see :meth:`Bench.setup_seccomp_bundle`)
    seccomp_bundle: pathlib.Path | None = None

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", str(self.state_root), *args]

    def run_foreground(self, container_id: str) -> float:
        """``run`` = create, start, wait and delete (the runtime deletes on exit)."""
        return timed(self.argv("run", "--bundle", str(self.bundle), container_id), self.env)

    def run_detached(self, container_id: str) -> float:
        self.created.add(container_id)
        return timed(self.argv("run", "--detach", "--bundle", str(self.bundle), container_id), self.env,
                     detaches=True)

    def state(self, container_id: str) -> dict:
        result = execute(self.argv("state", container_id), self.env, check=False, capture=True)
        return json.loads(result.stdout) if result.returncode == 0 else {}

    def restart(self, container_id: str) -> float:
        """What ``stop -t 0`` + ``start`` costs at the runtime: SIGKILL, wait
        until the runtime reports it stopped, delete, run again detached."""
        started = time.perf_counter()
        execute(self.argv("kill", container_id, "KILL"), self.env)
        while self.state(container_id).get("status") not in ("stopped", None):
            time.sleep(0.001)
        execute(self.argv("delete", container_id), self.env)
        execute(self.argv("run", "--detach", "--bundle", str(self.bundle), container_id), self.env,
                detaches=True)
        return time.perf_counter() - started

    def stop_and_delete(self, container_id: str, timeout: float) -> float:
        """What ``rm -f`` of a running container costs at the runtime: SIGTERM,
        up to TIMEOUT seconds for the process to end (a pidfd: no polling),
        SIGKILL if it has not, delete."""
        started = time.perf_counter()
        pidfd = os.pidfd_open(self.state(container_id)["pid"])
        try:
            execute(self.argv("kill", container_id, "TERM"), self.env)
            if not select.select([pidfd], [], [], timeout)[0]:
                execute(self.argv("kill", container_id, "KILL"), self.env)
                select.select([pidfd], [], [])
        finally:
            os.close(pidfd)
        while self.state(container_id).get("status") not in ("stopped", None):
            time.sleep(0.001)
        execute(self.argv("delete", container_id), self.env)
        self.created.discard(container_id)
        return time.perf_counter() - started

    def create_start(self, container_id: str) -> int:
        """``create`` + ``start`` of the seccomp bundle as an engine runs them
        (two runtime processes); returns the container's pid."""
        pid_file = self.state_root.parent / (container_id + ".pid")
        self.created.add(container_id)
        execute(self.argv("create", "--bundle", str(self.seccomp_bundle), "--pid-file", str(pid_file),
                          container_id), self.env, detaches=True)
        execute(self.argv("start", container_id), self.env)
        pid = int(pid_file.read_text())
        pid_file.unlink()
        return pid

    def delete_after_exit(self, container_id: str, pid: int) -> None:
        """Wait for PID (a pidfd, as a monitor is woken), then ``delete --force``."""
        with contextlib.suppress(ProcessLookupError):
            pidfd = os.pidfd_open(pid)
            try:
                select.select([pidfd], [], [])
            finally:
                os.close(pidfd)
        execute(self.argv("delete", "--force", container_id), self.env)
        self.created.discard(container_id)

    def engine_run(self, container_id: str) -> float:
        """The runtime's share of an engine's ``run --rm``: create, start,
        delete --force once the process has gone."""
        started = time.perf_counter()
        self.delete_after_exit(container_id, self.create_start(container_id))
        return time.perf_counter() - started

    def engine_restart(self, container_id: str, pid: int) -> tuple[float, int]:
        """The runtime's share of an engine's ``stop -t 0`` + ``start`` of the
        running PID: kill KILL, delete --force once it has gone, create, start.
        Returns the seconds and the new pid."""
        started = time.perf_counter()
        execute(self.argv("kill", container_id, "KILL"), self.env)
        self.delete_after_exit(container_id, pid)
        pid = self.create_start(container_id)
        return time.perf_counter() - started, pid

    def remove_all(self) -> None:
        for container_id in sorted(self.created):
            execute(self.argv("delete", "--force", container_id), self.env, check=False)
        self.created.clear()


def set_spec_args(bundle: pathlib.Path, args: list[str]) -> None:
    """ARGS as the process of BUNDLE and of its seccomp twin."""
    for directory in (bundle, bundle.with_name("bundle-seccomp")):
        config_path = directory / "config.json"
        if config_path.exists():
            spec = json.loads(config_path.read_text())
            spec["process"]["args"] = args
            config_path.write_text(json.dumps(spec, indent=2))


@dataclass
class Result:
    """One benchmark's samples per tool, and how its figure is judged."""

    name: str
    description: str
    unit: str
    samples: dict[str, list[float]]
    higher_is_better: bool = False
    target: float | None = None  # on husk/podman, or on husk's absolute value if target_absolute
    target_absolute: bool = False
    notes: list[str] = field(default_factory=list)
    #: the floor (FLOOR_ARGS) in this result's unit, or None when not measured
    floor: float | None = None
    #: the floor of husk's architecture (ARCH_FLOOR_ARGS, the monitor, the runtime's calls), or None
    arch_floor: float | None = None

    def median(self, tool: str) -> float | None:
        values = self.samples.get(tool)
        return statistics.median(values) if values else None

    def ratio(self, tool: str) -> float | None:
        husk, other = self.median("husk"), self.median(tool)
        if husk is None or not other:
            return None
        return husk / other

    def verdict(self) -> str:
        if self.target is None:
            return "-"
        value = self.median("husk") if self.target_absolute else self.ratio("podman")
        if value is None:
            return "n/a"
        ok = value >= self.target if self.higher_is_better else value <= self.target
        return "PASS" if ok else "FAIL"

    def target_text(self) -> str:
        if self.target is None:
            return "-"
        op = ">=" if self.higher_is_better else "<="
        if self.target_absolute:
            return "husk %s %g %s" % (op, self.target, self.unit)
        return "husk/podman %s %g" % (op, self.target)

    def to_json(self) -> dict:
        return {
            "description": self.description, "unit": self.unit, "samples": self.samples,
            "median": {tool: self.median(tool) for tool in TOOLS},
            "ratio": {"husk/podman": self.ratio("podman"), "husk/raw": self.ratio("raw")},
            "higher_is_better": self.higher_is_better, "target": self.target_text(),
            "verdict": self.verdict(), "notes": self.notes, "floor": self.floor,
            "architecture_floor": self.arch_floor,
        }

    def floor_text(self, floor: float | None = None) -> str:
        """A floor (by default the click one) and its ratio to podman (what
        husk/podman could be at best)."""
        floor = self.floor if floor is None else floor
        podman = self.median("podman")
        if floor is None or not podman:
            return ""
        return "%s (%.2fx podman)" % (fmt(floor, self.unit), floor / podman)

    def set_arch_floor(self, imports: list[float], monitors: list[float], runtime: list[float], commands: int,
                       runtime_text: str) -> None:
        """Each iteration's architectural floor: COMMANDS husk start-ups with
        click, pluggy, lmdb and msgspec imported, one monitor interpreter's
        start-up and the bare runtime's calls of that iteration."""
        self.arch_floor = statistics.median(
            imports_s * commands + monitor + calls for imports_s, monitor, calls in zip(imports, monitors, runtime))
        self.notes.append("architecture floor (python -c 'import click, pluggy, lmdb, msgspec' x %d + python -I -S "
                          "-c pass + %s, same turns): %s" % (commands, runtime_text, self.floor_text(self.arch_floor)))

    def set_floor(self, seconds: list[float], commands: int, runtime: str = "") -> None:
        """From floor samples: `commands` husk invocations per sample (a rate: one per item).
        With `runtime` (what the raw samples time), each iteration's floor is its
        `commands` click start-ups plus that iteration's raw sample: the bare
        runtime's own work, which no engine on that runtime can skip."""
        if runtime:
            median = statistics.median(click * commands + raw for click, raw in zip(seconds, self.samples["raw"]))
            self.floor = median
        else:
            median = statistics.median(seconds)
            self.floor = 1 / median if self.unit == "ctr/s" else median * commands
        self.notes.append("floor (python -c 'import click' x %d%s, same turns): %s" % (
            1 if self.unit == "ctr/s" else commands, " + " + runtime if runtime else "", self.floor_text()))


class Bench:
    """Owns the three tools' storage for one runtime and runs the benchmarks."""

    def __init__(self, args: argparse.Namespace, runtime: str) -> None:
        self.args = args
        self.runtime = runtime
        self.work = pathlib.Path(args.workdir)
        self.env = child_env()
        husk_root, husk_runroot = self.work / "husk" / "root", self.work / "husk" / "run"
        self.husk_global = ["--root", str(husk_root), "--runroot", str(husk_runroot), "--runtime", runtime]
        self.husk = Engine("husk", [args.husk, *self.husk_global], self.env)
        podman_dir = self.work / "podman"
        podman_env = dict(self.env, CONTAINERS_CONF=str(podman_dir / "containers.conf"))
        self.podman = Engine("podman", [
            args.podman, "--root", str(podman_dir / "root"), "--runroot", str(podman_dir / "run"),
            "--tmpdir", str(podman_dir / "tmp"), "--runtime", runtime,
            "--cgroup-manager", "cgroupfs", "--events-backend", "file"], podman_env)
        self.raw = RawRuntime(shutil.which(runtime) or runtime, self.work / "raw" / "state",
                              self.work / "raw" / "bundle", self.env)
        self.engines = (self.husk, self.podman)
        self.rootfs_tar = self.work / "busybox.tar"

    # --- setup and teardown -------------------------------------------------

    def setup(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        execute([sys.executable, str(BUILD_IMAGE), "--tar-only", str(self.rootfs_tar)], self.env)
        execute([self.args.python, str(BUILD_IMAGE), *self.husk_global[:4]], self.env)
        podman_dir = self.work / "podman"
        podman_dir.mkdir(exist_ok=True)
        (podman_dir / "containers.conf").write_text(podman_containers_conf())
        changes = [arg for change in IMAGE_CHANGES for arg in ("--change", change)]
        self.podman.run("import", *changes, str(self.rootfs_tar), IMAGE)
        self.setup_raw_bundle()

    def setup_raw_bundle(self) -> None:
        bundle = self.raw.bundle
        (bundle / "rootfs").mkdir(parents=True, exist_ok=True)
        self.raw.state_root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(self.rootfs_tar) as tar:
            # Debian 12's python 3.11.2 predates extraction filters (a trusted tar of our own)
            filters = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
            tar.extractall(bundle / "rootfs", **filters)
        subprocess.run([self.raw.binary, "spec"], cwd=bundle, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        spec = json.loads((bundle / "config.json").read_text())
        spec["process"]["terminal"] = False
        spec["root"] = {"path": "rootfs", "readonly": True}
        (bundle / "config.json").write_text(json.dumps(spec, indent=2))
        self.setup_seccomp_bundle(spec)

    def setup_seccomp_bundle(self, spec: dict) -> None:
        """The raw bundle (same rootfs) with the seccomp profile husk writes
        into its own bundles (taken from an initialised husk container), for
        the architecture floor: the engines load a profile at create too."""
        name = "bench-seccomp-source"
        self.husk.run("create", "--name", name, "--network", "none", IMAGE, "true")
        try:
            self.husk.run("init", name)
            config_path = self.husk.run("inspect", "--format", "{{.OCIConfigPath}}", name, capture=True).stdout.strip()
            seccomp = json.loads(pathlib.Path(config_path).read_text())["linux"].get("seccomp")
        finally:
            self.husk.run("rm", "-f", name)
        bundle = self.raw.bundle.with_name("bundle-seccomp")
        bundle.mkdir(exist_ok=True)
        spec = dict(spec, root={"path": str(self.raw.bundle / "rootfs"), "readonly": True})
        spec["linux"] = dict(spec["linux"], seccomp=seccomp)
        (bundle / "config.json").write_text(json.dumps(spec, indent=2))
        self.raw.seccomp_bundle = bundle

    def teardown(self) -> None:
        for engine in self.engines:
            engine.remove_all()
        self.raw.remove_all()

    # --- helpers ----------------------------------------------------------

    def rotation(self, iteration: int, tools: tuple[str, ...] = TOOLS) -> list[str]:
        shift = iteration % len(tools)
        return list(tools[shift:] + tools[:shift])

    def engine(self, name: str) -> Engine:
        return self.husk if name == "husk" else self.podman

    def floor(self) -> float:
        """One sample of the floor: Python's start-up and click's import."""
        return timed([self.args.python, *FLOOR_ARGS], self.env)

    def arch_floor(self, imports: list[float], monitors: list[float]) -> None:
        """One sample of each of the architecture floor's interpreters: husk's
        CLI imports (ARCH_FLOOR_ARGS) and the monitor's start-up."""
        imports.append(timed([self.args.python, *ARCH_FLOOR_ARGS], self.env))
        monitors.append(timed([self.args.python, *MONITOR_FLOOR_ARGS], self.env))

    # --- benchmarks -------------------------------------------------------

    def bench_run(self) -> Result:
        samples: dict[str, list[float]] = {tool: [] for tool in TOOLS}
        floors, imports, monitors, calls = [], [], [], []
        set_spec_args(self.raw.bundle, ["true"])
        for iteration in range(self.args.iterations):
            for tool in self.rotation(iteration):
                if tool == "raw":
                    samples[tool].append(self.raw.run_foreground("bench-run-%d" % iteration))
                else:
                    samples[tool].append(self.engine(tool).time(
                        "run", "--rm", "--network", "none", IMAGE, "true"))
            floors.append(self.floor())
            self.arch_floor(imports, monitors)
            calls.append(self.raw.engine_run("bench-run-engine-%d" % iteration))
        result = Result("run", "run --rm --network none IMAGE true", "s", samples, target=0.6,
                        notes=["raw: RUNTIME run of a bundle (no seccomp profile, no monitor, no store)"])
        result.set_floor(floors, 1, "RUNTIME run")
        result.set_arch_floor(imports, monitors, calls, 1, "RUNTIME create + start + delete --force (seccomp)")
        return result

    def bench_create(self) -> Result:
        count = self.args.create_count
        samples: dict[str, list[float]] = {"husk": [], "podman": []}
        floors = []
        for iteration in range(self.args.iterations):
            for tool in self.rotation(iteration, ("husk", "podman")):
                engine = self.engine(tool)
                elapsed = sum(engine.time("create", "--network", "none", IMAGE, "true") for _ in range(count))
                samples[tool].append(count / elapsed)
                engine.run("rm", "-a")
            floors.append(self.floor())
        result = Result("create", "create throughput (%d in a row)" % count, "ctr/s", samples,
                        higher_is_better=True, target=1.5,
                        notes=["raw: not comparable (runtime create spawns the container's init)"])
        result.set_floor(floors, 1)
        return result

    def bench_ps(self) -> Result:
        for engine in self.engines:
            started = time.perf_counter()
            for _ in range(PS_CONTAINERS):
                engine.run("create", "--network", "none", IMAGE, "true")
            log("  %s: created %d containers in %.1f s" % (engine.name, PS_CONTAINERS,
                                                           time.perf_counter() - started))
        samples: dict[str, list[float]] = {"husk": [], "podman": []}
        floors = []
        for iteration in range(self.args.iterations):
            for tool in self.rotation(iteration, ("husk", "podman")):
                samples[tool].append(self.engine(tool).time("ps", "-a"))
            floors.append(self.floor())
        for engine in self.engines:
            engine.run("rm", "-a")
        result = Result("ps", "ps -a with %d containers" % PS_CONTAINERS, "s", samples, target=0.5,
                        notes=["raw: not measured (no store of configured containers)"])
        result.set_floor(floors, 1)
        return result

    def bench_rmall(self) -> Result:
        """``rm -a -f`` of PS_CONTAINERS created containers and one running
        ``sleep 1000``, all re-created (untimed) before every sample.

        The running ``sleep`` is PID 1 of its container and ignores SIGTERM, so
        both engines wait its whole stop timeout (10 s) before SIGKILL: that wait,
        timed with the bare runtime in the same turns (raw: SIGTERM, 10 s, SIGKILL,
        delete), is the floor no engine honouring the timeout can go under."""
        set_spec_args(self.raw.bundle, ["sleep", "1000"])
        samples: dict[str, list[float]] = {tool: [] for tool in TOOLS}
        for iteration in range(self.args.iterations):
            for tool in self.rotation(iteration):
                if tool == "raw":
                    name = "bench-rmall-%d" % iteration
                    self.raw.run_detached(name)
                    samples[tool].append(self.raw.stop_and_delete(name, RMALL_STOP_TIMEOUT))
                    continue
                engine = self.engine(tool)
                engine.run("run", "-d", "--network", "none", IMAGE, "sleep", "1000")
                for _ in range(PS_CONTAINERS):
                    engine.run("create", "--network", "none", IMAGE, "true")
                samples[tool].append(engine.time("rm", "-a", "-f"))
        result = Result("rmall", "rm -a -f, %d containers (1 running)" % (PS_CONTAINERS + 1), "s", samples,
                        target=0.5, notes=["raw: RUNTIME kill TERM, the %d s stop timeout (sleep as PID 1 ignores "
                                           "SIGTERM), kill KILL, delete of the running one" % RMALL_STOP_TIMEOUT])
        result.floor = result.median("raw")
        result.notes.append("floor (the running container's stop timeout at the bare runtime, same turns): %s"
                            % result.floor_text())
        return result

    def bench_inspect(self) -> Result:
        set_spec_args(self.raw.bundle, ["sleep", "1000"])
        for engine in self.engines:
            engine.run("run", "-d", "--name", "bench-inspect", "--network", "none", IMAGE, "sleep", "1000")
        self.raw.run_detached("bench-inspect")
        samples: dict[str, list[float]] = {tool: [] for tool in TOOLS}
        floors = []
        for iteration in range(self.args.iterations):
            for tool in self.rotation(iteration):
                if tool == "raw":
                    samples[tool].append(timed(self.raw.argv("state", "bench-inspect"), self.env))
                else:
                    samples[tool].append(self.engine(tool).time("inspect", "bench-inspect"))
            floors.append(self.floor())
        self.teardown()
        result = Result("inspect", "inspect of one running container", "s", samples, target=1.0,
                        notes=["raw: RUNTIME state"])
        result.set_floor(floors, 1)
        return result

    def bench_exec(self) -> Result:
        set_spec_args(self.raw.bundle, ["sleep", "1000"])
        for engine in self.engines:
            engine.run("run", "-d", "--name", "bench-exec", "--network", "none", IMAGE, "sleep", "1000")
        self.raw.run_detached("bench-exec")
        samples: dict[str, list[float]] = {tool: [] for tool in TOOLS}
        floors, imports, monitors = [], [], []
        for iteration in range(self.args.iterations):
            for tool in self.rotation(iteration):
                if tool == "raw":
                    samples[tool].append(timed(self.raw.argv("exec", "bench-exec", "true"), self.env))
                else:
                    samples[tool].append(self.engine(tool).time("exec", "bench-exec", "true"))
            floors.append(self.floor())
            self.arch_floor(imports, monitors)
        self.teardown()
        result = Result("exec", "exec true in a running container", "s", samples, target=0.6,
                        notes=["raw: RUNTIME exec ID true (attached, no monitor)"])
        result.set_floor(floors, 1, "RUNTIME exec")
        result.set_arch_floor(imports, monitors, samples["raw"], 1, "RUNTIME exec")
        return result

    def bench_restart(self) -> Result:
        set_spec_args(self.raw.bundle, ["sleep", "1000"])
        for engine in self.engines:
            engine.run("run", "-d", "--name", "bench-restart", "--network", "none", IMAGE, "sleep", "1000")
        self.raw.run_detached("bench-restart")
        engine_pid = self.raw.create_start("bench-restart-engine")
        samples: dict[str, list[float]] = {tool: [] for tool in TOOLS}
        stops: dict[str, list[float]] = {"husk": [], "podman": []}
        floors, imports, monitors, calls = [], [], [], []
        for iteration in range(self.args.iterations):
            for tool in self.rotation(iteration):
                if tool == "raw":
                    samples[tool].append(self.raw.restart("bench-restart"))
                    continue
                engine = self.engine(tool)
                stop = engine.time("stop", "-t", "0", "bench-restart")
                start = engine.time("start", "bench-restart")
                stops[tool].append(stop)
                samples[tool].append(stop + start)
            floors.append(self.floor())
            self.arch_floor(imports, monitors)
            seconds, engine_pid = self.raw.engine_restart("bench-restart-engine", engine_pid)
            calls.append(seconds)
        self.teardown()
        notes = ["stop -t 0 alone: husk %.3f s, podman %.3f s" % (
            statistics.median(stops["husk"]), statistics.median(stops["podman"])),
            "raw: kill KILL, wait stopped, delete, run --detach"]
        result = Result("restart", "stop -t 0 + start (sleep 1000)", "s", samples, target=0.6, notes=notes)
        result.set_floor(floors, 2, "RUNTIME kill, delete, run --detach")
        result.set_arch_floor(imports, monitors, calls, 2,
                              "RUNTIME kill KILL + delete --force + create + start (seccomp)")
        return result

    def bench_pause(self) -> Result:
        set_spec_args(self.raw.bundle, ["sleep", "1000"])
        for engine in self.engines:
            engine.run("run", "-d", "--name", "bench-pause", "--network", "none", IMAGE, "sleep", "1000")
        self.raw.run_detached("bench-pause")
        samples: dict[str, list[float]] = {tool: [] for tool in TOOLS}
        floors = []
        for iteration in range(self.args.iterations):
            for tool in self.rotation(iteration):
                if tool == "raw":
                    samples[tool].append(timed(self.raw.argv("pause", "bench-pause"), self.env)
                                         + timed(self.raw.argv("resume", "bench-pause"), self.env))
                else:
                    engine = self.engine(tool)
                    samples[tool].append(engine.time("pause", "bench-pause") + engine.time("unpause", "bench-pause"))
            floors.append(self.floor())
        self.teardown()
        result = Result("pause", "pause + unpause (sleep 1000)", "s", samples, target=1.0,
                        notes=["raw: RUNTIME pause + resume"])
        result.set_floor(floors, 2, "RUNTIME pause + resume")
        return result

    def bench_restartcmd(self) -> Result:
        for engine in self.engines:
            engine.run("run", "-d", "--name", "bench-restartcmd", "--network", "none", IMAGE, "sleep", "1000")
        samples: dict[str, list[float]] = {"husk": [], "podman": []}
        for iteration in range(self.args.iterations):
            for tool in self.rotation(iteration, ("husk", "podman")):
                samples[tool].append(self.engine(tool).time("restart", "-t", "0", "bench-restartcmd"))
        self.teardown()
        return Result("restartcmd", "restart -t 0 (sleep 1000)", "s", samples,
                      notes=["raw: see the restart benchmark (stop + start)"])

    def bench_wait(self) -> Result:
        """From the container's exit to `wait` returning: `run -d sleep 0.5`, `wait`
        started at once, the exit seen here through a pidfd on the container's process."""
        samples: dict[str, list[float]] = {"husk": [], "podman": []}
        for iteration in range(self.args.iterations):
            for tool in self.rotation(iteration, ("husk", "podman")):
                engine = self.engine(tool)
                name = "bench-wait-%d" % iteration
                engine.run("run", "-d", "--name", name, "--network", "none", IMAGE, "sleep", "0.5")
                waiter = subprocess.Popen(engine.argv("wait", name), env=engine.env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                pid = int(engine.run("inspect", "--format", "{{.State.Pid}}", name, capture=True).stdout)
                try:
                    pidfd = os.pidfd_open(pid)
                except OSError:  # exited before we looked: this sample cannot be timed
                    waiter.wait()
                else:
                    select.select([pidfd], [], [])
                    exited = time.perf_counter()
                    os.close(pidfd)
                    waiter.wait()
                    samples[tool].append(time.perf_counter() - exited)
                engine.run("rm", "-f", "-t", "0", name)
        self.teardown()
        return Result("wait", "wait latency after the exit (sleep 0.5)", "s", samples,
                      notes=["from the container process's exit (pidfd) to the wait CLI returning"])

    def bench_checkpoint(self) -> Result:
        """checkpoint + restore of a process holding 100 MB (CRIU through the
        runtime: only runc here has CRIU support; both engines use the same criu).
        raw, the floor: ``runc checkpoint`` + ``runc restore --detach`` of the
        same process in the bare bundle (the CRIU work without an engine)."""
        # the shell must outlive sleep: as its last command, busybox sh execs sleep and the 100 MB is gone
        hog = 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); sleep 1000; echo ${#x}'
        for engine in self.engines:
            engine.run("run", "-d", "--name", "bench-ckpt", "--network", "none", IMAGE, "sh", "-c", hog)
        set_spec_args(self.raw.bundle, ["sh", "-c", hog])
        self.raw.run_detached("bench-ckpt")
        images = self.work / "raw" / "checkpoint"
        time.sleep(3)  # the shell has filled its variable
        samples: dict[str, list[float]] = {tool: [] for tool in TOOLS}
        for iteration in range(self.args.iterations):
            for tool in self.rotation(iteration):
                if tool == "raw":
                    shutil.rmtree(images, ignore_errors=True)
                    images.mkdir()
                    where = ["--image-path", str(images), "--work-path", str(images)]
                    samples[tool].append(
                        timed(self.raw.argv("checkpoint", *where, "bench-ckpt"), self.env)
                        + timed(self.raw.argv("restore", "--detach", *where, "--bundle", str(self.raw.bundle),
                                              "bench-ckpt"), self.env, detaches=True))
                    continue
                engine = self.engine(tool)
                samples[tool].append(engine.time("container", "checkpoint", "bench-ckpt")
                                     + engine.time("container", "restore", "bench-ckpt"))
        self.teardown()
        shutil.rmtree(images, ignore_errors=True)
        result = Result("checkpoint", "checkpoint + restore (100 MB resident)", "s", samples, target=0.8,
                        notes=["needs --runtime runc (crun 1.8.1 has no +CRIU); raw: runc checkpoint + "
                               "runc restore --detach of the same process in a bare bundle"])
        result.floor = result.median("raw")
        result.notes.append("floor (the bare runtime's checkpoint + restore, same turns): %s" % result.floor_text())
        return result

    def bench_export(self) -> Result:
        """MB/s of `export -o FILE` of a container whose rootfs holds EXPORT_MB
        more (files of 5 MB and of 25 kB); raw: GNU tar of husk's mounted rootfs."""
        fill = ("i=0; while [ $i -lt %d ]; do head -c 5242880 /dev/urandom > /big$i; i=$((i+1)); done; "
                "mkdir /small; i=0; while [ $i -lt %d ]; do head -c 25600 /dev/urandom > /small/$i; i=$((i+1)); "
                "done" % (EXPORT_MB * 3 // 4 // 5, EXPORT_MB // 4 * 40))
        for engine in self.engines:
            engine.run("run", "--name", "bench-export", "--network", "none", IMAGE, "sh", "-c", fill)
        merged = self.husk.run("mount", "bench-export", capture=True).stdout.strip()
        out = self.work / "export.tar"
        samples: dict[str, list[float]] = {tool: [] for tool in TOOLS}
        for iteration in range(self.args.iterations):
            for tool in self.rotation(iteration):
                if tool == "raw":
                    elapsed = timed(["tar", "--numeric-owner", "--xattrs", "-C", merged, "-cf", str(out), "."],
                                    self.env)
                else:
                    elapsed = self.engine(tool).time("export", "-o", str(out), "bench-export")
                samples[tool].append(out.stat().st_size / 1e6 / elapsed)
                out.unlink()
        self.husk.run("umount", "bench-export")
        self.teardown()
        return Result("export", "export -o FILE of a %d MB rootfs" % EXPORT_MB, "MB/s", samples,
                      higher_is_better=True, notes=["raw: GNU tar -cf of husk's mounted rootfs (page cache warm)"])

    def bench_pss(self) -> Result:
        samples: dict[str, list[float]] = {"husk": [], "podman": []}
        rss: dict[str, float] = {}
        for engine in self.engines:
            names = ["bench-pss-%d" % n for n in range(PSS_CONTAINERS)]
            for name in names:
                engine.run("run", "-d", "--name", name, "--network", "none", IMAGE, "sleep", "1000")
            time.sleep(1.0)
            pids = [engine.monitor_pid(name) for name in names]
            for _ in range(3):
                samples[engine.name].append(sum(smaps_rollup(pid)["Pss"] for pid in pids) / len(pids) / 1024)
                time.sleep(0.2)
            rss[engine.name] = sum(smaps_rollup(pid)["Rss"] for pid in pids) / len(pids) / 1024
            engine.run("rm", "-af", "-t", "0")
        notes = ["%d running per tool; husk: its monitor, podman: conmon; RSS per monitor: husk %.2f MiB, "
                 "podman %.2f MiB" % (PSS_CONTAINERS, rss["husk"], rss["podman"])]
        result = Result("pss", "monitor PSS per running container", "MiB", samples,
                        target=3.0, target_absolute=True, notes=notes)
        result.floor = self.bare_interpreter_pss()
        result.notes.append("floor (as many bare `python -I -S` sleeping, the interpreter husk's monitor "
                            "runs in, measured alike after them): %.2f MiB" % result.floor)
        return result

    def bare_interpreter_pss(self) -> float:
        """PSS per process of PSS_CONTAINERS idle ``python -I -S`` (husk's
        interpreter, as its monitor starts it): what any Python monitor costs."""
        bare = [subprocess.Popen([self.args.python, "-I", "-S", "-c", "import time; time.sleep(1000)"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for _ in range(PSS_CONTAINERS)]
        try:
            time.sleep(1.0)
            return statistics.median(sum(smaps_rollup(p.pid)["Pss"] for p in bare) / len(bare) / 1024
                                     for _ in range(3))
        finally:
            for process in bare:
                process.kill()
                process.wait()

    def run_all(self, only: list[str]) -> list[Result]:
        results = []
        for name in BENCHMARKS:
            if name == "importtime" or (only and name not in only):
                continue
            if name == "checkpoint" and self.runtime != "runc":  # crun 1.8.1 has no +CRIU
                log("[%s] checkpoint skipped: it needs --runtime runc" % self.runtime)
                continue
            log("[%s] %s ..." % (self.runtime, name))
            results.append(getattr(self, "bench_" + name)())
        return results


def smaps_rollup(pid: int) -> dict[str, int]:
    """Fields of /proc/PID/smaps_rollup in KiB."""
    values = {}
    with open("/proc/%d/smaps_rollup" % pid) as rollup:
        for line in rollup:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                values[parts[0].rstrip(":")] = int(parts[1])
    return values


def podman_containers_conf() -> str:
    """podman's default rlimits exceed this host's hard limits (RLIMIT_NOFILE
    20000): clamp them as husk clamps its own, so both containers start."""
    import resource
    nofile = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1048576)
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], PODMAN_NPROC_CEILING)
    return ('[containers]\ndefault_ulimits = ["nofile=%d:%d", "nproc=%d:%d"]\n'
            % (nofile, nofile, nproc, nproc))


# --- import time ------------------------------------------------------------

def import_times(args: argparse.Namespace, husk_global: list[str], verb: list[str],
                 runs: int) -> dict:
    """Median ``-X importtime`` figures over RUNS runs of the husk console script.

    Returns the wall time, the total of top-level imports, and per module the
    median self and cumulative microseconds.
    """
    env = child_env()
    per_module: dict[str, tuple[list[int], list[int]]] = {}
    walls, totals = [], []
    for _ in range(runs):
        argv = [args.python, "-X", "importtime", args.husk, *husk_global, *verb]
        started = time.perf_counter()
        result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        walls.append(time.perf_counter() - started)
        if result.returncode != 0:
            tail = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
            raise BenchError("%s: exit %d: %s" % (shlex.join(argv), result.returncode, " ".join(tail)))
        total = 0
        for line in result.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, cumulative_us, name = line[len("import time:"):].split("|")
            depth = (len(name) - len(name.lstrip())) // 2
            module = name.strip()
            selves, cumulatives = per_module.setdefault(module, ([], []))
            selves.append(int(self_us))
            cumulatives.append(int(cumulative_us))
            if depth == 0:
                total += int(cumulative_us)
        totals.append(total)
    modules = {module: {"self_us": statistics.median(selves), "cumulative_us": statistics.median(cums)}
               for module, (selves, cums) in per_module.items()}
    return {"command": "husk " + " ".join(verb), "wall_s": statistics.median(walls),
            "imports_us": statistics.median(totals), "modules": modules}


def bench_importtime(args: argparse.Namespace, bench: Bench) -> list[dict]:
    bench.husk.run("create", "--name", "bench-importtime", "--network", "none", IMAGE, "true")
    try:
        return [import_times(args, bench.husk_global, verb, args.importtime_runs)
                for verb in (["inspect", "bench-importtime"], ["ps", "-a"])]
    finally:
        bench.husk.run("rm", "-f", "bench-importtime")


def top_imports(report: dict, key: str, count: int = 10) -> list[tuple[str, float]]:
    ranked = sorted(report["modules"].items(), key=lambda item: -item[1][key])
    return [(module, figures[key]) for module, figures in ranked[:count]]


def top_packages(report: dict, count: int = 10) -> list[tuple[str, float]]:
    """Self time summed per top-level package: what a lazy import would save."""
    by_package: dict[str, float] = {}
    for module, figures in report["modules"].items():
        package = module.split(".")[0]
        by_package[package] = by_package.get(package, 0) + figures["self_us"]
    return sorted(by_package.items(), key=lambda item: -item[1])[:count]


# --- output -----------------------------------------------------------------

def version_of(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except OSError as exc:
        return "unavailable (%s)" % exc
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def header(args: argparse.Namespace, command_line: str, compiled: bool) -> list[str]:
    return [
        "husk benchmark  %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command: %s" % command_line,
        "host: %s, %s, %d CPUs, python %s" % (platform.node(), platform.release(), os.cpu_count() or 0,
                                            platform.python_version()),
        "husk: %s (%s)" % (version_of([args.husk, "--version"]), args.husk),
        "podman: %s; conmon: %s" % (version_of([args.podman, "--version"]), version_of(["conmon", "--version"])),
        "runc: %s; crun: %s" % (version_of(["runc", "--version"]), version_of(["crun", "--version"])),
        "env: children run with PYTHONDONTWRITEBYTECODE unset%s; %s" % (
            " (it was set in the caller's environment)" if "PYTHONDONTWRITEBYTECODE" in os.environ else "",
            "python -m compileall -q %s/core %s/hooks ran first" % (REPO, REPO) if compiled
            else "compileall skipped (--no-compile)"),
        "iterations: %d, tools alternate (rotating order) within every iteration; figures are medians"
        % args.iterations,
    ]


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return "%.1f ms" % (value * 1000)
    if unit == "MiB":
        return "%.2f MiB" % value
    return "%.1f %s" % (value, unit)


def table(results_by_runtime: dict[str, list[Result]]) -> list[str]:
    columns = ("runtime", "benchmark", "husk", "podman", "raw", "husk/podman", "husk/raw", "target", "")
    rows = []
    notes = []
    for runtime, results in results_by_runtime.items():
        for result in results:
            ratio_podman, ratio_raw = result.ratio("podman"), result.ratio("raw")
            rows.append((runtime, result.description, fmt(result.median("husk"), result.unit),
                         fmt(result.median("podman"), result.unit), fmt(result.median("raw"), result.unit),
                         "-" if ratio_podman is None else "%.2fx" % ratio_podman,
                         "-" if ratio_raw is None else "%.2fx" % ratio_raw,
                         result.target_text(), result.verdict()))
            notes.extend("[%s] %s: %s" % (runtime, result.name, note) for note in result.notes)
    widths = [max(len(str(row[i])) for row in (columns, *rows)) for i in range(len(columns))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
             for row in (columns, *rows)]
    lines.insert(1, "  ".join("-" * width for width in widths).rstrip())
    return lines + [""] + notes


def readme_table(results_by_runtime: dict[str, list[Result]]) -> list[str]:
    """The table in README.md's format (one per runtime), so the README is
    regenerated from a run rather than edited by hand."""
    lines = []
    for runtime, results in results_by_runtime.items():
        lines += ["| benchmark | husk | podman | bare %s | husk/podman | target |" % runtime,
                  "|---|---|---|---|---|---|"]
        for result in results:
            ratio = result.ratio("podman")
            target = "-"
            if result.target is not None:
                op = ">=" if result.higher_is_better else "<="
                bound = ("%g %s" % (result.target, result.unit) if result.target_absolute
                         else "%gx" % result.target)
                target = "%s %s: %s" % (op, bound, "met" if result.verdict() == "PASS" else "**missed**")
            lines.append("| %s | %s | %s | %s | %s | %s |" % (
                result.description, fmt(result.median("husk"), result.unit),
                fmt(result.median("podman"), result.unit), fmt(result.median("raw"), result.unit),
                "-" if ratio is None else "%.2fx" % ratio, target))
        lines.append("")
        floors = ["%s: %s" % (result.description, result.floor_text()) for result in results if result.floor_text()]
        if floors:
            lines += ["Floor of a click CLI in husk's interpreter (`python -c 'import click'`, timed in the same "
                      "turns, plus the bare runtime's one call where the verb makes one: `run` is one "
                      "`RUNTIME run` of a bundle without seccomp): the best any click CLI could reach:", ""]
            lines += ["- %s" % floor for floor in floors] + [""]
        arch = ["%s: %s" % (result.description, result.floor_text(result.arch_floor))
                for result in results if result.arch_floor is not None]
        if arch:
            lines += ["Floor of husk's architecture (timed in the same turns: `python -c 'import click, pluggy, "
                      "lmdb, msgspec'` per command, one `python -I -S -c pass` for the monitor, the bare "
                      "runtime's calls as an engine makes them, with husk's seccomp profile: run = create + start "
                      "+ delete, stop + start = kill + delete + create + start, exec = `RUNTIME exec`):", ""]
            lines += ["- %s" % floor for floor in arch] + [""]
    return lines


def importtime_lines(reports: list[dict]) -> list[str]:
    lines = []
    for report in reports:
        lines.append("")
        lines.append("python -X importtime: %s  (wall %.1f ms, imports %.1f ms, median of runs)" % (
            report["command"], report["wall_s"] * 1000, report["imports_us"] / 1000))
        lines.append("  top 10 by self time:            top 10 by cumulative time:")
        selves, cumulatives = top_imports(report, "self_us"), top_imports(report, "cumulative_us")
        for (self_module, self_us), (cum_module, cum_us) in zip(selves, cumulatives):
            lines.append("  %7.1f ms  %-20s  %7.1f ms  %s" % (self_us / 1000, self_module, cum_us / 1000, cum_module))
        lines.append("  self time by top-level package: " + ", ".join(
            "%s %.1f ms" % (package, us / 1000) for package, us in top_packages(report)))
    return lines


# --- main -------------------------------------------------------------------

def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=10, help="samples per tool (default 10)")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, default=[],
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--runtime", choices=("crun", "runc", "both"), default="crun",
                        help="OCI runtime for all three tools (default crun); both = every benchmark twice")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--readme", "--table", action="store_true",
                        help="also print the table in README.md's Performance format, with the floors")
    parser.add_argument("--create-count", type=int, default=20, help="creates in a row per sample (default 20)")
    parser.add_argument("--importtime-runs", type=int, default=5, help="runs per importtime figure (default 5)")
    parser.add_argument("--workdir", default="/tmp/bench-husk", help="private storage of all tools; removed at the end")
    parser.add_argument("--husk", default=str(REPO / ".venv" / "bin" / "husk"), help="husk console script")
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"), help="husk's interpreter")
    parser.add_argument("--podman", default="podman")
    parser.add_argument("--no-compile", action="store_true", help="skip compileall of husk's sources")
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.create_count < 1 or args.importtime_runs < 1:
        parser.error("--iterations, --create-count and --importtime-runs must be positive")
    return args


def remove_workdir(workdir: pathlib.Path) -> None:
    """Unmount what is still mounted below WORKDIR (deepest first), then delete it."""
    if not workdir.exists():
        return
    prefix = str(workdir.resolve()) + "/"
    with open("/proc/self/mountinfo") as mountinfo:
        mounts = [line.split()[4] for line in mountinfo]
    for mountpoint in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mountpoint], stderr=subprocess.DEVNULL)
    shutil.rmtree(workdir, ignore_errors=True)


def stop_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM ends the run like ^C: through the finally blocks that clean up."""
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    command_line = shlex.join([sys.executable, *sys.argv])
    workdir = pathlib.Path(args.workdir)
    if not args.no_compile:
        execute([args.python, "-m", "compileall", "-q", str(REPO / "core"), str(REPO / "hooks")], child_env())
    if shutil.which(args.podman) is None:
        log("podman is missing: run bench/install-podman.sh first")
        return 2
    runtimes = ["crun", "runc"] if args.runtime == "both" else [args.runtime]
    results_by_runtime: dict[str, list[Result]] = {}
    imports: list[dict] = []
    podman_cache_existed = PODMAN_SHARED_DIR.exists()
    try:
        for runtime in runtimes:
            remove_workdir(workdir)
            bench = Bench(args, runtime)
            try:
                log("[%s] setting up %s" % (runtime, workdir))
                bench.setup()
                results_by_runtime[runtime] = bench.run_all(args.only)
                if (not args.only or "importtime" in args.only) and not imports:
                    log("[%s] importtime ..." % runtime)
                    imports = bench_importtime(args, bench)
            finally:
                bench.teardown()
    except BenchError as exc:
        log("bench: %s" % exc)
        return 1
    except KeyboardInterrupt:
        log("bench: interrupted; cleaned up")
        return 130
    finally:
        remove_workdir(workdir)
        if not podman_cache_existed:
            shutil.rmtree(PODMAN_SHARED_DIR, ignore_errors=True)
    if args.json:
        print(json.dumps({
            "command": command_line, "header": header(args, command_line, not args.no_compile),
            "results": {runtime: {r.name: r.to_json() for r in results}
                        for runtime, results in results_by_runtime.items()},
            "importtime": imports,
        }, indent=2))
    else:
        print("\n".join(header(args, command_line, not args.no_compile)))
        print()
        print("\n".join(table(results_by_runtime)))
        print("\n".join(importtime_lines(imports)))
        if args.readme:
            print()
            print("\n".join(readme_table(results_by_runtime)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
