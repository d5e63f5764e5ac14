"""The hijacked connection of attach (and exec start): a raw bidirectional byte stream.

A Docker client asks with `Connection: Upgrade` / `Upgrade: tcp`; the answer is
`101 Switching Protocols`, and from then on the socket carries the container's
stdin one way and its output the other.  Without a TTY the output is
multiplexed in 8-byte-header frames (stream id, three zero bytes, big-endian
length); with one it is the raw bytes.

aiohttp has no public hijack.  After the 101 we hand aiohttp a parser through
`request.protocol.set_parser` (the hook its own websocket uses), which gives
us any bytes it had already read past the request, then move the transport to
a protocol of our own: aiohttp's would close the whole connection when the
client half-closes (docker's CLI does, at the end of stdin) and the output
still to come would be lost.  This depends on aiohttp internals: the major
version is pinned and tests/integration/test_api_docker.py exercises it.
"""

from __future__ import annotations

import asyncio
import struct

from aiohttp import web

#: Content types Docker uses for the two shapes of stream.
RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"
STDOUT, STDERR = 1, 2
_INCOMING_HIGH_WATER = 64  # chunks queued from the client before we stop reading
#: seconds between checks that a half-closed client is still there
_HANG_UP_POLL = 1.0
#: longest wait for a client to read the 101 before the stream starts anyway
_HEADERS_READ_TIMEOUT = 1.0


def frame(stream: int, data: bytes) -> bytes:
    """One multiplexed frame: header (stream, 0, 0, 0, length) and payload."""
    return struct.pack(">BxxxL", stream, len(data)) + data


class _TailCollector:
    """A stand-in payload parser: collects what aiohttp read past the request."""

    def __init__(self) -> None:
        self.data = b""

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.data += bytes(data)
        return False, b""

    def feed_eof(self) -> None:
        pass


class RawStream(asyncio.Protocol):
    """The connection after the 101: read the client's bytes, write ours."""

    def __init__(self, response: web.StreamResponse, transport: asyncio.Transport, tail: bytes,
                 replaced: asyncio.Protocol) -> None:
        self.response = response  # what the handler returns to aiohttp
        self.transport = transport
        self._replaced = replaced  # aiohttp's protocol, told when the connection ends
        self._incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._reading_paused = False
        self._can_write = asyncio.Event()
        self._can_write.set()
        self.closed = asyncio.get_running_loop().create_future()
        self._hang_up_check: asyncio.TimerHandle | None = None
        if tail:
            self._incoming.put_nowait(tail)

    # -- asyncio.Protocol ----------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self._incoming.put_nowait(data)
        if self._incoming.qsize() >= _INCOMING_HIGH_WATER and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self._incoming.put_nowait(None)
        self._watch_hang_up()
        return True  # a half-close ends the client's stdin, not our output

    def _watch_hang_up(self) -> None:
        """After the client's half-close, notice when it is gone altogether
        (its process ended) and let the connection go then, not at our next
        write, which a silent container may never make.  The socket says so
        only when asked (no more reads come after an EOF): ask now and then."""
        if self.closed.done():
            return
        if _peer_hung_up(self.transport):
            self.transport.close()  # connection_lost follows
        else:
            self._hang_up_check = asyncio.get_running_loop().call_later(_HANG_UP_POLL, self._watch_hang_up)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._hang_up_check is not None:
            self._hang_up_check.cancel()
        self._incoming.put_nowait(None)
        self._can_write.set()
        if not self.closed.done():
            self.closed.set_result(None)
        # aiohttp's handler of this connection waits for its end too (it
        # would otherwise stay, with its task, until the service stops)
        self._replaced.connection_lost(exc)

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # -- for handlers --------------------------------------------------------------------
    @property
    def is_closed(self) -> bool:
        return self.closed.done()

    async def read(self) -> bytes | None:
        """The client's next bytes; None at its end of input (or disconnection)."""
        data = await self._incoming.get()
        if self._reading_paused and self._incoming.qsize() < _INCOMING_HIGH_WATER // 2:
            self._reading_paused = False
            if not self.transport.is_closing():
                self.transport.resume_reading()
        return data

    async def write(self, data: bytes) -> None:
        """Send `data`, waiting while the client reads slower than we write."""
        await self._can_write.wait()
        if self.is_closed or self.transport.is_closing():
            raise ConnectionResetError("the client went away")
        self.transport.write(data)

    def close(self) -> None:
        """Flush what is queued, then close the connection."""
        if not self.transport.is_closing():
            self.transport.close()


def _peer_hung_up(transport: asyncio.Transport) -> bool:
    """Whether the other end closed both directions (POLLHUP).  A unix socket
    tells a closed peer from a half-closed one this way; TCP does not (a FIN is
    a FIN), so there the connection ends at the next write that fails."""
    import select

    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLHUP)
    return any(events & select.POLLHUP for _, events in poller.poll(0))


class _Unframed(web.StreamResponse):
    """A 200 whose body is the raw connection until it closes: no chunked encoding (aiohttp's
    own switch, as its websocket response uses)."""

    _length_check = False


async def hijack(request: web.Request, content_type: str) -> RawStream:
    """Answer 101 when the client asked for the upgrade (`Upgrade: tcp`), else 200 with no
    framing (as Docker's and podman's services do: podman-remote's exec start asks for no
    upgrade and reads the socket raw, podman-py reads a body that ends with the connection),
    and take the connection over.  Call it only after every check that can fail, so that
    errors still go out as ordinary JSON answers."""
    if request.headers.get("Upgrade", "").lower() == "tcp" or "upgrade" in request.headers.get(
            "Connection", "").lower():
        response = web.StreamResponse(status=101, headers={
            "Content-Type": content_type, "Connection": "Upgrade", "Upgrade": "tcp"})
    else:
        response = _Unframed(status=200, headers={"Content-Type": content_type, "Connection": "close"})
    await response.prepare(request)
    protocol = request.protocol
    protocol.keep_alive(False)
    collector = _TailCollector()
    protocol.set_parser(collector)
    transport = request.transport
    stream = RawStream(response, transport, collector.data, protocol)
    transport.set_protocol(stream)
    await _headers_read(transport)
    return stream


async def _headers_read(transport: asyncio.Transport) -> None:
    """Wait until the client has read the 101 (its bytes left our socket's
    queue).  docker-py reads the headers through a buffered file and then
    reads the stream from the raw socket: anything sent in time to land in the
    same read as the headers is lost in that buffer (a replayed log, the
    output of a busy container).  On a unix socket the queue empties when the
    client reads; over TCP, when the client's kernel has the bytes, which is
    weaker but still spaces the writes."""
    import fcntl
    import struct
    import termios

    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _HEADERS_READ_TIMEOUT
    pause = 0.0005
    while loop.time() < deadline and not transport.is_closing():
        try:
            queued = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
        except OSError:
            return
        if queued == 0 and transport.get_write_buffer_size() == 0:
            return
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.01)


