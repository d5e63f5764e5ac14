"""lifecycle._release_runtime_container (a failed or abandoned init or restore):
a monitor too slow to write its exit file in time must not write it later, where
it would end the container's next start at once."""

from __future__ import annotations

import contextlib
import os
import signal

from husk.engine import lifecycle
from husk.engine.processes import pid_alive
from husk.testing import wait_until


def test_a_monitor_slower_than_the_wait_leaves_no_exit_file_behind(husk_envs, monkeypatch):
    env = husk_envs("runc")
    env("create", "--name", "slow", "busybox", "sleep", "1000", check=True)
    env("init", "slow", check=True)
    container = env.runtime().container("slow")
    monitor = container.state.monitor_pid
    assert pid_alive(monitor)
    monkeypatch.setattr(lifecycle, "MONITOR_RELEASE_SECONDS", 1.0)
    os.kill(monitor, signal.SIGSTOP)  # as a monitor starved on a loaded host
    try:
        lifecycle._release_runtime_container(container)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(monitor, signal.SIGCONT)
    assert wait_until(lambda: not pid_alive(monitor), timeout=60), "the monitor did not finish"
    assert not os.path.exists(env.runtime().paths.exit_file(container.id))
