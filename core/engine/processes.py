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
