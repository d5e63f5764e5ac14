"""The monitor's attach clients: loaded when the first one connects (or, for an
exec session, with its pre-connected ``client_fd``), so that a detached
container's monitor that nobody attaches to never holds this code or
``_socket``.  The state stays on the Monitor (``clients``, ``owner``,
``cleaner``, the stdin queue); these functions take it as their first argument.

A client is a SOCK_SEQPACKET connection speaking husk/engine/attach_protocol.py.
Output goes to every client; the ``owner`` (an exec session's client, or the
first client that asked with MSG_PACE: the CLI's run, start -a and attach, the
API's attach) is never dropped when it falls behind: the output is paused for
it instead.  Any other client more than CLIENT_QUEUE_LIMIT behind is dropped.

Stdin is flow-controlled: a client whose input the container has not read
yet is not read either (its writes wait in its socket), so the monitor never
holds more than one packet of input per client.
"""

import _socket as socket
import _struct as struct
import posix as os
import time

from .base import (MAX_DATA, MSG_CLEANUP, MSG_CLOSE_STDIN, MSG_PACE, MSG_RESIZE, MSG_STDIN, MSG_SYNC, SHUT_WR,
                   SYNC_REPLY)

#: a slow attach client is dropped once this much output waits for it
CLIENT_QUEUE_LIMIT = 1 << 20


def add(monitor, fd: int) -> None:
    """Serve the connection ``fd`` (accepted, or an exec's pre-connected end)."""
    conn = socket.socket(fileno=fd)
    conn.setblocking(False)
    monitor.clients[fd] = [conn, [], 0]
    monitor.watch(fd, on_read=lambda: on_message(monitor, fd))


def drop(monitor, fd: int) -> None:
    client = monitor.clients.pop(fd, None)
    if client is None:
        return
    if fd == monitor.owner:
        monitor.owner = -1
        pause_outputs(monitor, False)
    if fd == monitor.cleaner:
        monitor.cleaner = -1
    monitor.stdin_held.discard(fd)
    if fd in monitor.handlers:
        monitor.handlers[fd] = [None, None]
        monitor._sync(fd)
    client[0].close()


def gone(monitor, fd: int) -> None:
    """A client we can no longer write to: what it sent before it went still
    counts (an API exec whose caller reset the connection ends its stdin so),
    then it is dropped."""
    for _ in range(64):
        if fd not in monitor.clients:
            return
        on_message(monitor, fd)
    drop(monitor, fd)


def broadcast(monitor, packet: bytes) -> None:
    for fd in list(monitor.clients):
        send(monitor, fd, packet)


def send(monitor, fd: int, packet: bytes) -> None:
    client = monitor.clients[fd]
    if not client[1]:
        try:
            client[0].send(packet)
            return
        except BlockingIOError:
            pass
        except OSError:
            gone(monitor, fd)
            return
    client[1].append(packet)
    client[2] += len(packet)
    if client[2] > CLIENT_QUEUE_LIMIT and fd == monitor.owner:
        pause_outputs(monitor, True)
        monitor.watch(fd, on_write=lambda: on_writable(monitor, fd))
    elif client[2] > CLIENT_QUEUE_LIMIT:
        drop(monitor, fd)
    else:
        monitor.watch(fd, on_write=lambda: on_writable(monitor, fd))


def pause_outputs(monitor, pause: bool) -> None:
    """Stop (or resume) reading the command's output while the owner catches up."""
    if pause == monitor.outputs_paused:
        return
    monitor.outputs_paused = pause
    for fd in monitor.outputs:
        if pause:
            monitor.unwatch(fd, read=True)
        else:
            monitor.watch(fd, on_read=lambda fd=fd: monitor.on_output(fd))


def on_writable(monitor, fd: int) -> None:
    client = monitor.clients[fd]
    queue = client[1]
    try:
        while queue:
            client[0].send(queue[0])
            client[2] -= len(queue.pop(0))
    except BlockingIOError:
        return
    except OSError:
        gone(monitor, fd)
        return
    monitor.unwatch(fd, write=True)
    if fd == monitor.owner:
        pause_outputs(monitor, False)


def on_message(monitor, fd: int) -> None:
    conn = monitor.clients[fd][0]
    try:
        message = conn.recv(MAX_DATA + 1)
    except BlockingIOError:
        return
    except ConnectionResetError:
        # A client that closed with our output unread: the kernel reports the reset
        # before the packets it sent last (a datagram socket's rule), such as its
        # stdin's end; the error is cleared by this report, the packets follow.
        on_message(monitor, fd)
        return
    except OSError:
        message = b""
    if not message:
        # Clients end stdin with MSG_CLOSE_STDIN; an empty read means they are gone.
        drop(monitor, fd)
        return
    kind, payload = message[0], message[1:]
    if kind == MSG_STDIN and monitor.stdin_fd >= 0 and not monitor.stdin_close_pending:
        monitor.stdin_queue += payload
        flush_stdin(monitor)
    elif kind == MSG_CLOSE_STDIN and monitor.stdin_fd >= 0:
        if monitor.tty:
            monitor.stdin_queue += b"\x04"  # EOF for the line discipline
        else:
            monitor.stdin_close_pending = True
        flush_stdin(monitor)
    elif kind == MSG_PACE and monitor.owner < 0:
        monitor.owner = fd
    elif kind == MSG_CLEANUP and monitor.cleaner < 0:
        monitor.cleaner = fd
    elif kind == MSG_SYNC:
        send(monitor, fd, SYNC_REPLY)
    elif kind == MSG_RESIZE and monitor.pty_master >= 0 and len(payload) == 4:
        import fcntl
        import termios
        rows, cols = struct.unpack("!HH", payload)
        try:
            fcntl.ioctl(monitor.pty_master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        except OSError:
            pass
    if monitor.stdin_queue:
        # Backpressure: the container is not reading its stdin.  Read no more
        # from this client until it does; its writes then block in its socket,
        # and the monitor holds at most one packet per client.
        monitor.stdin_held.add(fd)
        monitor.unwatch(fd, read=True)


def flush_stdin(monitor) -> None:
    try:
        while monitor.stdin_queue:
            written = os.write(monitor.stdin_fd, monitor.stdin_queue)
            del monitor.stdin_queue[:written]
    except BlockingIOError:
        monitor.watch(monitor.stdin_fd, on_write=lambda: flush_stdin(monitor))
        return
    except OSError:  # the container closed its stdin or died
        monitor.stdin_queue.clear()
        monitor.stdin_close_pending = True
    if monitor.stdin_fd in monitor.handlers:
        monitor.unwatch(monitor.stdin_fd, write=True)
    for fd in monitor.stdin_held:
        monitor.watch(fd, on_read=lambda fd=fd: on_message(monitor, fd))
    monitor.stdin_held.clear()
    if monitor.stdin_close_pending and monitor.stdin_fd != monitor.pty_master:
        monitor.forget(monitor.stdin_fd)
        monitor.stdin_fd = -1


def flush_at_exit(monitor, deadline: float) -> object:
    """The exit: every client gets its queued output (until ``deadline``) and is
    dropped, except the one that promised the cleanup, whose connection is
    returned half-closed (None: no such client)."""
    cleaner = None
    for fd, (conn, _, _) in list(monitor.clients.items()):
        # what a client sent and was not read yet: a socket closed on unread
        # data resets its peer, whose last output is then lost
        try:
            while True:
                message = conn.recv(MAX_DATA + 1)
                if not message:
                    break
                if message[0] == MSG_CLEANUP and monitor.cleaner < 0:
                    monitor.cleaner = fd
        except OSError:  # BlockingIOError: all read
            pass
    for fd, (conn, queue, _) in list(monitor.clients.items()):
        try:
            for packet in queue:
                conn.settimeout(max(0.01, deadline - time.monotonic()))
                conn.send(packet)
            if fd == monitor.cleaner:
                conn.shutdown(SHUT_WR)  # the end of the output, as a close is
                cleaner = monitor.clients.pop(fd)[0]
                continue
        except OSError:
            pass
        drop(monitor, fd)
    return cleaner
