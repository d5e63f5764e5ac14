"""A terminal container's console (``tty``): the runtime connects to a console
socket the monitor listens on and sends the pty master over it.  Loaded only
for a monitor whose configuration asks for a terminal; the state (``console``,
``console_holder``, ``pty_master``) stays on the Monitor."""

import _socket as socket
import posix as os
import sys

from .base import SOCK_STREAM, STREAM_STDOUT, accept, listen_unix


def listen(monitor, argv: list) -> None:
    """Listen on the console socket and add it to the runtime's ``argv``."""
    path = monitor.config["attach_socket"] + ".console"
    monitor.console, address, monitor.console_holder = listen_unix(path, SOCK_STREAM)
    monitor.watch(monitor.console, on_read=lambda: on_connect(monitor))
    # the runtime connects from another process: /proc/self would be its own
    argv[-1:-1] = ["--console-socket", address]


def on_connect(monitor) -> None:
    """The runtime sends the pty master over the console socket."""
    try:
        conn = socket.socket(fileno=accept(monitor.console))
    except BlockingIOError:
        return
    try:
        conn.settimeout(10)
        fds = receive_fds(conn, 4)
    except OSError:
        fds = []
    finally:
        conn.close()
    if not fds:
        return
    for extra in fds[1:]:
        os.close(extra)
    monitor.pty_master = fds[0]
    os.set_blocking(monitor.pty_master, False)
    monitor.outputs[monitor.pty_master] = STREAM_STDOUT
    monitor.watch(monitor.pty_master, on_read=lambda: monitor.on_output(monitor.pty_master))
    if monitor.want_stdin:
        monitor.stdin_fd = monitor.pty_master
    close(monitor)


def close(monitor) -> None:
    if monitor.console < 0:
        return
    monitor.forget(monitor.console)
    monitor.console = -1
    for fd in monitor.console_holder:
        os.close(fd)
    monitor.console_holder = []
    try:
        os.unlink(monitor.config["attach_socket"] + ".console")
    except OSError:
        pass


def receive_fds(conn, maxfds: int) -> list:
    """Descriptors passed with SCM_RIGHTS in one message (socket.recv_fds, without socket.py)."""
    _, ancillary, _, _ = conn.recvmsg(1024, socket.CMSG_LEN(maxfds * 4))
    fds = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % 4
            fds += [int.from_bytes(data[i:i + 4], sys.byteorder, signed=True) for i in range(0, usable, 4)]
    return fds
