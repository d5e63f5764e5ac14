"""Running a container attached to this terminal (`run` without -d, `start -a`).

The container is initialised first, so its monitor's attach socket exists;
we connect, and only then start it, so not a byte of early output is lost.
Output is copied until the monitor closes the socket (the container exited);
stdin, with -i, is copied from a thread and closed on EOF.
"""

from __future__ import annotations

import os
import sys
import threading

from ..attach_protocol import STREAM_STDERR, AttachClient
from ..define import ContainerRemoved, HuskError, NoSuchContainer, State


def run_attached(ctr, attach_stdin: bool, remove: bool | None = None) -> int:
    """Start `ctr` attached; return its exit code.  Removes it afterwards when
    `remove` (default: the container's --rm)."""
    remove = ctr.config.auto_remove if remove is None else remove
    try:
        if ctr.state.state is not State.CREATED:
            ctr.init()
        with ctr.attach() as client:
            _proxy_signals(ctr)
            ctr.start()
            if attach_stdin:
                threading.Thread(target=_copy_stdin, args=(client,), daemon=True).start()
            _copy_output(client)
        code = ctr.wait()
        if not remove:
            _clean_up(ctr)
        return code
    finally:
        if remove:
            try:
                ctr.remove(force=True, timeout=0)
            except (NoSuchContainer, ContainerRemoved):
                pass


def _proxy_signals(ctr) -> None:
    """Forward the signals this CLI gets to the container (podman's --sig-proxy,
    on by default): Ctrl-C or a `kill` of `husk run` reaches the process."""
    import signal

    backend = ctr.runtime.oci_runtime(ctr.config.runtime)

    def forward(number, _frame) -> None:
        try:
            backend.kill(ctr.id, number)
        except HuskError:
            pass  # it has exited meanwhile

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(number, forward)


def _clean_up(ctr) -> None:
    """Clean up now rather than leave it to the monitor's exit command, so the
    state is `exited` (not `stopped`) when `run` returns, whatever a script
    inspects next.  Whoever comes second finds nothing to do."""
    try:
        ctr.cleanup()
    except HuskError:
        pass  # restarted by its policy, or removed meanwhile: nothing to clean


def _copy_output(client: AttachClient) -> None:
    stdout, stderr = sys.stdout.buffer, sys.stderr.buffer
    for stream, data in client:
        out = stderr if stream == STREAM_STDERR else stdout
        out.write(data)
        out.flush()


def _copy_stdin(client: AttachClient) -> None:
    try:
        while data := os.read(0, 32768):
            client.send_stdin(data)
        client.close_stdin()
    except OSError:
        pass  # the container (and so the socket) is gone
