"""A ttrpc client: containerd's small RPC protocol, which shims speak.

A frame is a 10-byte header (payload length and stream id as big-endian
uint32, a type byte: 1 request, 2 response, 3 data; a flags byte) and at most
4 MiB of payload.  A call sends ``Request{service = 1, method = 2, payload = 3,
timeout_nano = 4}`` on a new odd stream id and reads ``Response{status = 1,
payload = 2}``, where ``status`` is a google.rpc.Status ``{code = 1, message = 2}``.

Only ``_socket`` underneath (no ``socket.py``): the waiter imports this.
"""

import _socket

from . import proto

HEADER_SIZE = 10
MAX_PAYLOAD = 4 << 20
TYPE_REQUEST, TYPE_RESPONSE = 1, 2

#: google.rpc codes the shims use, by name (containerd's errdefs map onto them)
NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, UNAVAILABLE = 5, 6, 9, 14


class TtrpcError(Exception):
    """The shim answered a call with an error status (``code``, a google.rpc code)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class ConnectionLost(OSError):
    """The shim's socket closed, or sent something that is not ttrpc."""


def header(length: int, stream_id: int, kind: int, flags: int = 0) -> bytes:
    return length.to_bytes(4, "big") + stream_id.to_bytes(4, "big") + bytes((kind, flags))


def parse_header(data: bytes) -> tuple:
    """(length, stream id, type, flags) of a frame header."""
    return int.from_bytes(data[0:4], "big"), int.from_bytes(data[4:8], "big"), data[8], data[9]


def request(service: str, method: str, payload: bytes, timeout_nano: int = 0) -> bytes:
    return proto.encode([(1, service), (2, method), (3, payload), (4, timeout_nano)])


def response_payload(message: bytes) -> bytes:
    """The payload of a Response, or :class:`TtrpcError` for an error status."""
    fields = proto.decode(message)
    status = proto.decode(proto.first(fields, 1, b""))
    code = proto.first(status, 1)
    if code:
        raise TtrpcError(code, proto.text(status, 2) or "ttrpc error %d" % code)
    return proto.first(fields, 2, b"")


def socket_path(address: str) -> str:
    """The filesystem path of a shim's address (``unix:///run/...``, or a bare path)."""
    path = address.strip()
    if path.startswith("unix://"):
        path = path[len("unix://"):]
    if not path.startswith("/"):
        raise ValueError("not a unix socket address: %r" % address)
    return path


class Client:
    """One connection to a shim; calls are made one at a time."""

    def __init__(self, address: str, timeout: float = 30.0) -> None:
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(socket_path(address))
        except BaseException:
            self.sock.close()
            raise
        self.next_stream = 1

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, service: str, method: str, payload: bytes) -> int:
        """Send a request; returns its stream id (see :meth:`receive`)."""
        stream_id = self.next_stream
        self.next_stream += 2
        body = request(service, method, payload)
        if len(body) > MAX_PAYLOAD:
            raise ValueError("ttrpc request over 4 MiB")
        self.sock.sendall(header(len(body), stream_id, TYPE_REQUEST) + body)
        return stream_id

    def receive(self, stream_id: int) -> bytes:
        """The payload answering ``stream_id`` (frames of other streams are skipped)."""
        while True:
            length, got_stream, kind, _ = parse_header(self._read(HEADER_SIZE))
            if length > MAX_PAYLOAD:
                raise ConnectionLost("ttrpc frame of %d bytes is over 4 MiB" % length)
            body = self._read(length)
            if got_stream == stream_id and kind == TYPE_RESPONSE:
                return response_payload(body)

    def call(self, service: str, method: str, payload: bytes) -> bytes:
        return self.receive(self.send(service, method, payload))

    def _read(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionLost("the shim closed its ttrpc connection")
            data += chunk
        return bytes(data)
