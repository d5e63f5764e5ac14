"""The events side of the shim protocol: what a shim sends to ``$TTRPC_ADDRESS``.

containerd serves ``containerd.services.events.ttrpc.v1.Events/Forward`` at
that address, and a shim forwards every event of its tasks there (created,
started, OOM, exit, ...) as ``ForwardRequest{envelope = 1}``, an
``Envelope{timestamp = 1, namespace = 2, topic = 3, event = 4}`` whose event is
a ``google.protobuf.Any``.  husk runs no containerd: the waiter of a
container's init serves the address itself (a socket in the shim's bundle,
given relative to it: the shim daemon runs there, and an absolute path
would pass the 108 bytes a unix socket's name may take), and answers every
call so the shim never queues and retries.

Only ``_socket`` and the siblings: the waiter imports this.
"""

import _socket
import os

from . import proto, ttrpc

SERVICE = "containerd.services.events.ttrpc.v1.Events"
#: the file name of the socket in the bundle, which is also the address given to the shim
SOCKET = "events"
TOPIC_OOM = "/tasks/oom"
TOPIC_EXIT = "/tasks/exit"
#: google.rpc code for a method this server does not have
UNIMPLEMENTED = 12


class EventServer:
    """A listening socket and its connections; :meth:`on_ready` reads what a
    shim sent and answers it, and returns the events as (topic, fields)."""

    def __init__(self, bundle: str) -> None:
        path = os.path.join(bundle, SOCKET)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        directory = os.open(bundle, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:  # by the directory's descriptor: the bundle's own path may be too long for a socket name
            self.listener.bind("/proc/self/fd/%d/%s" % (directory, SOCKET))
        finally:
            os.close(directory)
        self.listener.listen(8)
        self.listener.setblocking(False)
        self.connections = {}  # fd -> [socket, bytes received and not yet a whole frame]

    def fds(self) -> list:
        return [self.listener.fileno(), *self.connections]

    def on_ready(self, fd: int) -> list:
        """Accept a connection, or read from one and answer its whole requests;
        the events received, as (topic, the event's fields)."""
        if fd == self.listener.fileno():
            try:
                fd, _ = self.listener._accept()  # _socket's accept: a descriptor (socket.py is not imported)
            except OSError:
                return []
            conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, fd)
            os.set_inheritable(fd, False)
            conn.setblocking(False)
            self.connections[conn.fileno()] = [conn, b""]
            return []
        conn, buffered = self.connections[fd]
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return []
        except OSError:
            data = b""
        if not data:
            del self.connections[fd]
            conn.close()
            return []
        buffered += data
        events = []
        while len(buffered) >= ttrpc.HEADER_SIZE:
            length, stream_id, kind, _ = ttrpc.parse_header(buffered)
            if length > ttrpc.MAX_PAYLOAD:  # not ttrpc: drop the connection
                del self.connections[fd]
                conn.close()
                return events
            if len(buffered) < ttrpc.HEADER_SIZE + length:
                break
            body, buffered = buffered[ttrpc.HEADER_SIZE:ttrpc.HEADER_SIZE + length], buffered[ttrpc.HEADER_SIZE + length:]
            if kind == ttrpc.TYPE_REQUEST:
                events += self.answer(conn, stream_id, body)
        self.connections[fd][1] = buffered
        return events

    def answer(self, conn, stream_id: int, body: bytes) -> list:
        """Answer one request (an empty Response for Forward, UNIMPLEMENTED for
        anything else); the event it carried, if any."""
        try:
            request = proto.decode(body)
            method = proto.text(request, 1), proto.text(request, 2)
            if method != (SERVICE, "Forward"):
                reply = [(1, [(1, UNIMPLEMENTED), (2, "husk serves only %s/Forward" % SERVICE)])]
                events = []
            else:
                reply = []
                events = [parse_envelope(proto.first(proto.decode(proto.first(request, 3, b"")), 1, b""))]
        except ValueError:
            return []
        payload = proto.encode(reply)
        try:
            conn.setblocking(True)  # a small answer: the shim reads it at once
            conn.sendall(ttrpc.header(len(payload), stream_id, ttrpc.TYPE_RESPONSE) + payload)
            conn.setblocking(False)
        except OSError:
            pass
        return events

    def close(self) -> None:
        for conn, _ in self.connections.values():
            conn.close()
        self.connections = {}
        self.listener.close()


def parse_envelope(envelope: bytes) -> tuple:
    """(topic, the event's fields) of an Envelope (its event's type URL is not checked:
    the topic says what it is)."""
    fields = proto.decode(envelope)
    event = proto.decode(proto.first(fields, 4, b""))
    return proto.text(fields, 3), proto.decode(proto.first(event, 2, b""))

