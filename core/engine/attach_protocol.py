"""The attach socket's protocol, and the client that speaks it.

The monitor serves an AF_UNIX SOCK_SEQPACKET socket; packet boundaries are
kept, so each packet is one message with a one-byte header:

* monitor -> client: stream id (STREAM_STDOUT, STREAM_STDERR) + output bytes;
  a TTY's output is all STREAM_STDOUT.  End of output is end of the socket.
* client -> monitor: MSG_STDIN + bytes, MSG_CLOSE_STDIN (EOF to the
  container), MSG_RESIZE + struct "!HH" (rows, cols), MSG_PACE (pace the
  output to me: the first client that asks is never dropped for lagging
  behind; the container's output waits for it instead, as an exec session's
  caller's does; others are dropped once 1 MiB waits for them).  A client ends stdin
  with MSG_CLOSE_STDIN and never shuts down its writing side: the monitor
  takes an empty read as "client gone".  MSG_CLEANUP (I clean up or remove
  the container once it has exited): the monitor then ends the output with a
  shutdown of its side instead of a close, and waits for this client to hang
  up before it decides whether its exit command has work left.  MSG_SYNC:
  the monitor answers with a packet of no stream (``SYNC_REPLY``) once it has
  handled everything this client sent before (a resize before the start).

Stdin is flow-controlled: while the container does not read its stdin, the
monitor does not read the client that sent it, so the client's sends block
(or, non-blocking, wait for the socket to be writable).  A client that also
reads output must therefore never block on a send: the container may be
waiting for its output to be read before it reads more input.

The monitor (a stdlib-only script) keeps a copy of these constants;
tests/unit/test_attach_protocol.py checks that both agree.
"""

from __future__ import annotations

import _socket  # the C module: socket.py's wrapper builds its enums at import, ~1.2 ms of each attach
import os
import struct
import time
from collections.abc import Iterator

STREAM_STDOUT = 1
STREAM_STDERR = 2
MSG_STDIN = 0
MSG_CLOSE_STDIN = 1
MSG_RESIZE = 2
MSG_PACE = 3
MSG_CLEANUP = 4
MSG_SYNC = 5
#: the monitor's answer to MSG_SYNC (a packet of one byte carries no output: :meth:`AttachClient.recv` skips it)
SYNC_REPLY = b"\x00"
#: largest payload in one packet, either direction
MAX_DATA = 32768

_SOCKADDR_MAX = 107

#: the packet that ends the container's stdin
CLOSE_STDIN_PACKET = bytes([MSG_CLOSE_STDIN])


def stdin_packets(data: bytes) -> list[bytes]:
    """``data`` as MSG_STDIN packets of at most MAX_DATA bytes each."""
    view = memoryview(data)
    return [bytes([MSG_STDIN]) + view[start:start + MAX_DATA] for start in range(0, len(view), MAX_DATA)]


class AttachClient:
    """One connection to a monitor's attach socket."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock

    @classmethod
    def connect(cls, path: str, timeout: float | None = None) -> "AttachClient":
        """Connect to the attach socket at ``path`` (paths past the AF_UNIX
        limit go through /proc/self/fd).  ``timeout`` applies to every later
        receive and send; None blocks."""
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        dirfd = -1
        try:
            address = path
            if len(os.fsencode(path)) > _SOCKADDR_MAX:
                dirfd = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_CLOEXEC)
                address = f"/proc/self/fd/{dirfd}/{os.path.basename(path)}"
            sock.connect(address)
        except BaseException:
            sock.close()
            raise
        finally:
            if dirfd >= 0:
                os.close(dirfd)
        sock.settimeout(timeout)
        return cls(sock)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send_stdin(self, data: bytes) -> None:
        """Send ``data`` to the container's stdin (ignored by a monitor without
        stdin), blocking while the container does not read it."""
        for packet in stdin_packets(data):
            self.sock.send(packet)

    def close_stdin(self) -> None:
        """EOF to the container's stdin, once what was sent before is written."""
        self.sock.send(CLOSE_STDIN_PACKET)

    def send_ready(self, packets: list[bytes]) -> None:
        """Send packets from the front of ``packets`` (removing them) as long
        as the monitor takes them without blocking; what is left waits for the
        socket to be writable.  For a blocking socket (no timeout)."""
        try:
            while packets:
                self.sock.send(packets[0], _socket.MSG_DONTWAIT)
                del packets[0]
        except BlockingIOError:
            pass

    def pace(self) -> None:
        """Ask the monitor to slow the output down to this client's pace
        rather than drop it when it lags (no output is lost to it)."""
        self.sock.send(bytes([MSG_PACE]))

    def promise_cleanup(self) -> None:
        """Tell the monitor that this client cleans up after the exit: it waits
        for this connection to close (keep it open until the cleanup is done)."""
        self.sock.send(bytes([MSG_CLEANUP]))

    def resize(self, rows: int, cols: int) -> None:
        """Set the container's terminal size (TTY containers only)."""
        self.sock.send(bytes([MSG_RESIZE]) + struct.pack("!HH", rows, cols))

    def sync(self, timeout: float) -> None:
        """Wait until the monitor has accepted this connection and handled what
        it sent before (a resize is on the terminal), for at most ``timeout``
        seconds in all (a monitor older than MSG_SYNC never answers).  Output
        that arrives meanwhile is dropped: call it before the start, or on a
        client that wants no output."""
        self.sock.send(bytes([MSG_SYNC]))
        previous = self.sock.gettimeout()
        deadline = time.monotonic() + timeout
        try:
            while True:  # an empty packet: the monitor is gone, as recv reports next
                self.sock.settimeout(max(0.001, deadline - time.monotonic()))
                packet = self.sock.recv(MAX_DATA + 1)
                if not packet or packet == SYNC_REPLY:
                    break
        except (TimeoutError, ConnectionResetError):
            pass
        finally:
            self.sock.settimeout(previous)

    def recv(self) -> tuple[int, bytes] | None:
        """The next (stream, data) of output, or None once the monitor closed the socket."""
        while True:
            try:
                packet = self.sock.recv(MAX_DATA + 1)
            except ConnectionResetError:  # connected while the monitor was closing
                return None
            if not packet:
                return None
            if len(packet) > 1:
                return packet[0], packet[1:]

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        while (message := self.recv()) is not None:
            yield message

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "AttachClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
