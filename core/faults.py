"""Fault points: named places where a test makes husk die or fail on purpose.

``fault("init.mount.after")`` sits before or after each durable step (a mount,
a record write, a runtime container, a network namespace, a monitor, an exit
file, an archive).  With ``HUSK_FAULT=NAME:ACTION`` in the environment
(several joined by commas), a husk process that reaches NAME

- ``kill``: SIGKILLs itself there (a crash, a power cut for this process);
- ``raise``: raises :class:`FaultInjected` (an unexpected bug);
- ``enospc``: raises ``OSError(ENOSPC)`` (a full disk).

The environment is read once, at import; outside tests the table is empty and
a point costs one dictionary lookup.  The variable is inherited: the monitor's
exit command (``husk container cleanup``) is faulted as well, which is a crash
husk must survive as much as the CLI's own.

:data:`POINTS` declares every point, named ``OPERATION.STEP.before|after``.
tests/unit/test_fault_points.py checks that it matches the ``fault(...)`` calls in
the sources (so a new point cannot be left out), and
tests/integration/test_faults.py runs each one through the operation its
first word names, then checks that the next ordinary commands repair
everything (docs/reliability.md).  This module imports nothing of husk, so
every room, and the plugins, may call it.
"""

import os

#: every fault point, by the operation that reaches it (the first word)
POINTS = (
    # create: the container's records
    "create.record.before", "create.record.after",
    # init (run, start, create's first start): mount, network, bundle, monitor, record
    "init.mount.before", "init.mount.after",
    "init.netns.before", "init.netns.after",
    "init.network-setup.after",
    "init.bundle.after",
    "init.monitor.before", "init.monitor.after",
    "init.record.after",
    # start: the runtime's start and the record
    "start.runtime.before", "start.runtime.after", "start.record.after",
    # stop: the stopped-by-user record, the signal, the exit record
    "stop.record.after", "stop.signal.after", "stop.exit-record.after",
    # cleanup: runtime delete, network teardown, unmount, record
    "cleanup.runtime-delete.before", "cleanup.runtime-delete.after",
    "cleanup.network-teardown.after", "cleanup.unmount.after", "cleanup.record.after",
    # remove: the removing record, the files, the records' deletion
    "remove.record.after", "remove.files.after", "remove.records-deleted.after",
    # exec: the session's monitor and record
    "exec.monitor.before", "exec.monitor.after", "exec.record.after",
    # checkpoint and restore (CRIU through runc)
    "checkpoint.dump.before", "checkpoint.pause.after", "checkpoint.dump.after", "checkpoint.record.after",
    "restore.mount.after", "restore.runtime.before", "restore.runtime.after", "restore.record.after",
    # the monitor's exit file (core/monitor/ has its own copy of the lookup)
    "monitor.exit-file.before", "monitor.exit-file.after",
    # images: pull's blobs and record, save's and export's archives
    "pull.blobs.after", "pull.record.before", "pull.record.after",
    "save.archive.before", "save.archive.after",
)

ACTIONS = ("kill", "raise", "enospc")


class FaultInjected(Exception):
    """What ``raise`` raises: an error husk does not expect."""


def _armed(text: str) -> dict[str, str]:
    """``NAME:ACTION[,NAME:ACTION...]`` as a table; malformed entries are ignored."""
    table = {}
    for entry in text.split(","):
        name, _, action = entry.strip().rpartition(":")
        if name and action in ACTIONS:
            table[name] = action
    return table


ARMED = _armed(os.environ.get("HUSK_FAULT", ""))


def fault(name: str) -> None:
    """Die or fail here when the environment armed `name`; otherwise nothing."""
    action = ARMED.get(name)
    if action is not None:
        _fire(name, action)


def _fire(name: str, action: str) -> None:
    if action == "kill":
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    if action == "enospc":
        import errno

        raise OSError(errno.ENOSPC, f"No space left on device (fault {name})")
    raise FaultInjected(f"fault {name}")
