"""Health checks: while the container runs, ``health_argv`` (``husk healthcheck
run ID``, which does the check and records it) is started ``health_interval``
seconds after the previous one ended, never two at once.  The monitor only
starts and reaps it; a check still running when the container exits is left
to finish on its own (it may be the one stopping the container).

Loaded only by a monitor whose configuration has a health check."""

import posix as os
import time

from .base import DEVNULL, spawn


def timer(monitor, timeout):
    """Reap the last check, start the next when it is due; the poll timeout
    until then.  Reaped exec monitors (orphans of checks) are forgotten."""
    if monitor.health_pid:
        if monitor.health_pid not in monitor.children:
            return timeout
        monitor.health_pid = 0
        monitor.children = {pid: status for pid, status in monitor.children.items()
                        if pid in (monitor.container_pid, monitor.exit_pid)}
        monitor.health_due = time.monotonic() + monitor.health_interval
    wait = monitor.health_due - time.monotonic()
    if wait <= 0:
        devnull = os.open(DEVNULL, os.O_RDWR | os.O_CLOEXEC)
        try:
            monitor.health_pid = spawn(monitor.health_argv, devnull, devnull, devnull)
        except OSError:
            monitor.health_due = time.monotonic() + monitor.health_interval
        finally:
            os.close(devnull)
        wait = monitor.health_interval
    return wait if timeout is None else min(timeout, wait)
