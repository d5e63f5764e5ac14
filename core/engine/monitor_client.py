"""Starting a container's monitor and reading its report.

The monitor (husk/monitor.py) runs as a plain script in a fresh interpreter:
a forked CLI or API service would hand it descriptors (a caller's stdout pipe,
an LMDB handle) that must not live as long as the container.  It detaches by
forking once more; this side reaps the first process at once, then reads the
one JSON line the monitor writes on the sync pipe when ``create`` is done.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from typing import Any

from ..define import RuntimeFailure
from .oci_runtime import error_for_message

MONITOR_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "monitor.py")
# Import the monitor from its cached bytecode instead of running monitor.py as a
# script: a script is compiled from source on every start, and the compiler's
# garbage stays in the heap (about 1 MiB more per monitor, measured).  The
# directory goes last on sys.path so nothing beside monitor.py shadows the stdlib.
_BOOTSTRAP = "import sys; sys.path.append({!r}); import monitor; monitor.main()"
#: how long ``create`` may take (image on slow disk, many hooks)
SYNC_TIMEOUT = 60.0


def spawn_monitor(config: dict[str, Any], timeout: float = SYNC_TIMEOUT,
                  pass_fds: tuple[int, ...] = ()) -> dict[str, Any]:
    """Start a monitor for ``config`` (the keys monitor.py documents; ``sync_fd``
    is filled in here) and return its report: ``{"pid": <container init>,
    "monitor_pid": <monitor>}``.  ``pass_fds`` are descriptors the monitor
    inherits under the same numbers (an exec's ``client_fd`` and preserved fds).

    :raises CommandNotFound: the runtime says the command does not exist
    :raises CommandCannotInvoke: the runtime was refused permission
    :raises RuntimeFailure: any other failure, with the runtime's own message
    """
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        bootstrap = _BOOTSTRAP.format(os.path.dirname(MONITOR_SCRIPT))
        argv = [sys.executable, "-I", "-S", "-c", bootstrap, json.dumps({**config, "sync_fd": write_end})]
        try:
            first = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, close_fds=True, pass_fds=[write_end, *pass_fds],
                                     start_new_session=True)
        finally:
            os.close(write_end)
        first.wait()
        line = _read_line(read_end, timeout)
    finally:
        os.close(read_end)
    if not line:
        raise RuntimeFailure(f"the monitor of container {config.get('id', '')} exited without reporting")
    report = json.loads(line)
    if "error" in report:
        raise error_for_message(report["error"])
    return report


def _read_line(fd: int, timeout: float) -> bytes:
    """Bytes up to the first newline or EOF; RuntimeFailure past ``timeout``."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise RuntimeFailure(f"the monitor did not report within {timeout:g} s")
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0]
