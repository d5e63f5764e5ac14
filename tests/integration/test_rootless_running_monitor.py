"""Rootless husk whose pause process died joins a running container's monitor
(husk.engine.rootless._running_monitor), found as the parent of the pid its pid
file names last: a shim backend writes two pids (the init's, then its waiter's,
the monitor's child), and that file was not read (no monitor was found)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from husk.engine.rootless import _running_monitor

#: stands in for a monitor: its command line says `monitor.main()`, it runs in a user
#: namespace of its own, and its child is the process the pid file names
MONITOR = ("import subprocess, sys  # monitor.main()\n"
           "child = subprocess.Popen(['sleep', '1000'])\n"
           "print(child.pid, flush=True)\n"
           "sys.stdin.read()\n"
           "child.kill()\n"
           "child.wait()\n")


@pytest.fixture
def monitor():
    """(the stand-in monitor's pid, its child's pid); both are gone after the test."""
    process = subprocess.Popen(["unshare", "--user", "--map-root-user", sys.executable, "-c", MONITOR],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        child = int(process.stdout.readline())
        yield process.pid, child
    finally:
        process.stdin.close()  # it kills and reaps its child, then exits
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.parametrize("pids", ["{child}\n", "{other}\n{child}\n"], ids=["runtime", "shim"])
def test_the_monitor_is_found_from_either_pid_file(tmp_path, monitor, pids):
    pid, child = monitor
    directory = tmp_path / "containers" / ("c" * 64)
    directory.mkdir(parents=True)
    (directory / "pidfile").write_text(pids.format(child=child, other=os.getpid()))
    assert _running_monitor(str(tmp_path), os.getuid()) == pid
