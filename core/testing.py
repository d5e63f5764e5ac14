"""`husk.testing`: a pytest plugin for husk's own tests and for plugin authors.

Installed with husk (entry point `pytest11`), it gives each test its own
storage root and run root (so pytest-xdist workers never share state), the
default busybox image imported there, and a `husk` fixture that runs the real
CLI against them.  Teardown removes every container the test left behind and
unmounts what it mounted, so a failing test does not leak into the next one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

import pytest

HUSK = os.path.join(os.path.dirname(sys.executable), "husk")
BUILDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "contrib",
                       "build-busybox-image.py")
IMAGE = "localhost/busybox:latest"


@dataclass
class HuskEnv:
    """One isolated husk installation: roots, the CLI, and a Python Runtime."""

    root: str
    runroot: str
    runtime_name: str = "crun"
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def global_args(self) -> list[str]:
        return ["--root", self.root, "--runroot", self.runroot, "--runtime", self.runtime_name]

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.extra_env}

    def __call__(self, *args: str, input: bytes | str | None = None, check: bool = False,
                 timeout: float = 60) -> subprocess.CompletedProcess:
        """Run `husk <global flags> args...`; output captured as text."""
        result = subprocess.run([HUSK, *self.global_args, *args], input=input, capture_output=True,
                                text=not isinstance(input, bytes), timeout=timeout, env=self.env())
        if check and result.returncode != 0:
            raise AssertionError(f"husk {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen([HUSK, *self.global_args, *args], env=self.env(), **kwargs)

    def runtime(self):
        from husk.runtime import Runtime

        return Runtime(self.root, self.runroot, self.runtime_name)

    def cleanup(self) -> None:
        """Remove every container and unmount everything under the roots."""
        subprocess.run([HUSK, *self.global_args, "rm", "-af", "-t", "0"], capture_output=True, timeout=120,
                       env=self.env())
        _kill_monitors(self.runroot)
        _unmount_under(self.root)
        _unmount_under(self.runroot)


def _kill_monitors(runroot: str) -> None:
    """Monitors still running for this run root (their argv names it)."""
    marker = runroot.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read()
        except OSError:
            continue
        if b"monitor" in cmdline and marker in cmdline and b"container\0cleanup" not in cmdline:
            try:
                os.kill(int(entry), 9)
            except OSError:
                pass


def _unmount_under(path: str) -> None:
    with open("/proc/self/mountinfo") as handle:
        points = [line.split()[4] for line in handle]
    for point in sorted((p for p in points if p.startswith(path + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory) -> str:
    """The default image's rootfs tar, built once per test process."""
    path = str(tmp_path_factory.mktemp("image") / "busybox.tar")
    subprocess.run([sys.executable, BUILDER, "--tar-only", path], check=True, capture_output=True)
    return path


def make_env(busybox_tar: str, runtime_name: str = "crun") -> HuskEnv:
    """A fresh husk installation with the busybox image imported.  Run roots are
    short paths under /tmp: AF_UNIX socket paths are limited to 108 bytes."""
    base = tempfile.mkdtemp(prefix="husk-")
    env = HuskEnv(root=os.path.join(base, "root"), runroot=os.path.join(base, "run"), runtime_name=runtime_name)
    env("import", "--change", 'CMD=["sh"]', busybox_tar, IMAGE, check=True)
    return env


@pytest.fixture
def husk_envs(busybox_tar):
    """A factory of HuskEnvs: `husk_envs("runc")` makes one more installation
    (another "host"); each is cleaned up after the test."""
    made: list[HuskEnv] = []

    def make(runtime_name: str = "crun") -> HuskEnv:
        made.append(make_env(busybox_tar, runtime_name))
        return made[-1]

    yield make
    for env in made:
        env.cleanup()
        shutil.rmtree(os.path.dirname(env.root), ignore_errors=True)


@pytest.fixture
def husk(husk_envs):
    """A HuskEnv with its own roots (runtime crun), cleaned up after the test."""
    return husk_envs()


@pytest.fixture(params=["runc", "crun"])
def husk_rt(request, husk_envs):
    """Like `husk`, once with runc and once with crun."""
    return husk_envs(request.param)
