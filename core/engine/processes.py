"""Processes as /proc shows them: whether one is still alive."""

from __future__ import annotations


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a zombie has exited)."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] not in (b"Z", b"X")


def monitor_of(pid: int) -> int:
    """The pid of the husk monitor that is `pid`'s parent (its subreaper), or 0
    when `pid` has gone or its parent is not a monitor (the monitor was killed)."""
    if pid <= 0:
        return 0
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
        parent = int(stat[stat.rindex(b")") + 2:].split()[1])
        with open(f"/proc/{parent}/cmdline", "rb") as handle:
            cmdline = handle.read()
    except (OSError, ValueError, IndexError):
        return 0
    return parent if b"monitor" in cmdline else 0
